//! A scriptable bus endpoint for the multi-process tests; see `event_bus_tests::bus_peer`.

fn main() {
    event_bus_tests::bus_peer::main();
}

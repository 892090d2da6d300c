//! `last-words NAME DIR TARGET N`: connects to `TARGET` in `DIR` as `NAME`, broadcasts `N`
//! counters to it, and returns from `main` without calling `stop()`, as many programs do.
//! The test that runs it checks that every counter arrives.

use event_bus_tests::Counter;
use event_core::{ConnectionConfig, Endpoint};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, dir, target, n] = args.as_slice() else {
        eprintln!("usage: last-words NAME DIR TARGET N");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("N");
    let bus = Endpoint::new(name.as_str()).expect("endpoint");
    bus.connect_to_endpoints(&[ConnectionConfig::from_name(target, dir)])
        .await
        .expect("connect");
    bus.wait_until_endpoint_subscribed_to::<Counter>(target)
        .await;
    for index in 0..n {
        let counter = Counter {
            index,
            payload: vec![7; 64],
        };
        bus.broadcast(counter).await.expect("broadcast");
    }
    // No stop(): the endpoint is dropped here, and must deliver what it accepted.
}

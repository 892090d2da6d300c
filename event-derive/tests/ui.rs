//! Compile-fail and pass tests for `#[derive(Event)]` and `#[request(response = T)]`, as a
//! downstream crate sees them. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p event-derive --test ui` and review every `.stderr` by hand.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

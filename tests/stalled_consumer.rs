//! A consumer process that subscribes and stops reading: the bus holds the producer back,
//! then cuts the stalled subscription off; memory stays bounded on both sides and the loss
//! is reported, not silent; over sockets and over zenoh. Alone in its test binary (the
//! two backends one after the other), because it measures this process's memory.

mod support;

use event_bus_tests::{Counter, Other};
use event_core::{EndpointOptions, Error};
use std::time::{Duration, Instant};
use support::backends::{Bus, Kind};
use support::{proc_status_kib, subscribe_remote, within};

/// One backend at a time: each measures this process's memory.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sockets_a_stalled_consumer_is_cut_off_and_memory_stays_bounded_on_both_sides() {
    let _alone = ONE_AT_A_TIME.lock().await;
    stalled_consumer(Kind::Sockets).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_zenoh_a_stalled_consumer_is_cut_off_and_memory_stays_bounded_on_both_sides() {
    let _alone = ONE_AT_A_TIME.lock().await;
    stalled_consumer(Kind::Zenoh).await;
}

async fn stalled_consumer(kind: Kind) {
    let meeting = Bus::new(kind).await;
    let bus = meeting
        .endpoint_with(
            "driver",
            EndpointOptions::default().stall_timeout(Duration::from_secs(30)),
        )
        .await;
    let mut alice = meeting
        .peer_with("alice", |command| {
            command
                .env("BUS_PEER_QUEUE", "64")
                .env("BUS_PEER_STALL_MS", "500");
        })
        .await;
    meeting.connect(&bus, &["alice"]).await;
    alice.expect("stall counter", "stalled counter").await;
    within(
        "alice",
        bus.wait_until_endpoint_subscribed_to::<Counter>("alice"),
    )
    .await;
    let driver_start = proc_status_kib(std::process::id(), "VmRSS");
    let alice_start = alice.memory_kib("VmRSS");

    // Broadcast 1 KiB events until alice's endpoint gives up on her stalled stream: the
    // driver is held back (never unbounded queues), then told nobody subscribes.
    let started = Instant::now();
    let mut sent = 0u64;
    let mut longest = Duration::ZERO;
    let outcome = within("the stalled subscriber to be cut off", async {
        loop {
            let call = Instant::now();
            let result = bus
                .broadcast(Counter {
                    index: sent,
                    payload: vec![0; 1024],
                })
                .await;
            longest = longest.max(call.elapsed());
            match result {
                Ok(()) => sent += 1,
                Err(error) => return error,
            }
        }
    })
    .await;
    assert!(matches!(outcome, Error::NoSubscribers { .. }), "{outcome}");
    assert_eq!(alice.ask("overflowed counter").await, "overflowed true");
    let driver_growth = proc_status_kib(std::process::id(), "VmHWM").saturating_sub(driver_start);
    let alice_growth = alice.memory_kib("VmHWM").saturating_sub(alice_start);
    eprintln!(
        "stalled consumer: {sent} events sent in {:?}, longest broadcast {longest:?}, growth: driver {} KiB, alice {} KiB",
        started.elapsed(),
        driver_growth,
        alice_growth
    );
    assert!(alice_growth < 64 * 1024, "alice grew by {alice_growth} KiB");
    assert!(
        driver_growth < 64 * 1024,
        "the driver grew by {driver_growth} KiB"
    );
    // Alice's endpoint is healthy: a new subscription works. (Another event type: Counters
    // already in flight to alice may still reach a new Counter stream, legitimately.)
    subscribe_remote::<Other>(&bus, &mut alice, "other").await;
    bus.broadcast(Other { index: 0 }).await.unwrap();
    alice.wait_count("other", 1).await;
}

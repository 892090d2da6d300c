//! Faults: peers killed mid-stream and mid-request, and `stop()` with work in flight.
//! (Restart under the same name, stale sockets and SIGKILL during a request are in
//! `ipc.rs`.)

mod support;

use event_bus_tests::{Counter, Ping};
use event_core::{ConnectionConfig, Endpoint, Error};
use support::{connect, driver, eventually, subscribe_remote, within, PeerProcess};

#[tokio::test]
async fn a_peer_killed_mid_stream_does_not_disturb_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    let mut bob = PeerProcess::start("bob", dir.path()).await;
    connect(&bus, dir.path(), &["alice", "bob"]).await;
    alice
        .expect("subscribe counter", "subscribed counter")
        .await;
    bob.expect("subscribe counter", "subscribed counter").await;
    within(
        "alice",
        bus.wait_until_endpoint_subscribed_to::<Counter>("alice"),
    )
    .await;
    within(
        "bob",
        bus.wait_until_endpoint_subscribed_to::<Counter>("bob"),
    )
    .await;

    const N: u64 = 30_000;
    let sender = bus.clone();
    let broadcasting = tokio::spawn(async move {
        for index in 0..N {
            sender
                .broadcast(Counter {
                    index,
                    payload: vec![0; 64],
                })
                .await?;
        }
        Ok::<(), Error>(())
    });
    alice.wait_count_at_least("counter", 100).await;
    alice.kill().await;
    // The broadcaster carries on without an error, and bob gets every event in order.
    within("the broadcaster", broadcasting)
        .await
        .unwrap()
        .unwrap();
    bob.wait_count("counter", N).await;
    eventually("alice's state to be cleared", || {
        !bus.is_connected_to("alice")
    })
    .await;
    assert!(!bus.is_endpoint_subscribed_to::<Counter>("alice"));
    assert_eq!(bus.connected_endpoints_and_subscriptions().len(), 2);
}

#[tokio::test]
async fn stop_with_broadcasts_and_requests_in_flight_resolves_every_future() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    alice
        .expect("subscribe counter", "subscribed counter")
        .await;
    alice.expect("hold", "serving-pings hold").await;
    within(
        "alice",
        bus.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;
    within(
        "alice",
        bus.wait_until_endpoint_subscribed_to::<Counter>("alice"),
    )
    .await;

    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let sender = bus.clone();
        tasks.push(tokio::spawn(async move {
            for index in 0.. {
                match sender
                    .broadcast(Counter {
                        index: task * 1_000_000 + index,
                        payload: vec![0; 256],
                    })
                    .await
                {
                    Ok(()) => {}
                    Err(Error::Stopped { .. }) => return,
                    Err(other) => panic!("unexpected error: {other}"),
                }
            }
        }));
    }
    let mut requests = Vec::new();
    for value in 0..20 {
        let requester = bus.clone();
        requests.push(tokio::spawn(async move {
            requester.request(Ping { value }).await
        }));
    }
    within("alice to hold the requests", async {
        while alice.ask("held").await != "held 20" {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    alice.wait_received_at_least("counter", 1000).await;

    bus.stop().await;
    for task in tasks {
        within("a broadcaster to finish", task)
            .await
            .expect("no panic");
    }
    for request in requests {
        let result = within("a request to resolve", request)
            .await
            .expect("no panic");
        assert!(matches!(result, Err(Error::Stopped { .. })), "{result:?}");
    }
    assert_eq!(bus.pending_requests(), 0);
    assert!(!dir.path().join("driver.ipc").exists());
    // Alice sees the driver go; her held requests can no longer be answered.
    alice
        .expect_eventually("stats driver", "stats driver none")
        .await;
}

/// A peer process that is frozen (SIGSTOP) reads nothing: after twice the stall timeout
/// the sender gives its connection up and says so (`Error::Stalled`, naming it) instead
/// of reporting `Ok` for events that can no longer be delivered.
#[tokio::test]
async fn a_frozen_peer_is_given_up_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        event_core::EndpointOptions::default().stall_timeout(std::time::Duration::from_millis(200));
    let bus = Endpoint::serve_with(ConnectionConfig::from_name("driver", dir.path()), options)
        .await
        .unwrap();
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    subscribe_remote::<Counter>(&bus, &mut alice, "counter").await;
    let pid = rustix::process::Pid::from_raw(alice.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();

    let mut accepted = 0u64;
    let error = within("the frozen peer to be given up", async {
        loop {
            match bus
                .broadcast(Counter {
                    index: accepted,
                    payload: vec![0; 1024],
                })
                .await
            {
                Ok(()) => accepted += 1,
                Err(error) => return error,
            }
        }
    })
    .await;
    assert!(
        matches!(error, Error::Stalled { ref remote, .. } if remote == "alice"),
        "{error}"
    );
    assert!(!bus.is_connected_to("alice"));
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    eprintln!("frozen peer: {accepted} events accepted before the connection was given up");
}

//! The bus across OS processes: each `bus-peer` is a child process with its own endpoint
//! on its own Unix socket; the test process is the "driver" endpoint.

mod support;

use event_bus_tests::{Counter, Other, Ping};
use event_core::{BroadcastConfig, ConnectionConfig, Endpoint, Error};
use std::os::unix::fs::PermissionsExt;
use support::{connect, driver, eventually, subscribe_remote, within, PeerProcess};

#[tokio::test]
async fn a_broadcast_reaches_only_subscribers_and_nothing_is_sent_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    let mut bob = PeerProcess::start("bob", dir.path()).await;
    // A full mesh of three endpoints.
    connect(&bus, dir.path(), &["alice", "bob"]).await;
    alice.expect("connect bob", "connected bob").await;

    alice
        .expect("subscribe counter", "subscribed counter")
        .await;
    bob.expect("subscribe other", "subscribed other").await;
    within(
        "alice's subscription",
        bus.wait_until_endpoint_subscribed_to::<Counter>("alice"),
    )
    .await;
    within(
        "bob's subscription",
        bus.wait_until_endpoint_subscribed_to::<Other>("bob"),
    )
    .await;
    assert!(!bus.is_endpoint_subscribed_to::<Counter>("bob"));

    for index in 0..200 {
        bus.broadcast(Counter {
            index,
            payload: vec![1; 16],
        })
        .await
        .unwrap();
    }
    alice.wait_count("counter", 200).await;
    // Bob subscribes to Other only: not one Counter frame was written to him.
    let to_bob = bus
        .connection_stats()
        .into_iter()
        .find(|s| s.remote == "bob")
        .unwrap();
    assert_eq!(to_bob.events_sent, 0);
    assert_eq!(bob.stats("driver").await, (0, 0));
    assert_eq!(bob.stats("alice").await, (0, 0));
    bob.expect("count counter", "count counter 0 true").await;

    // The other way round, from a child process: bob gets Others, alice none.
    alice
        .expect("wait-subscribed bob other", "seen bob other")
        .await;
    alice
        .expect("broadcast other 50", "broadcast-done 50")
        .await;
    bob.wait_count("other", 50).await;
    let alice_to_bob = alice.stats("bob").await;
    let bob_from_alice = bob.stats("alice").await;
    assert_eq!(
        (alice_to_bob.0, bob_from_alice.1),
        (50, 50),
        "alice->bob {alice_to_bob:?}, bob<-alice {bob_from_alice:?}"
    );
    assert_eq!(
        bus.connection_stats()
            .into_iter()
            .find(|s| s.remote == "alice")
            .unwrap()
            .events_received,
        0
    );
}

#[tokio::test]
async fn to_endpoint_reaches_only_the_named_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    let mut bob = PeerProcess::start("bob", dir.path()).await;
    connect(&bus, dir.path(), &["alice", "bob"]).await;
    alice
        .expect("subscribe counter", "subscribed counter")
        .await;
    bob.expect("subscribe counter", "subscribed counter").await;
    // "All" includes this endpoint.
    assert!(!bus.are_all_endpoints_subscribed_to::<Counter>());
    let _own = bus.stream::<Counter>();
    within(
        "subscriptions",
        bus.wait_until_all_endpoints_subscribed_to::<Counter>(),
    )
    .await;

    for index in 0..10 {
        bus.broadcast_with(
            Counter {
                index,
                payload: vec![],
            },
            BroadcastConfig::to_endpoint("bob"),
        )
        .await
        .unwrap();
    }
    bob.wait_count("counter", 10).await;
    alice.expect("count counter", "count counter 0 true").await;
    assert_eq!(alice.stats("driver").await, (0, 0));
    assert_eq!(
        _own.len(),
        0,
        "to_endpoint(bob) must not reach the sender's own stream"
    );

    // Naming an endpoint that does not subscribe is NoSubscribers.
    let error = bus
        .broadcast_with(Other { index: 0 }, BroadcastConfig::to_endpoint("bob"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
}

#[tokio::test]
async fn many_events_arrive_complete_and_in_order_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    subscribe_remote::<Counter>(&bus, &mut alice, "counter").await;
    const N: u64 = 20_000;
    for index in 0..N {
        bus.broadcast(Counter {
            index,
            payload: vec![0; 100],
        })
        .await
        .unwrap();
    }
    alice.wait_count("counter", N).await;
}

#[tokio::test]
async fn a_request_across_processes_returns_the_bound_response_type() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    alice.expect("respond", "serving-pings respond").await;
    within(
        "alice serving",
        bus.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;
    for value in 0..100 {
        let pong = within("a pong", bus.request(Ping { value })).await.unwrap();
        assert_eq!((pong.from.as_str(), pong.echo), ("alice", value));
    }
    assert_eq!(bus.pending_requests(), 0);

    // And from the child process to a responder in the test process.
    let mut pings = bus.stream_requests::<Ping>();
    alice.expect("connect driver", "error ConnectionAttemptRejected endpoint `alice`: connection with `driver` rejected: `driver` is already connected").await;
    let answering = tokio::spawn(async move {
        use futures_util::StreamExt;
        let request = pings.next().await.unwrap();
        assert_eq!(request.origin(), "alice");
        let echo = request.value;
        request
            .respond(event_bus_tests::Pong {
                from: "driver".into(),
                echo,
            })
            .await
            .unwrap();
    });
    alice
        .expect("wait-subscribed driver ping", "seen driver ping")
        .await;
    // Both alice and the driver subscribe; the first answer wins, whoever gives it.
    let answer = alice.ask("request 7").await;
    assert!(
        answer == "response driver 7" || answer == "response alice 7",
        "{answer}"
    );
    within("responder", answering).await.unwrap();
}

#[tokio::test]
async fn a_pending_request_fails_promptly_when_the_responder_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    alice.expect("hold", "serving-pings hold").await;
    within(
        "alice serving",
        bus.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;

    let requester = bus.clone();
    let pending = tokio::spawn(async move { requester.request(Ping { value: 1 }).await });
    // Wait until alice really holds the request, then SIGKILL her.
    within("alice to hold the request", async {
        while alice.ask("held").await != "held 1" {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    alice.kill().await;
    let error = within("the request to fail", pending)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, Error::RemoteDisconnected { ref remote, .. } if remote == "alice"),
        "{error}"
    );
    assert_eq!(bus.pending_requests(), 0);
    assert!(!bus.is_connected_to("alice"));
    assert!(!bus.is_endpoint_subscribed_to::<Ping>("alice"));
}

#[tokio::test]
async fn a_request_every_recipient_drops_fails_with_no_response() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    let mut bob = PeerProcess::start("bob", dir.path()).await;
    connect(&bus, dir.path(), &["alice", "bob"]).await;
    alice.expect("ignore", "serving-pings ignore").await;
    bob.expect("ignore", "serving-pings ignore").await;
    within(
        "subscriptions",
        bus.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;
    within(
        "subscriptions",
        bus.wait_until_endpoint_subscribed_to::<Ping>("bob"),
    )
    .await;
    let error = within("the request to fail", bus.request(Ping { value: 1 }))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoResponse { .. }), "{error}");

    // One ignores, one answers: the answer arrives.
    bob.expect("respond", "serving-pings respond").await;
    let pong = within("a pong", bus.request(Ping { value: 2 }))
        .await
        .unwrap();
    assert_eq!((pong.from.as_str(), pong.echo), ("bob", 2));
}

#[tokio::test]
async fn duplicate_names_and_self_connections_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;

    // Connecting to oneself.
    let error = bus
        .connect_to_endpoints(&[ConnectionConfig::from_name("driver", dir.path())])
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ConnectionAttemptRejected { .. }),
        "{error}"
    );
    // Connecting twice.
    let error = bus
        .connect_to_endpoints(&[ConnectionConfig::from_name("alice", dir.path())])
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ConnectionAttemptRejected { .. }),
        "{error}"
    );
    // Another endpoint calling itself `driver` is refused by alice, who knows a `driver`.
    let impostor_dir = tempfile::tempdir().unwrap();
    let impostor = Endpoint::serve(ConnectionConfig::from_name("driver", impostor_dir.path()))
        .await
        .unwrap();
    let error = impostor
        .connect_to_endpoints(&[ConnectionConfig::from_name("alice", dir.path())])
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ConnectionAttemptRejected { ref reason, .. } if reason.contains("already connected")),
        "{error}"
    );
    // A process connecting to itself through its own socket.
    assert!(alice
        .ask("connect alice")
        .await
        .starts_with("error ConnectionAttemptRejected"));
    // The original connection still works.
    subscribe_remote::<Counter>(&bus, &mut alice, "counter").await;
    bus.broadcast(Counter {
        index: 0,
        payload: vec![],
    })
    .await
    .unwrap();
    alice.wait_count("counter", 1).await;
}

#[tokio::test]
async fn remote_subscriptions_appear_and_disappear() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    assert!(!bus.is_any_endpoint_subscribed_to::<Counter>());
    let error = bus
        .broadcast(Counter {
            index: 0,
            payload: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");

    alice
        .expect("subscribe counter", "subscribed counter")
        .await;
    within(
        "alice's subscription",
        bus.wait_until_any_endpoint_subscribed_to::<Counter>(),
    )
    .await;
    let listed = bus.connected_endpoints_and_subscriptions();
    assert_eq!(listed[0].0, "driver");
    assert!(listed
        .iter()
        .any(|(name, events)| name == "alice" && events.contains("tests.Counter")));

    alice
        .expect("unsubscribe counter", "unsubscribed counter")
        .await;
    eventually("alice's unsubscription", || {
        !bus.is_endpoint_subscribed_to::<Counter>("alice")
    })
    .await;
    let error = bus
        .broadcast(Counter {
            index: 0,
            payload: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
    bus.broadcast_with(
        Counter {
            index: 0,
            payload: vec![],
        },
        BroadcastConfig::default().require_subscriber(false),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_socket_is_owner_only_and_removed_on_stop_and_a_stale_one_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConnectionConfig::from_name("driver", dir.path());
    let bus = Endpoint::serve(config.clone()).await.unwrap();
    let mode = std::fs::metadata(&config.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    // A live socket is never stolen.
    let error = Endpoint::serve(config.clone()).await.unwrap_err();
    assert!(matches!(error, Error::AddressInUse { .. }), "{error}");
    bus.stop().await;
    assert!(!config.path.exists(), "stop() must remove the socket file");
    let error = bus
        .broadcast(Counter {
            index: 0,
            payload: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Stopped { .. }), "{error}");

    // A crashed process leaves its socket file behind; a new endpoint replaces it.
    let alice = PeerProcess::start("alice", dir.path()).await;
    let alice_path = dir.path().join("alice.ipc");
    assert!(alice_path.exists());
    alice.kill().await;
    assert!(alice_path.exists(), "SIGKILL leaves the file behind");
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    let bus = driver(dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    subscribe_remote::<Counter>(&bus, &mut alice, "counter").await;
    // Dropping the last handle also removes the file.
    drop(bus);
    eventually("the driver's socket file to go", || !config.path.exists()).await;
}

#[tokio::test]
async fn connecting_waits_for_a_socket_that_appears_later_and_times_out_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Endpoint::with_options(
        "driver",
        event_core::EndpointOptions::default()
            .connect_timeout(std::time::Duration::from_millis(300)),
    )
    .unwrap();
    let error = bus
        .connect_to_endpoints(&[ConnectionConfig::from_name("nobody", dir.path())])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ConnectTimeout { .. }), "{error}");
    assert!(error.to_string().contains("nobody"), "{error}");

    let patient = Endpoint::new("patient").unwrap();
    let path = dir.path().to_owned();
    let connecting = tokio::spawn(async move {
        patient
            .connect_to_endpoints(&[ConnectionConfig::from_name("late", &path)])
            .await
    });
    let _late = PeerProcess::start("late", dir.path()).await;
    within("the connection", connecting).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_restarted_peer_is_reached_again_after_reconnecting() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    alice.kill().await;
    eventually("alice's disconnection", || !bus.is_connected_to("alice")).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    subscribe_remote::<Counter>(&bus, &mut alice, "counter").await;
    bus.broadcast(Counter {
        index: 0,
        payload: vec![],
    })
    .await
    .unwrap();
    alice.wait_count("counter", 1).await;
}

/// While a consumer pauses, its endpoint reads on from the socket (into a bounded
/// buffer), so a sender is not held to what the kernel's socket buffer holds: the peer
/// judges a stall by what is read, and an endpoint whose consumer keeps taking, however
/// slowly, must keep reading. Here about 250 KiB of events go out while the consumer
/// takes nothing: more than a Unix socket's default buffer holds in 1 KiB writes, less
/// than the read-ahead bound. All arrive, in order, once it takes them.
#[tokio::test]
async fn an_endpoint_reads_on_while_its_consumer_pauses() {
    use event_core::EndpointOptions;
    use futures_util::StreamExt;
    const EVENTS: u64 = 250;
    let dir = tempfile::tempdir().unwrap();
    // Stalls are far off: nothing here may be cut off, only held.
    let options = || {
        EndpointOptions::default()
            .queue_capacity(1)
            .stall_timeout(std::time::Duration::from_secs(300))
            .connection_buffer(1024)
    };
    let config = |name: &str| ConnectionConfig::from_name(name, dir.path());
    let receiver = Endpoint::serve_with(config("receiver"), options())
        .await
        .unwrap();
    let mut stream = receiver.stream::<Counter>();
    let sender = Endpoint::serve_with(config("sender"), options())
        .await
        .unwrap();
    connect(&sender, dir.path(), &["receiver"]).await;
    within(
        "the receiver's subscription",
        sender.wait_until_endpoint_subscribed_to::<Counter>("receiver"),
    )
    .await;
    let event = |index| Counter {
        index,
        payload: vec![7; 1000],
    };
    within("the sender, while the consumer takes nothing", async {
        for index in 0..EVENTS {
            sender.broadcast(event(index)).await.unwrap();
        }
    })
    .await;
    for index in 0..EVENTS {
        let got = within("the next event", stream.next()).await;
        assert_eq!(got.as_deref(), Some(&event(index)));
    }
    sender.stop().await;
    receiver.stop().await;
}

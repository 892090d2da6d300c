//! Bugs found by review and benchmark, each with the test that guards it.

mod support;

use event_bus_tests::{Counter, Ping};
use event_core::{
    BroadcastConfig, ConnectionConfig, Endpoint, EndpointOptions, Error, Event, Subscription,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use support::{connect, driver, eventually, subscribe_remote, within, PeerProcess};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "regressions.Big")]
pub struct Big(pub Vec<u8>);

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "regressions.Ask")]
#[request(response = Big)]
pub struct Ask;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "regressions.Tick")]
pub struct Tick(pub u64);

/// An answer too large to send used to count as given: the requester waited forever.
#[tokio::test]
async fn an_answer_that_cannot_be_sent_fails_the_request_instead_of_hanging_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = EndpointOptions::default().max_frame_size(1024);
    let responder = Endpoint::serve_with(ConnectionConfig::from_name("b", dir.path()), options)
        .await
        .unwrap();
    let requester = Endpoint::new("a").unwrap();
    let mut requests = responder.stream_requests::<Ask>();
    let answering = tokio::spawn(async move {
        let request = requests.next().await.unwrap();
        let result = request.respond(Big(vec![0; 10_000])).await;
        (result, requests)
    });
    requester
        .connect_to_endpoints(&[ConnectionConfig::from_name("b", dir.path())])
        .await
        .unwrap();
    within(
        "subscription",
        requester.wait_until_endpoint_subscribed_to::<Ask>("b"),
    )
    .await;
    let result = within("the request to fail", requester.request(Ask)).await;
    assert!(
        matches!(result, Err(Error::NoResponse { .. })),
        "{result:?}"
    );
    let (answer, _requests) = within("the responder", answering).await.unwrap();
    assert!(
        matches!(answer, Err(Error::FrameTooLarge { size, max: 1024, .. }) if size > 10_000),
        "{answer:?}"
    );
}

/// Two endpoints connecting to each other at once used to end with no connection.
#[tokio::test]
async fn simultaneous_connections_settle_on_one() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let a = Endpoint::serve(ConnectionConfig::from_name("a", dir.path()))
            .await
            .unwrap();
        let b = Endpoint::serve(ConnectionConfig::from_name("b", dir.path()))
            .await
            .unwrap();
        let to_b = [ConnectionConfig::from_name("b", dir.path())];
        let to_a = [ConnectionConfig::from_name("a", dir.path())];
        let (from_a, from_b) = within("both connects", async {
            tokio::join!(a.connect_to_endpoints(&to_b), b.connect_to_endpoints(&to_a))
        })
        .await;
        assert!(
            from_a.is_ok() && from_b.is_ok(),
            "round {round}: {from_a:?} / {from_b:?}"
        );
        assert!(
            a.is_connected_to("b") && b.is_connected_to("a"),
            "round {round}"
        );
        // The one connection carries traffic both ways.
        let mut at_b = b.stream::<Tick>();
        let mut at_a = a.stream::<Tick>();
        within(
            "a sees b's subscription",
            a.wait_until_endpoint_subscribed_to::<Tick>("b"),
        )
        .await;
        within(
            "b sees a's subscription",
            b.wait_until_endpoint_subscribed_to::<Tick>("a"),
        )
        .await;
        a.broadcast(Tick(1)).await.unwrap();
        b.broadcast(Tick(2)).await.unwrap();
        // (No order between two senders: each side sees its own event first.)
        for stream in [&mut at_a, &mut at_b] {
            let mut got = [
                within("a tick", stream.next()).await.unwrap().0,
                within("a tick", stream.next()).await.unwrap().0,
            ];
            got.sort();
            assert_eq!(got, [1, 2], "round {round}");
        }
        assert_eq!(a.connection_stats().len(), 1, "{:?}", a.connection_stats());
    }
}

/// A handler that owned the last `Endpoint` handle deadlocked the thread that dropped it.
#[test]
fn dropping_a_handler_that_owns_the_endpoint_does_not_deadlock() {
    struct Service {
        _bus: Endpoint,
        _subscription: Subscription,
    }
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let bus = Endpoint::new("service").unwrap();
            let inner = bus.clone();
            let subscription = bus.subscribe::<Tick, _>(move |_| {
                let _ = inner.name();
            });
            drop(Service {
                _bus: bus,
                _subscription: subscription,
            });
        });
        done.send(()).unwrap();
    });
    assert!(
        finished.recv_timeout(support::TIMEOUT).is_ok(),
        "drop deadlocked"
    );
}

/// `stop()` used to drop the events `broadcast` had already accepted.
#[tokio::test]
async fn stop_writes_what_was_accepted_first() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Endpoint::serve(ConnectionConfig::from_name("b", dir.path()))
        .await
        .unwrap();
    let sender = Endpoint::new("a").unwrap();
    let mut ticks = receiver.stream::<Tick>();
    sender
        .connect_to_endpoints(&[ConnectionConfig::from_name("b", dir.path())])
        .await
        .unwrap();
    within(
        "subscription",
        sender.wait_until_endpoint_subscribed_to::<Tick>("b"),
    )
    .await;
    const N: u64 = 5000;
    for index in 0..N {
        sender.broadcast(Tick(index)).await.unwrap();
    }
    within("stop", sender.stop()).await;
    for index in 0..N {
        assert_eq!(
            within("a tick", ticks.next())
                .await
                .expect("every accepted event")
                .0,
            index
        );
    }
}

/// A subscriber cut off for stalling could still get an event from a broadcast that had
/// been waiting for room: a gap in the middle of its stream. (Virtual time: the waits
/// are ordered deterministically.)
#[tokio::test(start_paused = true)]
async fn a_cut_off_subscriber_gets_nothing_more() {
    let options = EndpointOptions::default()
        .queue_capacity(1)
        .stall_timeout(Duration::from_millis(100));
    let bus = Endpoint::with_options("gap", options).unwrap();
    let mut stream = bus.stream::<Tick>();
    bus.broadcast(Tick(1)).await.unwrap();
    let second = tokio::spawn({
        let bus = bus.clone();
        async move { bus.broadcast(Tick(2)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = tokio::spawn({
        let bus = bus.clone();
        async move { bus.broadcast(Tick(3)).await }
    });
    // The second broadcast gives up at 100 ms and cuts the subscriber off; the third,
    // still waiting, then finds room when the consumer takes the first event.
    second.await.unwrap().unwrap();
    assert_eq!(stream.next().await.unwrap().0, 1);
    third.await.unwrap().unwrap();
    assert!(
        stream.next().await.is_none(),
        "a cut-off stream must end, not skip ahead"
    );
    assert!(stream.overflowed());
}

/// `stop()` did not cancel a connection being made, which failed 10 s later with
/// another error.
#[tokio::test]
async fn stop_cancels_a_connection_being_made() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Endpoint::new("a").unwrap();
    let connecting = tokio::spawn({
        let bus = bus.clone();
        let config = ConnectionConfig::from_name("nobody", dir.path());
        async move { bus.connect_to_endpoints(&[config]).await }
    });
    tokio::task::yield_now().await;
    bus.stop().await;
    let result = tokio::time::timeout(Duration::from_secs(2), connecting)
        .await
        .expect("cancelled promptly")
        .unwrap();
    assert!(matches!(result, Err(Error::Stopped { .. })), "{result:?}");
}

/// A request and `stop()` racing: the request fails with `Stopped`, never hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_stop_resolve() {
    for _ in 0..50 {
        let bus = Endpoint::new("a").unwrap();
        let _requests = bus.stream_requests::<Ask>();
        let requesting = tokio::spawn({
            let bus = bus.clone();
            async move { bus.request(Ask).await }
        });
        bus.stop().await;
        let result = within("the request", requesting).await.unwrap();
        assert!(
            matches!(
                result,
                Err(Error::Stopped { .. } | Error::NoResponse { .. })
            ),
            "{result:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Found by the hostile review (each test failed before its fix, as its comment says).

fn counter(index: u64) -> Counter {
    Counter {
        index,
        payload: vec![0; 16],
    }
}

/// After the only remote subscriber disconnected, `broadcast` returned `Ok` (the event went
/// nowhere) and `request` failed with `RemoteDisconnected` for a peer already gone: the
/// route cache kept the closed connection.
#[tokio::test]
async fn after_the_only_remote_subscriber_left_there_are_no_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    connect(&bus, dir.path(), &["alice"]).await;
    subscribe_remote::<Counter>(&bus, &mut alice, "counter").await;
    alice.expect("respond", "serving-pings respond").await;
    within(
        "alice's pings",
        bus.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;
    // Both routes are cached now.
    bus.broadcast(counter(0)).await.unwrap();
    within("a pong", bus.request(Ping { value: 1 }))
        .await
        .unwrap();
    alice.kill().await;
    eventually("alice to be gone", || !bus.is_connected_to("alice")).await;
    let broadcast = bus.broadcast(counter(1)).await;
    assert!(
        matches!(broadcast, Err(Error::NoSubscribers { .. })),
        "{broadcast:?}"
    );
    let request = within("the request", bus.request(Ping { value: 2 })).await;
    assert!(
        matches!(request, Err(Error::NoSubscribers { .. })),
        "{request:?}"
    );
}

/// A stream fed by a connection, cut off for stalling, yielded what it held and then
/// waited forever: the connection's cached lookup kept the stream's sender alive.
#[tokio::test]
async fn a_stream_cut_off_while_fed_by_a_connection_ends() {
    let dir = tempfile::tempdir().unwrap();
    let options = EndpointOptions::default()
        .queue_capacity(4)
        .stall_timeout(Duration::from_millis(200));
    let bus = Endpoint::serve_with(ConnectionConfig::from_name("driver", dir.path()), options)
        .await
        .unwrap();
    let mut counters = bus.stream::<Counter>();
    let mut alice = alice_sending_counters_to_driver(dir.path()).await;
    // Nobody reads `counters`: alice's fifth event finds the queue of 4 full, and after
    // 200 ms the stream is cut off. Nothing comes after it to refresh the connection's
    // cached lookup, which is what used to keep the stream open.
    alice
        .expect("broadcast counter 5", "broadcast-done 5")
        .await;
    eventually("the stream to be cut off", || counters.overflowed()).await;
    let mut held = 0;
    while within("the stream to end", counters.next()).await.is_some() {
        held += 1;
    }
    assert!(held <= 5, "held {held}");
}

/// A handler that owned an `Endpoint` handle kept the endpoint alive after it was
/// unsubscribed and every other handle dropped (socket file stayed, peer stayed
/// connected): the connection's cached lookup held the handler.
#[tokio::test]
async fn an_unsubscribed_handler_that_owned_the_endpoint_lets_it_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = ConnectionConfig::from_name("driver", dir.path()).path;
    let bus = driver(dir.path()).await;
    let inner = bus.clone();
    let (seen, mut got) = tokio::sync::mpsc::unbounded_channel();
    let subscription = bus.subscribe::<Counter, _>(move |event| {
        let _ = inner.name();
        let _ = seen.send(event.index);
    });
    let mut alice = alice_sending_counters_to_driver(dir.path()).await;
    alice
        .expect("broadcast counter 1", "broadcast-done 1")
        .await;
    assert_eq!(within("the event", got.recv()).await, Some(0));
    drop(subscription);
    drop(bus);
    eventually("the socket file to go", || !path.exists()).await;
}

/// An event type whose `Deserialize` panics on one value.
#[derive(Debug, Clone, PartialEq, Serialize, Event)]
#[event(name = "regressions.Fragile")]
pub struct Fragile(pub u64);

impl<'de> Deserialize<'de> for Fragile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u64::deserialize(deserializer)?;
        assert_ne!(value, 13, "Fragile cannot bear 13");
        Ok(Fragile(value))
    }
}

/// A `bus-peer` "alice" connected to the driver in `dir`, once she has heard that the
/// driver subscribes to `Counter`.
async fn alice_sending_counters_to_driver(
    dir: &std::path::Path,
) -> event_bus_tests::peer_process::PeerProcess {
    let mut alice = PeerProcess::start("alice", dir).await;
    alice.expect("connect driver", "connected driver").await;
    alice
        .expect("wait-subscribed driver counter", "seen driver counter")
        .await;
    alice
}

/// A `Deserialize` that panicked killed the connection's reader and left the connection
/// registered: later events from that peer were lost without an error.
#[tokio::test]
async fn a_panicking_deserialize_drops_that_event_only() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = driver(dir.path()).await;
    let sender = Endpoint::new("sender").unwrap();
    connect(&sender, dir.path(), &["driver"]).await;
    let mut fragile = receiver.stream::<Fragile>();
    within(
        "the subscription",
        sender.wait_until_endpoint_subscribed_to::<Fragile>("driver"),
    )
    .await;
    sender.broadcast(Fragile(13)).await.unwrap();
    sender.broadcast(Fragile(14)).await.unwrap();
    assert_eq!(
        *within("the next event", fragile.next()).await.unwrap(),
        Fragile(14)
    );
    assert!(receiver.is_connected_to("sender") && sender.is_connected_to("driver"));
}

/// A `broadcast` waiting for room when `stop()` began returned `Ok`, but its event was
/// never written.
#[tokio::test]
async fn a_broadcast_waiting_for_room_when_stop_begins_fails() {
    let dir = tempfile::tempdir().unwrap();
    let options = EndpointOptions::default()
        .connection_buffer(16 * 1024)
        .stall_timeout(Duration::from_millis(500));
    let bus = Endpoint::serve_with(ConnectionConfig::from_name("driver", dir.path()), options)
        .await
        .unwrap();
    // alice subscribes and never reads, and gives up on herself only after a minute: her
    // connection stops reading, the socket fills, then the driver's buffer.
    let mut alice = PeerProcess::start_with("alice", dir.path(), |command| {
        command
            .env("BUS_PEER_STALL_MS", "60000")
            .env("BUS_PEER_QUEUE", "1");
    })
    .await;
    connect(&bus, dir.path(), &["alice"]).await;
    alice.expect("stall counter", "stalled counter").await;
    within(
        "alice's subscription",
        bus.wait_until_endpoint_subscribed_to::<Counter>("alice"),
    )
    .await;
    let big = Counter {
        index: 0,
        payload: vec![0; 1024],
    };
    within("the buffer to fill", async {
        while !matches!(
            bus.broadcast_nowait(big.clone(), BroadcastConfig::default()),
            Err(Error::QueueFull { .. })
        ) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let waiting = tokio::spawn({
        let bus = bus.clone();
        let big = big.clone();
        async move { bus.broadcast(big).await }
    });
    // On this single-threaded runtime, the broadcast runs until it waits for room.
    tokio::task::yield_now().await;
    within("stop", bus.stop()).await;
    let result = within("the waiting broadcast", waiting).await.unwrap();
    assert!(matches!(result, Err(Error::Stopped { .. })), "{result:?}");
}

/// Several stalled local subscribers were cut off one after another: four full queues
/// with a 1 s stall timeout held one broadcast for 4 s. (Virtual time: exact.)
#[tokio::test(start_paused = true)]
async fn several_stalled_subscribers_cost_one_stall_timeout() {
    let stall = Duration::from_secs(1);
    let options = EndpointOptions::default()
        .queue_capacity(1)
        .stall_timeout(stall);
    let bus = Endpoint::with_options("stalls", options).unwrap();
    let streams: Vec<_> = (0..4).map(|_| bus.stream::<Tick>()).collect();
    bus.broadcast(Tick(1)).await.unwrap();
    let started = tokio::time::Instant::now();
    bus.broadcast(Tick(2)).await.unwrap();
    assert_eq!(started.elapsed(), stall, "one stall timeout for all four");
    assert!(streams.iter().all(|stream| stream.overflowed()));
}

/// Several endpoints racing to serve one name over a stale socket file could both win
/// (the first winner's file was unlinked), and losers saw `Io(NotFound)` instead of
/// `AddressInUse`.
#[test]
fn racing_to_serve_one_name_over_a_stale_file_makes_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConnectionConfig::from_name("contested", dir.path());
    for round in 0..300 {
        // A stale socket: bound, then its listener dropped.
        drop(std::os::unix::net::UnixListener::bind(&config.path).unwrap());
        let start = std::sync::Arc::new(std::sync::Barrier::new(6));
        let racers: Vec<_> = (0..6)
            .map(|_| {
                let (start, config) = (start.clone(), config.clone());
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    start.wait();
                    let served = runtime.block_on(Endpoint::serve(config));
                    (served, runtime)
                })
            })
            .collect();
        let results: Vec<_> = racers
            .into_iter()
            .map(|racer| racer.join().unwrap())
            .collect();
        let winners = results.iter().filter(|(served, _)| served.is_ok()).count();
        assert_eq!(
            winners,
            1,
            "round {round}: {:?}",
            results
                .iter()
                .map(|(served, _)| served.as_ref().err())
                .collect::<Vec<_>>()
        );
        for (served, _) in &results {
            if let Err(error) = served {
                assert!(
                    matches!(error, Error::AddressInUse { .. }),
                    "round {round}: {error}"
                );
            }
        }
        // The winner's file is in place, and it answers.
        assert!(
            std::os::unix::net::UnixStream::connect(&config.path).is_ok(),
            "round {round}"
        );
        for (served, runtime) in results {
            if let Ok(endpoint) = served {
                runtime.block_on(endpoint.stop());
            }
        }
        assert!(
            !config.path.exists(),
            "round {round}: the file outlived its endpoint"
        );
    }
}

/// Endpoint names were not checked: `""` was accepted (the socket became `.ipc`), a name
/// with `/` was taken as a path, and an endpoint connecting under a name taken by
/// another was told that it "cannot connect to itself".
#[tokio::test]
async fn bad_and_taken_endpoint_names_are_refused_with_the_reason() {
    for (name, why) in [("", "empty"), ("a/b", "'/'"), ("a b", "' '")] {
        let error = Endpoint::new(name).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidName { reason, .. } if reason.contains(why)),
            "{name:?}: {error}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let error = Endpoint::serve(ConnectionConfig::from_name("../escape", dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidName { .. }), "{error}");
    let server = Endpoint::serve(ConnectionConfig::from_name("server", dir.path()))
        .await
        .unwrap();
    let namesake = Endpoint::new("server").unwrap();
    let error = namesake
        .connect_to_endpoints(&[ConnectionConfig::from_name("server", dir.path())])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::ConnectionAttemptRejected { reason, .. } if reason.contains("is taken")),
        "{error}"
    );
    // Connecting to its own socket is still called what it is.
    let error = server
        .connect_to_endpoints(&[ConnectionConfig::from_name("server", dir.path())])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::ConnectionAttemptRejected { reason, .. } if reason.contains("itself")),
        "{error}"
    );
}

/// The README's stress command failed on a fresh clone ("cannot start bus-peer": that
/// command does not build it), and its summary printed KiB labelled MiB. Run alone, from a
/// directory with no other binary, it must work.
#[test]
fn the_stress_command_needs_no_other_binary() {
    let alone = tempfile::tempdir().unwrap();
    let program = alone.path().join("stress");
    std::fs::copy(env!("CARGO_BIN_EXE_stress"), &program).unwrap();
    let output = std::process::Command::new(&program)
        .args(["--seconds", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("\"lost_events\":0"), "{summary}");
    // Peak RSS in MiB: a process of this kind stays far below 1000 MiB, far above 0.1.
    let line = stderr
        .lines()
        .find(|line| line.contains("peak RSS MiB"))
        .unwrap();
    let mib = line.split("peak RSS MiB").nth(1).unwrap();
    let figures: Vec<f64> = mib
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|part| part.parse().ok())
        .filter(|figure| *figure > 0.0)
        .collect();
    assert!(!figures.is_empty(), "{line}");
    assert!(
        figures.iter().all(|figure| (0.1..1000.0).contains(figure)),
        "{line}"
    );
}

/// The maximum frame size is checked against the frame the link really writes: one byte
/// under the limit goes, one byte over is refused before anything is sent, with the
/// frame's real size. (Found in review of the core's restructuring, which had refused
/// frames that fit.)
#[tokio::test]
async fn the_frame_size_limit_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let options = EndpointOptions::default().max_frame_size(1024);
    let receiver = Endpoint::serve_with(
        ConnectionConfig::from_name("b", dir.path()),
        options.clone(),
    )
    .await
    .unwrap();
    let sender = Endpoint::with_options("a", options).unwrap();
    let mut bigs = receiver.stream::<Big>();
    connect(&sender, dir.path(), &["b"]).await;
    within(
        "b's subscription",
        sender.wait_until_endpoint_subscribed_to::<Big>("b"),
    )
    .await;
    // EVENT frame: kind, flags, name number (6 bytes), then the body: a 2-byte length and
    // the bytes. 6 + 2 + 1016 = 1024 fits; one byte more does not.
    sender.broadcast(Big(vec![1; 1016])).await.unwrap();
    assert_eq!(
        within("the big one", bigs.next()).await.unwrap().0.len(),
        1016
    );
    let refused = sender.broadcast(Big(vec![1; 1017])).await;
    assert!(
        matches!(
            refused,
            Err(Error::FrameTooLarge {
                size: 1025,
                max: 1024,
                ..
            })
        ),
        "{refused:?}"
    );
}

/// A receiver with a smaller maximum frame size than the sender's used to be sent a frame
/// it must refuse, and closed the connection; now the sender knows the receiver's limit
/// (from the handshake) and refuses that event alone.
#[tokio::test]
async fn an_event_larger_than_the_receivers_limit_is_refused_by_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let small = EndpointOptions::default().max_frame_size(1024);
    let receiver = Endpoint::serve_with(ConnectionConfig::from_name("b", dir.path()), small)
        .await
        .unwrap();
    let mut bigs = receiver.stream::<Big>();
    let sender = Endpoint::new("a").unwrap();
    connect(&sender, dir.path(), &["b"]).await;
    within(
        "b's subscription",
        sender.wait_until_endpoint_subscribed_to::<Big>("b"),
    )
    .await;
    let refused = sender.broadcast(Big(vec![1; 2000])).await;
    assert!(
        matches!(refused, Err(Error::FrameTooLarge { max: 1024, .. })),
        "{refused:?}"
    );
    // The connection is intact and the next event that fits arrives.
    sender.broadcast(Big(vec![2; 100])).await.unwrap();
    assert_eq!(
        within("the small one", bigs.next()).await.unwrap().0,
        vec![2; 100]
    );
    assert!(sender.is_connected_to("b"));
}

//! The Endpoint's semantics, one suite, two backends: every scenario below runs over the
//! socket mesh (`sockets::`) and over zenoh through a router process (`zenoh::`), with
//! the same steps and the same assertions. Endpoints are the test process's own and
//! `bus-peer` child processes.

mod support;

use event_bus_tests::{Counter, Other, Ping};
use event_core::observe::{Observation, Observed, ObservedKind};
use event_core::{BroadcastConfig, ConnectionEvent, EndpointOptions, Error};
use futures_util::StreamExt;
use std::time::Duration;
use support::backends::{on_both_backends, Bus, Kind};
use support::{subscribe_remote, within};

on_both_backends!(
    a_broadcast_reaches_only_subscribers,
    no_subscribers_and_to_endpoint,
    requests_are_answered_once_and_drops_are_reported,
    a_request_to_a_responder_that_dies_fails_promptly,
    events_arrive_in_order_and_none_is_lost_under_back_pressure,
    a_stalled_consumer_is_cut_off_and_the_others_keep_receiving,
    a_stopped_endpoint_is_seen_to_leave,
    an_event_larger_than_its_receiver_takes_is_refused_by_the_sender,
    events_from_several_processes_all_arrive,
    what_was_broadcast_before_stop_all_arrives,
    a_slow_subscriber_that_keeps_taking_is_never_cut_off,
    an_observer_sees_every_message_and_counts_as_nobody,
    an_observer_that_cannot_keep_up_is_told_what_it_missed,
);

fn counter(index: u64) -> Counter {
    Counter {
        index,
        payload: vec![1; 16],
    }
}

async fn a_broadcast_reaches_only_subscribers(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut alice = bus.peer("alice").await;
    let mut bob = bus.peer("bob").await;
    bus.connect(&driver, &["alice", "bob"]).await;
    bus.peer_connect(&mut alice, "bob").await;

    subscribe_remote::<Counter>(&driver, &mut alice, "counter").await;
    subscribe_remote::<Other>(&driver, &mut bob, "other").await;
    assert!(!driver.is_endpoint_subscribed_to::<Counter>("bob"));

    for index in 0..200 {
        driver.broadcast(counter(index)).await.unwrap();
    }
    alice.wait_count("counter", 200).await;
    // Bob subscribes to Other only: not one Counter was sent to him.
    let to_bob = driver
        .connection_stats()
        .into_iter()
        .find(|stats| stats.remote == "bob")
        .unwrap();
    assert_eq!(to_bob.events_sent, 0);
    assert_eq!(bob.stats("driver").await, (0, 0));
    bob.expect("count counter", "count counter 0 true").await;

    // From a child process, the other way round.
    alice
        .expect("wait-subscribed bob other", "seen bob other")
        .await;
    alice
        .expect("broadcast other 50", "broadcast-done 50")
        .await;
    bob.wait_count("other", 50).await;
    assert_eq!(alice.stats("bob").await.0, 50);
    assert_eq!(bob.stats("alice").await.1, 50);
}

async fn no_subscribers_and_to_endpoint(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut alice = bus.peer("alice").await;
    let mut bob = bus.peer("bob").await;
    bus.connect(&driver, &["alice", "bob"]).await;

    let error = driver.broadcast(counter(0)).await.unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
    let error = driver.request(Ping { value: 1 }).await.unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
    driver
        .broadcast_with(
            counter(0),
            BroadcastConfig::default().require_subscriber(false),
        )
        .await
        .expect("no subscriber is fine when not required");

    subscribe_remote::<Counter>(&driver, &mut alice, "counter").await;
    subscribe_remote::<Counter>(&driver, &mut bob, "counter").await;
    for index in 0..10 {
        driver
            .broadcast_with(counter(index), BroadcastConfig::to_endpoint("alice"))
            .await
            .unwrap();
    }
    alice.wait_count("counter", 10).await;
    bob.expect("count counter", "count counter 0 true").await;
    let error = driver
        .broadcast_with(counter(0), BroadcastConfig::to_endpoint("nobody"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
}

async fn requests_are_answered_once_and_drops_are_reported(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut alice = bus.peer("alice").await;
    let mut bob = bus.peer("bob").await;
    bus.connect(&driver, &["alice", "bob"]).await;

    // Bob drops every request: alone, that is NoResponse, promptly.
    bob.expect("ignore", "serving-pings ignore").await;
    within(
        "bob's ping subscription",
        driver.wait_until_endpoint_subscribed_to::<Ping>("bob"),
    )
    .await;
    let error = within("a dropped request", driver.request(Ping { value: 1 }))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoResponse { .. }), "{error}");

    // With alice answering, the answer is hers, once per request.
    alice.expect("respond", "serving-pings respond").await;
    within(
        "alice's ping subscription",
        driver.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;
    for value in 0..20 {
        let pong = within("an answer", driver.request(Ping { value }))
            .await
            .unwrap();
        assert_eq!((pong.from.as_str(), pong.echo), ("alice", value));
    }
    // A child process asks the driver too.
    let mut pings = driver.stream_requests::<Ping>();
    let answering = tokio::spawn(async move {
        while let Some(request) = pings.next().await {
            let value = request.value;
            let _ = request
                .respond(event_bus_tests::Pong {
                    from: "driver".into(),
                    echo: value,
                })
                .await;
        }
    });
    bob.expect("wait-subscribed driver ping", "seen driver ping")
        .await;
    let answer = bob.ask("request 7").await;
    assert!(
        answer == "response driver 7" || answer == "response alice 7",
        "{answer}"
    );
    answering.abort();
}

async fn a_request_to_a_responder_that_dies_fails_promptly(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut alice = bus.peer("alice").await;
    bus.connect(&driver, &["alice"]).await;
    alice.expect("hold", "serving-pings hold").await;
    within(
        "alice's ping subscription",
        driver.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;

    let requester = driver.clone();
    let request = tokio::spawn(async move { requester.request(Ping { value: 3 }).await });
    alice.expect_eventually("held", "held 1").await;
    alice.kill().await;
    let error = within("the request to fail", request)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&error, Error::RemoteDisconnected { remote, .. } if remote == "alice"),
        "{error}"
    );
    within(
        "alice to be gone",
        driver.wait_until_disconnected_from("alice"),
    )
    .await;
}

async fn events_arrive_in_order_and_none_is_lost_under_back_pressure(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus
        .endpoint_with("driver", EndpointOptions::default().connection_buffer(4096))
        .await;
    let mut alice = bus
        .peer_with("alice", |command| {
            command.env("BUS_PEER_QUEUE", "8");
        })
        .await;
    bus.connect(&driver, &["alice"]).await;
    subscribe_remote::<Counter>(&driver, &mut alice, "counter").await;
    let sending = {
        let driver = driver.clone();
        tokio::spawn(async move {
            for index in 0..5000 {
                driver.broadcast(counter(index)).await.unwrap();
            }
        })
    };
    alice.wait_count("counter", 5000).await;
    within("the sender", sending).await.unwrap();
    assert_eq!(alice.stats("driver").await.1, 5000);
}

async fn a_stalled_consumer_is_cut_off_and_the_others_keep_receiving(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus
        .endpoint_with(
            "driver",
            EndpointOptions::default().stall_timeout(Duration::from_secs(5)),
        )
        .await;
    let mut alice = bus
        .peer_with("alice", |command| {
            command
                .env("BUS_PEER_QUEUE", "4")
                .env("BUS_PEER_STALL_MS", "300");
        })
        .await;
    let mut bob = bus.peer("bob").await;
    bus.connect(&driver, &["alice", "bob"]).await;
    alice.expect("stall counter", "stalled counter").await;
    subscribe_remote::<Counter>(&driver, &mut bob, "counter").await;
    within(
        "alice",
        driver.wait_until_endpoint_subscribed_to::<Counter>("alice"),
    )
    .await;

    for index in 0..500 {
        driver
            .broadcast(counter(index))
            .await
            .expect("bob still subscribes");
    }
    bob.wait_count("counter", 500).await;
    alice
        .expect_eventually("overflowed counter", "overflowed true")
        .await;
    support::eventually("alice's cut-off subscription to be withdrawn", || {
        !driver.is_endpoint_subscribed_to::<Counter>("alice")
    })
    .await;
}

async fn a_stopped_endpoint_is_seen_to_leave(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut changes = driver.connection_events();
    let mut alice = bus.peer("alice").await;
    bus.connect(&driver, &["alice"]).await;
    subscribe_remote::<Counter>(&driver, &mut alice, "counter").await;
    alice.expect("stop", "stopped").await;
    within(
        "alice to be gone",
        driver.wait_until_disconnected_from("alice"),
    )
    .await;
    let seen = support::changes_so_far(&mut changes).await;
    assert!(
        seen.iter().any(
            |change| matches!(change, ConnectionEvent::Connected { remote } if remote == "alice")
        ),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|change| matches!(change, ConnectionEvent::Disconnected { remote, .. } if remote == "alice")),
        "{seen:?}"
    );
    let error = driver.broadcast(counter(0)).await.unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
}

async fn what_was_broadcast_before_stop_all_arrives(kind: Kind) {
    let bus = Bus::new(kind).await;
    // A slow consumer with a small queue: most of alice's events are still on their way
    // (in buffers, held back) when she stops.
    let driver = bus
        .endpoint_with("driver", EndpointOptions::default().queue_capacity(4))
        .await;
    let mut stream = driver.stream::<Counter>();
    let mut alice = bus.peer("alice").await;
    bus.connect(&driver, &["alice"]).await;
    alice
        .expect("wait-subscribed driver counter", "seen driver counter")
        .await;
    alice
        .expect("broadcast counter 400", "broadcast-done 400")
        .await;
    alice.send("stop").await;
    let mut got = 0;
    let all = tokio::time::timeout(support::TIMEOUT, async {
        while got < 400 {
            assert_eq!(stream.next().await.expect("stream open").index, got);
            got += 1;
            // The consumer's own pace, not a wait for anything.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(all.is_ok(), "only {got} of the 400 arrived");
    assert_eq!(alice.line().await, "stopped");
    within(
        "alice to be gone",
        driver.wait_until_disconnected_from("alice"),
    )
    .await;
}

async fn an_event_larger_than_its_receiver_takes_is_refused_by_the_sender(kind: Kind) {
    let bus = Bus::new(kind).await;
    let small = bus
        .endpoint_with("small", EndpointOptions::default().max_frame_size(1024))
        .await;
    let mut stream = small.stream::<Counter>();
    let sender = bus.endpoint("sender").await;
    bus.connect(&sender, &["small"]).await;
    within(
        "small's subscription",
        sender.wait_until_endpoint_subscribed_to::<Counter>("small"),
    )
    .await;
    let big = Counter {
        index: 0,
        payload: vec![0; 4096],
    };
    let error = sender.broadcast(big).await.unwrap_err();
    assert!(matches!(error, Error::FrameTooLarge { .. }), "{error}");
    // What fits still goes.
    sender.broadcast(counter(1)).await.unwrap();
    assert_eq!(
        within("the small event", stream.next())
            .await
            .unwrap()
            .index,
        1
    );
}

async fn events_from_several_processes_all_arrive(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut stream = driver.stream::<Other>();
    let mut senders = Vec::new();
    for name in ["s1", "s2", "s3"] {
        senders.push(bus.peer(name).await);
    }
    bus.connect(&driver, &["s1", "s2", "s3"]).await;
    for sender in &mut senders {
        sender
            .expect("wait-subscribed driver other", "seen driver other")
            .await;
    }
    for sender in &mut senders {
        sender
            .expect("broadcast other 300", "broadcast-done 300")
            .await;
    }
    within("900 events", async {
        for _ in 0..900 {
            stream.next().await.expect("stream open");
        }
    })
    .await;
    for sender in &senders {
        let stats = driver
            .connection_stats()
            .into_iter()
            .find(|stats| stats.remote == sender.name)
            .unwrap();
        assert_eq!(stats.events_received, 300, "from {}", sender.name);
    }
}

/// A subscriber slower than its sender but never stalled (it takes an event every 3 ms,
/// far within the 200 ms stall timeout) keeps its sender: for seconds the sender can
/// only go at the subscriber's pace (both sides buffer little), and it is never taken
/// for stalled, over either backend.
async fn a_slow_subscriber_that_keeps_taking_is_never_cut_off(kind: Kind) {
    const EVENTS: u64 = 700;
    let stall = Duration::from_millis(200);
    let bus = Bus::new(kind).await;
    let receiver = bus
        .endpoint_with(
            "receiver",
            EndpointOptions::default()
                .queue_capacity(4)
                .stall_timeout(stall)
                .connection_buffer(1024),
        )
        .await;
    let mut stream = receiver.stream::<Counter>();
    let sender = bus
        .endpoint_with(
            "sender",
            EndpointOptions::default()
                .stall_timeout(stall)
                .connection_buffer(1024),
        )
        .await;
    let mut changes = sender.connection_events();
    bus.connect(&sender, &["receiver"]).await;
    within(
        "the receiver's subscription",
        sender.wait_until_endpoint_subscribed_to::<Counter>("receiver"),
    )
    .await;
    let sending = tokio::spawn(async move {
        for index in 0..EVENTS {
            sender.broadcast(counter(index)).await?;
        }
        Ok::<_, Error>(sender)
    });
    let all = tokio::time::timeout(support::TIMEOUT, async {
        for index in 0..EVENTS {
            assert_eq!(stream.next().await.expect("stream open").index, index);
            // The consumer's own pace, not a wait for anything.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    })
    .await;
    let sender = within("the sender", sending)
        .await
        .unwrap()
        .expect("every broadcast accepted");
    assert!(all.is_ok(), "not every event arrived");
    let seen = support::changes_so_far(&mut changes).await;
    assert!(
        !seen
            .iter()
            .any(|change| matches!(change, ConnectionEvent::Disconnected { .. })),
        "{seen:?}"
    );
    assert!(sender.is_connected_to("receiver"));
}

async fn next_copy(observation: &mut Observation) -> Observed {
    within("an observed copy", observation.next())
        .await
        .expect("the observation goes on")
}

async fn an_observer_sees_every_message_and_counts_as_nobody(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut alice = bus.peer("alice").await;
    bus.connect(&driver, &["alice"]).await;
    let tap = bus.endpoint("tap").await;
    let mut seen = tap.observe(Vec::<String>::new());
    bus.connect(&tap, &["driver", "alice"]).await;
    within(
        "the driver to see the tap",
        driver.wait_until_observed_by("tap", "tests.Counter"),
    )
    .await;
    alice
        .expect("wait-observed tap tests.Pong", "observed-by tap tests.Pong")
        .await;

    // Nobody but the tap: still nobody.
    let error = driver.broadcast(counter(0)).await.unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
    assert!(!driver.is_any_endpoint_subscribed_to::<Counter>());
    let _mine = driver.subscribe::<Counter, _>(|_| {});
    subscribe_remote::<Counter>(&driver, &mut alice, "counter").await;
    assert!(
        driver.are_all_endpoints_subscribed_to::<Counter>(),
        "an endpoint that only observes is not one that must subscribe"
    );

    driver.broadcast(counter(0)).await.unwrap();
    let copy = next_copy(&mut seen).await;
    assert_eq!(
        (
            copy.origin.as_str(),
            copy.target.as_deref(),
            copy.name.as_str()
        ),
        ("driver", None, "tests.Counter")
    );
    assert_eq!((&copy.kind, copy.missed), (&ObservedKind::Broadcast, 0));
    let decoded: Counter = postcard::from_bytes(&copy.body).unwrap();
    assert_eq!(decoded, counter(0));
    alice.wait_count("counter", 1).await;

    // A request from the driver, and alice's answer from her process.
    alice.expect("respond", "serving-pings respond").await;
    within(
        "alice's ping subscription",
        driver.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;
    driver.request(Ping { value: 7 }).await.unwrap();
    // From two origins over two connections: the answer may come first.
    let (first, second) = (next_copy(&mut seen).await, next_copy(&mut seen).await);
    let (request, answer) = match first.kind {
        ObservedKind::Request { .. } => (first, second),
        _ => (second, first),
    };
    let ObservedKind::Request { id } = request.kind else {
        panic!("not a request: {request:?}");
    };
    assert_eq!(
        (request.origin.as_str(), request.name.as_str()),
        ("driver", "tests.Ping")
    );
    assert_eq!(
        (
            answer.origin.as_str(),
            answer.target.as_deref(),
            answer.name.as_str()
        ),
        ("alice", Some("driver"), "tests.Pong")
    );
    assert_eq!(
        answer.kind,
        ObservedKind::Answer {
            request_id: id,
            request: "tests.Ping".into()
        }
    );
    let pong: event_bus_tests::Pong = postcard::from_bytes(&answer.body).unwrap();
    assert_eq!((pong.from.as_str(), pong.echo), ("alice", 7));

    // Once the observation is dropped, the driver learns it and copies nothing more.
    let copies_to_tap = |driver: &event_core::Endpoint| {
        driver
            .connection_stats()
            .into_iter()
            .find(|stats| stats.remote == "tap")
            .map(|stats| (stats.copies_sent, stats.events_sent))
            .unwrap()
    };
    assert_eq!(copies_to_tap(&driver), (2, 0), "a broadcast and a request");
    drop(seen);
    support::eventually("the end of the observation", || {
        !driver.is_observed_by("tap", "tests.Counter")
    })
    .await;
    driver.broadcast(counter(1)).await.unwrap();
    alice.wait_count("counter", 2).await;
    assert_eq!(
        copies_to_tap(&driver),
        (2, 0),
        "nothing copied after the end"
    );
}

async fn an_observer_that_cannot_keep_up_is_told_what_it_missed(kind: Kind) {
    let bus = Bus::new(kind).await;
    let driver = bus.endpoint("driver").await;
    let mut alice = bus.peer("alice").await;
    bus.connect(&driver, &["alice"]).await;
    subscribe_remote::<Counter>(&driver, &mut alice, "counter").await;
    let tap = bus
        .endpoint_with("tap", EndpointOptions::default().queue_capacity(4))
        .await;
    let mut seen = tap.observe(["tests.Counter"]);
    bus.connect(&tap, &["driver"]).await;
    within(
        "the driver to see the tap",
        driver.wait_until_observed_by("tap", "tests.Counter"),
    )
    .await;
    assert!(!driver.is_observed_by("tap", "tests.Other"));

    // 300 events while the tap reads nothing: its queue holds 4. The subscriber gets
    // every one, and the driver never waits for the tap.
    for index in 0..300 {
        driver.broadcast(counter(index)).await.unwrap();
    }
    alice.wait_count("counter", 300).await;
    // One more at a time, until the tap gets one of them: by then every copy before
    // it was either received or counted as missed.
    let (mut received, mut missed) = (0, 0);
    for index in 300.. {
        driver.broadcast(counter(index)).await.unwrap();
        let copy = next_copy(&mut seen).await;
        received += 1;
        missed += copy.missed;
        let last: Counter = postcard::from_bytes(&copy.body).unwrap();
        if last.index >= 300 {
            assert_eq!(
                received + missed,
                last.index + 1,
                "nothing dropped silently"
            );
            break;
        }
    }
    assert!(missed > 0, "a queue of 4 held all of 300 copies");
}

//! Bugs found by review and benchmark, each with the test that guards it.

mod support;

use event_core::{ConnectionConfig, Endpoint, EndpointOptions, Error, Event, Subscription};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use support::within;

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

//! Every in-process semantic of the `Endpoint`, tested as a downstream crate uses it:
//! the events are declared here, with only `event_core` and `serde` in scope.

mod support;

use event_core::{BroadcastConfig, Endpoint, EndpointOptions, Error, Event, InboundRequest};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::within;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct PeerJoined {
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub enum PoolChange {
    Joined(u64),
    Left { id: u64, reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct PeerCountResponse {
    pub peer_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[request(response = PeerCountResponse)]
pub struct PeerCountRequest;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct Envelope<T>(pub T);

fn bus(name: &str) -> Endpoint {
    Endpoint::new(name).unwrap()
}

#[test]
fn handles_futures_and_streams_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send_sync_clone::<Endpoint>();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let bus = bus("send");
    send(&bus.stream::<PeerJoined>());
    send(&bus.stream_requests::<PeerCountRequest>());
    send(&bus.broadcast(PeerJoined { id: 1 }));
    send(&bus.request(PeerCountRequest));
    send(&bus.wait_for::<PeerJoined>());
    send(&bus.wait_until_any_endpoint_subscribed_to::<PeerJoined>());
    send(&bus.wait_until_schema_published("other", "PeerJoined"));
    // `InboundRequest` and the future of `respond()` move into spawned tasks.
    fn inbound_is_send(
        request: InboundRequest<PeerCountRequest>,
    ) -> impl std::future::Future + Send {
        async move { request.respond(PeerCountResponse { peer_count: 0 }).await }
    }
    let _ = inbound_is_send;
}

#[tokio::test]
async fn a_stream_is_registered_when_it_returns_and_subscribers_share_one_arc() {
    let bus = bus("local");
    let mut first = bus.stream::<PeerJoined>();
    let mut second = bus.stream::<PeerJoined>();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_by_handler = seen.clone();
    let _subscription = bus.subscribe::<PeerJoined, _>(move |event| {
        *seen_by_handler.lock().unwrap() = Some(event);
    });
    bus.broadcast(PeerJoined { id: 7 }).await.unwrap();
    let a = within("first", first.next()).await.unwrap();
    let b = within("second", second.next()).await.unwrap();
    assert_eq!(*a, PeerJoined { id: 7 });
    assert!(
        Arc::ptr_eq(&a, &b),
        "in-process subscribers must share one Arc"
    );
    assert!(Arc::ptr_eq(&a, seen.lock().unwrap().as_ref().unwrap()));
}

#[tokio::test]
async fn events_arrive_in_order_and_enums_work() {
    let bus = bus("local");
    let mut stream = bus.stream::<PoolChange>();
    for id in 0..1000 {
        let change = if id % 2 == 0 {
            PoolChange::Joined(id)
        } else {
            PoolChange::Left {
                id,
                reason: "timeout".into(),
            }
        };
        bus.broadcast(change).await.unwrap();
    }
    for id in 0..1000 {
        let change = within("change", stream.next()).await.unwrap();
        let got = match &*change {
            PoolChange::Joined(id) | PoolChange::Left { id, .. } => *id,
        };
        assert_eq!(got, id);
    }
}

#[tokio::test]
async fn no_subscribers_is_an_error_unless_not_required() {
    let bus = bus("lonely");
    let error = bus.broadcast(PeerJoined { id: 1 }).await.unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { event, .. } if event == PeerJoined::NAME));
    assert!(
        error.to_string().contains("lonely") && error.to_string().contains("PeerJoined"),
        "{error}"
    );
    bus.broadcast_with(
        PeerJoined { id: 1 },
        BroadcastConfig::default().require_subscriber(false),
    )
    .await
    .unwrap();
    let error = bus.request(PeerCountRequest).await.unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }), "{error}");
}

#[tokio::test]
async fn dropping_a_stream_or_subscription_unsubscribes() {
    let bus = bus("local");
    let stream = bus.stream::<PeerJoined>();
    assert!(bus.is_endpoint_subscribed_to::<PeerJoined>("local"));
    assert!(bus.is_any_endpoint_subscribed_to::<PeerJoined>());
    assert!(bus.are_all_endpoints_subscribed_to::<PeerJoined>());
    drop(stream);
    assert!(!bus.is_any_endpoint_subscribed_to::<PeerJoined>());
    assert!(matches!(
        bus.broadcast(PeerJoined { id: 1 }).await,
        Err(Error::NoSubscribers { .. })
    ));

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let subscription = bus.subscribe::<PeerJoined, _>(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    bus.broadcast(PeerJoined { id: 1 }).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    subscription.unsubscribe();
    assert!(matches!(
        bus.broadcast(PeerJoined { id: 2 }).await,
        Err(Error::NoSubscribers { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(bus.connected_endpoints_and_subscriptions()[0].1.len(), 0);
}

#[tokio::test]
async fn internal_and_to_self_reach_local_subscribers() {
    let bus = bus("local");
    let mut stream = bus.stream::<PeerJoined>();
    bus.broadcast_with(PeerJoined { id: 1 }, BroadcastConfig::internal())
        .await
        .unwrap();
    bus.broadcast_with(PeerJoined { id: 2 }, BroadcastConfig::to_endpoint("local"))
        .await
        .unwrap();
    let error = bus
        .broadcast_with(
            PeerJoined { id: 3 },
            BroadcastConfig::to_endpoint("elsewhere"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoSubscribers { .. }));
    assert_eq!(within("1", stream.next()).await.unwrap().id, 1);
    assert_eq!(within("2", stream.next()).await.unwrap().id, 2);
    assert!(stream.is_empty());
}

#[tokio::test]
async fn wait_for_returns_the_next_event() {
    let bus = bus("local");
    let waiter = bus.clone();
    let waiting = tokio::spawn(async move { waiter.wait_for::<PeerJoined>().await });
    within(
        "the waiter to subscribe",
        bus.wait_until_any_endpoint_subscribed_to::<PeerJoined>(),
    )
    .await;
    bus.broadcast(PeerJoined { id: 9 }).await.unwrap();
    assert_eq!(within("wait_for", waiting).await.unwrap().unwrap().id, 9);
}

#[tokio::test]
async fn a_request_gets_its_bound_response_and_the_first_answer_wins() {
    let bus = bus("local");
    for answer in [1, 2] {
        let mut requests = bus.stream_requests::<PeerCountRequest>();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                assert_eq!(request.origin(), "local");
                // Both answer; one answer is discarded, without an error.
                request
                    .respond(PeerCountResponse { peer_count: answer })
                    .await
                    .unwrap();
            }
        });
    }
    for _ in 0..50 {
        let response: PeerCountResponse = within("response", bus.request(PeerCountRequest))
            .await
            .unwrap();
        assert!([1, 2].contains(&response.peer_count));
    }
    assert_eq!(bus.pending_requests(), 0);
}

#[tokio::test]
async fn a_request_whose_recipients_drop_it_fails_instead_of_hanging() {
    let bus = bus("local");
    let mut first = bus.stream_requests::<PeerCountRequest>();
    let mut second = bus.stream_requests::<PeerCountRequest>();
    tokio::spawn(async move {
        while let (Some(a), Some(b)) = (first.next().await, second.next().await) {
            drop((a, b));
        }
    });
    let error = within("the request to fail", bus.request(PeerCountRequest))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoResponse { .. }), "{error}");
    // A plain stream of a request type cannot answer: it does not keep the request alive.
    let bus = Endpoint::new("plain").unwrap();
    let _events = bus.stream::<PeerCountRequest>();
    let error = within("the request to fail", bus.request(PeerCountRequest))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoResponse { .. }), "{error}");
}

#[tokio::test]
async fn a_cancelled_request_leaves_nothing_behind() {
    let bus = bus("local");
    let mut requests = bus.stream_requests::<PeerCountRequest>();
    let request = within(
        "timeout",
        bus.request_timeout(PeerCountRequest, Duration::from_millis(50)),
    )
    .await;
    assert!(matches!(request, Err(Error::Timeout { .. })), "{request:?}");
    assert_eq!(bus.pending_requests(), 0);
    // The responder answers late: discarded, and no error for it.
    let late = within("the request", requests.next()).await.unwrap();
    late.respond(PeerCountResponse { peer_count: 1 })
        .await
        .unwrap();
    assert_eq!(bus.pending_requests(), 0);
}

#[tokio::test]
async fn after_stop_everything_fails_with_stopped_and_streams_end() {
    let bus = bus("local");
    let mut stream = bus.stream::<PeerJoined>();
    let mut requests = bus.stream_requests::<PeerCountRequest>();
    let requester = bus.clone();
    let pending = tokio::spawn(async move { requester.request(PeerCountRequest).await });
    let held = within("the request", requests.next()).await.unwrap();
    bus.stop().await;
    bus.stop().await; // idempotent
    assert!(matches!(
        within("pending", pending).await.unwrap(),
        Err(Error::Stopped { .. })
    ));
    assert!(within("stream end", stream.next()).await.is_none());
    assert!(within("request stream end", requests.next())
        .await
        .is_none());
    assert!(matches!(
        held.respond(PeerCountResponse { peer_count: 0 }).await,
        Err(Error::Stopped { .. })
    ));
    assert!(matches!(
        bus.broadcast(PeerJoined { id: 1 }).await,
        Err(Error::Stopped { .. })
    ));
    assert!(matches!(
        bus.broadcast_nowait(PeerJoined { id: 1 }, BroadcastConfig::default()),
        Err(Error::Stopped { .. })
    ));
    assert!(matches!(
        bus.request(PeerCountRequest).await,
        Err(Error::Stopped { .. })
    ));
    assert!(matches!(
        bus.wait_for::<PeerJoined>().await,
        Err(Error::Stopped { .. })
    ));
    assert!(matches!(bus.connect_to_endpoints(&[]).await, Ok(())));
    let dir = tempfile::tempdir().unwrap();
    let config = event_core::ConnectionConfig::from_name("x", dir.path());
    assert!(matches!(
        bus.connect_to_endpoints(&[config]).await,
        Err(Error::Stopped { .. })
    ));
    // Waits return instead of hanging.
    within(
        "wait after stop",
        bus.wait_until_any_endpoint_subscribed_to::<PeerJoined>(),
    )
    .await;
    assert!(within("new stream", bus.stream::<PeerJoined>().next())
        .await
        .is_none());
}

#[tokio::test]
async fn a_stalled_subscriber_is_cut_off_and_knows_it() {
    let options = EndpointOptions::default()
        .queue_capacity(4)
        .stall_timeout(Duration::from_millis(100));
    let bus = Endpoint::with_options("local", options).unwrap();
    let stalled = bus.stream::<PeerJoined>();
    let mut healthy = bus.stream::<PeerJoined>();
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while let Some(event) = healthy.next().await {
            ids.push(event.id);
            if ids.len() == 10 {
                break;
            }
        }
        ids
    });
    for id in 0..10 {
        bus.broadcast(PeerJoined { id }).await.unwrap();
    }
    // The healthy subscriber got everything, in order (back-pressure, no loss).
    assert_eq!(
        within("reader", reader).await.unwrap(),
        (0..10).collect::<Vec<_>>()
    );
    // The stalled one holds what fitted, then ends, and says why.
    let mut stalled = stalled;
    let kept: Vec<u64> = within(
        "stalled stream",
        (&mut stalled).map(|event| event.id).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(kept, vec![0, 1, 2, 3]);
    assert!(stalled.overflowed());
}

#[tokio::test]
async fn broadcast_nowait_reports_a_full_queue_and_delivers_to_the_others() {
    let options = EndpointOptions::default().queue_capacity(1);
    let bus = Endpoint::with_options("local", options).unwrap();
    let mut full = bus.stream::<PeerJoined>();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let _handler = bus.subscribe::<PeerJoined, _>(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    bus.broadcast_nowait(PeerJoined { id: 1 }, BroadcastConfig::default())
        .unwrap();
    let error = bus
        .broadcast_nowait(PeerJoined { id: 2 }, BroadcastConfig::default())
        .unwrap_err();
    assert!(matches!(error, Error::QueueFull { .. }), "{error}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the handler still got both"
    );
    assert_eq!(within("first", full.next()).await.unwrap().id, 1);
    assert!(full.is_empty());
}

#[tokio::test]
async fn a_consumer_that_awaits_requests_while_flooded_does_not_deadlock() {
    let options = EndpointOptions::default()
        .queue_capacity(8)
        .stall_timeout(Duration::from_secs(60));
    let bus = Endpoint::with_options("local", options).unwrap();
    let mut requests = bus.stream_requests::<PeerCountRequest>();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            request
                .respond(PeerCountResponse { peer_count: 5 })
                .await
                .unwrap();
        }
    });
    let mut events = bus.stream::<PeerJoined>();
    let consumer_bus = bus.clone();
    let consumer = tokio::spawn(async move {
        let mut seen = 0;
        while let Some(_event) = events.next().await {
            assert_eq!(
                consumer_bus
                    .request(PeerCountRequest)
                    .await
                    .unwrap()
                    .peer_count,
                5
            );
            seen += 1;
            if seen == 500 {
                return seen;
            }
        }
        seen
    });
    for id in 0..500 {
        within("broadcast", bus.broadcast(PeerJoined { id }))
            .await
            .unwrap();
    }
    assert_eq!(within("the consumer", consumer).await.unwrap(), 500);
}

#[tokio::test]
async fn a_panicking_handler_does_not_stop_delivery() {
    let bus = bus("local");
    let _bad = bus.subscribe::<PeerJoined, _>(|event| {
        if event.id == 1 {
            panic!("handler bug");
        }
    });
    let mut stream = bus.stream::<PeerJoined>();
    bus.broadcast(PeerJoined { id: 1 }).await.unwrap();
    bus.broadcast(PeerJoined { id: 2 }).await.unwrap();
    assert_eq!(within("1", stream.next()).await.unwrap().id, 1);
    assert_eq!(within("2", stream.next()).await.unwrap().id, 2);
}

#[tokio::test]
async fn generic_events_have_one_name_per_instantiation() {
    assert_ne!(
        Envelope::<PeerJoined>::NAME,
        Envelope::<PeerCountResponse>::NAME
    );
    assert!(Envelope::<PeerJoined>::NAME.ends_with(&format!("Envelope<{}>", PeerJoined::NAME)));
    let bus = bus("local");
    let mut joined = bus.stream::<Envelope<PeerJoined>>();
    let mut counts = bus.stream::<Envelope<PeerCountResponse>>();
    bus.broadcast(Envelope(PeerJoined { id: 3 })).await.unwrap();
    assert_eq!(within("joined", joined.next()).await.unwrap().0.id, 3);
    assert!(counts.is_empty());
    drop(counts.next());
}

/// Not an event: a plain serde type that opts in to being a generic event's parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    id: u64,
}

impl event_core::StableName for Row {
    const STABLE_NAME: &'static str = "tests.Row";
}

#[tokio::test]
async fn generic_events_over_plain_types_cross_a_socket_under_their_own_names() {
    assert!(Envelope::<u32>::NAME.ends_with("Envelope<u32>"));
    assert!(Envelope::<Vec<Row>>::NAME.ends_with("Envelope<Vec<tests.Row>>"));
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| event_core::ConnectionConfig::from_name(name, dir.path());
    let a = Endpoint::serve(config("a")).await.unwrap();
    let b = Endpoint::serve(config("b")).await.unwrap();
    let mut small = a.stream::<Envelope<u32>>();
    let mut rows = a.stream::<Envelope<Vec<Row>>>();
    b.connect_to_endpoints(&[config("a")]).await.unwrap();
    within(
        "a's subscriptions",
        b.wait_until_endpoint_subscribed_to::<Envelope<Vec<Row>>>("a"),
    )
    .await;
    b.broadcast(Envelope(7u32)).await.unwrap();
    b.broadcast(Envelope(vec![Row { id: 1 }, Row { id: 2 }]))
        .await
        .unwrap();
    // Another instantiation is another event: nobody subscribes to it.
    let wide = b.broadcast(Envelope(7u64)).await.unwrap_err();
    assert!(matches!(wide, Error::NoSubscribers { .. }), "{wide}");
    assert_eq!(within("a u32", small.next()).await.unwrap().0, 7);
    let got = within("rows", rows.next()).await.unwrap();
    assert_eq!(got.0, vec![Row { id: 1 }, Row { id: 2 }]);
}

#[test]
fn the_registry_lists_the_events_of_this_crate() {
    let request = event_core::registry::find(PeerCountRequest::NAME).expect("registered");
    assert_eq!(request.response_name(), Some(PeerCountResponse::NAME));
    assert!(request.type_name().ends_with("PeerCountRequest"));
    let names: Vec<&str> = event_core::registry::all()
        .map(|info| info.name())
        .collect();
    for name in [PeerJoined::NAME, PoolChange::NAME, PeerCountResponse::NAME] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(
        event_core::registry::find(PeerJoined::NAME)
            .unwrap()
            .response_name(),
        None
    );
    assert_eq!(PeerJoined::NAME, "local::PeerJoined");
    assert!(format!("{request:?}").contains("PeerCountRequest"));
}

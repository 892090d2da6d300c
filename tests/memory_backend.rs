//! The backend seam is real, not shaped like the socket mesh: a small in-memory backend,
//! written here with nothing but `event_core`'s public API (as a backend crate would be),
//! wires two endpoints of one process together, and the `Endpoint`'s semantics (the crate
//! docs, "Semantics") hold across it.

mod support;

use event_core::backend::{
    self, Attached, Backend, BoxFuture, Outgoing, Refused, RemoteHandle, RemoteLink, TopicCache,
};
use event_core::schema::{EventSchema, Fingerprint};
use event_core::{BroadcastConfig, ConnectionConfig, Endpoint, EndpointOptions, Error, Event};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{eventually, within};
use tokio::sync::{mpsc, Notify};

// ---------------------------------------------------------------------------------------
// The backend

/// What travels from one endpoint to the other, in order.
enum Message {
    Subscriptions(Vec<(String, Fingerprint)>),
    Event {
        name: &'static str,
        request_id: Option<u64>,
        body: Vec<u8>,
    },
    Answer {
        request_id: u64,
        name: &'static str,
        body: Vec<u8>,
    },
    Dropped(u64),
    /// The sender says `missed` events named `event` were lost on the way.
    Gap {
        event: &'static str,
        missed: u64,
    },
    Closed,
}

/// One direction of a pair: a queue with a bound on the events waiting in it.
struct Lane {
    tx: mpsc::UnboundedSender<Message>,
    capacity: usize,
    queued: AtomicUsize,
    room: Notify,
    drained: Notify,
    finishing: AtomicBool,
    closed: AtomicBool,
    /// Events ever handed to this lane, to check that non-subscribers are sent nothing.
    events_sent: AtomicUsize,
}

impl Lane {
    fn push(&self, message: Message) -> Result<(), Refused> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Refused::Closed);
        }
        self.tx.send(message).map_err(|_| Refused::Closed)
    }
}

impl RemoteLink for Lane {
    fn try_send(&self, event: &Outgoing<'_>) -> Result<(), Refused> {
        if self.finishing.load(Ordering::SeqCst) {
            return Err(Refused::Closed);
        }
        if self.queued.load(Ordering::SeqCst) >= self.capacity {
            return Err(Refused::Full);
        }
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.events_sent.fetch_add(1, Ordering::SeqCst);
        self.push(Message::Event {
            name: event.name,
            request_id: event.request_id,
            body: event.body.to_vec(),
        })
    }

    fn send<'a>(
        &'a self,
        event: &'a Outgoing<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), Refused>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let room = self.room.notified();
                tokio::pin!(room);
                room.as_mut().enable();
                match self.try_send(event) {
                    Err(Refused::Full) => {}
                    other => return other,
                }
                if tokio::time::timeout_at(deadline, room).await.is_err() {
                    return self.try_send(event);
                }
            }
        })
    }

    fn respond(&self, request_id: u64, name: &'static str, body: &[u8]) -> Result<(), Refused> {
        self.push(Message::Answer {
            request_id,
            name,
            body: body.to_vec(),
        })
    }

    fn drop_request(&self, request_id: u64) {
        let _ = self.push(Message::Dropped(request_id));
    }

    fn finish(&self) {
        self.finishing.store(true, Ordering::SeqCst);
    }

    fn drained(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                let drained = self.drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                if self.queued.load(Ordering::SeqCst) == 0 || self.closed.load(Ordering::SeqCst) {
                    return;
                }
                drained.await;
            }
        })
    }

    fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            // Tell the other side at once; what is still queued is dropped (the receiver
            // skips it), so only a real drain delivers it.
            let _ = self.tx.send(Message::Closed);
            self.room.notify_waiters();
            self.drained.notify_waiters();
        }
    }
}

/// The backend of one endpoint: the lanes it sends its subscription sets on.
#[derive(Default)]
struct Memory {
    lanes: Mutex<Vec<Arc<Lane>>>,
}

impl Backend for Memory {
    fn subscriptions_changed(&self, subscribed: &[Arc<EventSchema>]) {
        for lane in self.lanes.lock().unwrap().iter() {
            let _ = lane.push(Message::Subscriptions(announced(subscribed)));
        }
    }

    fn stop(&self) {}
}

/// What a subscription set says to a remote: names and schema fingerprints.
fn announced(subscribed: &[Arc<EventSchema>]) -> Vec<(String, Fingerprint)> {
    subscribed
        .iter()
        .map(|schema| (schema.name().to_owned(), schema.fingerprint()))
        .collect()
}

/// Carries one lane's messages into the receiving endpoint's core.
async fn receive(mut rx: mpsc::UnboundedReceiver<Message>, lane: Arc<Lane>, handle: RemoteHandle) {
    let mut cache = TopicCache::default();
    while let Some(message) = rx.recv().await {
        match message {
            Message::Subscriptions(names) => handle.set_subscriptions(names),
            Message::Event {
                name,
                request_id,
                body,
            } => {
                if !lane.closed.load(Ordering::SeqCst) {
                    handle.deliver(&mut cache, name, request_id, &body).await;
                }
                lane.queued.fetch_sub(1, Ordering::SeqCst);
                lane.room.notify_waiters();
                lane.drained.notify_waiters();
            }
            Message::Answer {
                request_id,
                name,
                body,
            } => handle.answer(request_id, name, body.into()),
            Message::Dropped(request_id) => handle.request_dropped(request_id),
            Message::Gap { event, missed } => handle.report_gap(event, missed),
            Message::Closed => break,
        }
    }
    handle.disconnected("the other side closed");
}

/// Two endpoints wired by the memory backend; the lanes are kept to look at.
struct Pair {
    a_to_b: Arc<Lane>,
    b_to_a: Arc<Lane>,
}

fn lane(capacity: usize) -> (Arc<Lane>, mpsc::UnboundedReceiver<Message>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let lane = Arc::new(Lane {
        tx,
        capacity,
        queued: AtomicUsize::new(0),
        room: Notify::new(),
        drained: Notify::new(),
        finishing: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        events_sent: AtomicUsize::new(0),
    });
    (lane, rx)
}

/// Makes `a` and `b` remotes of each other.
fn wire(a: &Endpoint, b: &Endpoint, capacity: usize) -> Pair {
    let (memory_a, memory_b) = (Arc::new(Memory::default()), Arc::new(Memory::default()));
    let attached_a = backend::attach(a, memory_a.clone()).unwrap();
    let attached_b = backend::attach(b, memory_b.clone()).unwrap();
    let (a_to_b, rx_at_b) = lane(capacity);
    let (b_to_a, rx_at_a) = lane(capacity);
    let add = |attached: &Attached, memory: &Memory, remote: &str, lane: &Arc<Lane>| {
        attached
            .add_remote(remote, HashMap::new(), lane.clone(), |subscribed| {
                lane.push(Message::Subscriptions(announced(subscribed)))
                    .map_err(|_| "closed".to_owned())?;
                memory.lanes.lock().unwrap().push(lane.clone());
                Ok(())
            })
            .unwrap()
    };
    let b_at_a = add(&attached_a, &memory_a, b.name(), &a_to_b);
    let a_at_b = add(&attached_b, &memory_b, a.name(), &b_to_a);
    tokio::spawn(receive(rx_at_b, a_to_b.clone(), a_at_b));
    tokio::spawn(receive(rx_at_a, b_to_a.clone(), b_at_a));
    Pair { a_to_b, b_to_a }
}

// ---------------------------------------------------------------------------------------
// The events

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "memory.Tick")]
pub struct Tick(pub u64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "memory.Quiet")]
pub struct Quiet;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "memory.Count")]
pub struct Count(pub u64);

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "memory.HowMany")]
#[request(response = Count)]
pub struct HowMany;

/// Waits until `bus` has heard that `remote` subscribes to `E`.
async fn heard_of<E: Event>(bus: &Endpoint, remote: &str) {
    within(
        &format!("{remote}'s subscription to {}", E::NAME),
        bus.wait_until_endpoint_subscribed_to::<E>(remote),
    )
    .await;
}

fn pair(capacity: usize) -> (Endpoint, Endpoint, Pair) {
    let a = Endpoint::new("a").unwrap();
    let b = Endpoint::new("b").unwrap();
    let lanes = wire(&a, &b, capacity);
    (a, b, lanes)
}

// ---------------------------------------------------------------------------------------
// The semantics

#[tokio::test]
async fn both_sides_are_connected_and_see_each_others_subscriptions() {
    let (a, b, _lanes) = pair(64);
    assert!(a.is_connected_to("b") && b.is_connected_to("a"));
    let ticks = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    assert!(a.is_any_endpoint_subscribed_to::<Tick>());
    assert!(
        !a.are_all_endpoints_subscribed_to::<Tick>(),
        "a itself does not"
    );
    let seen = a.connected_endpoints_and_subscriptions();
    assert_eq!(seen[1].0, "b");
    assert!(seen[1].1.contains("memory.Tick"));
    drop(ticks);
    eventually("b's unsubscription", || {
        !a.is_endpoint_subscribed_to::<Tick>("b")
    })
    .await;
}

#[tokio::test]
async fn a_broadcast_reaches_remote_subscribers_only_and_in_order() {
    // A lane of 8 events: 2000 events exercise the wait for room many times.
    let (a, b, lanes) = pair(8);
    let mut ticks = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    let sender = a.clone();
    let sending = tokio::spawn(async move {
        for index in 0..2000 {
            sender.broadcast(Tick(index)).await.unwrap();
        }
    });
    for index in 0..2000 {
        let tick = within("the next tick", ticks.next()).await.unwrap();
        assert_eq!(*tick, Tick(index));
    }
    sending.await.unwrap();
    // `b` does not subscribe to `Quiet`: it fails, and nothing is sent to `b`.
    let before = lanes.a_to_b.events_sent.load(Ordering::SeqCst);
    assert!(matches!(
        a.broadcast(Quiet).await,
        Err(Error::NoSubscribers {
            event: "memory.Quiet",
            ..
        })
    ));
    a.broadcast_with(Quiet, BroadcastConfig::default().require_subscriber(false))
        .await
        .unwrap();
    assert_eq!(lanes.a_to_b.events_sent.load(Ordering::SeqCst), before);
    assert_eq!(a.connection_stats()[0].events_sent, 2000);
    assert_eq!(b.connection_stats()[0].events_received, 2000);
}

#[tokio::test]
async fn to_endpoint_and_internal_choose_who_receives() {
    let (a, b, _lanes) = pair(64);
    let mut at_a = a.stream::<Tick>();
    let mut at_b = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    a.broadcast_with(Tick(1), BroadcastConfig::to_endpoint("b"))
        .await
        .unwrap();
    a.broadcast_with(Tick(2), BroadcastConfig::internal())
        .await
        .unwrap();
    a.broadcast(Tick(3)).await.unwrap();
    assert_eq!(*within("b", at_b.next()).await.unwrap(), Tick(1));
    assert_eq!(*within("b", at_b.next()).await.unwrap(), Tick(3));
    assert_eq!(*within("a", at_a.next()).await.unwrap(), Tick(2));
    assert_eq!(*within("a", at_a.next()).await.unwrap(), Tick(3));
    assert!(matches!(
        a.broadcast_with(Quiet, BroadcastConfig::to_endpoint("b"))
            .await,
        Err(Error::NoSubscribers { .. })
    ));
}

#[tokio::test]
async fn a_request_gets_the_bound_response_from_the_remote() {
    let (a, b, _lanes) = pair(64);
    let mut requests = b.stream_requests::<HowMany>();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            assert_eq!(request.origin(), "a");
            request.respond(Count(7)).await.unwrap();
        }
    });
    heard_of::<HowMany>(&a, "b").await;
    let count: Count = within("the answer", a.request(HowMany)).await.unwrap();
    assert_eq!(count, Count(7));
    assert_eq!(a.pending_requests(), 0);
}

#[tokio::test]
async fn the_first_answer_wins_when_both_endpoints_answer() {
    let (a, b, _lanes) = pair(64);
    let mut remote = b.stream_requests::<HowMany>();
    let mut local = a.stream_requests::<HowMany>();
    heard_of::<HowMany>(&a, "b").await;
    let asking = tokio::spawn({
        let a = a.clone();
        async move { a.request(HowMany).await }
    });
    let remote_request = within("b's copy", remote.next()).await.unwrap();
    let local_request = within("a's copy", local.next()).await.unwrap();
    local_request.respond(Count(1)).await.unwrap();
    let answer = within("the answer", asking).await.unwrap().unwrap();
    assert_eq!(answer, Count(1));
    // The later answer is discarded without an error.
    remote_request.respond(Count(2)).await.unwrap();
}

#[tokio::test]
async fn a_request_fails_when_the_remote_drops_it_or_goes_away() {
    let (a, b, _lanes) = pair(64);
    let mut requests = b.stream_requests::<HowMany>();
    heard_of::<HowMany>(&a, "b").await;
    let asking = tokio::spawn({
        let a = a.clone();
        async move { a.request(HowMany).await }
    });
    drop(within("the request", requests.next()).await.unwrap());
    let result = within("the failure", asking).await.unwrap();
    assert!(
        matches!(result, Err(Error::NoResponse { .. })),
        "{result:?}"
    );
    // Now `b` stops while a request is pending: `a` hears of it and fails the request.
    let asking = tokio::spawn({
        let a = a.clone();
        async move { a.request(HowMany).await }
    });
    let _held = within("the request", requests.next()).await.unwrap();
    b.stop().await;
    let result = within("the failure", asking).await.unwrap();
    assert!(
        matches!(result, Err(Error::RemoteDisconnected { ref remote, .. }) if remote == "b"),
        "{result:?}"
    );
    eventually("a to see b gone", || !a.is_connected_to("b")).await;
    assert_eq!(a.pending_requests(), 0);
}

#[tokio::test]
async fn stop_delivers_what_broadcast_accepted_before_leaving() {
    let (a, b, lanes) = pair(1000);
    let mut ticks = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    for index in 0..500 {
        a.broadcast(Tick(index)).await.unwrap();
    }
    a.stop().await;
    for index in 0..500 {
        assert_eq!(
            *within("the next tick", ticks.next()).await.unwrap(),
            Tick(index)
        );
    }
    eventually("b to see a gone", || !b.is_connected_to("a")).await;
    assert!(lanes.a_to_b.closed.load(Ordering::SeqCst));
    assert!(matches!(
        a.broadcast(Tick(0)).await,
        Err(Error::Stopped { .. })
    ));
}

#[tokio::test]
async fn a_remote_that_takes_nothing_is_given_up_with_stalled() {
    let options = EndpointOptions::default().stall_timeout(Duration::from_millis(100));
    let a = Endpoint::with_options("a", options).unwrap();
    let b = Endpoint::new("b").unwrap();
    let lanes = wire(&a, &b, 4);
    let _ticks = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    // Freeze the lane: pretend four events wait that `b` never takes.
    lanes.a_to_b.queued.store(4, Ordering::SeqCst);
    let result = within("the stall", a.broadcast(Tick(0))).await;
    assert!(
        matches!(result, Err(Error::Stalled { ref remote, .. }) if remote == "b"),
        "{result:?}"
    );
    assert!(!a.is_connected_to("b"));
    let _ = lanes.b_to_a;
}

#[tokio::test]
async fn names_are_unique_across_backends() {
    let (a, _b, _lanes) = pair(64);
    let attached = backend::attach(&a, Arc::new(Memory::default())).unwrap();
    let (spare, _rx) = lane(1);
    for (name, why) in [
        ("b", "already connected"),
        ("a", "own name"),
        ("bad/name", "not a valid endpoint name"),
    ] {
        let result = attached.add_remote(name, HashMap::new(), spare.clone(), |_| Ok(()));
        assert!(
            matches!(&result, Err(Error::ConnectionAttemptRejected { reason, .. }) if reason.contains(why)),
            "{result:?}"
        );
    }
    // A socket endpoint named `b` cannot connect to `a` either: `b` is taken.
    let dir = tempfile::tempdir().unwrap();
    let served = Endpoint::serve(ConnectionConfig::from_name("a2", dir.path()))
        .await
        .unwrap();
    let impostor = Endpoint::new("b").unwrap();
    let via_memory = Endpoint::new("c").unwrap();
    let _lanes = wire(&served, &via_memory, 8);
    let refused = impostor
        .connect_to_endpoints(&[ConnectionConfig::from_name("a2", dir.path())])
        .await;
    assert!(refused.is_ok(), "b is not taken at a2: {refused:?}");
    let clash = Endpoint::new("c").unwrap();
    let refused = clash
        .connect_to_endpoints(&[ConnectionConfig::from_name("a2", dir.path())])
        .await;
    assert!(
        matches!(&refused, Err(Error::ConnectionAttemptRejected { reason, .. }) if reason.contains("already connected")),
        "{refused:?}"
    );
    // The holder of the name carries on.
    assert!(served.is_connected_to("c") && via_memory.is_connected_to("a2"));
}

#[tokio::test]
async fn a_stopped_endpoint_takes_no_backend() {
    let a = Endpoint::new("a").unwrap();
    a.stop().await;
    let result = backend::attach(&a, Arc::new(Memory::default()));
    assert!(matches!(result, Err(Error::Stopped { .. })), "{result:?}");
}

/// Three remotes of `a` (`b`, `c`, `d`) that subscribe (with `subscribe`) to `E` and then
/// take nothing more: their lanes look full from then on.
async fn freeze_remotes<E: Event, S>(
    a: &Endpoint,
    subscribe: fn(&Endpoint) -> S,
) -> Vec<(Endpoint, Pair, S)> {
    let frozen: Vec<(Endpoint, Pair, S)> = ["b", "c", "d"]
        .into_iter()
        .map(|name| {
            let remote = Endpoint::new(name).unwrap();
            let lanes = wire(a, &remote, 4);
            let subscription = subscribe(&remote);
            (remote, lanes, subscription)
        })
        .collect();
    for (remote, lanes, _) in &frozen {
        heard_of::<E>(a, remote.name()).await;
        lanes.a_to_b.queued.store(4, Ordering::SeqCst);
    }
    frozen
}

/// Several frozen remotes were given up one after another (three frozen peers with a 1 s
/// stall timeout: the last went after 6 s, holding the sender, and so every healthy
/// peer, that long). Now one deadline covers them all. (Virtual time: exact.)
#[tokio::test(start_paused = true)]
async fn several_frozen_remotes_cost_one_connection_stall_timeout() {
    let stall = Duration::from_secs(1);
    let a = Endpoint::with_options("a", EndpointOptions::default().stall_timeout(stall)).unwrap();
    let _frozen = freeze_remotes::<Tick, _>(&a, |remote| remote.stream::<Tick>()).await;
    let started = tokio::time::Instant::now();
    let result = a.broadcast(Tick(0)).await;
    assert!(matches!(result, Err(Error::Stalled { .. })), "{result:?}");
    assert_eq!(started.elapsed(), 2 * stall, "one deadline for all three");
    assert!(a.connection_stats().is_empty(), "all three given up");
}

/// A remote that unsubscribes and subscribes again is routed to by its current set, not
/// by a route cached before the change.
#[tokio::test]
async fn routes_follow_a_remote_that_unsubscribes_and_subscribes_again() {
    let (a, b, lanes) = pair(64);
    let ticks = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    a.broadcast(Tick(1)).await.unwrap();
    drop(ticks);
    eventually("b's unsubscription", || {
        !a.is_endpoint_subscribed_to::<Tick>("b")
    })
    .await;
    let sent = lanes.a_to_b.events_sent.load(Ordering::SeqCst);
    assert!(matches!(
        a.broadcast(Tick(2)).await,
        Err(Error::NoSubscribers { .. })
    ));
    assert_eq!(lanes.a_to_b.events_sent.load(Ordering::SeqCst), sent);
    let mut ticks = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    a.broadcast(Tick(3)).await.unwrap();
    assert_eq!(*within("the tick", ticks.next()).await.unwrap(), Tick(3));
}

/// A gap a backend reports is counted for that remote (and logged).
#[tokio::test]
async fn a_reported_gap_is_counted_for_its_remote() {
    let (a, b, lanes) = pair(64);
    lanes
        .b_to_a
        .push(Message::Gap {
            event: "memory.Tick",
            missed: 3,
        })
        .unwrap();
    eventually("the gap to be counted", || {
        a.connection_stats()
            .first()
            .is_some_and(|stats| stats.events_missed == 3)
    })
    .await;
    assert_eq!(b.connection_stats()[0].events_missed, 0);
}

/// The schema check is the core's, not the socket mesh's: a remote whose backend reports
/// another fingerprint for an event is never sent it, whatever the backend.
#[tokio::test]
async fn a_remote_with_another_schema_is_not_sent_the_event_whatever_the_backend() {
    let (a, b, lanes) = pair(64);
    let _ticks = b.stream::<Tick>();
    heard_of::<Tick>(&a, "b").await;
    // `b`'s backend now reports a `Tick` of another shape.
    let ours = event_core::schema::schema_of::<Tick>().fingerprint();
    let theirs = Fingerprint(ours.0 ^ 1);
    lanes
        .b_to_a
        .push(Message::Subscriptions(vec![(
            Tick::NAME.to_owned(),
            theirs,
        )]))
        .unwrap();
    eventually("the new fingerprint", || {
        !a.is_endpoint_subscribed_to::<Tick>("b")
    })
    .await;
    let sent = lanes.a_to_b.events_sent.load(Ordering::SeqCst);
    let result = a.broadcast(Tick(1)).await;
    assert!(
        matches!(&result, Err(Error::IncompatibleSchema { remote, fingerprint, remote_fingerprint, .. })
            if remote == "b" && *fingerprint == ours && *remote_fingerprint == theirs),
        "{result:?}"
    );
    assert_eq!(lanes.a_to_b.events_sent.load(Ordering::SeqCst), sent);
}

/// The same for a request: frozen recipients are waited for against one deadline, and
/// the request fails once they are all given up.
#[tokio::test(start_paused = true)]
async fn a_request_to_frozen_remotes_costs_one_connection_stall_timeout() {
    let stall = Duration::from_secs(1);
    let a = Endpoint::with_options("a", EndpointOptions::default().stall_timeout(stall)).unwrap();
    let _frozen =
        freeze_remotes::<HowMany, _>(&a, |remote| remote.stream_requests::<HowMany>()).await;
    let started = tokio::time::Instant::now();
    let result = a.request(HowMany).await;
    assert!(
        matches!(result, Err(Error::RemoteDisconnected { .. })),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), 2 * stall, "one deadline for all three");
    assert_eq!(a.pending_requests(), 0);
}

//! The receiving side: what zenoh delivers to this endpoint, handed to the core one
//! origin at a time, in order.
//!
//! # One task per origin
//!
//! Everything about one remote endpoint goes to one task (an [`Origin`]), in two lanes:
//! its events, requests, heartbeats and flushes as zenoh delivers them (the *data*
//! lane, bounded by the sender's window), and its arrival, subscription changes and
//! departure as its liveliness tokens say (the *control* lane, unbounded: presence never
//! waits behind a full data lane). Its latest credit query waits in a slot of its own
//! (see [`crate::credit`]). A departure first delivers what the data lane holds, so an
//! event sent before it is delivered before the remote is disconnected; a stopping
//! sender's flush (see [`crate::link`]) makes sure everything it sent is delivered before
//! its tokens go. An event that arrives before its sender's presence token is held until
//! the token comes (or [`UNANNOUNCED_WAIT`] passes with no data or presence change, then
//! it is dropped with a log line: a forged origin). The task of an origin that left lives
//! on for [`FORGET_AFTER`] (its sequence numbers show what a failover lost), then ends.
//!
//! # Back-pressure
//!
//! The task delivers with [`RemoteHandle::deliver`], which waits for room in the local
//! subscribers' queues (and cuts off one that stalls). While it waits its data lane
//! fills, up to the window the sender was given, and then the sender waits for room (see
//! [`crate::credit`]). The zenoh callbacks that feed the lanes never wait: a slow local
//! subscriber holds up only the senders of what it is slow to take, and zenoh's reading
//! of the link goes on (a callback that blocked for a lease made zenoh drop the link).
//! Nothing is dropped to make room; what a sender sends beyond
//! [`credit::queue_limit`] is dropped and logged (only a sender that ignores its window
//! gets there).
//!
//! # Bad input
//!
//! A key that is not a well-formed inbox key, a missing or malformed attachment, a
//! message larger than [`Attached::max_frame_size`]: dropped with a log line, before any
//! queue. An event whose header names another incarnation than the sender's presence
//! token: dropped. A body that does not decode is the core's to drop (and log). Sequence
//! numbers that jump are reported as lost events ([`RemoteHandle::report_gap`]); one
//! that goes back is logged and delivered (only a forger makes those, and dropping
//! would let it suppress the real sender's events).

use crate::credit::{self, ReceiveWindow};
use crate::header::Header;
use crate::keys::{InboxKeys, Keys, Kind};
use crate::link::{Handover, Route, ZenohLink};
use crate::presence::Subscriptions;
use crate::route_keys::{self, RouteKeys};
use crate::sequence::{Observed, Sequences};
use event_core::backend::{Attached, RemoteHandle, TopicCache};
use event_core::schema::EventSchema;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::sleep_until;
use zenoh::bytes::ZBytes;
use zenoh::query::Query;
use zenoh::sample::Sample;
use zenoh::Wait;

/// How long an event from an origin with no presence token is held for the token.
pub(crate) const UNANNOUNCED_WAIT: Duration = Duration::from_secs(5);

/// How many origins without a presence token may be waited for at once.
const MAX_UNANNOUNCED: usize = 64;

/// The largest schema list accepted from a remote.
const MAX_SCHEMAS_BYTES: usize = 4 * 1024 * 1024;

/// What zenoh delivered from an origin: its data lane, bounded.
pub(crate) enum Item {
    Event {
        /// Shared with the origin's other events of that name (see [`Lanes::name`]).
        name: Arc<str>,
        incarnation: u64,
        seq: u64,
        /// Where it ends in the sender's flow-control numbering.
        end: u64,
        body: Vec<u8>,
    },
    Request {
        name: Arc<str>,
        incarnation: u64,
        request_id: u64,
        end: u64,
        /// Boxed, as in `Flush`: a query is larger than an event's fields, and every item
        /// is moved through the lane and the task's futures.
        query: Box<Query>,
        body: Vec<u8>,
    },
    /// How many of each event the origin has sent (see [`crate::sequence`]).
    Heartbeat {
        incarnation: u64,
        counts: Vec<(String, u64)>,
    },
    /// The origin is stopping: answering this query, once everything before it was
    /// delivered, tells it so.
    Flush {
        query: Box<Query>,
        /// How many of each event the origin numbered before it.
        counts: Vec<(String, u64)>,
    },
}

impl Item {
    /// What it counts for in its lane (see [`crate::credit`]).
    fn cost(&self) -> u64 {
        match self {
            Item::Event { body, .. } | Item::Request { body, .. } => credit::cost(body.len()),
            Item::Heartbeat { counts, .. } | Item::Flush { counts, .. } => {
                credit::cost(counts.iter().map(|(name, _)| name.len() + 8).sum::<usize>())
            }
        }
    }
}

/// What the origin's presence tokens said, and retries: its control lane, unbounded (it
/// is rare), so that the presence of every origin moves on even while one origin's data
/// lane is full.
pub(crate) enum Control {
    Joined {
        incarnation: u64,
        /// The largest message body it accepts.
        max_frame: u64,
        subscriptions: Subscriptions,
    },
    Subscriptions(Subscriptions),
    Left {
        reason: String,
    },
    /// Try to add the remote again (another backend held its name, or the core gave it
    /// up while its tokens stayed).
    Retry,
}

/// The latest credit query of an origin (see [`crate::credit`]), for its task to answer.
#[derive(Default)]
struct AskSlot {
    pending: Mutex<Option<PendingAsk>>,
    /// Notified when a query is put in the slot.
    asked: Notify,
}

struct PendingAsk {
    query: Query,
    incarnation: u64,
    /// How far the origin had written when it asked.
    sent: u64,
}

/// A credit query being answered as the core takes.
struct Answering {
    ask: PendingAsk,
    /// What the last answer said was taken, and when it went.
    answered: Option<u64>,
    at: tokio::time::Instant,
    /// How far the core had taken when last seen to move, and when.
    taken: u64,
    moved_at: tokio::time::Instant,
}

/// The two lanes of one origin, with the id of its task.
struct Lanes {
    id: u64,
    data: flume::Sender<Item>,
    /// What the data lane (and the task's held messages) cost, in all.
    queued: Arc<AtomicU64>,
    /// Whether dropping beyond the window was logged for this origin.
    overran: AtomicBool,
    ask: Arc<AskSlot>,
    control: mpsc::UnboundedSender<Control>,
    /// The event and request names its messages carried, and their bytes (see
    /// [`Lanes::name`]).
    names: HashSet<Arc<str>>,
    name_bytes: usize,
}

/// How many names, and bytes of names, one origin's [`Lanes`] keep. Names are kept
/// before the message is checked (a forged origin's too), so both are bounded.
const NAMES_KEPT: usize = 4096;
const NAME_BYTES_KEPT: usize = 64 * 1024;

impl Lanes {
    /// `name`, as its messages carry it to the origin's task: one allocation per name,
    /// shared by every message of that name, instead of one per message. Up to
    /// [`NAMES_KEPT`] names of [`NAME_BYTES_KEPT`] bytes in all are kept (a sender cannot
    /// grow this without bound); a name beyond them is allocated for each message.
    fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(kept) = self.names.get(name) {
            return kept.clone();
        }
        let name = Arc::<str>::from(name);
        let bytes = self.name_bytes + name.len();
        if self.names.len() < NAMES_KEPT && bytes <= NAME_BYTES_KEPT {
            self.names.insert(name.clone());
            self.name_bytes = bytes;
        }
        name
    }
}

/// What the callbacks, the origins and the backend's tasks share.
pub(crate) struct Inbox {
    pub route: Route,
    /// The keys of this endpoint's inbox.
    keys: InboxKeys,
    pub attached: Attached,
    pub runtime: tokio::runtime::Handle,
    /// Keyed, like every map here whose keys a remote chooses, with std's seeded hasher
    /// (the maps keyed by this program's own names use FxHash).
    origins: Mutex<HashMap<String, Lanes>>,
    next_id: AtomicU64,
    unannounced: AtomicUsize,
    /// Links the core accepted and has not closed.
    open_links: AtomicUsize,
    pub links_changed: Notify,
    /// Set when this endpoint leaves the bus: nothing new is taken.
    leaving: AtomicBool,
    /// The keys events and requests came in on, declared so that zenoh keeps their
    /// routes (see [`crate::route_keys`]).
    route_keys: Mutex<RouteKeys>,
}

impl Inbox {
    pub(crate) fn new(route: Route, attached: Attached, runtime: tokio::runtime::Handle) -> Inbox {
        Inbox {
            keys: route.keys.inbox_keys(&route.me),
            route,
            attached,
            runtime,
            origins: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            unannounced: AtomicUsize::new(0),
            open_links: AtomicUsize::new(0),
            links_changed: Notify::new(),
            leaving: AtomicBool::new(false),
            route_keys: Mutex::new(RouteKeys::default()),
        }
    }

    /// An event put on this endpoint's inbox (a zenoh callback).
    pub(crate) fn on_sample(self: &Arc<Self>, sample: Sample) {
        let key = sample.key_expr().as_str();
        let (name, origin) = match self.keys.parse(key) {
            Some((Kind::Event, name, origin)) => (name, origin),
            Some((Kind::Heartbeat, _, origin)) => return self.on_heartbeat(&origin, &sample),
            _ => {
                tracing::warn!(endpoint = %self.route.me, key, "zenoh: a put on a key that is not an event for this endpoint; dropped");
                return;
            }
        };
        let header = header_of(sample.attachment());
        let Some(Header::Event {
            incarnation,
            seq,
            end,
        }) = header
        else {
            tracing::warn!(endpoint = %self.route.me, key, "zenoh: an event without a valid header; dropped");
            return;
        };
        if !self.fits(&name, &origin, sample.payload().len()) {
            return;
        }
        // Copied out: a slice of zenoh's read buffer would keep the whole buffer alive
        // while it waits in the lane.
        let body = sample.payload().to_bytes().into_owned();
        self.push(&origin, |lanes| Item::Event {
            name: lanes.name(&name),
            incarnation,
            seq,
            end,
            body,
        });
    }

    fn on_heartbeat(self: &Arc<Self>, origin: &str, sample: &Sample) {
        let header = header_of(sample.attachment());
        let Some(Header::Heartbeat { incarnation }) = header else {
            tracing::warn!(endpoint = %self.route.me, remote = %origin, "zenoh: a heartbeat without a valid header; dropped");
            return;
        };
        let payload = sample.payload().to_bytes();
        if !self.fits("heartbeat", origin, payload.len()) {
            return;
        }
        match postcard::from_bytes::<Vec<(String, u64)>>(&payload) {
            Ok(counts) => self.push(origin, |_| Item::Heartbeat {
                incarnation,
                counts,
            }),
            Err(error) => {
                tracing::warn!(endpoint = %self.route.me, remote = %origin, %error, "zenoh: an undecodable heartbeat; dropped")
            }
        }
    }

    /// A request (or a flush) queried on this endpoint's inbox (a zenoh callback).
    pub(crate) fn on_query(self: &Arc<Self>, query: Query) {
        let key = query.key_expr().as_str().to_owned();
        let (name, origin) = match self.keys.parse(&key) {
            Some((Kind::Request, name, origin)) => (name, origin),
            Some((Kind::Flush, _, origin)) => {
                let counts = query
                    .payload()
                    .filter(|payload| self.fits("flush", &origin, payload.len()))
                    .and_then(|payload| {
                        postcard::from_bytes::<Vec<(String, u64)>>(&payload.to_bytes()).ok()
                    })
                    .unwrap_or_default();
                return self.push(&origin, |_| Item::Flush {
                    query: Box::new(query),
                    counts,
                });
            }
            Some((Kind::Credit, _, origin)) => {
                let ask = query
                    .payload()
                    .and_then(|payload| credit::decode_ask(&payload.to_bytes()));
                let Some((incarnation, sent)) = ask else {
                    tracing::warn!(endpoint = %self.route.me, remote = %origin, "zenoh: a malformed credit query; dropped");
                    return;
                };
                // Not queued behind the data: it is answered as the core takes that.
                self.with_lanes(&origin, false, |lanes| {
                    *lock(&lanes.ask.pending) = Some(PendingAsk {
                        query,
                        incarnation,
                        sent,
                    });
                    lanes.ask.asked.notify_one();
                });
                return;
            }
            _ => {
                tracing::warn!(endpoint = %self.route.me, key, "zenoh: a query on a key that is not a request for this endpoint; dropped");
                return;
            }
        };
        let header = header_of(query.attachment());
        let Some(Header::Request {
            incarnation,
            request_id,
            end,
        }) = header
        else {
            tracing::warn!(endpoint = %self.route.me, key, "zenoh: a request without a valid header; dropped");
            return;
        };
        let len = query.payload().map_or(0, |payload| payload.len());
        if !self.fits(&name, &origin, len) {
            return;
        }
        let body = query
            .payload()
            .map(|payload| payload.to_bytes().into_owned())
            .unwrap_or_default();
        self.push(&origin, |lanes| Item::Request {
            name: lanes.name(&name),
            incarnation,
            request_id,
            end,
            query: Box::new(query),
            body,
        });
    }

    fn fits(&self, name: &str, origin: &str, len: usize) -> bool {
        let max = self.attached.max_frame_size();
        if len > max {
            tracing::warn!(endpoint = %self.route.me, remote = origin, event = name, len, max, "zenoh: a message larger than the maximum frame; dropped");
            return false;
        }
        true
    }

    /// The window this endpoint gives each sender (see [`crate::credit`]).
    pub(crate) fn window(&self) -> u64 {
        (self.attached.connection_buffer() as u64).max(credit::INITIAL_WINDOW)
    }

    /// Queues what zenoh delivered from `origin` (a zenoh callback: it never waits).
    /// Beyond the bound that the sender's window keeps an honest sender within, it is
    /// dropped: the sequence numbers report the events lost.
    fn push(self: &Arc<Self>, origin: &str, item: impl FnOnce(&mut Lanes) -> Item) {
        let limit = credit::queue_limit(self.window(), self.attached.max_frame_size());
        // Queued under the lock that a task takes to forget an idle origin, so nothing is
        // queued to a task that is going.
        self.with_lanes(origin, false, |lanes| {
            let item = item(lanes);
            let cost = item.cost();
            let queued = lanes.queued.load(Ordering::Acquire);
            if queued.saturating_add(cost) > limit {
                if !lanes.overran.swap(true, Ordering::AcqRel) {
                    tracing::warn!(endpoint = %self.route.me, remote = origin, queued, limit, "zenoh: a sender went beyond the window it was given; what goes beyond is dropped");
                }
                return;
            }
            lanes.queued.fetch_add(cost, Ordering::AcqRel);
            if lanes.data.send(item).is_err() {
                lanes.queued.fetch_sub(cost, Ordering::AcqRel);
            }
        });
    }

    /// Tells `origin`'s task what its tokens said (never waits).
    pub(crate) fn tell(self: &Arc<Self>, origin: &str, control: Control) {
        self.with_lanes(origin, true, |lanes| {
            let _ = lanes.control.send(control);
        });
    }

    /// Every origin with a task.
    pub(crate) fn origins(&self) -> Vec<String> {
        lock(&self.origins).keys().cloned().collect()
    }

    /// Takes nothing new, and lets every origin task end (what its lanes still hold is
    /// dropped).
    pub(crate) fn close_all(&self) {
        let mut origins = lock(&self.origins);
        self.leaving.store(true, Ordering::Release);
        origins.clear();
    }

    pub(crate) fn open_links(&self) -> usize {
        self.open_links.load(Ordering::Acquire)
    }

    /// Runs `lane` on the lanes of `origin` (under the origins lock), with a task started
    /// for it if it has none. `announced` for
    /// what its presence tokens said: an origin nobody announced gets a task only while
    /// fewer than [`MAX_UNANNOUNCED`] such wait.
    fn with_lanes<T>(
        self: &Arc<Self>,
        origin: &str,
        announced: bool,
        lane: impl FnOnce(&mut Lanes) -> T,
    ) -> Option<T> {
        let mut origins = lock(&self.origins);
        // Under the lock that `close_all` takes: no task starts after it.
        if self.leaving.load(Ordering::Acquire) || origin == self.route.me {
            return None;
        }
        if let Some(lanes) = origins.get_mut(origin) {
            return Some(lane(lanes));
        }
        if !announced {
            if self.unannounced.load(Ordering::Acquire) >= MAX_UNANNOUNCED {
                tracing::warn!(endpoint = %self.route.me, remote = origin, "zenoh: too many senders without a presence token; message dropped");
                return None;
            }
            self.unannounced.fetch_add(1, Ordering::AcqRel);
        }
        let (data, data_rx) = flume::unbounded();
        let (control, control_rx) = mpsc::unbounded_channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let queued = Arc::new(AtomicU64::new(0));
        let ask = Arc::new(AskSlot::default());
        let mut lanes = Lanes {
            id,
            data,
            queued: queued.clone(),
            overran: AtomicBool::new(false),
            ask: ask.clone(),
            control,
            names: HashSet::new(),
            name_bytes: 0,
        };
        let picked = lane(&mut lanes);
        origins.insert(origin.to_owned(), lanes);
        let retry_after = RETRY_AFTER;
        let task = Origin {
            inbox: self.clone(),
            id,
            name: origin.to_owned(),
            data: data_rx,
            control: control_rx,
            current: None,
            held: VecDeque::new(),
            queued,
            window: ReceiveWindow::default(),
            ask,
            answering: None,
            last_activity: tokio::time::Instant::now(),
            handover: Handover::default(),
            sequences: Sequences::default(),
            cache: TopicCache::default(),
            joined: None,
            max_frame: 0,
            unannounced: !announced,
            retry_after,
            pending_flush: None,
            keys_declared: DeclaredNames::default(),
        };
        self.runtime.spawn(task.run());
        Some(picked)
    }

    /// Removes the lanes of origin task `id` (not a newer one of the same name), unless
    /// something was queued for it meanwhile; `true` if removed.
    fn forget(&self, origin: &str, id: u64, queued: impl FnOnce() -> bool) -> bool {
        let mut origins = lock(&self.origins);
        if origins.get(origin).is_none_or(|lanes| lanes.id != id) {
            return true;
        }
        if queued() {
            return false;
        }
        origins.remove(origin);
        true
    }

    /// The core closed an accepted link: count it, and if the origin is still on the bus
    /// (the core gave it up, as a stalled remote), try it again after a pause. Called
    /// under core locks: queues, never waits.
    fn link_closed(self: &Arc<Self>, origin: &str, retry_after: Duration) {
        self.link_gone();
        if self.attached.is_stopped() || self.leaving.load(Ordering::Acquire) {
            return;
        }
        let inbox = self.clone();
        let origin = origin.to_owned();
        self.runtime.spawn(async move {
            tokio::time::sleep(retry_after).await;
            inbox.tell(&origin, Control::Retry);
        });
    }

    fn link_gone(&self) {
        self.open_links.fetch_sub(1, Ordering::AcqRel);
        self.links_changed.notify_waiters();
    }
}

/// How long after the core gave a remote up it is tried again, if its tokens say it is
/// still on the bus: doubled for each try that ends the same way, up to
/// [`RETRY_AFTER_MAX`], and back to this when its tokens change.
const RETRY_AFTER: Duration = Duration::from_secs(1);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);

/// How many data items an origin's task delivers in a row, after the one `next` gave it,
/// before it goes back to `next`.
const DRAIN_AT_ONCE: usize = 64;

/// How long the task of an origin that left the bus lives on (keeping its sequence
/// numbers, for a failover's return) before it is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// The remote as the core knows it now.
struct Current {
    handle: RemoteHandle,
    link: Arc<ZenohLink>,
}

/// The task of one origin: see the module docs.
struct Origin {
    inbox: Arc<Inbox>,
    id: u64,
    name: String,
    data: flume::Receiver<Item>,
    control: mpsc::UnboundedReceiver<Control>,
    current: Option<Current>,
    /// Events and requests that came while the remote was not (yet) known.
    held: VecDeque<Item>,
    /// What its data lane and `held` cost (shared with its [`Lanes`]).
    queued: Arc<AtomicU64>,
    /// How far the core took what it sent.
    window: ReceiveWindow,
    /// Where its credit queries come in, and the one being answered.
    ask: Arc<AskSlot>,
    answering: Option<Answering>,
    /// When data or a presence change last came (what the idle timers count from).
    last_activity: tokio::time::Instant,
    /// The numbering of what this endpoint sends it, from one link to the next.
    handover: Handover,
    sequences: Sequences,
    cache: TopicCache,
    /// What its tokens last said: its incarnation and subscriptions.
    joined: Option<(u64, Subscriptions)>,
    /// The largest message body it accepts, as its presence token says.
    max_frame: u64,
    /// Counted among the origins nobody announced.
    unannounced: bool,
    /// How long to wait before trying again if the core gives the remote up.
    retry_after: Duration,
    /// A stopping origin's flush, until every event it counts was delivered.
    pending_flush: Option<(Query, Vec<(String, u64)>)>,
    /// The names whose keys the inbox was asked to declare (see [`crate::route_keys`]).
    keys_declared: DeclaredNames,
}

/// What the task of an origin waits for next.
enum Next {
    Data(Item),
    Control(Control),
    /// A credit query came.
    Asked,
    /// A credit answer is due, or what a credit query counted seems lost.
    Credit,
    /// Held messages waited long enough for their sender.
    HeldTooLong,
    /// Nothing came for a while from an origin that is not (or no longer) on the bus.
    Idle,
    /// The inbox let the origin go.
    End,
}

impl Origin {
    async fn run(mut self) {
        loop {
            let next = self.next().await;
            if matches!(next, Next::Control(_) | Next::Data(_)) {
                self.last_activity = tokio::time::Instant::now();
            }
            match next {
                Next::Control(control) => self.on_control(control).await,
                Next::Data(item) => {
                    self.on_data(item).await;
                    self.drain_data().await;
                }
                Next::Asked => self.on_ask(),
                Next::Credit => self.on_credit_timer(),
                Next::HeldTooLong => self.drop_held(),
                Next::Idle => {
                    self.drop_held();
                    let (control, data) = (&self.control, &self.data);
                    let forgotten = self.inbox.forget(&self.name, self.id, || {
                        !control.is_empty() || !data.is_empty()
                    });
                    if forgotten {
                        break;
                    }
                }
                Next::End => break,
            }
        }
        self.stop_counting_unannounced();
        if let Some(current) = self.current.take() {
            current
                .handle
                .disconnected("this endpoint left the zenoh bus");
        }
    }

    async fn next(&mut self) -> Next {
        // Held messages and an unknown origin wait briefly; a departed one longer.
        let away = self.joined.is_none() && self.current.is_none();
        let idle = if self.unannounced && self.joined.is_none() {
            Some((UNANNOUNCED_WAIT, Next::Idle))
        } else if !self.held.is_empty() {
            Some((UNANNOUNCED_WAIT, Next::HeldTooLong))
        } else if away {
            Some((FORGET_AFTER, Next::Idle))
        } else {
            None
        };
        let credit = self.credit_deadline();
        let next = async {
            tokio::select! {
                biased;
                control = self.control.recv() => control.map_or(Next::End, Next::Control),
                () = self.ask.asked.notified() => Next::Asked,
                item = self.data.recv_async() => item.map_or(Next::End, Next::Data),
                () = sleep_until(credit.unwrap_or_else(tokio::time::Instant::now)), if credit.is_some() => Next::Credit,
            }
        };
        // Measured from the last data or presence change: credit queries do not count,
        // or a sender asking for room would keep its held messages forever.
        match idle {
            Some((after, idle)) => {
                let deadline = self.last_activity + after;
                tokio::time::timeout_at(deadline, next)
                    .await
                    .unwrap_or(idle)
            }
            None => next.await,
        }
    }

    /// Delivers what the data lane holds already, up to [`DRAIN_AT_ONCE`] items, without
    /// a [`next`](Self::next) for each; but a control message or a credit query that
    /// came meanwhile goes first, as `next` would take it first.
    async fn drain_data(&mut self) {
        for _ in 0..DRAIN_AT_ONCE {
            // Closed: the inbox let the origin go, which `next` would see first.
            if !self.control.is_empty()
                || self.control.is_closed()
                || lock(&self.ask.pending).is_some()
            {
                break;
            }
            let Ok(item) = self.data.try_recv() else {
                break;
            };
            self.on_data(item).await;
        }
        self.last_activity = tokio::time::Instant::now();
    }

    fn stop_counting_unannounced(&mut self) {
        if std::mem::take(&mut self.unannounced) {
            self.inbox.unannounced.fetch_sub(1, Ordering::AcqRel);
        }
    }

    async fn on_control(&mut self, control: Control) {
        self.check_current();
        match control {
            Control::Joined {
                incarnation,
                max_frame,
                subscriptions,
            } => {
                self.stop_counting_unannounced();
                self.max_frame = max_frame;
                self.retry_after = RETRY_AFTER;
                self.joined = Some((incarnation, subscriptions));
                self.join();
                self.deliver_held().await;
            }
            Control::Retry => {
                if self.current.is_none() && self.joined.is_some() {
                    self.retry_after = (self.retry_after * 2).min(RETRY_AFTER_MAX);
                    self.join();
                    self.deliver_held().await;
                }
            }
            Control::Subscriptions(subscriptions) => {
                self.retry_after = RETRY_AFTER;
                if let Some((_, known)) = &mut self.joined {
                    known.clone_from(&subscriptions);
                }
                if let Some(current) = &self.current {
                    current.handle.set_subscriptions(subscriptions);
                    self.fetch_schemas(current.handle.clone());
                }
            }
            Control::Left { reason } => {
                // What zenoh delivered before the departure goes first (only that: not
                // what keeps coming).
                for _ in 0..self.data.len() {
                    let Ok(item) = self.data.try_recv() else {
                        break;
                    };
                    self.on_data(item).await;
                }
                if let Some(current) = self.current.take() {
                    self.give_up_flush(&current.handle);
                    self.leave(current, &reason);
                }
                self.joined = None;
                self.pending_flush = None;
                // Its route is gone with it; a sender that comes back asks again.
                self.answering = None;
            }
        }
    }

    async fn on_data(&mut self, item: Item) {
        self.check_current();
        let cost = item.cost();
        if self.current.is_none() {
            match item {
                // Nothing of this origin's is delivered here: nothing to wait for.
                Item::Flush { query, .. } => confirm_flush(&query),
                // Its cost stays counted until it is delivered or dropped.
                item => return self.held.push_back(item),
            }
        } else {
            self.deliver(item).await;
        }
        self.release(cost);
    }

    async fn deliver_held(&mut self) {
        while self.current.is_some() {
            let Some(item) = self.held.pop_front() else {
                break;
            };
            let cost = item.cost();
            self.deliver(item).await;
            self.release(cost);
        }
    }

    /// Counts a message of the data lane as taken.
    fn release(&self, cost: u64) {
        self.queued.fetch_sub(cost, Ordering::AcqRel);
    }

    /// Takes the origin's latest credit query (the one it replaces ends), and answers it.
    fn on_ask(&mut self) {
        let ask = lock(&self.ask.pending).take();
        if let Some(ask) = ask {
            self.window.asked(ask.incarnation, ask.sent);
            let now = tokio::time::Instant::now();
            self.answering = Some(Answering {
                taken: self.window.taken(ask.incarnation),
                ask,
                answered: None,
                at: now,
                moved_at: now,
            });
            self.answer_credit(true);
        }
    }

    /// When the credit query being answered needs this task without a message: an
    /// answer held back by [`credit::ANSWER_EVERY`] is due, or nothing is queued and the
    /// core took nothing for [`credit::PRESUME_LOST_AFTER`] while the query counts more.
    fn credit_deadline(&self) -> Option<tokio::time::Instant> {
        let answering = self.answering.as_ref()?;
        let taken = self.window.taken(answering.ask.incarnation);
        if answering.answered != Some(taken) {
            return Some(answering.at + credit::ANSWER_EVERY);
        }
        if !(self.data.is_empty() && self.held.is_empty()) {
            return None;
        }
        let quiet = answering.moved_at + credit::PRESUME_LOST_AFTER;
        Some(match self.window.may_presume_from() {
            Some(at) => quiet.max(tokio::time::Instant::from_std(at)),
            None => quiet,
        })
    }

    fn on_credit_timer(&mut self) {
        let Some(answering) = &self.answering else {
            return;
        };
        let taken = self.window.taken(answering.ask.incarnation);
        let quiet = self.data.is_empty()
            && self.held.is_empty()
            && answering.moved_at.elapsed() >= credit::PRESUME_LOST_AFTER;
        if answering.answered == Some(taken) && quiet {
            // What the query counts and never came was lost on the way, or dropped
            // before any queue (see `credit`): counted as taken, or the sender
            // would wait for it for good.
            let (incarnation, sent) = (answering.ask.incarnation, answering.ask.sent);
            self.window
                .presume(incarnation, sent, std::time::Instant::now());
        }
        self.answer_credit(true);
    }

    /// Answers the credit query being answered, if the core took more since the last
    /// answer and it is due (see [`crate::credit`]); ends it once the core took all it
    /// counted.
    fn answer_credit(&mut self, now: bool) {
        let Some(answering) = &mut self.answering else {
            return;
        };
        let taken = self.window.taken(answering.ask.incarnation);
        if taken != answering.taken {
            answering.taken = taken;
            answering.moved_at = tokio::time::Instant::now();
        }
        let all = taken >= answering.ask.sent;
        let moved = answering.answered != Some(taken);
        // Held back at most ANSWER_EVERY (then `credit_deadline` wakes this task).
        let due = now || all || answering.at.elapsed() >= credit::ANSWER_EVERY;
        if moved && due {
            let grant = credit::encode_grant(taken, self.inbox.window());
            let query = &answering.ask.query;
            if let Err(error) = query.reply(query.key_expr().clone(), grant.to_vec()).wait() {
                tracing::debug!(remote = %self.name, %error, "zenoh: cannot answer a credit query");
            }
            answering.answered = Some(taken);
            answering.at = tokio::time::Instant::now();
        }
        if all {
            // Dropping the query finalizes it: the sender may ask again.
            self.answering = None;
        }
    }

    /// Disconnects the remote (which closes its link, so that nothing more is numbered on
    /// it), then keeps what the next link goes on from.
    fn leave(&mut self, current: Current, reason: &str) {
        current.handle.disconnected(reason);
        self.handover = current.link.handover();
    }

    /// The core may have given the remote up on its own (it stalled): start afresh.
    fn check_current(&mut self) {
        if self
            .current
            .as_ref()
            .is_some_and(|current| !current.handle.is_connected())
        {
            if let Some(current) = self.current.take() {
                self.handover = current.link.handover();
            }
        }
    }

    fn join(&mut self) {
        let Some((_, subscriptions)) = self.joined.clone() else {
            return;
        };
        if let Some(current) = self.current.take() {
            self.leave(current, "it joined the bus again");
        }
        let inbox = self.inbox.clone();
        let name = self.name.clone();
        let retry_after = self.retry_after;
        let on_close = Arc::new(move || inbox.link_closed(&name, retry_after));
        let link = ZenohLink::new(
            self.inbox.route.clone(),
            &self.name,
            &self.inbox.attached,
            std::mem::take(&mut self.handover),
            usize::try_from(self.max_frame).ok().filter(|max| *max > 0),
            on_close,
        );
        let added = self
            .inbox
            .attached
            .add_remote(&self.name, subscriptions, link.clone(), |_| Ok(()));
        match added {
            Ok(handle) => {
                // Counted before the link can close (and uncount itself).
                self.inbox.open_links.fetch_add(1, Ordering::AcqRel);
                if !link.accepted(handle.clone()) {
                    self.inbox.link_gone();
                    self.handover = link.handover();
                    return;
                }
                self.fetch_schemas(handle.clone());
                self.current = Some(Current { handle, link });
            }
            Err(error) => {
                self.handover = link.handover();
                tracing::info!(endpoint = %self.inbox.route.me, remote = %self.name, %error, "zenoh: not connected through zenoh");
                // Connected another way (sockets), say: try again once that is gone, after
                // the back-off (so a refusal that stands, an invalid name, is not retried
                // in a loop).
                let inbox = self.inbox.clone();
                let name = self.name.clone();
                let pause = self.retry_after;
                self.inbox.runtime.spawn(async move {
                    inbox.attached.wait_until_disconnected(&name).await;
                    tokio::time::sleep(pause).await;
                    if !inbox.attached.is_stopped() {
                        inbox.tell(&name, Control::Retry);
                    }
                });
            }
        }
    }

    async fn deliver(&mut self, item: Item) {
        let Some(current) = &self.current else {
            return;
        };
        match item {
            Item::Event {
                name,
                incarnation,
                seq,
                end,
                body,
            } => {
                // The sender's incarnation is in its presence token: anything else is
                // forged (or from a process of the same name that is gone).
                if self.joined.as_ref().map(|(known, _)| *known) != Some(incarnation) {
                    tracing::warn!(endpoint = %self.inbox.route.me, remote = %self.name, event = %name, "zenoh: an event from another incarnation of the sender (forged?); dropped");
                    // Counted as taken by that incarnation (a restarted sender's first
                    // events, before its new token came), so that its window moves on.
                    self.window.took(incarnation, end);
                    self.answer_credit(false);
                    return;
                }
                match self.sequences.observe(incarnation, &name, seq) {
                    Observed::InOrder => {}
                    Observed::Gap { missed } => current.handle.report_gap(&name, missed),
                    // Not dropped: only a forger (who knows the incarnation, and could be
                    // stopped by access control) makes these, and dropping would let it
                    // suppress the real sender's next events.
                    Observed::Stale => {
                        tracing::warn!(endpoint = %self.inbox.route.me, remote = %self.name, event = %name, seq, "zenoh: an event numbered out of sequence (forged?)");
                    }
                }
                declare_key(
                    &mut self.keys_declared.events,
                    &self.inbox,
                    &name,
                    |keys, me| keys.event_to(me, &name, &self.name),
                );
                current
                    .handle
                    .deliver(&mut self.cache, &name, None, &body)
                    .await;
                self.window.took(incarnation, end);
                self.answer_credit(false);
                self.check_flush();
            }
            Item::Request {
                name,
                incarnation,
                request_id,
                end,
                query,
                body,
            } => {
                declare_key(
                    &mut self.keys_declared.requests,
                    &self.inbox,
                    &name,
                    |keys, me| keys.request_to(me, &name, &self.name),
                );
                current.link.hold_query(request_id, *query);
                current
                    .handle
                    .deliver(&mut self.cache, &name, Some(request_id), &body)
                    .await;
                self.window.took(incarnation, end);
                self.answer_credit(false);
            }
            Item::Heartbeat {
                incarnation,
                counts,
            } => {
                if self.joined.as_ref().map(|(known, _)| *known) != Some(incarnation) {
                    return;
                }
                for (name, sent) in counts {
                    if let Some(missed) = self.sequences.sync(incarnation, &name, sent) {
                        current.handle.report_gap(&name, missed);
                    }
                }
            }
            // Confirmed once every event it counts was delivered: zenoh may deliver the
            // flush (a query) ahead of the last events (puts).
            Item::Flush { query, counts } => {
                self.pending_flush = Some((*query, counts));
                self.check_flush();
            }
        }
    }

    /// Confirms a pending flush once every event it counts was delivered.
    fn check_flush(&mut self) {
        let Some((_, counts)) = &self.pending_flush else {
            return;
        };
        let all = counts
            .iter()
            .all(|(name, sent)| self.sequences.has_up_to(name, *sent));
        if all {
            if let Some((query, _)) = self.pending_flush.take() {
                confirm_flush(&query);
            }
            // A flush is the origin's last word: it is stopping. It is disconnected now,
            // without waiting for its tokens to go (zenoh was seen to lose a token's
            // undeclaration, "Unknown token id", leaving a stopped endpoint connected).
            if let Some(current) = self.current.take() {
                self.leave(current, "it stopped");
            }
            self.joined = None;
        }
    }

    /// The origin left with a flush unconfirmed: what it counted and never came is lost.
    fn give_up_flush(&mut self, handle: &RemoteHandle) {
        let Some((_, counts)) = self.pending_flush.take() else {
            return;
        };
        let Some((incarnation, _)) = self.joined.as_ref().map(|(i, s)| (*i, s)) else {
            return;
        };
        for (name, sent) in counts {
            if let Some(missed) = self.sequences.sync(incarnation, &name, sent) {
                handle.report_gap(&name, missed);
            }
        }
    }

    fn drop_held(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let cost: u64 = self.held.iter().map(Item::cost).sum();
        self.release(cost);
        // Dropped counts as taken: the sender's window must not shrink for good.
        for item in &self.held {
            if let Item::Event {
                incarnation, end, ..
            }
            | Item::Request {
                incarnation, end, ..
            } = item
            {
                self.window.took(*incarnation, *end);
            }
        }
        tracing::warn!(
            endpoint = %self.inbox.route.me,
            remote = %self.name,
            dropped = self.held.len(),
            "zenoh: messages from a sender that never appeared on the bus (no presence token); dropped"
        );
        self.held.clear();
        self.answer_credit(false);
    }

    /// Asks the remote for its schemas, and hands them to the core.
    fn fetch_schemas(&self, handle: RemoteHandle) {
        let session = self.inbox.route.session.clone();
        let key = self.inbox.route.keys.schemas(&self.name);
        self.inbox.runtime.spawn(async move {
            let replies = match session.get(key).timeout(Duration::from_secs(5)).await {
                Ok(replies) => replies,
                Err(error) => {
                    tracing::debug!(remote = %handle.name(), %error, "zenoh: cannot ask for schemas");
                    return;
                }
            };
            while let Ok(reply) = replies.recv_async().await {
                let Ok(sample) = reply.result() else {
                    continue;
                };
                let bytes = sample.payload().to_bytes();
                if bytes.len() > MAX_SCHEMAS_BYTES {
                    tracing::warn!(remote = %handle.name(), "zenoh: a schema list too large; ignored");
                    return;
                }
                match postcard::from_bytes::<Vec<EventSchema>>(&bytes) {
                    Ok(schemas) => handle.describe(schemas),
                    Err(error) => {
                        tracing::warn!(remote = %handle.name(), %error, "zenoh: an undecodable schema list; ignored")
                    }
                }
                return;
            }
        });
    }
}

/// Answers a query for this endpoint's schemas (a zenoh callback).
pub(crate) fn answer_schemas(attached: &Attached, query: Query) {
    let schemas = attached.known_schemas();
    let schemas: Vec<&EventSchema> = schemas.iter().map(|schema| &**schema).collect();
    match postcard::to_stdvec(&schemas) {
        Ok(bytes) => {
            if let Err(error) = query.reply(query.key_expr().clone(), bytes).wait() {
                tracing::debug!(%error, "zenoh: cannot send schemas");
            }
        }
        Err(error) => tracing::error!(%error, "zenoh: cannot encode schemas"),
    }
}

/// Tells a stopping origin that everything it sent before its flush was taken (dropping
/// the query then finalizes it).
fn confirm_flush(query: &Query) {
    if let Err(error) = query
        .reply(query.key_expr().clone(), Vec::<u8>::new())
        .wait()
    {
        tracing::debug!(%error, "zenoh: cannot confirm a flush");
    }
}

/// The event and request names of one origin whose keys the inbox was asked to declare
/// (see [`crate::route_keys`]).
#[derive(Default)]
struct DeclaredNames {
    events: HashSet<String>,
    requests: HashSet<String>,
}

/// Has the key that messages named `name` come in on (`key` makes it from the bus's
/// keys and this endpoint's name) declared, the first time the origin's task is to
/// deliver one; `declared` is that task's record of the names it asked for.
fn declare_key(
    declared: &mut HashSet<String>,
    inbox: &Inbox,
    name: &str,
    key: impl FnOnce(&Keys, &str) -> String,
) {
    if declared.contains(name) || declared.len() >= route_keys::MAX_KEYS {
        return;
    }
    let route = &inbox.route;
    lock(&inbox.route_keys).declare(&route.session, key(&route.keys, &route.me));
    declared.insert(name.to_owned());
}

/// The header in a message's attachment, if it has a well-formed one.
fn header_of(attachment: Option<&ZBytes>) -> Option<Header> {
    attachment.and_then(|attachment| Header::decode(&attachment.to_bytes()))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes() -> Lanes {
        Lanes {
            id: 0,
            data: flume::unbounded().0,
            queued: Arc::default(),
            overran: AtomicBool::new(false),
            ask: Arc::default(),
            control: mpsc::unbounded_channel().0,
            names: HashSet::new(),
            name_bytes: 0,
        }
    }

    /// Whether `name` is the one [`Lanes::name`] keeps (it shares its allocation).
    fn kept(lanes: &mut Lanes, name: &str) -> bool {
        Arc::ptr_eq(&lanes.name(name), &lanes.name(name))
    }

    #[test]
    fn a_name_is_allocated_once_per_origin_up_to_the_count() {
        let mut lanes = lanes();
        assert!(kept(&mut lanes, "E"));
        for n in 0..NAMES_KEPT + 10 {
            lanes.name(&format!("E{n}"));
        }
        assert_eq!(lanes.names.len(), NAMES_KEPT);
        let beyond = format!("E{}", NAMES_KEPT + 5);
        assert_eq!(&*lanes.name(&beyond), beyond);
        assert!(!kept(&mut lanes, &beyond));
        assert!(kept(&mut lanes, "E"), "the first are kept");
    }

    #[test]
    fn a_name_is_allocated_once_per_origin_up_to_the_bytes() {
        let mut lanes = lanes();
        let long = "n".repeat(NAME_BYTES_KEPT / 4);
        for n in 0..4 {
            assert!(kept(&mut lanes, &format!("{long}{n}")) == (n < 3), "{n}");
        }
        assert!(lanes.name_bytes <= NAME_BYTES_KEPT);
        assert!(
            kept(&mut lanes, "short"),
            "a name that fits in what is left"
        );
    }

    #[test]
    fn an_item_stays_small() {
        // Every event is moved through its lane and the origin task's futures: the
        // queries of requests and flushes, larger than an event's fields, are boxed,
        // and names are shared. The largest variant is a request's fields and a tag.
        use std::mem::size_of;
        let request = size_of::<Arc<str>>()
            + 3 * size_of::<u64>()
            + size_of::<Box<Query>>()
            + size_of::<Vec<u8>>();
        let size = size_of::<Item>();
        assert!(size <= request + size_of::<u64>(), "{size} bytes");
    }
}

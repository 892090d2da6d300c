//! The receiving side: what zenoh delivers to this endpoint, handed to the core one
//! origin at a time, in order.
//!
//! # One queue per origin
//!
//! Everything about one remote endpoint goes through one bounded queue and one task (an
//! [`Origin`]): its events and requests as zenoh delivers them, and its arrival,
//! subscription changes and departure as its liveliness tokens say. One queue, so that
//! the order is the order zenoh saw: an event sent before a departure is delivered
//! before the remote is disconnected, and an event that arrives before its sender's
//! presence token is held until the token comes (or [`UNANNOUNCED_WAIT`] passes, then it
//! is dropped with a log line: a forged origin).
//!
//! # Back-pressure
//!
//! The task delivers with [`RemoteHandle::deliver`], which waits for room in the local
//! subscribers' queues (and cuts off one that stalls). While it waits its queue fills,
//! and then the zenoh callback that feeds it blocks: zenoh stops reading that link, and
//! TCP and the routers push back to the sender. Nothing is dropped to make room.
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

use crate::header::Header;
use crate::keys::Kind;
use crate::link::{Route, ZenohLink};
use crate::presence::Subscriptions;
use crate::sequence::{Counters, Observed, Sequences};
use event_core::backend::{Attached, RemoteHandle, TopicCache};
use event_core::schema::EventSchema;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
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

/// What goes through an origin's queue.
pub(crate) enum Item {
    Event {
        name: String,
        incarnation: u64,
        seq: u64,
        body: ZBytes,
    },
    Request {
        name: String,
        request_id: u64,
        query: Query,
        body: ZBytes,
    },
    /// How many of each event the origin has sent (see [`crate::sequence`]).
    Heartbeat {
        incarnation: u64,
        counts: Vec<(String, u64)>,
    },
    Joined {
        incarnation: u64,
        subscriptions: Subscriptions,
    },
    Subscriptions(Subscriptions),
    Left {
        reason: String,
    },
    /// Try to add the remote again (another backend held its name).
    Retry,
}

/// What the callbacks, the origins and the backend's tasks share.
pub(crate) struct Inbox {
    pub route: Route,
    pub attached: Attached,
    pub runtime: tokio::runtime::Handle,
    /// Each origin's queue, with the id of its task.
    origins: Mutex<HashMap<String, (u64, flume::Sender<Item>)>>,
    next_id: AtomicU64,
    unannounced: AtomicUsize,
    /// Links the core accepted and has not closed.
    open_links: AtomicUsize,
    pub links_changed: Notify,
    /// Set when this endpoint leaves the bus: nothing new is taken.
    pub leaving: AtomicBool,
}

impl Inbox {
    pub(crate) fn new(route: Route, attached: Attached, runtime: tokio::runtime::Handle) -> Inbox {
        Inbox {
            route,
            attached,
            runtime,
            origins: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            unannounced: AtomicUsize::new(0),
            open_links: AtomicUsize::new(0),
            links_changed: Notify::new(),
            leaving: AtomicBool::new(false),
        }
    }

    /// An event put on this endpoint's inbox (a zenoh callback).
    pub(crate) fn on_sample(self: &Arc<Self>, sample: Sample) {
        let key = sample.key_expr().as_str();
        let (name, origin) = match self.route.keys.parse_inbox(&self.route.me, key) {
            Some((Kind::Event, name, origin)) => (name, origin),
            Some((Kind::Heartbeat, _, origin)) => return self.on_heartbeat(origin, &sample),
            _ => {
                tracing::warn!(endpoint = %self.route.me, key, "zenoh: a put on a key that is not an event for this endpoint; dropped");
                return;
            }
        };
        let header = sample
            .attachment()
            .and_then(|attachment| Header::decode(&attachment.to_bytes()));
        let Some(Header::Event { incarnation, seq }) = header else {
            tracing::warn!(endpoint = %self.route.me, key, "zenoh: an event without a valid header; dropped");
            return;
        };
        let body = sample.payload().clone();
        if !self.fits(&name, &origin, body.len()) {
            return;
        }
        self.push(
            &origin,
            Item::Event {
                name,
                incarnation,
                seq,
                body,
            },
            false,
        );
    }

    fn on_heartbeat(self: &Arc<Self>, origin: String, sample: &Sample) {
        let header = sample
            .attachment()
            .and_then(|attachment| Header::decode(&attachment.to_bytes()));
        let Some(Header::Heartbeat { incarnation }) = header else {
            tracing::warn!(endpoint = %self.route.me, remote = %origin, "zenoh: a heartbeat without a valid header; dropped");
            return;
        };
        let payload = sample.payload().to_bytes();
        if !self.fits("heartbeat", &origin, payload.len()) {
            return;
        }
        match postcard::from_bytes::<Vec<(String, u64)>>(&payload) {
            Ok(counts) => self.push(
                &origin,
                Item::Heartbeat {
                    incarnation,
                    counts,
                },
                false,
            ),
            Err(error) => {
                tracing::warn!(endpoint = %self.route.me, remote = %origin, %error, "zenoh: an undecodable heartbeat; dropped")
            }
        }
    }

    /// A request queried on this endpoint's inbox (a zenoh callback).
    pub(crate) fn on_query(self: &Arc<Self>, query: Query) {
        let key = query.key_expr().as_str().to_owned();
        let Some((Kind::Request, name, origin)) = self.route.keys.parse_inbox(&self.route.me, &key)
        else {
            tracing::warn!(endpoint = %self.route.me, key, "zenoh: a query on a key that is not a request for this endpoint; dropped");
            return;
        };
        let header = query
            .attachment()
            .and_then(|attachment| Header::decode(&attachment.to_bytes()));
        let Some(Header::Request { request_id, .. }) = header else {
            tracing::warn!(endpoint = %self.route.me, key, "zenoh: a request without a valid header; dropped");
            return;
        };
        let body = query.payload().cloned().unwrap_or_default();
        if !self.fits(&name, &origin, body.len()) {
            return;
        }
        self.push(
            &origin,
            Item::Request {
                name,
                request_id,
                query,
                body,
            },
            false,
        );
    }

    fn fits(&self, name: &str, origin: &str, len: usize) -> bool {
        let max = self.attached.max_frame_size();
        if len > max {
            tracing::warn!(endpoint = %self.route.me, remote = origin, event = name, len, max, "zenoh: a message larger than the maximum frame; dropped");
            return false;
        }
        true
    }

    /// Queues `item` for `origin`, waiting for room (this blocks a zenoh callback: that is
    /// the back-pressure). `announced` for what the origin's presence tokens said.
    pub(crate) fn push(self: &Arc<Self>, origin: &str, item: Item, announced: bool) {
        if let Some(tx) = self.origin(origin, announced) {
            let _ = tx.send(item);
        }
    }

    /// [`push`](Self::push) for an async caller.
    pub(crate) async fn push_async(self: &Arc<Self>, origin: &str, item: Item) {
        if let Some(tx) = self.origin(origin, true) {
            let _ = tx.send_async(item).await;
        }
    }

    /// Every origin with a queue.
    pub(crate) fn origins(&self) -> Vec<String> {
        lock(&self.origins).keys().cloned().collect()
    }

    /// Lets every origin task end (once its queue is empty).
    pub(crate) fn close_all(&self) {
        lock(&self.origins).clear();
    }

    pub(crate) fn open_links(&self) -> usize {
        self.open_links.load(Ordering::Acquire)
    }

    fn origin(self: &Arc<Self>, origin: &str, announced: bool) -> Option<flume::Sender<Item>> {
        if self.leaving.load(Ordering::Acquire) || origin == self.route.me {
            return None;
        }
        let mut origins = lock(&self.origins);
        if let Some((_, tx)) = origins.get(origin) {
            return Some(tx.clone());
        }
        if !announced {
            if self.unannounced.load(Ordering::Acquire) >= MAX_UNANNOUNCED {
                tracing::warn!(endpoint = %self.route.me, remote = origin, "zenoh: too many senders without a presence token; message dropped");
                return None;
            }
            self.unannounced.fetch_add(1, Ordering::AcqRel);
        }
        let capacity = self.attached.queue_capacity().clamp(16, 1024);
        let (tx, rx) = flume::bounded(capacity);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        origins.insert(origin.to_owned(), (id, tx.clone()));
        let task = Origin {
            inbox: self.clone(),
            id,
            name: origin.to_owned(),
            rx,
            current: None,
            held: VecDeque::new(),
            capacity,
            counters: Counters::default(),
            sequences: Sequences::default(),
            cache: TopicCache::default(),
            joined: None,
            announced,
        };
        self.runtime.spawn(task.run());
        Some(tx)
    }

    /// Removes the queue of origin task `id` (not a newer one of the same name).
    fn forget(&self, origin: &str, id: u64) {
        let mut origins = lock(&self.origins);
        if origins.get(origin).is_some_and(|(queue, _)| *queue == id) {
            origins.remove(origin);
        }
    }
}

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
    rx: flume::Receiver<Item>,
    current: Option<Current>,
    /// Events and requests that came while the remote was not (yet) known.
    held: VecDeque<Item>,
    capacity: usize,
    /// The numbering of what this endpoint sends it, across links.
    counters: Counters,
    sequences: Sequences,
    cache: TopicCache,
    /// What its tokens last said: its incarnation and subscriptions.
    joined: Option<(u64, Subscriptions)>,
    announced: bool,
}

impl Origin {
    async fn run(mut self) {
        loop {
            let waiting = self.current.is_none() && !self.held.is_empty();
            let item = if waiting || !self.announced {
                match tokio::time::timeout(UNANNOUNCED_WAIT, self.rx.recv_async()).await {
                    Ok(Ok(item)) => item,
                    Ok(Err(_)) => break,
                    Err(_elapsed) => {
                        self.drop_held();
                        if !self.announced {
                            self.inbox.forget(&self.name, self.id);
                            break;
                        }
                        continue;
                    }
                }
            } else {
                match self.rx.recv_async().await {
                    Ok(item) => item,
                    Err(_) => break,
                }
            };
            self.handle(item).await;
        }
        if !self.announced {
            self.inbox.unannounced.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(current) = self.current.take() {
            current
                .handle
                .disconnected("this endpoint left the zenoh bus");
        }
    }

    async fn handle(&mut self, item: Item) {
        self.check_current();
        match item {
            Item::Joined {
                incarnation,
                subscriptions,
            } => {
                if !self.announced {
                    self.announced = true;
                    self.inbox.unannounced.fetch_sub(1, Ordering::AcqRel);
                }
                self.joined = Some((incarnation, subscriptions));
                self.join();
                while let Some(item) = self.held.pop_front() {
                    if self.current.is_none() {
                        self.held.push_front(item);
                        break;
                    }
                    self.deliver(item).await;
                }
            }
            Item::Retry => {
                if self.current.is_none() && self.joined.is_some() {
                    self.join();
                }
            }
            Item::Subscriptions(subscriptions) => {
                if let Some((_, known)) = &mut self.joined {
                    known.clone_from(&subscriptions);
                }
                if let Some(current) = &self.current {
                    current.handle.set_subscriptions(subscriptions);
                    self.fetch_schemas(current.handle.clone());
                }
            }
            Item::Left { reason } => {
                self.joined = None;
                if let Some(current) = self.current.take() {
                    self.counters = current.link.take_counters();
                    current.handle.disconnected(&reason);
                }
            }
            item @ (Item::Event { .. } | Item::Request { .. } | Item::Heartbeat { .. }) => {
                if self.current.is_some() {
                    self.deliver(item).await;
                } else if self.held.len() < self.capacity {
                    self.held.push_back(item);
                } else {
                    tracing::warn!(endpoint = %self.inbox.route.me, remote = %self.name, "zenoh: too much from a sender that is not connected; dropped");
                }
            }
        }
    }

    /// The core may have given the remote up on its own (it stalled): start afresh.
    fn check_current(&mut self) {
        if self
            .current
            .as_ref()
            .is_some_and(|current| !current.handle.is_connected())
        {
            if let Some(current) = self.current.take() {
                self.counters = current.link.take_counters();
            }
        }
    }

    fn join(&mut self) {
        let Some((_, subscriptions)) = &self.joined else {
            return;
        };
        if let Some(current) = self.current.take() {
            self.counters = current.link.take_counters();
            current.handle.disconnected("it joined the bus again");
        }
        let inbox = self.inbox.clone();
        let on_close = Arc::new(move || {
            inbox.open_links.fetch_sub(1, Ordering::AcqRel);
            inbox.links_changed.notify_waiters();
        });
        let link = ZenohLink::new(
            self.inbox.route.clone(),
            &self.name,
            &self.inbox.attached,
            std::mem::take(&mut self.counters),
            on_close,
        );
        let added =
            self.inbox
                .attached
                .add_remote(&self.name, subscriptions.clone(), link.clone(), |_| Ok(()));
        match added {
            Ok(handle) => {
                self.inbox.open_links.fetch_add(1, Ordering::AcqRel);
                link.accepted(handle.clone());
                self.fetch_schemas(handle.clone());
                self.current = Some(Current { handle, link });
            }
            Err(error) => {
                self.counters = link.take_counters();
                tracing::info!(endpoint = %self.inbox.route.me, remote = %self.name, %error, "zenoh: not connected through zenoh");
                // Connected another way (sockets), say: try again once that is gone.
                let inbox = self.inbox.clone();
                let name = self.name.clone();
                if inbox.attached.is_connected_to(&name) {
                    self.inbox.runtime.spawn(async move {
                        inbox.attached.wait_until_disconnected(&name).await;
                        if !inbox.attached.is_stopped() {
                            inbox.push_async(&name, Item::Retry).await;
                        }
                    });
                }
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
                body,
            } => {
                // The sender's incarnation is in its presence token: anything else is
                // forged (or from a process of the same name that is gone).
                if self.joined.as_ref().map(|(known, _)| *known) != Some(incarnation) {
                    tracing::warn!(endpoint = %self.inbox.route.me, remote = %self.name, event = %name, "zenoh: an event from another incarnation of the sender (forged?); dropped");
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
                let body = body.to_bytes();
                current
                    .handle
                    .deliver(&mut self.cache, &name, None, &body)
                    .await;
            }
            Item::Request {
                name,
                request_id,
                query,
                body,
            } => {
                current.link.hold_query(request_id, query);
                let body = body.to_bytes();
                current
                    .handle
                    .deliver(&mut self.cache, &name, Some(request_id), &body)
                    .await;
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
            _ => {}
        }
    }

    fn drop_held(&mut self) {
        if self.held.is_empty() {
            return;
        }
        tracing::warn!(
            endpoint = %self.inbox.route.me,
            remote = %self.name,
            dropped = self.held.len(),
            "zenoh: messages from a sender that never appeared on the bus (no presence token); dropped"
        );
        self.held.clear();
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! The sending side of one remote: a [`RemoteLink`] whose events and requests are written
//! to zenoh by a thread of its own, and the requests it answers.
//!
//! # Order, back-pressure, loss
//!
//! What the core hands [`try_send`](RemoteLink::try_send) is numbered (see
//! [`crate::sequence`]) and queued, in the order handed, under one lock; one writer
//! thread takes the queue in order and puts each message with
//! `CongestionControl::Block`, so zenoh pushes back hop by hop instead of dropping. The
//! queue is bounded by bytes ([`Attached::connection_buffer`]): when it is full the core
//! waits in [`send`](RemoteLink::send), and gives up a remote that takes nothing for
//! twice the stall timeout. A zenoh put blocks its caller when the link is congested,
//! which is why the writer is a thread and not a task on the caller's runtime.
//!
//! Requests are zenoh queries, sent by the same thread in the same order. zenoh
//! *finalizes* a query when the queryable answers and drops it, drops it unanswered, or
//! is lost (its session closed, its router died): the reply callback is then dropped, and
//! a request that got neither an answer nor a drop notice is reported lost
//! ([`RemoteHandle::request_lost`]), so it never hangs.
//!
//! Answers to the remote's requests go back on its query, at once, from the responding
//! task: they never wait in this link's queue. They travel with the query's QoS (data
//! priority, blocking congestion control), so on a congested link an answer can wait
//! behind events in zenoh's own queues, and `respond` can block its caller until there is
//! room (a known limit).

use crate::header::{Header, DROPPED};
use crate::keys::Keys;
use crate::sequence::Counters;
use event_core::backend::{Attached, BoxFuture, Outgoing, Refused, RemoteHandle, RemoteLink};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use zenoh::qos::{CongestionControl, Priority};
use zenoh::query::{ConsolidationMode, Query, QueryTarget, Reply};
use zenoh::Wait;

/// A message on its way to the writer thread.
enum Message {
    Event {
        name: &'static str,
        header: Header,
        body: Vec<u8>,
    },
    Request {
        name: &'static str,
        header: Header,
        request_id: u64,
        body: Vec<u8>,
    },
}

impl Message {
    fn len(&self) -> usize {
        match self {
            Message::Event { body, .. } | Message::Request { body, .. } => body.len(),
        }
    }
}

/// What the link, its writer thread and the reply callbacks share.
struct Shared {
    /// The remote's name.
    remote: String,
    /// Bytes queued and not yet written.
    queued: AtomicUsize,
    /// Messages queued and not yet written.
    in_flight: AtomicUsize,
    budget: usize,
    /// Moved on when the writer took a message (room, and perhaps drained).
    progress: Notify,
    finished: AtomicBool,
    closed: AtomicBool,
    /// The remote's requests not yet answered, by its request id.
    queries: Mutex<HashMap<u64, Query>>,
    /// Set once the core accepted the remote; the reply callbacks report through it.
    handle: Mutex<Option<RemoteHandle>>,
}

/// Where a link writes, and with what settings.
#[derive(Clone)]
pub(crate) struct Route {
    pub session: zenoh::Session,
    pub keys: Keys,
    /// This endpoint.
    pub me: String,
    pub incarnation: u64,
    pub request_timeout: Duration,
}

/// The [`RemoteLink`] of one remote on zenoh.
pub(crate) struct ZenohLink {
    shared: Arc<Shared>,
    /// Numbers events per name and queues them, under one lock, so that the order of
    /// numbers is the order of the queue.
    queue: Mutex<(Counters, flume::Sender<Message>)>,
    incarnation: u64,
    /// Tells the backend when the link is closed (it waits for all before leaving).
    on_close: Arc<dyn Fn() + Send + Sync>,
}

impl ZenohLink {
    /// A link to `remote`, with its writer thread; `counters` go on from an earlier link to
    /// the same remote (after a failover) so that the remote sees no false gap.
    pub(crate) fn new(
        route: Route,
        remote: &str,
        attached: &Attached,
        counters: Counters,
        on_close: Arc<dyn Fn() + Send + Sync>,
    ) -> Arc<ZenohLink> {
        let shared = Arc::new(Shared {
            remote: remote.to_owned(),
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            budget: attached.connection_buffer(),
            progress: Notify::new(),
            finished: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            queries: Mutex::new(HashMap::new()),
            handle: Mutex::new(None),
        });
        let (tx, rx) = flume::unbounded();
        // What an earlier link numbered was written or lost: a heartbeat says so first.
        let written = counters.counts();
        let writer = Writer {
            route: route.clone(),
            shared: shared.clone(),
            publishers: HashMap::new(),
            dirty: !written.is_empty(),
            written,
        };
        let spawned = std::thread::Builder::new()
            // Not the remote's name: it comes off the bus and may hold anything (a NUL
            // in a thread name panics).
            .name("zenoh-writer".into())
            .spawn(move || writer.run(rx));
        if let Err(error) = spawned {
            tracing::error!(remote, %error, "cannot start a zenoh writer thread");
            shared.closed.store(true, Ordering::Release);
        }
        Arc::new(ZenohLink {
            shared,
            queue: Mutex::new((counters, tx)),
            incarnation: route.incarnation,
            on_close,
        })
    }

    /// The core accepted the remote: reply callbacks report through `handle` from now on.
    pub(crate) fn accepted(&self, handle: RemoteHandle) {
        *lock(&self.shared.handle) = Some(handle);
    }

    /// The counters to hand the next link to this remote.
    pub(crate) fn take_counters(&self) -> Counters {
        std::mem::take(&mut lock(&self.queue).0)
    }

    /// A request from the remote, to be answered through [`RemoteLink::respond`].
    pub(crate) fn hold_query(&self, request_id: u64, query: Query) {
        if self.shared.closed.load(Ordering::Acquire) {
            return; // dropped: zenoh finalizes it, the requester is told
        }
        lock(&self.shared.queries).insert(request_id, query);
    }

    fn is_refusing(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire) || self.shared.finished.load(Ordering::Acquire)
    }

    fn message(&self, counters: &mut Counters, event: &Outgoing<'_>) -> Message {
        match event.request_id {
            None => Message::Event {
                name: event.name,
                header: Header::Event {
                    incarnation: self.incarnation,
                    seq: counters.take(event.name_id, event.name),
                },
                body: event.body.to_vec(),
            },
            Some(request_id) => Message::Request {
                name: event.name,
                header: Header::Request {
                    incarnation: self.incarnation,
                    request_id,
                },
                request_id,
                body: event.body.to_vec(),
            },
        }
    }
}

impl RemoteLink for ZenohLink {
    fn try_send(&self, event: &Outgoing<'_>) -> Result<(), Refused> {
        if self.is_refusing() {
            return Err(Refused::Closed);
        }
        let mut queue = lock(&self.queue);
        let queued = self.shared.queued.load(Ordering::Acquire);
        // A message larger than the budget is taken when nothing else waits.
        if queued > 0 && queued + event.body.len() > self.shared.budget {
            return Err(Refused::Full);
        }
        let (counters, tx) = &mut *queue;
        let message = self.message(counters, event);
        self.shared
            .queued
            .fetch_add(message.len(), Ordering::AcqRel);
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        if tx.send(message).is_err() {
            return Err(Refused::Closed);
        }
        Ok(())
    }

    fn send<'a>(
        &'a self,
        event: &'a Outgoing<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), Refused>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let progress = self.shared.progress.notified();
                tokio::pin!(progress);
                progress.as_mut().enable();
                match self.try_send(event) {
                    Err(Refused::Full) => {}
                    done => return done,
                }
                if tokio::time::timeout_at(deadline, progress).await.is_err() {
                    return Err(Refused::Full);
                }
            }
        })
    }

    fn respond(&self, request_id: u64, name: &'static str, body: &[u8]) -> Result<(), Refused> {
        let Some(query) = lock(&self.shared.queries).remove(&request_id) else {
            return Err(Refused::Closed);
        };
        let sent = query
            .reply(query.key_expr().clone(), body.to_vec())
            .attachment(name.as_bytes().to_vec())
            .wait();
        // Dropping the query now finalizes it: the requester knows nothing more comes.
        drop(query);
        sent.map_err(|error| {
            tracing::warn!(remote = %self.shared.remote, event = name, %error, "zenoh: an answer could not be sent");
            Refused::Closed
        })
    }

    fn drop_request(&self, request_id: u64) {
        if let Some(query) = lock(&self.shared.queries).remove(&request_id) {
            if let Err(error) = query.reply_err(DROPPED.to_vec()).wait() {
                tracing::debug!(remote = %self.shared.remote, %error, "zenoh: a drop notice could not be sent");
            }
        }
    }

    fn finish(&self) {
        self.shared.finished.store(true, Ordering::Release);
        self.shared.progress.notify_waiters();
    }

    fn drained(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                let progress = self.shared.progress.notified();
                tokio::pin!(progress);
                progress.as_mut().enable();
                if self.shared.in_flight.load(Ordering::Acquire) == 0
                    || self.shared.closed.load(Ordering::Acquire)
                {
                    return;
                }
                progress.await;
            }
        })
    }

    fn close(&self) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Unanswered requests of the remote: dropping them finalizes them.
        lock(&self.shared.queries).clear();
        lock(&self.shared.handle).take();
        // The writer sees the flag and stops; the queue's sender goes with the link.
        self.shared.progress.notify_waiters();
        (self.on_close)();
    }
}

/// The thread that writes one remote's messages, in order.
struct Writer {
    route: Route,
    shared: Arc<Shared>,
    publishers: HashMap<&'static str, zenoh::pubsub::Publisher<'static>>,
    /// How many of each event were written (or, from an earlier link, numbered).
    written: HashMap<&'static str, u64>,
    /// Events were written since the last heartbeat.
    dirty: bool,
}

/// How long a writer that wrote events stays idle before it sends a heartbeat.
const HEARTBEAT_AFTER: Duration = Duration::from_secs(1);

impl Writer {
    fn run(mut self, rx: flume::Receiver<Message>) {
        if self.dirty {
            self.heartbeat();
        }
        loop {
            let message = match rx.recv_timeout(HEARTBEAT_AFTER) {
                Ok(message) => message,
                Err(flume::RecvTimeoutError::Timeout) => {
                    if self.dirty && !self.shared.closed.load(Ordering::Acquire) {
                        self.heartbeat();
                    }
                    continue;
                }
                Err(flume::RecvTimeoutError::Disconnected) => break,
            };
            if self.shared.closed.load(Ordering::Acquire) {
                break;
            }
            let len = message.len();
            match message {
                Message::Event { name, header, body } => {
                    if let Header::Event { seq, .. } = header {
                        self.written.insert(name, seq + 1);
                    }
                    self.dirty = true;
                    self.put(name, header, body)
                }
                Message::Request {
                    name,
                    header,
                    request_id,
                    body,
                } => self.query(name, header, request_id, body),
            }
            self.shared.queued.fetch_sub(len, Ordering::AcqRel);
            self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.shared.progress.notify_waiters();
        }
        self.shared.in_flight.store(0, Ordering::Release);
        self.shared.progress.notify_waiters();
    }

    fn put(&mut self, name: &'static str, header: Header, body: Vec<u8>) {
        let publisher = match self.publishers.entry(name) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let key = self
                    .route
                    .keys
                    .event_to(&self.shared.remote, name, &self.route.me);
                let declared = self
                    .route
                    .session
                    .declare_publisher(key)
                    .congestion_control(CongestionControl::Block)
                    .priority(Priority::Data)
                    .wait();
                match declared {
                    Ok(publisher) => entry.insert(publisher),
                    Err(error) => {
                        tracing::error!(remote = %self.shared.remote, event = name, %error, "zenoh: cannot declare a publisher; event lost");
                        return;
                    }
                }
            }
        };
        if let Err(error) = publisher
            .put(body)
            .attachment(header.encode().to_vec())
            .wait()
        {
            tracing::error!(remote = %self.shared.remote, event = name, %error, "zenoh: put failed; event lost");
        }
    }

    /// Tells the remote how many of each event were sent, so that it can tell a lost
    /// last event (see [`crate::sequence`]).
    fn heartbeat(&mut self) {
        self.dirty = false;
        let counts: Vec<(&str, u64)> = self.written.iter().map(|(name, n)| (*name, *n)).collect();
        let Ok(body) = postcard::to_stdvec(&counts) else {
            return;
        };
        let key = self
            .route
            .keys
            .heartbeat_to(&self.shared.remote, &self.route.me);
        let header = Header::Heartbeat {
            incarnation: self.route.incarnation,
        };
        if let Err(error) = self
            .route
            .session
            .put(key, body)
            .attachment(header.encode().to_vec())
            .congestion_control(CongestionControl::Block)
            .priority(Priority::Data)
            .wait()
        {
            tracing::debug!(remote = %self.shared.remote, %error, "zenoh: heartbeat not sent");
        }
    }

    fn query(&mut self, name: &'static str, header: Header, request_id: u64, body: Vec<u8>) {
        let key = self
            .route
            .keys
            .request_to(&self.shared.remote, name, &self.route.me);
        let tracker = ReplyTracker {
            shared: self.shared.clone(),
            request_id,
            settled: AtomicBool::new(false),
        };
        let sent = self
            .route
            .session
            .get(key)
            .payload(body)
            .attachment(header.encode().to_vec())
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::None)
            .timeout(self.route.request_timeout)
            .callback(move |reply| tracker.on_reply(reply))
            .wait();
        if let Err(error) = sent {
            tracing::error!(remote = %self.shared.remote, event = name, %error, "zenoh: query failed");
        }
    }
}

/// Follows one query's replies; when zenoh finalizes the query it drops this, and a
/// request that got neither an answer nor a drop notice is reported lost.
///
/// The remote's handle is looked up when a reply comes, not when the query is sent: the
/// core may route a request to a remote in the instant between accepting it and the link
/// being told so. Once the link is closed there is no handle, and nothing to report: the
/// core failed the remote's requests when it removed it.
struct ReplyTracker {
    shared: Arc<Shared>,
    request_id: u64,
    settled: AtomicBool,
}

impl ReplyTracker {
    fn handle(&self) -> Option<RemoteHandle> {
        lock(&self.shared.handle).clone()
    }

    fn on_reply(&self, reply: Reply) {
        if self.settled.load(Ordering::Acquire) {
            return;
        }
        let Some(handle) = self.handle() else {
            return;
        };
        match reply.result() {
            Ok(sample) => {
                let name = sample
                    .attachment()
                    .map(|name| name.to_bytes().into_owned())
                    .and_then(|name| String::from_utf8(name).ok());
                let Some(name) = name else {
                    tracing::warn!(remote = %handle.name(), "zenoh: an answer without its name; ignored");
                    return;
                };
                self.settled.store(true, Ordering::Release);
                let body = sample.payload().to_bytes().into_owned();
                handle.answer(
                    self.request_id,
                    &name,
                    event_core::backend::Bytes::from(body),
                );
            }
            Err(error) if &*error.payload().to_bytes() == DROPPED => {
                self.settled.store(true, Ordering::Release);
                handle.request_dropped(self.request_id);
            }
            Err(error) => {
                tracing::warn!(
                    remote = %handle.name(),
                    error = %String::from_utf8_lossy(&error.payload().to_bytes()),
                    "zenoh: an error reply to a request"
                );
            }
        }
    }
}

impl Drop for ReplyTracker {
    fn drop(&mut self) {
        if !self.settled.load(Ordering::Acquire) {
            if let Some(handle) = self.handle() {
                handle.request_lost(self.request_id);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

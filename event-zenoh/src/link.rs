//! The sending side of one remote: a [`RemoteLink`] whose events and requests are written
//! to zenoh by a thread of its own, and the requests it answers.
//!
//! # Order, back-pressure, loss
//!
//! What the core hands [`try_send`](RemoteLink::try_send) is numbered (see
//! [`crate::sequence`]) and queued, in the order handed, under one lock; one writer
//! thread takes the queue in order and puts each message with
//! `CongestionControl::Block`, so zenoh pushes back hop by hop instead of dropping. The
//! writer writes only within the window the remote gave it, and waits for more when it
//! has none (see [`crate::credit`]): a remote whose core takes slowly holds it up there.
//! The queue is bounded by bytes ([`Attached::connection_buffer`]): when it is full the
//! core waits in [`send`](RemoteLink::send), and gives up a remote that takes nothing
//! for twice the stall timeout. A zenoh put blocks its caller when the link is
//! congested, which is why the writer is a thread and not a task on the caller's
//! runtime.
//!
//! The writer starts when the core has accepted the remote ([`ZenohLink::accepted`]):
//! nothing is written for a remote the core refused, and every request it writes has a
//! remote handle to report its fate through. A link made after a failover
//! ([`Handover`]) goes on numbering where the old one stopped, and its writer waits for the
//! old writer to finish its last put before it writes, so the remote never sees the two
//! out of order.
//!
//! [`finish`](RemoteLink::finish) queues a *flush*: a query to the remote's inbox, behind
//! everything queued. The remote answers it when its core has taken everything before
//! it, so [`drained`](RemoteLink::drained) means delivered, not merely handed to zenoh:
//! `stop()` leaves the bus only after that (zenoh sends the tokens' undeclarations at
//! control priority, ahead of data, so leaving any earlier could overtake the last events).
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

use crate::announced::Announced;
use crate::credit::{self, SendWindow};
use crate::header::{Header, DROPPED};
use crate::keys::Keys;
use crate::off_runtime::SharedSession;
use crate::sequence::Counters;
use event_core::backend::{Attached, BoxFuture, Outgoing, Refused, RemoteHandle, RemoteLink};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use zenoh::key_expr::KeyExpr;
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
    /// The endpoint is stopping: confirm that the remote took everything before this.
    Flush,
}

impl Message {
    fn len(&self) -> usize {
        match self {
            Message::Event { body, .. } | Message::Request { body, .. } => body.len(),
            Message::Flush => 0,
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
    /// Set once the core accepted the remote, taken when the link closes.
    handle: Mutex<Option<RemoteHandle>>,
}

/// Where a link writes, and with what settings.
#[derive(Clone)]
pub(crate) struct Route {
    pub session: Arc<SharedSession>,
    pub keys: Keys,
    /// This endpoint.
    pub me: String,
    pub incarnation: u64,
    pub request_timeout: Duration,
    /// How long a flush (see the module docs) may take.
    pub flush_timeout: Duration,
    /// How long a credit query lives (its last answer comes once the remote took all it
    /// counted); well within the stall timeout, so that one lost is asked again in time.
    pub credit_timeout: Duration,
    /// This endpoint's subscription tokens: declared before anything is written after
    /// the change that made them (see [`crate::announced`]).
    pub announced: Arc<Announced>,
}

/// What a link to a remote hands the next link to the same remote.
#[derive(Default)]
pub(crate) struct Handover {
    counters: Counters,
    /// Disconnected once the old link's writer has finished.
    previous_writer: Option<flume::Receiver<()>>,
    /// The remote's window: the links to one remote share it, one writer at a time.
    window: Arc<SharedWindow>,
}

/// A remote's window (see [`crate::credit`]), shared by the writer that writes within it
/// and the answers to its credit queries.
#[derive(Default)]
pub(crate) struct SharedWindow {
    window: Mutex<SendWindow>,
    /// Notified when the window moved (or the link closed).
    moved: Condvar,
}

/// The [`RemoteLink`] of one remote on zenoh.
pub(crate) struct ZenohLink {
    shared: Arc<Shared>,
    /// Numbers events per name and queues them, under one lock, so that the order of
    /// numbers is the order of the queue. The sender goes when the link closes, which
    /// wakes the writer.
    queue: Mutex<(Counters, Option<flume::Sender<Message>>)>,
    /// The writer, until [`accepted`](Self::accepted) starts it.
    writer: Mutex<Option<(Writer, flume::Receiver<Message>)>>,
    /// Disconnected when this link's writer finishes (for the next link's [`Handover`]).
    writer_done: flume::Receiver<()>,
    incarnation: u64,
    /// The largest body the remote accepts (from its presence token).
    frame_limit: Option<usize>,
    /// Tells the backend when an accepted link is closed (it waits for all before leaving).
    on_close: Arc<dyn Fn() + Send + Sync>,
    window: Arc<SharedWindow>,
}

impl ZenohLink {
    /// A link to `remote`, going on from an earlier link to it (after a failover) so that
    /// the remote sees no false gap. Its writer starts once the core accepts it.
    pub(crate) fn new(
        route: Route,
        remote: &str,
        attached: &Attached,
        handover: Handover,
        frame_limit: Option<usize>,
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
        let (done, writer_done) = flume::bounded(1);
        // What an earlier link numbered was written or lost: a heartbeat says so first.
        let written = handover.counters.counts();
        let window = handover.window.clone();
        lock(&window.window).handed_over();
        let writer = Writer {
            route: route.clone(),
            shared: shared.clone(),
            window: window.clone(),
            publishers: FxHashMap::default(),
            request_keys: FxHashMap::default(),
            dirty: !written.is_empty(),
            last_heartbeat: std::time::Instant::now(),
            written,
            previous: handover.previous_writer,
            _done: done,
        };
        let incarnation = route.incarnation;
        Arc::new(ZenohLink {
            shared,
            queue: Mutex::new((handover.counters, Some(tx))),
            writer: Mutex::new(Some((writer, rx))),
            writer_done,
            incarnation,
            frame_limit,
            on_close,
            window,
        })
    }

    /// The core accepted the remote as `handle`: starts the writer. `false` if the link
    /// was closed first (the core gave the remote up at once), or no thread could be
    /// started (then the link is closed).
    pub(crate) fn accepted(&self, handle: RemoteHandle) -> bool {
        {
            let mut slot = lock(&self.shared.handle);
            if self.shared.closed.load(Ordering::Acquire) {
                return false;
            }
            *slot = Some(handle.clone());
        }
        let Some((writer, rx)) = lock(&self.writer).take() else {
            return true;
        };
        let spawned = std::thread::Builder::new()
            // Not the remote's name: it comes off the bus and may hold anything (a NUL
            // in a thread name panics).
            .name("zenoh-writer".into())
            .spawn(move || writer.run(rx));
        if let Err(error) = spawned {
            tracing::error!(remote = %self.shared.remote, %error, "zenoh: cannot start a writer thread");
            handle.disconnected("no writer thread could be started");
        }
        true
    }

    /// What the next link to this remote goes on from.
    pub(crate) fn handover(&self) -> Handover {
        // A writer that never started wrote nothing: the next one waits for the one before.
        let previous_writer = match lock(&self.writer).as_mut() {
            Some((writer, _)) => writer.previous.take(),
            None => Some(self.writer_done.clone()),
        };
        Handover {
            counters: std::mem::take(&mut lock(&self.queue).0),
            previous_writer,
            window: self.window.clone(),
        }
    }

    /// A request from the remote, to be answered through [`RemoteLink::respond`].
    pub(crate) fn hold_query(&self, request_id: u64, query: Query) {
        let mut queries = lock(&self.shared.queries);
        // Checked under the lock that `close` clears: a query is never kept after that.
        if self.shared.closed.load(Ordering::Acquire) {
            return; // dropped: zenoh finalizes it, the requester is told
        }
        queries.insert(request_id, query);
    }

    fn is_refusing(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire) || self.shared.finished.load(Ordering::Acquire)
    }

    fn message(&self, counters: &mut Counters, event: &Outgoing<'_>) -> Message {
        match event.request_id {
            None => Message::Event {
                name: event.name,
                // Its end in the window is set by the writer, which writes within it.
                header: Header::Event {
                    incarnation: self.incarnation,
                    seq: counters.take(event.name_id, event.name),
                    end: 0,
                },
                body: event.body.to_vec(),
            },
            Some(request_id) => Message::Request {
                name: event.name,
                header: Header::Request {
                    incarnation: self.incarnation,
                    request_id,
                    end: 0,
                },
                request_id,
                body: event.body.to_vec(),
            },
        }
    }
}

impl RemoteLink for ZenohLink {
    fn frame_limit(&self) -> Option<usize> {
        self.frame_limit
    }

    fn try_send(&self, event: &Outgoing<'_>) -> Result<(), Refused> {
        let mut queue = lock(&self.queue);
        // Under the lock `finish` queues the flush under: nothing is queued behind it.
        if self.is_refusing() {
            return Err(Refused::Closed);
        }
        let queued = self.shared.queued.load(Ordering::Acquire);
        // A message larger than the budget is taken when nothing else waits.
        if queued > 0 && queued + event.body.len() > self.shared.budget {
            return Err(Refused::Full);
        }
        let (counters, tx) = &mut *queue;
        let Some(tx) = tx else {
            return Err(Refused::Closed);
        };
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
        let queue = lock(&self.queue);
        if !self.shared.finished.swap(true, Ordering::AcqRel) {
            if let Some(tx) = &queue.1 {
                self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
                if tx.send(Message::Flush).is_err() {
                    self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
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
        self.shared.closed.store(true, Ordering::Release);
        // The writer sees the flag, and wakes when its queue's sender goes.
        lock(&self.queue).1.take();
        // Unanswered requests of the remote: dropping them finalizes them, which sends on
        // zenoh and may wait under congestion, so not here, under the core's locks.
        let queries = std::mem::take(&mut *lock(&self.shared.queries));
        if !queries.is_empty() {
            let dropped = std::thread::Builder::new()
                .name("zenoh-finalize".into())
                .spawn(move || drop(queries));
            if let Err(error) = dropped {
                tracing::error!(remote = %self.shared.remote, %error, "zenoh: no thread to finalize requests on");
            }
        }
        let was_accepted = lock(&self.shared.handle).take().is_some();
        self.shared.progress.notify_waiters();
        // A writer waiting for room sees the flag.
        self.window.moved.notify_all();
        if was_accepted {
            (self.on_close)();
        }
    }
}

/// The thread that writes one remote's messages, in order.
struct Writer {
    route: Route,
    shared: Arc<Shared>,
    window: Arc<SharedWindow>,
    publishers: FxHashMap<&'static str, zenoh::pubsub::Publisher<'static>>,
    /// The keys of requests to the remote, by name (see [`Writer::request_key`]).
    request_keys: FxHashMap<&'static str, KeyExpr<'static>>,
    /// How many of each event were written (or, from an earlier link, numbered).
    written: FxHashMap<&'static str, u64>,
    /// Events were written since the last heartbeat.
    dirty: bool,
    last_heartbeat: std::time::Instant,
    /// The writer of the link this one replaces: wait for it to finish first.
    previous: Option<flume::Receiver<()>>,
    /// Dropped when this writer finishes (see [`Handover`]).
    _done: flume::Sender<()>,
}

/// How often a flush is sent before the writer gives up waiting for its confirmation,
/// and the pause between two.
const FLUSH_ATTEMPTS: u32 = 5;
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// How often a writer waiting for room looks again whether its link closed, or a credit
/// query should go.
const ROOM_CHECK: Duration = credit::ASK_AGAIN_AFTER;

/// How long a writer waits for this endpoint's subscription tokens before it writes.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(5);

/// How long a new writer waits for the one it replaces to finish its last put.
const HANDOVER_WAIT: Duration = Duration::from_secs(60);

/// How long a writer that wrote events stays idle before it sends a heartbeat.
const HEARTBEAT_AFTER: Duration = Duration::from_secs(1);

/// How often an idle writer that has written events says so again: a heartbeat lost
/// with the events it counts (a router dying with both) is made up for.
const HEARTBEAT_AGAIN: Duration = Duration::from_secs(10);

impl Writer {
    fn run(mut self, rx: flume::Receiver<Message>) {
        if let Some(previous) = self.previous.take() {
            // Disconnected (never a message) once the old writer is gone.
            if let Err(flume::RecvTimeoutError::Timeout) = previous.recv_timeout(HANDOVER_WAIT) {
                tracing::warn!(remote = %self.shared.remote, "zenoh: the previous writer to this remote is still stuck; writing on (order with its last event is not kept)");
            }
        }
        if self.dirty {
            self.heartbeat();
        }
        loop {
            // What is queued already is taken without a deadline: reading the clock for
            // one costs more than taking a message, when they come back to back.
            let next = rx.try_recv().or_else(|_| rx.recv_timeout(HEARTBEAT_AFTER));
            let message = match next {
                Ok(message) => message,
                Err(flume::RecvTimeoutError::Timeout) => {
                    let again = !self.written.is_empty()
                        && self.last_heartbeat.elapsed() >= HEARTBEAT_AGAIN;
                    if (self.dirty || again) && !self.shared.closed.load(Ordering::Acquire) {
                        self.heartbeat();
                    }
                    continue;
                }
                Err(flume::RecvTimeoutError::Disconnected) => break,
            };
            if self.shared.closed.load(Ordering::Acquire) {
                break;
            }
            if !self.route.announced.wait(ANNOUNCE_WAIT) {
                tracing::warn!(remote = %self.shared.remote, "zenoh: subscription tokens not declared in time; writing on");
            }
            if self.shared.closed.load(Ordering::Acquire) {
                break;
            }
            let len = message.len();
            let end = match message {
                Message::Flush => 0,
                _ => match self.room_for(credit::cost(len)) {
                    Some(end) => end,
                    None => break, // the link closed
                },
            };
            match message {
                Message::Event { name, header, body } => {
                    if let Header::Event { seq, .. } = header {
                        self.written.insert(name, seq + 1);
                    }
                    self.dirty = true;
                    self.put(name, header.with_end(end), body)
                }
                Message::Request {
                    name,
                    header,
                    request_id,
                    body,
                } => self.query(name, header.with_end(end), request_id, body),
                // The flush counts as in flight until the remote finalizes it.
                Message::Flush => {
                    self.flush();
                    continue;
                }
            }
            self.shared.queued.fetch_sub(len, Ordering::AcqRel);
            self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.shared.progress.notify_waiters();
            self.ask_if_low(false);
        }
        self.shared.in_flight.store(0, Ordering::Release);
        self.shared.progress.notify_waiters();
    }

    /// Waits until the remote's window has room for a message costing `cost`, and counts
    /// it there: its end, for its header. `None` if the link closed meanwhile.
    fn room_for(&mut self, cost: u64) -> Option<u64> {
        let mut window = lock(&self.window.window);
        loop {
            if self.shared.closed.load(Ordering::Acquire) {
                return None;
            }
            if window.may_send(cost) {
                return Some(window.sent(cost));
            }
            if window.should_ask(true, Instant::now) {
                let ask = window.asked();
                drop(window);
                self.ask(ask);
                window = lock(&self.window.window);
                continue;
            }
            window = self
                .window
                .moved
                .wait_timeout(window, ROOM_CHECK)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Asks for more room if less than half the window is left (or `waiting`).
    fn ask_if_low(&mut self, waiting: bool) {
        let ask = {
            let mut window = lock(&self.window.window);
            if !window.should_ask(waiting, Instant::now) {
                return;
            }
            window.asked()
        };
        self.ask(ask);
    }

    /// Sends credit query `(id, sent)`; its answer (or its end without one) moves the
    /// window, from zenoh's callback.
    fn ask(&mut self, (id, sent): (u64, u64)) {
        let key = self
            .route
            .keys
            .credit_to(&self.shared.remote, &self.route.me);
        let tracker = CreditTracker {
            window: self.window.clone(),
            id,
            asked: sent,
            answered: AtomicBool::new(false),
        };
        let asked = self
            .route
            .session
            .get(key)
            .payload(credit::encode_ask(self.route.incarnation, sent).to_vec())
            // Above the data's priority, so that neither the query nor its answers (which
            // travel with the query's QoS) wait in zenoh's queues behind events.
            .priority(Priority::InteractiveHigh)
            // Dropped, not waited for, under congestion: the receiver answers again, and
            // an unanswered query is asked again (never a blocked receiver).
            .congestion_control(CongestionControl::Drop)
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::None)
            .timeout(self.route.credit_timeout)
            .callback(move |reply| tracker.on_reply(reply))
            .wait();
        if let Err(error) = asked {
            // The tracker went with the callback: the window knows the query ended.
            tracing::debug!(remote = %self.shared.remote, %error, "zenoh: credit query not sent");
        }
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
        self.last_heartbeat = std::time::Instant::now();
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

    /// Sends the flush query and waits (this thread) for the remote to confirm it, which
    /// it does once its core took everything before it; then counts the flush done.
    ///
    /// Only a reply confirms: a query zenoh finalizes without one (it was dropped on the
    /// way: zenoh was seen to drop a query whose key it did not know yet, "Received Query
    /// for unknown key_expr") is sent again, a few times, while the link is open.
    fn flush(&mut self) {
        // It carries the counts: the remote confirms once it has every event they count
        // (zenoh may deliver this query ahead of the last puts), and reports what never
        // came if this endpoint leaves first.
        let counts: Vec<(&str, u64)> = self.written.iter().map(|(name, n)| (*name, *n)).collect();
        let body = postcard::to_stdvec(&counts).unwrap_or_default();
        let key = self
            .route
            .keys
            .flush_to(&self.shared.remote, &self.route.me);
        let header = Header::Heartbeat {
            incarnation: self.route.incarnation,
        };
        for attempt in 1..=FLUSH_ATTEMPTS {
            let replies = self
                .route
                .session
                .get(key.clone())
                .payload(body.clone())
                .attachment(header.encode().to_vec())
                .target(QueryTarget::All)
                .consolidation(ConsolidationMode::None)
                .timeout(self.route.flush_timeout)
                .with(flume::bounded(4))
                .wait();
            let confirmed = match replies {
                Ok(replies) => replies.iter().any(|reply| reply.result().is_ok()),
                Err(error) => {
                    tracing::debug!(remote = %self.shared.remote, %error, "zenoh: flush not sent");
                    false
                }
            };
            if confirmed || self.shared.closed.load(Ordering::Acquire) {
                break;
            }
            if attempt == FLUSH_ATTEMPTS {
                tracing::warn!(remote = %self.shared.remote, "zenoh: the remote never confirmed that it took everything before this endpoint stopped");
            } else {
                std::thread::sleep(FLUSH_PAUSE);
            }
        }
        // Saturating: a writer that ended has already counted everything done.
        let _ = self
            .shared
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.shared.progress.notify_waiters();
    }

    fn query(&mut self, name: &'static str, header: Header, request_id: u64, body: Vec<u8>) {
        // The writer runs only once the link was accepted, so there is a handle (unless
        // it closed meanwhile: then the core already failed the remote's requests).
        let Some(handle) = lock(&self.shared.handle).clone() else {
            return;
        };
        let Some(key) = self.request_key(name) else {
            // Logged; never sent, so it is lost now rather than never answered.
            handle.request_lost(request_id);
            return;
        };
        let tracker = ReplyTracker {
            handle,
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

    /// The key requests named `name` go to this remote on, declared to the session so
    /// that zenoh keeps its route (see [`crate::route_keys`]). `None` (logged) if zenoh
    /// takes neither the declaration nor the key.
    fn request_key(&mut self, name: &'static str) -> Option<KeyExpr<'static>> {
        if let Some(key) = self.request_keys.get(name) {
            return Some(key.clone());
        }
        let key = self
            .route
            .keys
            .request_to(&self.shared.remote, name, &self.route.me);
        let declared = match self.route.session.declare_keyexpr(key.clone()).wait() {
            Ok(declared) => declared,
            Err(error) => {
                tracing::debug!(remote = %self.shared.remote, event = name, %error, "zenoh: cannot declare a request key; its route is computed per request");
                match KeyExpr::try_from(key) {
                    Ok(key) => key,
                    Err(error) => {
                        tracing::error!(remote = %self.shared.remote, event = name, %error, "zenoh: not a key; request not sent");
                        return None;
                    }
                }
            }
        };
        self.request_keys.insert(name, declared.clone());
        Some(declared)
    }
}

/// Follows one credit query: its answer moves the window; when zenoh finalizes the
/// query it drops this, and a query that got no answer is asked again.
struct CreditTracker {
    window: Arc<SharedWindow>,
    id: u64,
    /// How far the sender had written when it asked.
    asked: u64,
    answered: AtomicBool,
}

impl CreditTracker {
    fn on_reply(&self, reply: Reply) {
        let Ok(sample) = reply.result() else {
            return;
        };
        let Some((taken, window)) = credit::decode_grant(&sample.payload().to_bytes()) else {
            tracing::warn!("zenoh: a malformed credit answer; ignored");
            return;
        };
        lock(&self.window.window).granted(self.asked, taken, window);
        self.answered.store(true, Ordering::Release);
        self.window.moved.notify_all();
    }
}

impl Drop for CreditTracker {
    fn drop(&mut self) {
        let answered = self.answered.load(Ordering::Acquire);
        lock(&self.window.window).ask_ended(self.id, answered, Instant::now());
        self.window.moved.notify_all();
    }
}

/// Follows one query's replies; when zenoh finalizes the query it drops this, and a
/// request that got neither an answer nor a drop notice is reported lost (after the
/// remote was removed, that report is ignored by the core).
struct ReplyTracker {
    handle: RemoteHandle,
    request_id: u64,
    settled: AtomicBool,
}

impl ReplyTracker {
    fn on_reply(&self, reply: Reply) {
        if self.settled.load(Ordering::Acquire) {
            return;
        }
        let handle = &self.handle;
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
            self.handle.request_lost(self.request_id);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

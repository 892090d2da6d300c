//! The core of an endpoint: the state behind every handle, and the rules.
//!
//! Everything here is synchronous except the waits that the rules themselves call for
//! (a full queue, a drain on stop); nothing here opens a socket or spawns a task. The
//! public handles ([`crate::endpoint`]) sit on top; the backends ([`crate::mesh`], and
//! other crates through [`crate::backend`]) sit beneath and drive it.
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`Bus`]: lifecycle, the change signal, local subscriptions, remotes coming and going |
//! | `topics.rs` | local subscribers by event name |
//! | `delivery.rs` | **the delivery and back-pressure policy**, in one place |
//! | `routing.rs` | where a broadcast or request goes, and sending it there |
//! | `inbound.rs` | what arrives from remotes |
//! | `remotes.rs` | the remote endpoints, their subscriptions, cached routes |
//! | `route_cache.rs` | each thread's cache of broadcast routes, by event type |
//! | `requests.rs` | requests in flight and their guarantees |
//! | `names.rs` | the numbers given to event names |
//! | `observation.rs` | what remotes observe, and this endpoint's observations |
//! | `observers.rs` | copies for observers, and being one |
//! | `connections.rs` | connection changes, for those who watch them |
//!
//! # Locks
//!
//! Every lock is a std lock held for a few instructions, never across an `.await`, and
//! never while an application's code runs (handlers are called, and subscribers dropped,
//! outside all of them). A backend's callbacks (`greet`, `subscriptions_changed`,
//! `Backend::stop`) do run under them, which is why a backend must not call back into
//! the core from there (see `backend`). Where two are held, they are taken in this
//! order, top first:
//!
//! | lock | protects | may be held while taking it |
//! |---|---|---|
//! | `topics` (RwLock) | local subscribers by name; its writers announce the new set | nothing: always first |
//! | `remotes` table (RwLock) | the remotes by name | `topics` (in `add_remote`, so a new remote's greeting is ordered with the announcements) |
//! | a remote's subscriptions (RwLock) | the names it subscribes to, with fingerprints | the `remotes` table (building a route) |
//! | `backends` (RwLock) | the attached backends | `topics` (announcing, attaching) |
//! | a backend's own locks (the mesh: its connections, listening socket, each outbox) | the backend's state | `topics` and `backends` (in `subscriptions_changed`), `backends` (in `Backend::stop`), `topics` and the `remotes` table (in `greet`) |
//! | connection watchers (Mutex) | the queues of `connection_events` streams | the `remotes` table (so changes are queued in the order they were made) |
//! | a remote's observation (RwLock) | what it observes, parsed from its markers | the `remotes` table (counting observers, finding them) |
//! | this endpoint's observation sinks, and each sink's missed counts (Mutex) | its observations | `topics` (adding and removing one, with its markers) |
//! | route cache, `pending`, name ids, a remote's published schemas and logged warnings (Mutex/RwLock) | caches and tables | nothing else is taken under them (leaves) |
//!
//! The change signal (`watch`) is sent after the locks are released.

pub(crate) mod connections;
pub(crate) mod delivery;
#[cfg(test)]
pub(crate) mod fake_link;
pub(crate) mod inbound;
pub(crate) mod names;
pub(crate) mod observation;
pub(crate) mod observers;
pub(crate) mod queue;
pub(crate) mod remotes;
pub(crate) mod requests;
pub(crate) mod route_cache;
pub(crate) mod routing;
pub(crate) mod topics;

use crate::backend::link::{Backend, MessageKind, RemoteLink, MESSAGE_OVERHEAD};
use crate::config::EndpointOptions;
use crate::error::Error;
use crate::event::Event;
use crate::schema::{schema_of, EventSchema, Fingerprint};
use crate::sync;
use connections::{ConnectionEvent, Watchers};
use names::NameIds;
use remotes::Side;
use remotes::{Remote, Remotes};
use requests::{PendingRequests, Responder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use topics::{Change, Subscriber, TopicMap, Topics};

/// The state behind every clone of an [`Endpoint`](crate::Endpoint).
pub(crate) struct Bus {
    pub name: Arc<str>,
    pub options: EndpointOptions,
    stopped: AtomicBool,
    pub topics: Topics,
    pub remotes: Remotes,
    pub pending: PendingRequests,
    pub names: NameIds,
    /// Told of this endpoint's subscription changes and of its stop.
    backends: RwLock<Vec<Arc<dyn Backend>>>,
    next_request_id: AtomicU64,
    /// Moved on by every change a `wait_until_*` may wait for.
    changes: watch::Sender<u64>,
    /// Those who watch connection changes.
    pub watchers: Watchers,
    /// This endpoint's observations (see `observers.rs`).
    pub observers: observation::Sinks,
    /// The schemas of every registered event type (computed once per process).
    registered: Vec<Arc<EventSchema>>,
}

/// Reply handles reach the core through this, not through `Bus` itself.
impl Responder for Bus {
    fn endpoint_name(&self) -> &str {
        &self.name
    }

    fn check_running(&self) -> Result<(), Error> {
        Bus::check_running(self)
    }

    fn check_size(
        &self,
        event: &'static str,
        body: usize,
        link: &dyn RemoteLink,
    ) -> Result<(), Error> {
        Bus::check_size(
            self,
            event,
            MessageKind::Answer,
            body,
            [(link, link.frame_limit())],
        )
    }

    fn pending(&self) -> &PendingRequests {
        &self.pending
    }

    fn copy_answer(
        &self,
        request: &'static str,
        request_id: u64,
        requester: &str,
        name: &'static str,
        body: &mut dyn FnMut() -> Option<Vec<u8>>,
    ) {
        let observers = self.observers_for(request);
        if observers.is_empty() {
            return;
        }
        if let Some(body) = body() {
            self.copy_answer_to(&observers, request, request_id, requester, name, body);
        }
    }
}

impl Bus {
    pub(crate) fn new(name: Arc<str>, options: EndpointOptions) -> Bus {
        Bus {
            name,
            options,
            stopped: AtomicBool::new(false),
            topics: Topics::default(),
            remotes: Remotes::default(),
            pending: PendingRequests::default(),
            names: NameIds::default(),
            backends: RwLock::new(Vec::new()),
            next_request_id: AtomicU64::new(1),
            changes: watch::channel(0).0,
            watchers: Watchers::default(),
            observers: observation::Sinks::default(),
            registered: crate::registry::all().map(|info| info.schema()).collect(),
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub(crate) fn check_running(&self) -> Result<(), Error> {
        if self.is_stopped() {
            Err(self.stopped_error())
        } else {
            Ok(())
        }
    }

    pub(crate) fn stopped_error(&self) -> Error {
        Error::Stopped {
            endpoint: self.name.to_string(),
        }
    }

    pub(crate) fn next_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Refuses a body that would make a message over the maximum frame size on any of
    /// these links, before anything is sent. Near the limit only, each link is asked for
    /// its exact header.
    #[inline]
    pub(crate) fn check_size<'l>(
        &self,
        event: &'static str,
        kind: MessageKind,
        body: usize,
        links: impl IntoIterator<Item = (&'l dyn RemoteLink, Option<usize>)>,
    ) -> Result<(), Error> {
        let own = self.options.max_frame_size;
        if body + MESSAGE_OVERHEAD + event.len() <= own.min(self.remotes.min_frame_limit()) {
            return Ok(());
        }
        self.refuse_oversized(event, kind, body, &mut links.into_iter())
    }

    /// [`check_size`](Self::check_size) past its fast path, out of line and compiled
    /// once: a body near some limit.
    #[cold]
    fn refuse_oversized(
        &self,
        event: &'static str,
        kind: MessageKind,
        body: usize,
        links: &mut dyn Iterator<Item = (&dyn RemoteLink, Option<usize>)>,
    ) -> Result<(), Error> {
        let own = self.options.max_frame_size;
        for (link, limit) in links {
            let size = body + link.header_len(event, kind);
            let max = limit.map_or(own, |limit| limit.min(own));
            if size > max {
                return Err(Error::FrameTooLarge {
                    endpoint: self.name.to_string(),
                    event,
                    size,
                    max,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn encode_error(&self, event: &'static str, source: postcard::Error) -> Error {
        Error::Encode {
            endpoint: self.name.to_string(),
            event,
            source,
        }
    }

    // -- the change signal ---------------------------------------------------------------

    /// Wakes every `wait_until_*`.
    pub(crate) fn notify_changed(&self) {
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Waits until `condition` holds or the endpoint stops.
    pub(crate) async fn wait_until(&self, condition: impl Fn(&Bus) -> bool) {
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            if self.is_stopped() || condition(self) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// [`wait_until`](Self::wait_until) for a user's wait: one that lasts
    /// [`EndpointOptions::wait_warning`] is logged (a warning naming `what` it waits for
    /// and the endpoints connected instead), then again after twice as long, and so on,
    /// so that a misspelt name or a peer that never comes shows in the log.
    pub(crate) async fn wait_until_logged(
        &self,
        what: impl Fn() -> String,
        condition: impl Fn(&Bus) -> bool,
    ) {
        let started = tokio::time::Instant::now();
        let mut warn_after = self.options.wait_warning;
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            if self.is_stopped() || condition(self) {
                return;
            }
            let warn_at = started + warn_after;
            match tokio::time::timeout_at(warn_at, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_still_waiting) => {
                    let mut connected: Vec<String> = self
                        .remotes
                        .snapshot()
                        .iter()
                        .map(|remote| remote.name.to_string())
                        .collect();
                    connected.sort();
                    tracing::warn!(
                        endpoint = %self.name,
                        waiting_for = %what(),
                        waited = ?started.elapsed(),
                        ?connected,
                        "still waiting"
                    );
                    warn_after = warn_after.saturating_mul(2);
                }
            }
        }
    }

    // -- backends ------------------------------------------------------------------------

    /// Adds a backend; it is told the current subscription set at once, in order with
    /// every later change.
    pub(crate) fn attach(&self, backend: Arc<dyn Backend>) -> Result<(), Error> {
        let topics = self.topics.read();
        let mut backends = sync::write(&self.backends);
        self.check_running()?;
        backend.subscriptions_changed(&topics.subscribed());
        backends.push(backend);
        Ok(())
    }

    pub(crate) fn detach(&self, backend: &Arc<dyn Backend>) {
        sync::write(&self.backends).retain(|attached| !Arc::ptr_eq(attached, backend));
    }

    // -- local subscriptions -------------------------------------------------------------

    pub(crate) fn add_subscriber<E: Event>(&self, subscriber: Subscriber) {
        // Before the lock: tracing a schema (once per type) runs the type's `Deserialize`.
        let schema = schema_of::<E>();
        let mut topics = self.topics.write();
        let change = topics.add::<E>(subscriber, &schema);
        if let Change::NamesChanged = change {
            self.announce(&topics);
        }
        drop(topics);
        if let Change::NamesChanged = change {
            for remote in self.remotes.snapshot() {
                self.check_published(&remote, &schema);
            }
        }
        self.notify_changed();
    }

    pub(crate) fn remove_subscriber(&self, name: &str, id: u64) {
        let mut topics = self.topics.write();
        let (change, removed) = topics.remove(name, id);
        if let Change::NamesChanged = change {
            self.announce(&topics);
        }
        drop(topics);
        // Outside the lock (see `TopicMap::remove`).
        drop(removed);
        if let Change::NamesChanged = change {
            self.notify_changed();
        }
    }

    /// Tells every backend the new set; called under the topics lock, so that the sets
    /// are announced in the order they were made.
    fn announce(&self, topics: &TopicMap) {
        let backends = sync::read(&self.backends);
        if backends.is_empty() {
            return;
        }
        let subscribed = topics.subscribed();
        for backend in backends.iter() {
            backend.subscriptions_changed(&subscribed);
        }
    }

    /// Every schema this endpoint publishes: its registered event types' and its
    /// subscriptions' (generic types are not registered), one per name.
    pub(crate) fn known_schemas(&self) -> Vec<Arc<EventSchema>> {
        let mut known: std::collections::BTreeMap<String, Arc<EventSchema>> = self
            .registered
            .iter()
            .map(|schema| (schema.name().to_owned(), schema.clone()))
            .collect();
        for schema in self.topics.read().subscribed() {
            if !schema.name().starts_with(crate::observe::OBSERVE_PREFIX) {
                known.insert(schema.name().to_owned(), schema);
            }
        }
        known.into_values().collect()
    }

    /// A remote published schemas: kept, and each that disagrees with a local
    /// subscription is logged once.
    pub(crate) fn describe(&self, remote: &Remote, schemas: Vec<EventSchema>) {
        let schemas: Vec<Arc<EventSchema>> = schemas
            .into_iter()
            .filter(|schema| {
                let consistent = schema.is_consistent();
                if !consistent {
                    tracing::warn!(endpoint = %self.name, remote = %remote.name, event = schema.name(), "a published schema does not match its own fingerprint; ignored");
                }
                consistent
            })
            .map(Arc::new)
            .collect();
        remote.add_schemas(schemas.iter().cloned());
        let topics = self.topics.read();
        let mine: Vec<_> = schemas
            .iter()
            .filter_map(|theirs| Some((theirs.clone(), topics.fingerprint(theirs.name())?)))
            .collect();
        drop(topics);
        for (theirs, ours) in mine {
            self.warn_receiving(remote, &theirs, ours);
        }
        // For `wait_until_schema_published`: schemas follow a connection.
        self.notify_changed();
    }

    /// Logs once if `remote` published another schema of what `schema` subscribes to.
    fn check_published(&self, remote: &Remote, schema: &EventSchema) {
        if let Some(theirs) = remote.schema(schema.name()) {
            self.warn_receiving(remote, &theirs, schema.fingerprint());
        }
    }

    fn warn_receiving(&self, remote: &Remote, theirs: &EventSchema, ours: Fingerprint) {
        if theirs.fingerprint() != ours && remote.first_warning(theirs.name(), Side::Receiving) {
            tracing::warn!(
                endpoint = %self.name,
                remote = %remote.name,
                event = theirs.name(),
                ours = %ours,
                theirs = %theirs.fingerprint(),
                "this endpoint will not receive this event from that remote: it was built with another definition of it (schema fingerprints differ)"
            );
        }
    }

    pub(crate) fn local_names(&self) -> Vec<String> {
        self.topics.read().names()
    }

    pub(crate) fn is_locally_subscribed(&self, name: &str) -> bool {
        self.topics.read().contains(name)
    }

    // -- remotes -------------------------------------------------------------------------

    /// Registers a remote a backend reported (see `backend::Attached::add_remote`).
    pub(crate) fn add_remote(
        &self,
        name: &str,
        subscriptions: HashMap<String, Fingerprint>,
        link: Arc<dyn RemoteLink>,
        greet: impl FnOnce(&[Arc<EventSchema>]) -> Result<(), String>,
    ) -> Result<Arc<Remote>, Error> {
        let rejected = |reason: String| Error::ConnectionAttemptRejected {
            endpoint: self.name.to_string(),
            remote: name.to_owned(),
            reason,
        };
        let topics = self.topics.read();
        let mut table = self.remotes.write();
        if self.is_stopped() {
            return Err(rejected(format!("endpoint `{}` is stopping", self.name)));
        }
        crate::config::check_endpoint_name(name).map_err(|reason| {
            rejected(format!("`{name}` is not a valid endpoint name: {reason}"))
        })?;
        if name == &*self.name {
            return Err(rejected(format!(
                "the name `{name}` is taken: it is this endpoint's own name"
            )));
        }
        if table.contains(name) {
            return Err(rejected(format!(
                "the name `{name}` is taken: an endpoint named `{name}` is already connected"
            )));
        }
        greet(&topics.subscribed()).map_err(rejected)?;
        let remote = Remote::new(Arc::from(name), self.remotes.next_id(), subscriptions, link);
        table.insert(remote.clone());
        self.remotes.invalidate();
        self.watchers.tell(ConnectionEvent::Connected {
            remote: name.to_owned(),
        });
        drop(table);
        drop(topics);
        self.notify_changed();
        Ok(remote)
    }

    pub(crate) fn set_remote_subscriptions(
        &self,
        remote: &Remote,
        subscriptions: HashMap<String, Fingerprint>,
    ) {
        let mut table = self.remotes.write();
        table.set_subscriptions(remote, subscriptions);
        // Under the table's lock, as where remotes come and go: whoever sees the new
        // subscriptions (`is_endpoint_subscribed_to`) sees the routes cached before them
        // gone too.
        self.remotes.invalidate();
        drop(table);
        self.notify_changed();
    }

    /// Removes a remote (if it is still the registered one), closes its link, and strikes
    /// it off every pending request. Idempotent.
    pub(crate) fn disconnect(&self, remote: &Remote, reason: &str) {
        if !remote.mark_closed() {
            return;
        }
        {
            let mut table = self.remotes.write();
            table.remove(remote);
            self.remotes.invalidate();
            self.watchers.tell(ConnectionEvent::Disconnected {
                remote: remote.name.to_string(),
                reason: reason.to_owned(),
            });
        }
        remote.link.close();
        tracing::info!(endpoint = %self.name, remote = %remote.name, reason, "disconnected");
        // While this endpoint stops, its pending requests fail with `Stopped` (in
        // `finish_stop`), not with the disconnections the stop itself causes.
        if !self.is_stopped() {
            self.pending.remote_gone(&self.name, remote.id);
        }
        self.notify_changed();
    }

    pub(crate) fn report_gap(&self, remote: &Remote, event: &str, missed: u64) {
        remote.events_missed.fetch_add(missed, Ordering::Relaxed);
        tracing::error!(
            endpoint = %self.name,
            remote = %remote.name,
            event,
            missed,
            "events from this remote were lost on the way"
        );
        self.watchers.tell(ConnectionEvent::EventsLost {
            remote: remote.name.to_string(),
            event: event.to_owned(),
            missed,
        });
    }

    // -- stopping ------------------------------------------------------------------------

    /// Stops, after letting every remote take what it had accepted (up to the stall
    /// timeout), so that an event `broadcast` returned `Ok` for is not lost by `stop()`.
    pub(crate) async fn stop_gracefully(&self) {
        if let Some(remotes) = self.begin_stop() {
            self.drain_and_finish(remotes).await;
        }
    }

    /// The second half of [`stop_gracefully`](Self::stop_gracefully), after
    /// [`begin_stop`](Self::begin_stop).
    pub(crate) async fn drain_and_finish(&self, remotes: Vec<Arc<Remote>>) {
        // An endpoint that only observes was sent copies, which nobody waits for: a
        // tap that stopped reading must not hold a stop up.
        let drained = async {
            for remote in remotes.iter().filter(|remote| !remote.is_observer_only()) {
                remote.link.drained().await;
            }
        };
        if tokio::time::timeout(self.options.stall_timeout, drained)
            .await
            .is_err()
        {
            tracing::warn!(endpoint = %self.name, "stop: some remotes did not drain in time");
        }
        self.finish_stop();
    }

    /// Refuses new operations, remotes and messages (and unlistens); `None` if already
    /// stopping. What was accepted is still delivered until `finish_stop`.
    pub(crate) fn begin_stop(&self) -> Option<Vec<Arc<Remote>>> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return None;
        }
        for backend in sync::read(&self.backends).iter() {
            backend.stop();
        }
        let remotes = self.remotes.snapshot();
        for remote in &remotes {
            remote.link.finish();
        }
        // Wakes `wait_until_*` and connects in progress.
        self.notify_changed();
        Some(remotes)
    }

    /// Closes every remote, ends every stream and fails what is pending. Idempotent.
    pub(crate) fn finish_stop(&self) {
        let remotes = {
            let mut table = self.remotes.write();
            let remotes = table.take_all();
            for remote in remotes.iter().filter(|remote| !remote.is_closed()) {
                self.watchers.tell(ConnectionEvent::Disconnected {
                    remote: remote.name.to_string(),
                    reason: "this endpoint stopped".into(),
                });
            }
            remotes
        };
        self.remotes.invalidate();
        for remote in remotes {
            if remote.mark_closed() {
                remote.link.close();
            }
        }
        // Dropping every sink ends every stream; dropped outside the lock, since a
        // handler may own a subscription of this endpoint.
        let topics = self.topics.write().take_all();
        drop(topics);
        self.observers.close();
        self.pending.fail_all(&self.name);
        self.watchers.close();
        // The backends hold this core in their tasks: let them go.
        let backends = std::mem::take(&mut *sync::write(&self.backends));
        drop(backends);
        self.notify_changed();
        tracing::debug!(endpoint = %self.name, "stopped");
    }
}

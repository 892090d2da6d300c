//! The state behind every clone of an [`Endpoint`](crate::Endpoint): local topics,
//! connected peers, pending requests, and the change signal the `wait_until_*` methods
//! wait on.
//!
//! Lock order, where two are held: topics, then peers. The subscription set sent to a
//! peer is built and queued under the topics lock, so peers always receive the sets in
//! the order they changed.

use super::outbox::{Define, Outbox, Refused};
use super::requests::PendingRequests;
use super::topics::{Change, TopicMap, Topics};
use crate::config::{EndpointOptions, Target};
use crate::error::Error;
use crate::wire::{self, WireError};
use rustc_hash::FxHasher;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::topics::Subscriber;

/// A connected endpoint, as seen from this one.
pub(crate) struct Peer {
    pub name: Arc<str>,
    /// Unique per connection within this endpoint.
    pub id: u64,
    subscriptions: RwLock<HashSet<String>>,
    /// Frames waiting for the writer: events and requests (bounded, so a slow peer
    /// pushes back on senders), and control frames (ahead of them).
    pub outbox: Outbox,
    closed: AtomicBool,
    tasks: Mutex<Vec<AbortHandle>>,
    /// EVENT frames queued for this peer, and received from it.
    pub events_sent: AtomicU64,
    pub events_received: AtomicU64,
}

impl Peer {
    pub(crate) fn new(
        name: Arc<str>,
        id: u64,
        subscriptions: HashSet<String>,
        buffer: usize,
    ) -> Arc<Peer> {
        Arc::new(Peer {
            name,
            id,
            subscriptions: RwLock::new(subscriptions),
            outbox: Outbox::new(buffer),
            closed: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            events_sent: AtomicU64::new(0),
            events_received: AtomicU64::new(0),
        })
    }

    pub(crate) fn is_subscribed(&self, name: &str) -> bool {
        self.subscriptions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(name)
    }

    pub(crate) fn subscriptions(&self) -> HashSet<String> {
        self.subscriptions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set_subscriptions(&self, names: HashSet<String>) {
        *self
            .subscriptions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = names;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Queues a control frame; `false` when the connection is gone.
    pub(crate) fn send_control(&self, frame: &[u8]) -> bool {
        !self.is_closed() && self.outbox.push_control(frame).is_ok()
    }

    /// Queues an EVENT frame if there is room now.
    pub(crate) fn try_send_data(
        &self,
        frame: &[u8],
        define: Option<Define<'_>>,
    ) -> Result<(), Refused> {
        self.outbox.try_push_data(frame, define)?;
        self.events_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Queues an EVENT frame, waiting up to `timeout` for room.
    pub(crate) async fn send_data_timeout(
        &self,
        frame: &[u8],
        define: Option<Define<'_>>,
        timeout: std::time::Duration,
    ) -> Result<(), Refused> {
        self.outbox.push_data(frame, define, timeout).await?;
        self.events_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn add_task(&self, task: AbortHandle) {
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.is_closed() {
            task.abort();
        } else {
            tasks.push(task);
        }
    }

    /// Marks the connection closed and stops its tasks. Idempotent.
    fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.outbox.close();
        // Its writer is gone (or going): nobody waits for it to drain.
        self.outbox.writer_finished();
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain(..)
        {
            task.abort();
        }
        true
    }
}

/// Where one broadcast goes.
pub(crate) struct Route {
    pub local: Option<Arc<[Subscriber]>>,
    pub remotes: Arc<[Arc<Peer>]>,
}

impl Route {
    pub(crate) fn is_empty(&self) -> bool {
        self.local.is_none() && self.remotes.is_empty()
    }
}

/// The listening socket of a served endpoint.
pub(crate) struct Listening {
    pub path: PathBuf,
    pub socket: crate::transport::unix::SocketId,
    pub task: AbortHandle,
}

pub(crate) struct Shared {
    pub name: Arc<str>,
    pub options: EndpointOptions,
    stopped: AtomicBool,
    pub topics: Topics,
    peers: RwLock<HashMap<Arc<str>, Arc<Peer>>>,
    pub pending: PendingRequests,
    next_request_id: AtomicU64,
    next_peer_id: AtomicU64,
    changes: watch::Sender<u64>,
    pub listening: Mutex<Option<Listening>>,
    /// Names of the endpoints this one is connecting to right now.
    connecting: Mutex<HashSet<Arc<str>>>,
    /// The numbers this endpoint gives the event names it sends, with their DEFINE_NAME
    /// frames (see `wire`).
    interned: RwLock<HashMap<&'static str, (u32, bytes::Bytes), BuildHasherDefault<FxHasher>>>,
    /// Remote routes by event name, valid for one `routes_generation`.
    routes: RwLock<RouteCache>,
    routes_generation: AtomicU64,
}

/// The connected peers subscribed to each event name, computed on first use and dropped
/// whenever a peer or a peer's subscriptions change: a broadcast then costs one lookup,
/// not one per peer.
#[derive(Default)]
struct RouteCache {
    generation: u64,
    by_name: HashMap<Box<str>, Arc<[Arc<Peer>]>, BuildHasherDefault<FxHasher>>,
}

impl Shared {
    pub(crate) fn new(name: Arc<str>, options: EndpointOptions) -> Shared {
        Shared {
            name,
            options,
            stopped: AtomicBool::new(false),
            topics: Topics::default(),
            peers: RwLock::new(HashMap::new()),
            pending: PendingRequests::default(),
            next_request_id: AtomicU64::new(1),
            next_peer_id: AtomicU64::new(1),
            changes: watch::channel(0).0,
            listening: Mutex::new(None),
            connecting: Mutex::new(HashSet::new()),
            interned: RwLock::new(HashMap::default()),
            routes: RwLock::new(RouteCache::default()),
            routes_generation: AtomicU64::new(0),
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

    /// The number of event name `name` and its DEFINE_NAME frame.
    pub(crate) fn intern(&self, name: &'static str) -> Result<(u32, bytes::Bytes), WireError> {
        if let Some(found) = self
            .interned
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
        {
            return Ok(found.clone());
        }
        let mut interned = self
            .interned
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = interned.get(name) {
            return Ok(found.clone());
        }
        let id = u32::try_from(interned.len())
            .map_err(|_| WireError::Malformed("too many event names".into()))?;
        let entry = (
            id,
            wire::define_name(id, name, self.options.max_frame_size)?,
        );
        interned.insert(name, entry.clone());
        Ok(entry)
    }

    /// The names of the endpoints this one is connecting to right now.
    pub(crate) fn connecting(&self) -> std::sync::MutexGuard<'_, HashSet<Arc<str>>> {
        self.connecting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn next_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_peer_id(&self) -> u64 {
        self.next_peer_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn wire_error(&self, event: &'static str, error: WireError) -> Error {
        match error {
            WireError::Encode(source) => Error::Encode {
                endpoint: self.name.to_string(),
                event,
                source,
            },
            WireError::TooLarge { size, max } => Error::FrameTooLarge {
                endpoint: self.name.to_string(),
                event,
                size,
                max,
            },
            other => Error::Protocol {
                endpoint: self.name.to_string(),
                remote: self.name.to_string(),
                reason: format!("cannot send `{event}`: {other}"),
            },
        }
    }

    // -- change notification -------------------------------------------------------------

    /// A peer or a peer's subscriptions changed: cached routes are stale.
    pub(crate) fn invalidate_routes(&self) {
        self.routes_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The connected peers subscribed to `name`.
    fn remote_route(&self, name: &str) -> Arc<[Arc<Peer>]> {
        let generation = self.routes_generation.load(Ordering::SeqCst);
        {
            let cache = self
                .routes
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.generation == generation {
                if let Some(route) = cache.by_name.get(name) {
                    return route.clone();
                }
            }
        }
        let route: Arc<[Arc<Peer>]> = self
            .peers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .filter(|peer| peer.is_subscribed(name))
            .cloned()
            .collect();
        let mut cache = self
            .routes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only a route computed in the current generation may be cached: one computed
        // across a change could miss a new subscriber for good.
        if self.routes_generation.load(Ordering::SeqCst) == generation {
            if cache.generation != generation {
                cache.by_name.clear();
                cache.generation = generation;
            }
            cache.by_name.insert(name.into(), route.clone());
        }
        route
    }

    /// Wakes every `wait_until_*`.
    pub(crate) fn notify_changed(&self) {
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Waits until `condition` holds or the endpoint stops.
    pub(crate) async fn wait_until(&self, condition: impl Fn(&Shared) -> bool) {
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

    // -- local subscriptions -------------------------------------------------------------

    pub(crate) fn add_subscriber<E: crate::Event>(&self, subscriber: Subscriber) {
        let mut topics = self.topics.write();
        if let Change::NamesChanged = Topics::add::<E>(&mut topics, subscriber) {
            self.announce_subscriptions(&topics);
        }
        drop(topics);
        self.notify_changed();
    }

    pub(crate) fn remove_subscriber(&self, name: &str, id: u64) {
        let mut topics = self.topics.write();
        let (change, removed) = Topics::remove(&mut topics, name, id);
        if let Change::NamesChanged = change {
            self.announce_subscriptions(&topics);
        }
        drop(topics);
        // Outside the lock (see `Topics::remove`).
        drop(removed);
        if let Change::NamesChanged = change {
            self.notify_changed();
        }
    }

    /// Sends the current set of subscribed names to every peer; called under the topics
    /// lock so that sets are queued in the order they were made.
    fn announce_subscriptions(&self, topics: &TopicMap) {
        let peers = self.peers_snapshot();
        if peers.is_empty() {
            return;
        }
        let names = Topics::names(topics);
        match wire::subscriptions(&names, self.options.max_frame_size) {
            Ok(frame) => {
                for peer in peers {
                    peer.send_control(&frame);
                }
            }
            Err(error) => {
                tracing::error!(endpoint = %self.name, %error, "cannot announce subscriptions")
            }
        }
    }

    pub(crate) fn local_names(&self) -> Vec<String> {
        Topics::names(&self.topics.read())
    }

    pub(crate) fn is_locally_subscribed(&self, name: &str) -> bool {
        self.topics.read().contains_key(name)
    }

    // -- peers ---------------------------------------------------------------------------

    pub(crate) fn peers_snapshot(&self) -> Vec<Arc<Peer>> {
        self.peers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn peer(&self, name: &str) -> Option<Arc<Peer>> {
        self.peers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .cloned()
    }

    /// Adds a peer whose handshake succeeded. `first_frame` builds, from this endpoint's
    /// subscription set, the first frame the peer must receive; it is queued under the
    /// topics lock, so no later set can overtake it.
    pub(crate) fn register_peer(
        &self,
        peer: &Arc<Peer>,
        first_frame: impl FnOnce(Vec<String>) -> Result<bytes::Bytes, WireError>,
    ) -> Result<(), String> {
        let topics = self.topics.read();
        let mut peers = self
            .peers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.is_stopped() {
            return Err(format!("endpoint `{}` is stopping", self.name));
        }
        if *peer.name == *self.name {
            return Err(format!("`{}` is this endpoint's own name", peer.name));
        }
        if peers.contains_key(&peer.name) {
            return Err(format!(
                "an endpoint named `{}` is already connected",
                peer.name
            ));
        }
        let frame = first_frame(Topics::names(&topics)).map_err(|error| error.to_string())?;
        peer.send_control(&frame);
        peers.insert(peer.name.clone(), peer.clone());
        self.invalidate_routes();
        drop(peers);
        drop(topics);
        self.notify_changed();
        Ok(())
    }

    /// Removes a peer whose connection ended (if it is still the registered one), and
    /// strikes it off every pending request.
    pub(crate) fn disconnect_peer(&self, peer: &Arc<Peer>, reason: &str) {
        if !peer.close() {
            return;
        }
        {
            let mut peers = self
                .peers
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if peers
                .get(&peer.name)
                .is_some_and(|current| current.id == peer.id)
            {
                peers.remove(&peer.name);
            }
        }
        tracing::info!(endpoint = %self.name, remote = %peer.name, reason, "disconnected");
        // While this endpoint stops, its pending requests fail with `Stopped` (in
        // `finish_stop`), not with the disconnections the stop itself causes.
        if !self.is_stopped() {
            self.pending.peer_gone(&self.name, peer.id);
        }
        self.notify_changed();
    }

    /// Where an event named `name` goes under `target`.
    pub(crate) fn route(&self, name: &str, target: &Target) -> Route {
        let local_wanted = match target {
            Target::Everyone | Target::Internal => true,
            Target::Endpoint(endpoint) => **endpoint == *self.name,
        };
        let local = if local_wanted {
            self.topics.snapshot(name)
        } else {
            None
        };
        let remotes = match target {
            Target::Internal => Arc::from(Vec::new()),
            Target::Everyone => self.remote_route(name),
            Target::Endpoint(endpoint) => self
                .peer(endpoint)
                .filter(|peer| peer.is_subscribed(name))
                .into_iter()
                .collect(),
        };
        Route { local, remotes }
    }

    // -- stopping ------------------------------------------------------------------------

    /// Stops everything at once; idempotent and synchronous (run when the last handle
    /// drops). Frames still queued are dropped: [`stop_gracefully`](Self::stop_gracefully)
    /// writes them first.
    pub(crate) fn shutdown(&self) {
        if self.begin_stop().is_some() {
            self.finish_stop();
        }
    }

    /// Stops, after letting every connection write what it had accepted (up to the stall
    /// timeout), so that an event `broadcast` returned `Ok` for is not lost by `stop()`.
    pub(crate) async fn stop_gracefully(&self) {
        let Some(peers) = self.begin_stop() else {
            return;
        };
        let drained = async {
            for peer in &peers {
                peer.outbox.wait_writer_finished().await;
            }
        };
        if tokio::time::timeout(self.options.stall_timeout, drained)
            .await
            .is_err()
        {
            tracing::warn!(endpoint = %self.name, "stop: some connections did not drain in time");
        }
        self.finish_stop();
    }

    /// Refuses new operations and frames; `None` if already stopping.
    fn begin_stop(&self) -> Option<Vec<Arc<Peer>>> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return None;
        }
        if let Some(listening) = self
            .listening
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            listening.task.abort();
            crate::transport::unix::remove_socket(&listening.path, listening.socket);
        }
        let peers = self.peers_snapshot();
        for peer in &peers {
            peer.outbox.finish();
        }
        // Wakes `wait_until_*` and connects in progress.
        self.notify_changed();
        Some(peers)
    }

    fn finish_stop(&self) {
        let peers: Vec<Arc<Peer>> = self
            .peers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain()
            .map(|(_, peer)| peer)
            .collect();
        self.invalidate_routes();
        for peer in peers {
            peer.close();
        }
        // Dropping every sink ends every stream; dropped outside the lock, since a
        // handler may own a subscription of this endpoint.
        let topics = std::mem::take(&mut *self.topics.write());
        drop(topics);
        self.pending.fail_all(&self.name);
        self.notify_changed();
        tracing::debug!(endpoint = %self.name, "stopped");
    }
}

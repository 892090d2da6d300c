//! The state behind every clone of an [`Endpoint`](crate::Endpoint): local topics,
//! connected peers, pending requests, and the change signal the `wait_until_*` methods
//! wait on.
//!
//! Lock order, where two are held: topics, then peers. The subscription set sent to a
//! peer is built and queued under the topics lock, so peers always receive the sets in
//! the order they changed.

use super::requests::PendingRequests;
use super::topics::{Change, Topic, Topics};
use crate::config::{EndpointOptions, Target};
use crate::error::Error;
use crate::wire::{self, WireError};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::topics::Subscriber;

/// A connected endpoint, as seen from this one.
pub(crate) struct Peer {
    pub name: Arc<str>,
    /// Unique per connection within this endpoint.
    pub id: u64,
    subscriptions: RwLock<HashSet<String>>,
    /// Events and requests: bounded, so a slow peer pushes back on senders.
    data: mpsc::Sender<Bytes>,
    /// Subscription sets, responses and drop notices: never wait behind events.
    control: mpsc::UnboundedSender<Bytes>,
    closed: AtomicBool,
    tasks: Mutex<Vec<AbortHandle>>,
    /// EVENT frames queued for this peer, and received from it.
    pub events_sent: AtomicU64,
    pub events_received: AtomicU64,
}

/// The receiving ends of a peer's queues, for its writer task.
pub(crate) struct PeerQueues {
    pub data: mpsc::Receiver<Bytes>,
    pub control: mpsc::UnboundedReceiver<Bytes>,
}

impl Peer {
    pub(crate) fn new(
        name: Arc<str>,
        id: u64,
        subscriptions: HashSet<String>,
        capacity: usize,
    ) -> (Arc<Peer>, PeerQueues) {
        let (data_tx, data_rx) = mpsc::channel(capacity);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let peer = Arc::new(Peer {
            name,
            id,
            subscriptions: RwLock::new(subscriptions),
            data: data_tx,
            control: control_tx,
            closed: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            events_sent: AtomicU64::new(0),
            events_received: AtomicU64::new(0),
        });
        (
            peer,
            PeerQueues {
                data: data_rx,
                control: control_rx,
            },
        )
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
    pub(crate) fn send_control(&self, frame: Bytes) -> bool {
        !self.is_closed() && self.control.send(frame).is_ok()
    }

    pub(crate) fn try_send_data(
        &self,
        frame: Bytes,
    ) -> Result<(), mpsc::error::TrySendError<Bytes>> {
        self.data.try_send(frame)?;
        self.events_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) async fn send_data_timeout(
        &self,
        frame: Bytes,
        timeout: std::time::Duration,
    ) -> Result<(), mpsc::error::SendTimeoutError<Bytes>> {
        self.data.send_timeout(frame, timeout).await?;
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
    pub remotes: Vec<Arc<Peer>>,
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
            other => Error::Protocol {
                endpoint: self.name.to_string(),
                remote: self.name.to_string(),
                reason: format!("cannot send `{event}`: {other}"),
            },
        }
    }

    // -- change notification -------------------------------------------------------------

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
        if let Change::NamesChanged = Topics::remove(&mut topics, name, id) {
            self.announce_subscriptions(&topics);
            drop(topics);
            self.notify_changed();
        }
    }

    /// Sends the current set of subscribed names to every peer; called under the topics
    /// lock so that sets are queued in the order they were made.
    fn announce_subscriptions(&self, topics: &HashMap<&'static str, Topic>) {
        let peers = self.peers_snapshot();
        if peers.is_empty() {
            return;
        }
        let names = Topics::names(topics);
        match wire::subscriptions(&names, self.options.max_frame_size) {
            Ok(frame) => {
                for peer in peers {
                    peer.send_control(frame.clone());
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
        first_frame: impl FnOnce(Vec<String>) -> Result<Bytes, WireError>,
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
        peer.send_control(frame);
        peers.insert(peer.name.clone(), peer.clone());
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
        self.pending.peer_gone(&self.name, &peer.name);
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
            Target::Internal => Vec::new(),
            Target::Everyone => self
                .peers
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .values()
                .filter(|peer| peer.is_subscribed(name))
                .cloned()
                .collect(),
            Target::Endpoint(endpoint) => self
                .peer(endpoint)
                .filter(|peer| peer.is_subscribed(name))
                .into_iter()
                .collect(),
        };
        Route { local, remotes }
    }

    // -- stopping ------------------------------------------------------------------------

    /// Stops everything; idempotent and synchronous (also run when the last handle drops).
    pub(crate) fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
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
        let peers: Vec<Arc<Peer>> = self
            .peers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain()
            .map(|(_, peer)| peer)
            .collect();
        for peer in peers {
            peer.close();
        }
        // Dropping every sink ends every stream.
        self.topics.write().clear();
        self.pending.fail_all(&self.name);
        self.notify_changed();
        tracing::debug!(endpoint = %self.name, "stopped");
    }
}

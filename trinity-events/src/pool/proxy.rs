//! Trinity's `BaseProxyPeerPool`: the peer pool of another process, through the bus.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use event_core::{BroadcastConfig, Endpoint, Error, Subscription};
use futures_util::stream::Stream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::events::{
    ConnectToNodeCommand, DisconnectFromPeerCommand, GetConnectedPeersRequest,
    GetProtocolCapabilitiesRequest, PeerCountRequest, PeerJoinedEvent, PeerLeftEvent,
};
use crate::p2p::{Capabilities, DisconnectReason, Node, PeerInfo, Session};

/// A change in the set of peers of the pool, as seen by a [`ProxyPeerPool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerChange {
    /// A peer is connected: it was when the stream started, or it joined since.
    Joined(PeerInfo),
    /// The peer of this session left.
    Left(Session),
}

/// The peer pool of another process (the one running a
/// [`PeerPoolEventServer`](crate::PeerPoolEventServer)), used through the bus.
///
/// It keeps track of the pool's peers: [`start`](Self::start) subscribes to
/// [`PeerJoinedEvent`] and [`PeerLeftEvent`] first, then asks the pool for its connected
/// peers, and applies the joins and departures that arrived in between, so no change is
/// missed. (A response may overtake events sent before it, so a peer that left just
/// before the snapshot can show up as joined, then left, when those events arrive: the
/// view is exact once they have.) From then on it follows the events; [`known_peers`](Self::known_peers) and
/// [`peer_changes`](Self::peer_changes) give this view without a round trip.
/// [`peer_count`](Self::peer_count), [`connected_peers`](Self::connected_peers) and
/// [`capabilities`](Self::capabilities) ask the pool itself;
/// [`connect_to_node`](Self::connect_to_node) and
/// [`disconnect_peer`](Self::disconnect_peer) send it commands.
///
/// Requests and commands go to the endpoint named with
/// [`start_targeting`](Self::start_targeting), or to whichever endpoint serves the pool
/// (with [`start`](Self::start)). Dropping the proxy, or stopping its endpoint,
/// unsubscribes it and ends its [`PeerChanges`] streams.
///
/// The tracked view assumes the pool's endpoint stays connected: if it disconnects, the
/// view keeps the peers it last knew of.
pub struct ProxyPeerPool {
    endpoint: Endpoint,
    target: Option<String>,
    view: Arc<Mutex<View>>,
    _joined: Subscription,
    _left: Subscription,
}

impl ProxyPeerPool {
    /// Starts tracking the peer pool served by any connected endpoint (or this one).
    ///
    /// Waits until some endpoint serves the pool (subscribes to
    /// [`GetConnectedPeersRequest`]), so wrap it in a timeout if the pool may never come:
    /// `tokio::time::timeout(limit, ProxyPeerPool::start(bus))`. Fails if the endpoint
    /// stops first, or the pool does not answer.
    pub async fn start(endpoint: Endpoint) -> Result<ProxyPeerPool, Error> {
        ProxyPeerPool::start_with(endpoint, None).await
    }

    /// Starts tracking the peer pool served by the endpoint called `networking`, to which
    /// every request and command of this proxy will go.
    ///
    /// Waits until that endpoint serves the pool, like [`start`](Self::start).
    pub async fn start_targeting(
        endpoint: Endpoint,
        networking: impl Into<String>,
    ) -> Result<ProxyPeerPool, Error> {
        ProxyPeerPool::start_with(endpoint, Some(networking.into())).await
    }

    async fn start_with(
        endpoint: Endpoint,
        target: Option<String>,
    ) -> Result<ProxyPeerPool, Error> {
        let view = Arc::new(Mutex::new(View::default()));
        // Both handlers hold the closer; when the endpoint stops (or the proxy is dropped)
        // the handlers are dropped, and with the last of them the change streams end.
        let closer = Arc::new(CloseOnDrop(view.clone()));
        // Subscribe before asking, so that no change after the snapshot is missed. The
        // handlers run in the task that delivers the events, in the order they were sent.
        let joined = endpoint.subscribe::<PeerJoinedEvent, _>({
            let closer = closer.clone();
            move |event| lock(&closer.0).apply(Change::Joined(event.peer_info()))
        });
        let left = endpoint.subscribe::<PeerLeftEvent, _>(move |event| {
            lock(&closer.0).apply(Change::Left(event.session.clone()))
        });
        match &target {
            Some(name) => {
                endpoint
                    .wait_until_endpoint_subscribed_to::<GetConnectedPeersRequest>(name)
                    .await
            }
            None => {
                endpoint
                    .wait_until_any_endpoint_subscribed_to::<GetConnectedPeersRequest>()
                    .await
            }
        }
        let proxy = ProxyPeerPool {
            endpoint,
            target,
            view,
            _joined: joined,
            _left: left,
        };
        let snapshot = proxy
            .endpoint
            .request_with(GetConnectedPeersRequest, proxy.config())
            .await?;
        lock(&proxy.view).go_live(snapshot.peers);
        tracing::debug!(
            endpoint = %proxy.endpoint.name(),
            target = ?proxy.target,
            peers = lock(&proxy.view).peers.len(),
            "proxy peer pool started"
        );
        Ok(proxy)
    }

    /// The endpoint this proxy uses.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The name of the endpoint requests and commands go to, if one was given.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The pool's peers as this proxy knows them (from the events), in the order they
    /// became known. No round trip.
    pub fn known_peers(&self) -> Vec<PeerInfo> {
        lock(&self.view).peers.clone()
    }

    /// A stream of the pool's peers: one [`PeerChange::Joined`] for each peer known now,
    /// then every change as it happens. It ends when the proxy is dropped or its endpoint
    /// stops.
    pub fn peer_changes(&self) -> PeerChanges {
        lock(&self.view).watch()
    }

    /// The peers connected now and those that join later (Trinity's
    /// `stream_existing_and_joining_peers`); the [`PeerChange::Joined`] part of
    /// [`peer_changes`](Self::peer_changes).
    pub fn stream_existing_and_joining_peers(
        &self,
    ) -> impl Stream<Item = PeerInfo> + Send + Unpin + 'static {
        self.peer_changes().filter_map(|change| {
            std::future::ready(match change {
                PeerChange::Joined(peer) => Some(peer),
                PeerChange::Left(_) => None,
            })
        })
    }

    /// Asks the pool how many peers it has.
    pub async fn peer_count(&self) -> Result<u64, Error> {
        let response = self
            .endpoint
            .request_with(PeerCountRequest, self.config())
            .await?;
        Ok(response.peer_count)
    }

    /// Asks the pool for its connected peers.
    pub async fn connected_peers(&self) -> Result<Vec<PeerInfo>, Error> {
        let response = self
            .endpoint
            .request_with(GetConnectedPeersRequest, self.config())
            .await?;
        Ok(response.peers)
    }

    /// Asks the pool which capabilities it offers to peers.
    pub async fn capabilities(&self) -> Result<Capabilities, Error> {
        let response = self
            .endpoint
            .request_with(GetProtocolCapabilitiesRequest, self.config())
            .await?;
        Ok(response.capabilities)
    }

    /// Asks the pool to connect to `node` (a [`ConnectToNodeCommand`]). Returns once the
    /// command is sent; the pool announces the peer when it joins. Fails with
    /// [`Error::NoSubscribers`] when no pool listens.
    pub async fn connect_to_node(&self, node: Node) -> Result<(), Error> {
        self.endpoint
            .broadcast_with(ConnectToNodeCommand { remote: node }, self.config())
            .await
    }

    /// Asks the pool to disconnect `session` with `reason` (a
    /// [`DisconnectFromPeerCommand`]). Returns once the command is sent; the pool
    /// announces the departure. Fails with [`Error::NoSubscribers`] when no pool listens.
    pub async fn disconnect_peer(
        &self,
        session: Session,
        reason: DisconnectReason,
    ) -> Result<(), Error> {
        self.endpoint
            .broadcast_with(
                DisconnectFromPeerCommand {
                    remote: session,
                    reason,
                },
                self.config(),
            )
            .await
    }

    fn config(&self) -> BroadcastConfig {
        match &self.target {
            Some(name) => BroadcastConfig::to_endpoint(name.clone()),
            None => BroadcastConfig::default(),
        }
    }
}

impl fmt::Debug for ProxyPeerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyPeerPool")
            .field("endpoint", &self.endpoint.name())
            .field("target", &self.target)
            .field("known_peers", &lock(&self.view).peers.len())
            .finish()
    }
}

/// The stream returned by [`ProxyPeerPool::peer_changes`].
#[derive(Debug)]
pub struct PeerChanges {
    rx: mpsc::UnboundedReceiver<PeerChange>,
}

impl Stream for PeerChanges {
    type Item = PeerChange;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PeerChange>> {
        self.rx.poll_recv(cx)
    }
}

/// What the proxy knows of the pool's peers.
#[derive(Default)]
struct View {
    /// Whether the snapshot arrived; before, changes wait in `pending`.
    live: bool,
    /// Changes received before the snapshot arrived, in order.
    pending: Vec<Change>,
    closed: bool,
    /// Known peers, in the order they became known (a pool has tens of peers: a `Vec`
    /// is the right map).
    peers: Vec<PeerInfo>,
    watchers: Vec<mpsc::UnboundedSender<PeerChange>>,
}

enum Change {
    Joined(PeerInfo),
    Left(Session),
}

impl View {
    fn apply(&mut self, change: Change) {
        if !self.live {
            self.pending.push(change);
            return;
        }
        match change {
            Change::Joined(peer) => {
                if self.peers.iter().any(|known| known.session == peer.session) {
                    return;
                }
                self.peers.push(peer.clone());
                self.notify(PeerChange::Joined(peer));
            }
            Change::Left(session) => {
                let before = self.peers.len();
                self.peers.retain(|known| known.session != session);
                if self.peers.len() == before {
                    tracing::debug!(%session, "a peer unknown to the proxy left");
                    return;
                }
                self.notify(PeerChange::Left(session));
            }
        }
    }

    /// Takes the pool's snapshot, then replays the changes received since subscribing:
    /// a join already in the snapshot is ignored, a departure removes its peer. Changes
    /// that arrive later (events the response overtook included) apply in the same way.
    fn go_live(&mut self, snapshot: Vec<PeerInfo>) {
        self.live = true;
        for peer in snapshot {
            self.apply(Change::Joined(peer));
        }
        for change in std::mem::take(&mut self.pending) {
            self.apply(change);
        }
    }

    fn notify(&mut self, change: PeerChange) {
        self.watchers
            .retain(|watcher| watcher.send(change.clone()).is_ok());
    }

    fn watch(&mut self) -> PeerChanges {
        let (tx, rx) = mpsc::unbounded_channel();
        for peer in &self.peers {
            let _ = tx.send(PeerChange::Joined(peer.clone()));
        }
        if !self.closed {
            self.watchers.push(tx);
        }
        PeerChanges { rx }
    }

    fn close(&mut self) {
        self.closed = true;
        self.watchers.clear();
    }
}

/// Ends the change streams when dropped, with the last event handler.
struct CloseOnDrop(Arc<Mutex<View>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        lock(&self.0).close();
    }
}

fn lock(view: &Mutex<View>) -> MutexGuard<'_, View> {
    view.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! Trinity's `PeerPoolEventServer`: the peer pool, served on the bus.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use event_core::{Endpoint, Error, Event, Request};
use futures_util::StreamExt;
use tokio::task::{JoinHandle, JoinSet};

use super::broadcaster::PeerPoolBroadcaster;
use super::peer_pool::PeerPool;
use super::tasks::Tasks;
use crate::events::{
    ConnectToNodeCommand, DisconnectFromPeerCommand, DisconnectPeerEvent, GetConnectedPeersRequest,
    GetConnectedPeersResponse, GetProtocolCapabilitiesRequest, PeerCountRequest, PeerCountResponse,
    ProtocolCapabilitiesResponse,
};
use crate::messages::PeerMessageRouter;
use crate::p2p::{Command, PeerInfo, Session};

/// Serves a [`PeerPool`] on an [`Endpoint`], so that other processes can query and
/// command it, and announces its changes as events.
///
/// Once started, the server's tasks
///
/// * answer [`PeerCountRequest`], [`GetConnectedPeersRequest`] and
///   [`GetProtocolCapabilitiesRequest`] from the pool's current state;
/// * carry out [`ConnectToNodeCommand`] ([`PeerPool::connect_to_node`]) and
///   [`DisconnectFromPeerCommand`] / [`DisconnectPeerEvent`] ([`PeerPool::disconnect`]),
///   each in a task of its own.
///
/// In the other direction the pool (or whoever drives it) calls
/// [`peer_joined`](Self::peer_joined), [`peer_left`](Self::peer_left) and
/// [`peer_message`](Self::peer_message), which broadcast [`PeerJoinedEvent`],
/// [`PeerLeftEvent`] and the peer message events, fire-and-forget. A
/// [`PeerPoolBroadcaster`] does the same from a cloneable handle.
///
/// A failing action, a request that cannot be answered or even a panicking pool method is
/// logged (with `tracing`) and does not stop the server. The tasks stop when the server is
/// dropped, or when the endpoint stops.
///
/// [`PeerJoinedEvent`]: crate::PeerJoinedEvent
/// [`PeerLeftEvent`]: crate::PeerLeftEvent
pub struct PeerPoolEventServer<P: PeerPool> {
    pool: Arc<P>,
    broadcaster: PeerPoolBroadcaster,
    tasks: Tasks,
}

impl<P: PeerPool> PeerPoolEventServer<P> {
    /// Starts serving `pool` on `endpoint`; every peer message is relayed as a
    /// [`PeerPoolMessageEvent`](crate::PeerPoolMessageEvent).
    ///
    /// The server's subscriptions are registered when this returns. Other endpoints learn
    /// of them asynchronously; [`GetConnectedPeersRequest`] is subscribed to last, so an
    /// endpoint that sees it (with [`Endpoint::wait_until_endpoint_subscribed_to`]) knows
    /// that the server handles every request and command.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns tasks).
    pub fn start(endpoint: Endpoint, pool: Arc<P>) -> Self {
        Self::start_with_router(endpoint, pool, PeerMessageRouter::new())
    }

    /// Like [`start`](Self::start), relaying each peer message as the event `router` maps
    /// its command to.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns tasks).
    pub fn start_with_router(endpoint: Endpoint, pool: Arc<P>, router: PeerMessageRouter) -> Self {
        let mut tasks = Tasks::default();
        tasks.push(answer::<PeerCountRequest, P>(&endpoint, &pool, |pool| {
            PeerCountResponse {
                peer_count: u64::try_from(pool.peer_count()).unwrap_or(u64::MAX),
            }
        }));
        tasks.push(answer::<GetProtocolCapabilitiesRequest, P>(
            &endpoint,
            &pool,
            |pool| ProtocolCapabilitiesResponse {
                capabilities: pool.capabilities(),
            },
        ));
        tasks.push(act::<ConnectToNodeCommand, P, _, _>(
            &endpoint,
            &pool,
            |pool, command| async move {
                tracing::debug!(remote = %command.remote, "connecting to node");
                pool.connect_to_node(command.remote.clone()).await
            },
        ));
        tasks.push(act::<DisconnectFromPeerCommand, P, _, _>(
            &endpoint,
            &pool,
            |pool, command| async move {
                tracing::debug!(session = %command.remote, reason = %command.reason, "disconnecting peer");
                pool.disconnect(&command.remote, command.reason).await
            },
        ));
        tasks.push(act::<DisconnectPeerEvent, P, _, _>(
            &endpoint,
            &pool,
            |pool, event| async move {
                tracing::debug!(session = %event.session, reason = %event.reason, "disconnecting peer");
                pool.disconnect(&event.session, event.reason).await
            },
        ));
        // Last: a remote endpoint that sees this subscription knows every other one (the
        // subscription sets travel in order), which is what `ProxyPeerPool::start` waits for.
        tasks.push(answer::<GetConnectedPeersRequest, P>(
            &endpoint,
            &pool,
            |pool| GetConnectedPeersResponse {
                peers: pool.connected_peers(),
            },
        ));
        tracing::debug!(endpoint = %endpoint.name(), routes = router.len(), "peer pool event server started");
        PeerPoolEventServer {
            pool,
            broadcaster: PeerPoolBroadcaster::new(endpoint, router),
            tasks,
        }
    }

    /// The endpoint the pool is served on.
    pub fn endpoint(&self) -> &Endpoint {
        self.broadcaster.endpoint()
    }

    /// The served pool.
    pub fn pool(&self) -> &Arc<P> {
        &self.pool
    }

    /// A cloneable handle that announces pool changes and relays peer messages, like
    /// [`peer_joined`](Self::peer_joined), [`peer_left`](Self::peer_left) and
    /// [`peer_message`](Self::peer_message). It keeps working after the server is dropped
    /// (until the endpoint stops).
    pub fn broadcaster(&self) -> PeerPoolBroadcaster {
        self.broadcaster.clone()
    }

    /// Whether every task of the server is running: `false` once the endpoint stopped.
    pub fn is_running(&self) -> bool {
        !self.endpoint().is_stopped() && self.tasks.all_running()
    }

    /// Announces that `peer` joined the pool (see [`PeerPoolBroadcaster::peer_joined`]).
    pub async fn peer_joined(&self, peer: &PeerInfo) -> Result<(), Error> {
        self.broadcaster.peer_joined(peer).await
    }

    /// Announces that the peer of `session` left the pool (see
    /// [`PeerPoolBroadcaster::peer_left`]).
    pub async fn peer_left(&self, session: &Session) -> Result<(), Error> {
        self.broadcaster.peer_left(session).await
    }

    /// Relays a message received from a peer (see [`PeerPoolBroadcaster::peer_message`]).
    pub async fn peer_message(&self, session: Session, command: Command) -> Result<(), Error> {
        self.broadcaster.peer_message(session, command).await
    }
}

impl<P: PeerPool> fmt::Debug for PeerPoolEventServer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerPoolEventServer")
            .field("endpoint", &self.endpoint().name())
            .field("router", self.broadcaster.router())
            .field("running", &self.is_running())
            .finish()
    }
}

/// Answers every request `R` with `respond(&pool)`. A panic in `respond` drops that
/// request unanswered (its requester gets an error) and is logged.
fn answer<R, P>(
    endpoint: &Endpoint,
    pool: &Arc<P>,
    respond: impl Fn(&P) -> R::Response + Send + 'static,
) -> JoinHandle<()>
where
    R: Request,
    P: PeerPool,
{
    let mut requests = endpoint.stream_requests::<R>();
    let pool = pool.clone();
    let name = endpoint.name().to_owned();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let origin = request.origin().to_owned();
            let response = match std::panic::catch_unwind(AssertUnwindSafe(|| respond(&pool))) {
                Ok(response) => response,
                Err(_) => {
                    tracing::error!(endpoint = %name, request = R::NAME, %origin, "the peer pool panicked while answering; request dropped");
                    continue;
                }
            };
            if let Err(error) = request.respond(response).await {
                tracing::debug!(endpoint = %name, request = R::NAME, %origin, %error, "could not answer");
            }
        }
        tracing::debug!(endpoint = %name, request = R::NAME, "request stream ended");
    })
}

/// Runs `action(pool, event)` for every event `E`, each in a task of its own (owned by the
/// returned task, so aborted with it). Errors and panics are logged.
fn act<E, P, F, Fut>(endpoint: &Endpoint, pool: &Arc<P>, action: F) -> JoinHandle<()>
where
    E: Event,
    P: PeerPool,
    F: Fn(Arc<P>, Arc<E>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), P::Error>> + Send + 'static,
{
    let mut events = endpoint.stream::<E>();
    let pool = pool.clone();
    let name = endpoint.name().to_owned();
    tokio::spawn(async move {
        let mut running = JoinSet::new();
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else { break };
                    let action = action(pool.clone(), event);
                    let name = name.clone();
                    running.spawn(async move {
                        if let Err(error) = action.await {
                            tracing::warn!(endpoint = %name, event = E::NAME, %error, "peer pool action failed");
                        }
                    });
                }
                Some(done) = running.join_next() => {
                    if let Err(error) = done {
                        if error.is_panic() {
                            tracing::error!(endpoint = %name, event = E::NAME, "the peer pool panicked while handling an event");
                        }
                    }
                }
            }
        }
        tracing::debug!(endpoint = %name, event = E::NAME, "event stream ended");
    })
}

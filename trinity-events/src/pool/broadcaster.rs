//! The pool's side of the events: announcing peers and relaying their messages.

use event_core::{BroadcastConfig, Endpoint, Error};

use crate::events::{PeerJoinedEvent, PeerLeftEvent};
use crate::messages::PeerMessageRouter;
use crate::p2p::{Command, PeerInfo, Session};

/// Turns what happens in the peer pool into events: peers joining and leaving, and the
/// messages they send. A cheap, cloneable handle, to give to the pool's own tasks; get it
/// from [`PeerPoolEventServer::broadcaster`](crate::PeerPoolEventServer::broadcaster) or
/// build it with [`new`](Self::new).
///
/// Every event is sent fire-and-forget (`require_subscriber(false)`): nobody listening is
/// not an error. Each method waits for queue space like
/// [`Endpoint::broadcast`](event_core::Endpoint::broadcast), and fails only when the
/// endpoint is stopped (or the event cannot be encoded).
#[derive(Debug, Clone)]
pub struct PeerPoolBroadcaster {
    endpoint: Endpoint,
    router: PeerMessageRouter,
}

impl PeerPoolBroadcaster {
    /// Broadcasts on `endpoint`; peer messages go out as the events `router` maps them to.
    pub fn new(endpoint: Endpoint, router: PeerMessageRouter) -> Self {
        PeerPoolBroadcaster { endpoint, router }
    }

    /// The endpoint the events are broadcast on.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The router that maps peer messages to events.
    pub fn router(&self) -> &PeerMessageRouter {
        &self.router
    }

    /// Announces that `peer` joined the pool: broadcasts a
    /// [`PeerJoinedEvent`](crate::PeerJoinedEvent).
    pub async fn peer_joined(&self, peer: &PeerInfo) -> Result<(), Error> {
        tracing::debug!(endpoint = %self.endpoint.name(), session = %peer.session, "peer joined");
        self.endpoint
            .broadcast_with(PeerJoinedEvent::from(peer.clone()), fire_and_forget())
            .await
    }

    /// Announces that the peer of `session` left the pool: broadcasts a
    /// [`PeerLeftEvent`](crate::PeerLeftEvent).
    pub async fn peer_left(&self, session: &Session) -> Result<(), Error> {
        tracing::debug!(endpoint = %self.endpoint.name(), %session, "peer left");
        self.endpoint
            .broadcast_with(
                PeerLeftEvent {
                    session: session.clone(),
                },
                fire_and_forget(),
            )
            .await
    }

    /// Relays `command`, received from the peer of `session`: broadcasts it as the
    /// [`PeerMessage`](crate::PeerMessage) event of its command when the router has one,
    /// as a [`PeerPoolMessageEvent`](crate::PeerPoolMessageEvent) otherwise. Only the
    /// subscribers of that one event type receive it.
    pub async fn peer_message(&self, session: Session, command: Command) -> Result<(), Error> {
        tracing::trace!(
            endpoint = %self.endpoint.name(),
            %session,
            %command,
            event = self.router.event_name(&command),
            "relaying peer message"
        );
        self.router
            .relay(&self.endpoint, session, command, fire_and_forget())
            .await
    }
}

fn fire_and_forget() -> BroadcastConfig {
    BroadcastConfig::default().require_subscriber(false)
}

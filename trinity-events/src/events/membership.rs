//! The peer pool announcing that a peer joined or left.

use event_core::Event;
use serde::{Deserialize, Serialize};

use crate::p2p::{Capabilities, PeerInfo, Session};

/// Broadcast by the peer pool when a new peer joined the pool (completed its handshake).
///
/// Sent fire-and-forget by the [`PeerPoolEventServer`](crate::PeerPoolEventServer) of the
/// networking process; listened to by every component that tracks peers, such as a
/// [`ProxyPeerPool`](crate::ProxyPeerPool).
///
/// Trinity's event carries only the session. This one also carries the rest of the
/// peer's [`PeerInfo`] (its fields, side by side with `session`), so that a listener
/// learns what the peer speaks without a round trip to the pool; build it with
/// `PeerJoinedEvent::from(info)` and get the info back with
/// [`peer_info`](Self::peer_info).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.PeerJoinedEvent")]
pub struct PeerJoinedEvent {
    /// The session of the peer that joined.
    pub session: Session,
    /// The capabilities the peer advertised in its `Hello` message.
    pub capabilities: Capabilities,
    /// The peer's client identifier, e.g. `Geth/v1.14.0-stable/linux-amd64/go1.22.2`.
    pub client_version_string: String,
    /// `true` if the peer dialed us, `false` if we dialed the peer.
    pub inbound: bool,
}

impl PeerJoinedEvent {
    /// The joined peer's [`PeerInfo`].
    pub fn peer_info(&self) -> PeerInfo {
        self.clone().into_peer_info()
    }

    /// Turns the event into the joined peer's [`PeerInfo`].
    pub fn into_peer_info(self) -> PeerInfo {
        PeerInfo {
            session: self.session,
            capabilities: self.capabilities,
            client_version_string: self.client_version_string,
            inbound: self.inbound,
        }
    }
}

impl From<PeerInfo> for PeerJoinedEvent {
    fn from(info: PeerInfo) -> Self {
        PeerJoinedEvent {
            session: info.session,
            capabilities: info.capabilities,
            client_version_string: info.client_version_string,
            inbound: info.inbound,
        }
    }
}

impl From<PeerJoinedEvent> for PeerInfo {
    fn from(event: PeerJoinedEvent) -> Self {
        event.into_peer_info()
    }
}

/// Broadcast by the peer pool when a peer left the pool (disconnected, for whatever
/// reason).
///
/// Sent fire-and-forget by the [`PeerPoolEventServer`](crate::PeerPoolEventServer) of the
/// networking process; listened to by every component that tracks peers, which must stop
/// using the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.PeerLeftEvent")]
pub struct PeerLeftEvent {
    /// The session of the peer that left.
    pub session: Session,
}

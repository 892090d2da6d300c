//! Commands that ask the peer pool to open or close a connection.

use event_core::Event;
use serde::{Deserialize, Serialize};

use crate::p2p::{DisconnectReason, Node, Session};

/// Asks the peer pool to connect to `remote`.
///
/// Broadcast by any component (e.g. a discovery or admin-RPC component) to the process
/// that runs the peer pool; the [`PeerPoolEventServer`](crate::PeerPoolEventServer) there
/// dials the node in the background. Nobody answers it: if the connection succeeds, the
/// pool announces the new peer with a [`PeerJoinedEvent`](crate::PeerJoinedEvent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.ConnectToNodeCommand")]
pub struct ConnectToNodeCommand {
    /// The node to connect to.
    pub remote: Node,
}

/// Asks the peer pool to disconnect the session `remote`, giving `reason` to the peer.
///
/// Broadcast by any component that decided a peer must go (e.g. a sync component that
/// found it useless); handled by the [`PeerPoolEventServer`](crate::PeerPoolEventServer),
/// which disconnects the session if it is still connected and ignores it otherwise.
/// When the peer is gone the pool announces it with a
/// [`PeerLeftEvent`](crate::PeerLeftEvent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.DisconnectFromPeerCommand")]
pub struct DisconnectFromPeerCommand {
    /// The session to disconnect.
    pub remote: Session,
    /// The devp2p reason sent to the peer.
    pub reason: DisconnectReason,
}

/// Broadcast when a component wants the peer pool to disconnect from a peer.
///
/// The event form of [`DisconnectFromPeerCommand`], with the same meaning: the
/// [`PeerPoolEventServer`](crate::PeerPoolEventServer) handles both alike (disconnects
/// `session` with `reason` if it is still connected, ignores it otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.DisconnectPeerEvent")]
pub struct DisconnectPeerEvent {
    /// The session to disconnect.
    pub session: Session,
    /// The devp2p reason sent to the peer.
    pub reason: DisconnectReason,
}

//! The common protocol events of Trinity's `trinity.protocol.common.events`.
//!
//! They connect the process that runs the peer pool (the *networking* process, which
//! serves them with a [`PeerPoolEventServer`](crate::PeerPoolEventServer)) with every
//! other component (which uses them through a [`ProxyPeerPool`](crate::ProxyPeerPool), or
//! directly on its [`Endpoint`](event_core::Endpoint)). Each event's `NAME` is Trinity's
//! fully qualified class name, e.g. `trinity.protocol.common.events.PeerCountRequest`.
//!
//! | Event | Sent by | Handled by |
//! |-------|---------|------------|
//! | [`ConnectToNodeCommand`] | any component | the pool: dials the node |
//! | [`DisconnectFromPeerCommand`] | any component | the pool: disconnects the session |
//! | [`DisconnectPeerEvent`] | any component | the pool: disconnects the session |
//! | [`PeerCountRequest`] → [`PeerCountResponse`] | any component | the pool |
//! | [`GetConnectedPeersRequest`] → [`GetConnectedPeersResponse`] | any component | the pool |
//! | [`GetProtocolCapabilitiesRequest`] → [`ProtocolCapabilitiesResponse`] | any component | the pool |
//! | [`PeerJoinedEvent`], [`PeerLeftEvent`] | the pool | whoever tracks peers |
//! | [`PeerPoolMessageEvent`] | the pool, for every relayed peer message | protocol components |
//!
//! Per-command peer messages (one event type per protocol command) are declared with
//! [`peer_message_events!`](crate::peer_message_events); see [`PeerMessage`](crate::PeerMessage).

mod connection;
mod membership;
mod message;
mod queries;

#[cfg(test)]
mod tests;

pub use connection::{ConnectToNodeCommand, DisconnectFromPeerCommand, DisconnectPeerEvent};
pub use membership::{PeerJoinedEvent, PeerLeftEvent};
pub use message::PeerPoolMessageEvent;
pub use queries::{
    GetConnectedPeersRequest, GetConnectedPeersResponse, GetProtocolCapabilitiesRequest,
    PeerCountRequest, PeerCountResponse, ProtocolCapabilitiesResponse,
};

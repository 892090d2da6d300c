//! Requests a component sends to the peer pool, and their responses.
//!
//! Each request is answered by the [`PeerPoolEventServer`](crate::PeerPoolEventServer) of
//! the networking process with exactly its response type (the binding is checked by the
//! compiler).

use std::collections::HashMap;
use std::hash::BuildHasher;

use event_core::Event;
use serde::{Deserialize, Serialize};

use crate::p2p::{Capabilities, PeerInfo, Session};

/// Response event that wraps the count of peers connected to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.PeerCountResponse")]
pub struct PeerCountResponse {
    /// How many peers the pool has.
    pub peer_count: u64,
}

/// Request event to get the count of peers connected to the pool; answered with a
/// [`PeerCountResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.PeerCountRequest")]
#[request(response = PeerCountResponse)]
pub struct PeerCountRequest;

/// Response event that lists the peers connected to the pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.GetConnectedPeersResponse")]
pub struct GetConnectedPeersResponse {
    /// One entry per connected peer.
    pub peers: Vec<PeerInfo>,
}

impl GetConnectedPeersResponse {
    /// The response for a pool whose connected peers are `peers`, keyed by session (the
    /// shape Trinity's pool keeps them in: `connected_nodes`).
    ///
    /// The peers are listed in a deterministic order, by session id, whatever the map's
    /// iteration order.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use trinity_events::{GetConnectedPeersResponse, PeerInfo, Session};
    ///
    /// let node = "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630\
    ///             b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de\
    ///             @3.209.45.79:30303".parse().unwrap();
    /// let session = Session::new(node);
    /// let info = PeerInfo::new(session.clone(), Default::default(), "Geth/v1.14.0", false);
    /// let connected = HashMap::from([(session, info.clone())]);
    ///
    /// let response = GetConnectedPeersResponse::from_connected_peers(&connected);
    /// assert_eq!(response.peers, vec![info]);
    /// ```
    pub fn from_connected_peers<S: BuildHasher>(
        peers: &HashMap<Session, PeerInfo, S>,
    ) -> GetConnectedPeersResponse {
        let mut sorted: Vec<(&Session, &PeerInfo)> = peers.iter().collect();
        sorted.sort_by_key(|(session, _)| session.id());
        GetConnectedPeersResponse {
            peers: sorted.into_iter().map(|(_, info)| info.clone()).collect(),
        }
    }

    /// The sessions of the listed peers, in order.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> + '_ {
        self.peers.iter().map(|peer| &peer.session)
    }
}

impl From<Vec<PeerInfo>> for GetConnectedPeersResponse {
    fn from(peers: Vec<PeerInfo>) -> Self {
        GetConnectedPeersResponse { peers }
    }
}

/// Request event to list the peers connected to the pool; answered with a
/// [`GetConnectedPeersResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.GetConnectedPeersRequest")]
#[request(response = GetConnectedPeersResponse)]
pub struct GetConnectedPeersRequest;

/// Response event that lists the capabilities (subprotocols and versions) the pool
/// offers to peers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.ProtocolCapabilitiesResponse")]
pub struct ProtocolCapabilitiesResponse {
    /// The pool's own capabilities, e.g. `eth/67, eth/68`.
    pub capabilities: Capabilities,
}

/// Request event to get the capabilities the pool offers to peers; answered with a
/// [`ProtocolCapabilitiesResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.GetProtocolCapabilitiesRequest")]
#[request(response = ProtocolCapabilitiesResponse)]
pub struct GetProtocolCapabilitiesRequest;

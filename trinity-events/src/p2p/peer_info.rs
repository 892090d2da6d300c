//! What is known about a connected peer.
//!
//! Mirrors Trinity's `PeerInfo`, which the peer pool hands out when asked for
//! its connected peers: the session, the advertised capabilities, the client
//! version string from the `Hello` message and the connection direction.

use serde::{Deserialize, Serialize};

use super::capability::Capabilities;
use super::node::Node;
use super::session::Session;

/// A summary of a connected peer.
///
/// Equality and hashing include the [`Session`], which itself compares by
/// session id only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The session (connection) with the peer.
    pub session: Session,
    /// The capabilities the peer advertised in its `Hello` message.
    pub capabilities: Capabilities,
    /// The peer's client identifier, e.g. `Geth/v1.14.0-stable/linux-amd64/go1.22.2`.
    pub client_version_string: String,
    /// `true` if the peer dialed us, `false` if we dialed the peer.
    pub inbound: bool,
}

impl PeerInfo {
    /// Creates a `PeerInfo` from its parts.
    pub fn new(
        session: Session,
        capabilities: Capabilities,
        client_version_string: impl Into<String>,
        inbound: bool,
    ) -> Self {
        PeerInfo {
            session,
            capabilities,
            client_version_string: client_version_string.into(),
            inbound,
        }
    }

    /// The remote node of the peer's session.
    pub fn remote(&self) -> &Node {
        self.session.remote()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::capability::Capability;

    #[test]
    fn new_and_remote() {
        let node: Node = "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de@3.209.45.79:30303".parse().unwrap();
        let session = Session::new(node.clone());
        let caps: Capabilities = vec![Capability::new("eth", 68)].into();
        let info = PeerInfo::new(session.clone(), caps.clone(), "Geth/v1.14.0", true);
        assert_eq!(info.remote(), &node);
        assert_eq!(info.session, session);
        assert_eq!(info.capabilities, caps);
        assert_eq!(info.client_version_string, "Geth/v1.14.0");
        assert!(info.inbound);
        assert_eq!(info.clone(), info);
    }
}

//! A session: one connection to a remote node, identified by a UUID.
//!
//! Trinity tags every peer connection with a session so that events about the
//! same connection can be correlated across processes even if the same remote
//! node later reconnects (which yields a new session).

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::node::Node;

/// A connection to a remote [`Node`], identified by a random (v4) UUID.
///
/// Equality and hashing consider the `id` only: two `Session` values with the
/// same id are the same session even if their `remote` differs.
///
/// Serialized as a struct with the fields `id` (the UUID) and `remote` (the [`Node`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    id: Uuid,
    remote: Node,
}

impl Session {
    /// Starts a new session with `remote`, generating a fresh random (v4) id.
    pub fn new(remote: Node) -> Self {
        Session {
            id: Uuid::new_v4(),
            remote,
        }
    }

    /// Re-creates a session with a known id (e.g. one received from another process).
    pub fn with_id(id: Uuid, remote: Node) -> Self {
        Session { id, remote }
    }

    /// The session id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The remote node this session is connected to.
    pub fn remote(&self) -> &Node {
        &self.remote
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Session {}

impl Hash for Session {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl fmt::Display for Session {
    /// Formats as `<Session enode://…@1.2.3.4:30303 0b9cf7a5-…>`, like Trinity.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Session {} {}>", self.remote, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::public_key::PublicKey;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr};

    fn node(seed: u8, port: u16) -> Node {
        Node::new(
            PublicKey::new([seed; 64]),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, seed)),
            port,
            port,
        )
    }

    fn hash_of(session: &Session) -> u64 {
        let mut hasher = DefaultHasher::new();
        session.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn new_generates_distinct_v4_ids() {
        let a = Session::new(node(1, 30303));
        let b = Session::new(node(1, 30303));
        assert_eq!(a.id().get_version_num(), 4);
        assert_ne!(a.id(), b.id());
        assert_ne!(a, b, "same remote, different ids");
        assert_eq!(a.remote(), b.remote());
    }

    #[test]
    fn equality_and_hash_use_id_only() {
        let id = Uuid::new_v4();
        let a = Session::with_id(id, node(1, 30303));
        let b = Session::with_id(id, node(2, 40404));
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        let set: HashSet<Session> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn display_shows_remote_and_id() {
        let id = Uuid::from_u128(0x0123_4567_89ab_4cde_8f01_2345_6789_abcd);
        let session = Session::with_id(id, node(7, 30303));
        let shown = session.to_string();
        assert!(shown.starts_with("<Session enode://0707"), "{shown}");
        assert!(
            shown.ends_with("@10.0.0.7:30303 01234567-89ab-4cde-8f01-23456789abcd>"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn eq_and_hash_follow_the_id(
            id_a in any::<u128>(),
            id_b in any::<u128>(),
            seed_a in any::<u8>(),
            seed_b in any::<u8>(),
            port_a in any::<u16>(),
            port_b in any::<u16>(),
        ) {
            let a = Session::with_id(Uuid::from_u128(id_a), node(seed_a, port_a));
            let b = Session::with_id(Uuid::from_u128(id_b), node(seed_b, port_b));
            prop_assert_eq!(a == b, id_a == id_b);
            if id_a == id_b {
                prop_assert_eq!(hash_of(&a), hash_of(&b));
            }
            // Same id, any remote: always equal with equal hashes.
            let a2 = Session::with_id(a.id(), node(seed_b, port_b));
            prop_assert_eq!(&a, &a2);
            prop_assert_eq!(hash_of(&a), hash_of(&a2));
        }
    }
}

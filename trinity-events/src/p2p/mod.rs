//! Trinity's p2p vocabulary as plain, serde-serializable data types.
//!
//! These mirror the types Trinity (the Python Ethereum node) uses in its p2p
//! events, so that they can cross the event bus:
//!
//! - [`Node`]: a devp2p node (public key, IP, TCP and UDP ports), parsed from
//!   and printed as an `enode://` URI; its key is a [`PublicKey`].
//! - [`Session`]: one connection to a remote [`Node`], identified by a UUID.
//! - [`DisconnectReason`]: the devp2p disconnect codes.
//! - [`Capability`] / [`Capabilities`]: advertised subprotocols such as `eth/68`.
//! - [`PeerInfo`]: what is known about a connected peer.
//! - [`Command`]: a subprotocol message with its encoded payload.
//!
//! All fallible conversions report a [`ParseError`].

mod capability;
mod command;
mod disconnect;
mod error;
mod node;
mod peer_info;
mod public_key;
mod session;

pub use capability::{Capabilities, Capability};
pub use command::Command;
pub use disconnect::DisconnectReason;
pub use error::{ParseError, PortKind};
pub use node::Node;
pub use peer_info::PeerInfo;
pub use public_key::PublicKey;
pub use session::Session;

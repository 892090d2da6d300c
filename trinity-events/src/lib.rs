//! Trinity's p2p types and common protocol events, declared for the typed event bus.
#![deny(missing_docs)]

pub mod p2p;

pub use p2p::{
    Capabilities, Capability, Command, DisconnectReason, Node, ParseError, PeerInfo, PortKind,
    PublicKey, Session,
};

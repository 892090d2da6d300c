//! A protocol command (message) exchanged with a peer.
//!
//! Trinity's `PeerPoolMessageEvent` carries a session and the command that was
//! received on it. Rust code on the other side of the event bus cannot use
//! Trinity's command classes, so [`Command`] keeps just what identifies and
//! carries a message: the subprotocol, the command name, the protocol-relative
//! message id and the still-encoded payload.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::capability::Capability;

/// A subprotocol command, e.g. `eth/68` `GetBlockHeaders`, with its raw payload.
///
/// The payload is left encoded (RLP, possibly snappy-compressed depending on
/// the transport); decoding it is up to the consumer, which can dispatch on
/// `protocol` and `name` or `id`.
///
/// `Display` gives a one-line summary without the payload bytes, e.g.
/// `eth/68 GetBlockHeaders (id 0x03, 12 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    /// The subprotocol and version the command belongs to, e.g. `eth/68`.
    pub protocol: Capability,
    /// The command name, e.g. `GetBlockHeaders`.
    pub name: String,
    /// The message id relative to the subprotocol's offset (e.g. `0x03` for
    /// `eth` `GetBlockHeaders`), not the absolute id on the wire.
    pub id: u8,
    /// The encoded message payload.
    pub payload: Vec<u8>,
}

impl Command {
    /// Creates a command from its parts.
    pub fn new(protocol: Capability, name: impl Into<String>, id: u8, payload: Vec<u8>) -> Self {
        Command {
            protocol,
            name: name.into(),
            id,
            payload,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (id {:#04x}, {} bytes)",
            self.protocol,
            self.name,
            self.id,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_display() {
        let command = Command::new(
            Capability::new("eth", 68),
            "GetBlockHeaders",
            0x03,
            vec![0xc0; 12],
        );
        assert_eq!(command.protocol, Capability::new("eth", 68));
        assert_eq!(command.name, "GetBlockHeaders");
        assert_eq!(command.id, 3);
        assert_eq!(command.payload.len(), 12);
        assert_eq!(
            command.to_string(),
            "eth/68 GetBlockHeaders (id 0x03, 12 bytes)"
        );
        let status = Command::new(Capability::new("eth", 68), "Status", 0, Vec::new());
        assert_eq!(status.to_string(), "eth/68 Status (id 0x00, 0 bytes)");
        assert_ne!(status, command);
    }
}

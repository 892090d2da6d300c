//! devp2p disconnect reasons.
//!
//! The devp2p `Disconnect` message (p2p message id `0x01`) carries a single
//! reason code. This module maps those codes to [`DisconnectReason`] and back.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::ParseError;

/// The reason a devp2p peer gave (or was given) for disconnecting.
///
/// Converts to its wire code with `u8::from` and back with
/// `DisconnectReason::try_from(u8)`, which rejects unassigned codes
/// (12..=15 and 17..=255) with [`ParseError::UnknownDisconnectReason`].
///
/// `Display` gives a readable description followed by the code, e.g.
/// `too many peers (4)`.
///
/// Serialized as its `u8` wire code; deserializing an unassigned code fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
#[repr(u8)]
pub enum DisconnectReason {
    /// 0: the peer asked to disconnect.
    DisconnectRequested = 0,
    /// 1: TCP sub-system error.
    TcpSubSystemError = 1,
    /// 2: breach of protocol (e.g. malformed message).
    BadProtocol = 2,
    /// 3: the peer is not useful (e.g. on a different chain).
    UselessPeer = 3,
    /// 4: too many peers.
    TooManyPeers = 4,
    /// 5: already connected to this peer.
    AlreadyConnected = 5,
    /// 6: incompatible p2p protocol version.
    IncompatibleP2pVersion = 6,
    /// 7: null node identity received.
    NullNodeIdentityReceived = 7,
    /// 8: the client is quitting.
    ClientQuitting = 8,
    /// 9: unexpected identity in the handshake.
    UnexpectedIdentity = 9,
    /// 10: the peer is ourselves.
    ConnectedToSelf = 10,
    /// 11: ping timeout.
    Timeout = 11,
    /// 16: a subprotocol-specific reason.
    SubprotocolError = 16,
}

impl DisconnectReason {
    /// Every disconnect reason, in code order.
    pub const ALL: [DisconnectReason; 13] = [
        DisconnectReason::DisconnectRequested,
        DisconnectReason::TcpSubSystemError,
        DisconnectReason::BadProtocol,
        DisconnectReason::UselessPeer,
        DisconnectReason::TooManyPeers,
        DisconnectReason::AlreadyConnected,
        DisconnectReason::IncompatibleP2pVersion,
        DisconnectReason::NullNodeIdentityReceived,
        DisconnectReason::ClientQuitting,
        DisconnectReason::UnexpectedIdentity,
        DisconnectReason::ConnectedToSelf,
        DisconnectReason::Timeout,
        DisconnectReason::SubprotocolError,
    ];

    /// The devp2p wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// A short human-readable description, without the code.
    pub const fn description(self) -> &'static str {
        match self {
            DisconnectReason::DisconnectRequested => "disconnect requested",
            DisconnectReason::TcpSubSystemError => "TCP sub-system error",
            DisconnectReason::BadProtocol => "bad protocol",
            DisconnectReason::UselessPeer => "useless peer",
            DisconnectReason::TooManyPeers => "too many peers",
            DisconnectReason::AlreadyConnected => "already connected",
            DisconnectReason::IncompatibleP2pVersion => "incompatible p2p protocol version",
            DisconnectReason::NullNodeIdentityReceived => "null node identity received",
            DisconnectReason::ClientQuitting => "client quitting",
            DisconnectReason::UnexpectedIdentity => "unexpected identity",
            DisconnectReason::ConnectedToSelf => "connected to self",
            DisconnectReason::Timeout => "timeout",
            DisconnectReason::SubprotocolError => "subprotocol error",
        }
    }
}

impl TryFrom<u8> for DisconnectReason {
    type Error = ParseError;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        Ok(match code {
            0 => DisconnectReason::DisconnectRequested,
            1 => DisconnectReason::TcpSubSystemError,
            2 => DisconnectReason::BadProtocol,
            3 => DisconnectReason::UselessPeer,
            4 => DisconnectReason::TooManyPeers,
            5 => DisconnectReason::AlreadyConnected,
            6 => DisconnectReason::IncompatibleP2pVersion,
            7 => DisconnectReason::NullNodeIdentityReceived,
            8 => DisconnectReason::ClientQuitting,
            9 => DisconnectReason::UnexpectedIdentity,
            10 => DisconnectReason::ConnectedToSelf,
            11 => DisconnectReason::Timeout,
            16 => DisconnectReason::SubprotocolError,
            _ => return Err(ParseError::UnknownDisconnectReason { code }),
        })
    }
}

impl From<DisconnectReason> for u8 {
    fn from(reason: DisconnectReason) -> Self {
        reason.code()
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, U8Deserializer};
    use serde::de::IntoDeserializer;

    const TABLE: [(u8, DisconnectReason, &str); 13] = [
        (
            0,
            DisconnectReason::DisconnectRequested,
            "disconnect requested (0)",
        ),
        (
            1,
            DisconnectReason::TcpSubSystemError,
            "TCP sub-system error (1)",
        ),
        (2, DisconnectReason::BadProtocol, "bad protocol (2)"),
        (3, DisconnectReason::UselessPeer, "useless peer (3)"),
        (4, DisconnectReason::TooManyPeers, "too many peers (4)"),
        (
            5,
            DisconnectReason::AlreadyConnected,
            "already connected (5)",
        ),
        (
            6,
            DisconnectReason::IncompatibleP2pVersion,
            "incompatible p2p protocol version (6)",
        ),
        (
            7,
            DisconnectReason::NullNodeIdentityReceived,
            "null node identity received (7)",
        ),
        (8, DisconnectReason::ClientQuitting, "client quitting (8)"),
        (
            9,
            DisconnectReason::UnexpectedIdentity,
            "unexpected identity (9)",
        ),
        (
            10,
            DisconnectReason::ConnectedToSelf,
            "connected to self (10)",
        ),
        (11, DisconnectReason::Timeout, "timeout (11)"),
        (
            16,
            DisconnectReason::SubprotocolError,
            "subprotocol error (16)",
        ),
    ];

    #[test]
    fn code_table() {
        for (code, reason, _) in TABLE {
            assert_eq!(DisconnectReason::try_from(code), Ok(reason));
            assert_eq!(u8::from(reason), code);
            assert_eq!(reason.code(), code);
        }
        let all: Vec<_> = TABLE.iter().map(|(_, reason, _)| *reason).collect();
        assert_eq!(DisconnectReason::ALL.to_vec(), all);
    }

    #[test]
    fn every_valid_code_round_trips() {
        for reason in DisconnectReason::ALL {
            assert_eq!(DisconnectReason::try_from(u8::from(reason)), Ok(reason));
        }
    }

    #[test]
    fn unassigned_codes_are_rejected() {
        for code in (12..=15).chain(17..=255) {
            let err = DisconnectReason::try_from(code).unwrap_err();
            assert_eq!(err, ParseError::UnknownDisconnectReason { code });
            assert!(err.to_string().contains(&format!("code {code}")), "{err}");
        }
        let accepted = (0..=255u8)
            .filter(|&c| DisconnectReason::try_from(c).is_ok())
            .count();
        assert_eq!(accepted, 13);
    }

    #[test]
    fn display_forms() {
        for (_, reason, shown) in TABLE {
            assert_eq!(reason.to_string(), shown);
        }
    }

    #[test]
    fn deserializes_from_code() {
        let de: U8Deserializer<ValueError> = 4u8.into_deserializer();
        assert_eq!(
            DisconnectReason::deserialize(de).unwrap(),
            DisconnectReason::TooManyPeers
        );
        let de: U8Deserializer<ValueError> = 13u8.into_deserializer();
        let err = DisconnectReason::deserialize(de).unwrap_err();
        assert!(err.to_string().contains("13"), "{err}");
    }
}

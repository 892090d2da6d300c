//! The single error type of this crate's p2p vocabulary.
//!
//! Every fallible conversion in [`crate::p2p`] (parsing an enode URI or a
//! bare public key, decoding a devp2p disconnect code, parsing a
//! `name/version` capability) reports a [`ParseError`]. Each variant carries
//! enough context for its `Display` output to say exactly what is wrong with
//! the input.

use std::fmt;

/// Which port of an enode URI a [`ParseError`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// The TCP (RLPx) port, written after the host: `@1.2.3.4:30303`.
    Tcp,
    /// The UDP discovery port, written as the `?discport=` query parameter.
    Discovery,
}

impl fmt::Display for PortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortKind::Tcp => f.write_str("TCP port"),
            PortKind::Discovery => f.write_str("UDP discovery port (discport)"),
        }
    }
}

/// Error returned when parsing or decoding one of the p2p types fails.
///
/// Produced by `Node::from_str` (enode URIs), `PublicKey::from_str`
/// (128 hex characters), `DisconnectReason::try_from(u8)` and
/// `Capability::from_str` (`eth/68`). Parsing never panics: every malformed
/// input maps to one of these variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input has no `scheme://` prefix at all.
    #[error("invalid enode URI: missing the \"enode://\" scheme")]
    MissingScheme,

    /// The input has a scheme, but it is not `enode`.
    #[error("invalid enode URI: expected scheme \"enode://\", found \"{found}://\"")]
    WrongScheme {
        /// The scheme that was found (the text before `://`).
        found: String,
    },

    /// There is no `@` separating the public key from the address.
    #[error("invalid enode URI: missing '@' between the public key and the address")]
    MissingAt,

    /// The public key contains a character that is not a hex digit.
    #[error(
        "invalid public key: character {character:?} at position {position} is not a hex digit"
    )]
    InvalidHexChar {
        /// The offending character.
        character: char,
        /// Its zero-based position (in characters) within the public key.
        position: usize,
    },

    /// The public key is not exactly 128 hex characters (64 bytes) long.
    #[error(
        "invalid public key: expected 128 hex characters (64 bytes), found {found} characters"
    )]
    WrongKeyLength {
        /// The number of characters found.
        found: usize,
    },

    /// The address part after `@` is empty or has no host before the port.
    #[error("invalid enode URI: missing IP address after '@'")]
    MissingHost,

    /// The host is not a valid IP address (host names are not accepted).
    #[error("invalid enode URI: {value:?} is not a valid IP address")]
    InvalidIp {
        /// The host text that failed to parse.
        value: String,
    },

    /// An IPv6 address was written without the mandatory square brackets.
    #[error(
        "invalid enode URI: IPv6 address must be enclosed in brackets, e.g. \"[::1]:30303\" (found {value:?})"
    )]
    UnbracketedIpv6 {
        /// The address text (host and port) as found.
        value: String,
    },

    /// An IPv4 address was written inside square brackets.
    #[error(
        "invalid enode URI: only IPv6 addresses may be enclosed in brackets (found [{value}])"
    )]
    BracketedIpv4 {
        /// The IPv4 address found between the brackets.
        value: String,
    },

    /// A `[` opening an IPv6 address has no matching `]`.
    #[error("invalid enode URI: unclosed '[' in IPv6 address")]
    UnclosedBracket,

    /// Something other than `:<port>` follows the closing `]` of an IPv6 address.
    #[error("invalid enode URI: expected ':' after ']', found {found:?}")]
    UnexpectedAfterBracket {
        /// The text found after `]`.
        found: String,
    },

    /// A port is missing or empty.
    #[error("invalid enode URI: missing {kind}")]
    MissingPort {
        /// Which port is missing.
        kind: PortKind,
    },

    /// A port contains something other than decimal digits.
    #[error("invalid enode URI: {kind} {value:?} is not a number")]
    NonNumericPort {
        /// Which port is invalid.
        kind: PortKind,
        /// The text found where the port was expected.
        value: String,
    },

    /// A port is a number, but larger than 65535.
    #[error("invalid enode URI: {kind} {value} is out of range (0..=65535)")]
    PortOutOfRange {
        /// Which port is invalid.
        kind: PortKind,
        /// The decimal digits found.
        value: String,
    },

    /// A query segment is not of the form `name=value`.
    #[error("invalid enode URI: malformed query parameter {segment:?}, expected \"name=value\"")]
    MalformedQueryParameter {
        /// The offending query segment.
        segment: String,
    },

    /// A query parameter other than `discport` was given.
    #[error(
        "invalid enode URI: unknown query parameter {name:?} (only \"discport\" is supported)"
    )]
    UnknownQueryParameter {
        /// The name of the unknown parameter.
        name: String,
    },

    /// The same query parameter was given more than once.
    #[error("invalid enode URI: query parameter {name:?} given more than once")]
    DuplicateQueryParameter {
        /// The name of the repeated parameter.
        name: String,
    },

    /// A byte is not one of the devp2p disconnect reason codes.
    #[error("unknown devp2p disconnect reason code {code} (valid: 0..=11 and 16)")]
    UnknownDisconnectReason {
        /// The rejected code.
        code: u8,
    },

    /// A capability string is not of the form `name/version`.
    #[error("invalid capability {input:?}: expected \"<name>/<version>\", e.g. \"eth/68\"")]
    MalformedCapability {
        /// The text that failed to parse.
        input: String,
    },

    /// A capability version is not a non-negative 32-bit decimal number.
    #[error("invalid capability version {version:?}: expected a decimal number in 0..=4294967295")]
    InvalidCapabilityVersion {
        /// The version text that failed to parse.
        version: String,
    },
}

//! The messages, their kinds and flags, and the wire's errors.

use crate::schema::{EventSchema, Fingerprint};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Version of this layout; both sides of a connection must speak the same.
pub(crate) const PROTOCOL_VERSION: u32 = 2;
/// First bytes of a HELLO, to tell a bus peer from anything else on the socket.
pub(crate) const MAGIC: [u8; 4] = *b"EVB1";

pub(super) const KIND_HELLO: u8 = 1;
pub(super) const KIND_WELCOME: u8 = 2;
pub(super) const KIND_REJECT: u8 = 3;
pub(super) const KIND_SUBSCRIPTIONS: u8 = 4;
pub(super) const KIND_EVENT: u8 = 5;
pub(super) const KIND_RESPONSE: u8 = 6;
pub(super) const KIND_REQUEST_DROPPED: u8 = 7;
pub(super) const KIND_DEFINE_NAME: u8 = 8;
pub(super) const KIND_SCHEMAS: u8 = 9;

pub(super) const FLAG_REQUEST: u8 = 1;
pub(super) const FLAG_NAME_ID: u8 = 2;
pub(super) const LEN_PREFIX: usize = 4;

/// An EVENT read where it lies in the read buffer ([`decode_event`](super::decode::decode_event)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventRef<'a> {
    pub name: EventNameRef<'a>,
    pub request_id: Option<u64>,
    pub body: &'a [u8],
}

/// How an [`EventRef`] names its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventNameRef<'a> {
    Inline(&'a str),
    Id(u32),
}

/// A decoded message. Names and bodies borrow from the frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Reject(String),
    Subscriptions(Vec<(String, Fingerprint)>),
    Schemas(Vec<EventSchema>),
    Event {
        name: EventName,
        request_id: Option<u64>,
        body: Bytes,
    },
    DefineName {
        id: u32,
        name: Name,
    },
    Response {
        request_id: u64,
        name: Name,
        body: Bytes,
    },
    RequestDropped(u64),
}

impl Message {
    /// The message kind's name, for logs and REJECT reasons.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "HELLO",
            Message::Welcome(_) => "WELCOME",
            Message::Reject(_) => "REJECT",
            Message::Subscriptions(_) => "SUBSCRIPTIONS",
            Message::Event { .. } => "EVENT",
            Message::Response { .. } => "RESPONSE",
            Message::RequestDropped(_) => "REQUEST_DROPPED",
            Message::DefineName { .. } => "DEFINE_NAME",
            Message::Schemas(_) => "SCHEMAS",
        }
    }
}

/// The opening message of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub magic: [u8; 4],
    pub protocol: u32,
    pub name: String,
    /// The largest frame the sender accepts.
    pub max_frame_size: u32,
}

/// The acceptor's answer to a valid HELLO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Welcome {
    pub name: String,
    pub subscriptions: Vec<(String, Fingerprint)>,
    /// The largest frame the sender accepts.
    pub max_frame_size: u32,
}

/// How an EVENT frame names its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventName {
    Inline(Name),
    /// A number given by an earlier DEFINE_NAME on the same connection.
    Id(u32),
}

/// How to name the event in an EVENT frame being written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NameRef<'a> {
    /// Receivers accept it; this endpoint itself always numbers its names, so only the
    /// tests write it.
    #[cfg_attr(not(test), allow(dead_code))]
    Inline(&'a str),
    Id(u32),
}

/// An event name inside a frame: validated UTF-8, not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name(pub(super) Bytes);

impl Name {
    pub(crate) fn as_str(&self) -> &str {
        // Validated when the frame was decoded.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Why a frame could not be built or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// The frame would exceed (or announced more than) the maximum size.
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    TooLarge { size: usize, max: usize },
    /// The bytes are not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A value could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(postcard::Error),
    /// The connection ended in the middle of a frame.
    #[error("connection closed in the middle of a frame ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
    /// The rest of a started frame did not arrive in time.
    #[error("the rest of a frame did not arrive within {0:?}")]
    Stalled(Duration),
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(std::io::Error),
}

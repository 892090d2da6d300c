//! Shared pieces of the workspace's integration tests: the events they exchange, and the
//! `bus-peer` program ([`bus_peer`]) that tests run as a separate OS process.

pub mod bus_peer;
pub mod peer_process;

use event_core::Event;
use serde::{Deserialize, Serialize};

/// A numbered event: receivers check that they get every index, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "tests.Counter")]
pub struct Counter {
    /// Position in the sequence, from 0.
    pub index: u64,
    /// Padding, to vary the size.
    pub payload: Vec<u8>,
}

/// Another event, to check that a subscriber of one type is not sent the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "tests.Other")]
pub struct Other {
    /// Position in the sequence.
    pub index: u64,
}

/// The answer to [`Ping`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "tests.Pong")]
pub struct Pong {
    /// The endpoint that answered.
    pub from: String,
    /// The ping's value.
    pub echo: u64,
}

/// A request answered with [`Pong`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "tests.Ping")]
#[request(response = Pong)]
pub struct Ping {
    /// Echoed back.
    pub value: u64,
}

/// Joins the zenoh bus that `BUS_PEER_ZENOH` (routers, comma-separated) and `BUS_PEER_BUS`
/// (default `default`) name, if they do: how the test programs (`bus-peer`,
/// `schema-peer`) are put on zenoh instead of (or beside) sockets.
pub async fn join_zenoh_from_env(bus: &event_core::Endpoint) -> Result<(), event_core::Error> {
    let Ok(routers) = std::env::var("BUS_PEER_ZENOH") else {
        return Ok(());
    };
    let bus_name = std::env::var("BUS_PEER_BUS").unwrap_or_else(|_| "default".into());
    let config = event_zenoh::ZenohConfig::client(routers.split(',')).bus(bus_name);
    event_zenoh::join(bus, config).await
}

/// The variant name of an error, for the line protocol of `bus-peer`.
pub fn error_kind(error: &event_core::Error) -> &'static str {
    use event_core::Error::*;
    match error {
        NoSubscribers { .. } => "NoSubscribers",
        RemoteDisconnected { .. } => "RemoteDisconnected",
        NoResponse { .. } => "NoResponse",
        Timeout { .. } => "Timeout",
        ConnectionAttemptRejected { .. } => "ConnectionAttemptRejected",
        Stopped { .. } => "Stopped",
        QueueFull { .. } => "QueueFull",
        Stalled { .. } => "Stalled",
        FrameTooLarge { .. } => "FrameTooLarge",
        DuplicateEventName { .. } => "DuplicateEventName",
        Io { .. } => "Io",
        AddressInUse { .. } => "AddressInUse",
        ConnectTimeout { .. } => "ConnectTimeout",
        Encode { .. } => "Encode",
        Decode { .. } => "Decode",
        Protocol { .. } => "Protocol",
        IncompatibleSchema { .. } => "IncompatibleSchema",
        InvalidName { .. } => "InvalidName",
        Backend { .. } => "Backend",
        _ => "Other",
    }
}

//! `evb`: look at a live event bus.
//!
//! ```text
//! evb --dir DIR ls                       the endpoints, their subscriptions and schemas
//! evb --dir DIR tap [--event NAME]...    every event, request and answer as it flows
//! evb --dir DIR request NAME JSON        a request built from JSON; prints the answer
//! evb --zenoh LOCATOR --bus NAME ...     the same, on a zenoh bus
//! ```
//!
//! `evb` is an endpoint of its own (`evb-<pid>-<nonce>`, or `--name`): over sockets it connects to every
//! endpoint served in `DIR` (the directory of their `<name>.ipc` files); on zenoh it
//! joins the bus through the router at `LOCATOR`. Bodies are decoded to JSON, and built
//! from it, through the schemas the endpoints publish ([`json`]).
//!
//! `tap` is an *observer* ([`event_core::observe`]): it does not count as a subscriber
//! (a broadcast that nobody else receives still fails with `NoSubscribers`), it never
//! slows the bus, and when it cannot keep up it says how many messages it missed. Over
//! sockets it looks for new endpoints in `DIR` every second.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bus;
pub mod cli;
pub mod commands;
pub mod json;
pub mod show;

/// Everything that can go wrong in `evb`: each says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bus said no.
    #[error(transparent)]
    Bus(#[from] event_core::Error),
    /// The socket directory cannot be read.
    #[error("cannot read the socket directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing to look at.
    #[error("no endpoint to connect to in {0} (is the bus running, and is this its directory?)")]
    NoEndpoints(String),
    /// No connected endpoint subscribes to the request.
    #[error("no endpoint subscribes to `{name}`; connected: {connected}")]
    NoResponder {
        /// The request's name.
        name: String,
        /// Who is connected.
        connected: String,
    },
    /// The responder published no schema to build the request from.
    #[error(
        "`{endpoint}` published no traced schema of `{name}`: its body cannot be built from JSON"
    )]
    NoSchema {
        /// The responder.
        endpoint: String,
        /// The request's name.
        name: String,
    },
    /// No answer came within the `--timeout-ms` given (which the wait for the
    /// responder's schema counts against).
    #[error("no answer to `{name}` within {timeout:?}")]
    Timeout {
        /// The request's name.
        name: String,
        /// The timeout given.
        timeout: std::time::Duration,
    },
    /// The JSON given is not JSON.
    #[error("the request is not valid JSON: {0}")]
    BadJson(serde_json::Error),
    /// A body does not fit its schema.
    #[error(transparent)]
    Json(#[from] json::JsonError),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

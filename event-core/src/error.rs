//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong on the bus. Each message names the endpoint and, where
/// there is one, the event concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A broadcast or request found no subscriber (this endpoint included) and the
    /// config requires one.
    #[error("endpoint `{endpoint}`: no endpoint subscribes to `{event}`")]
    NoSubscribers {
        /// The sending endpoint.
        endpoint: String,
        /// The event's `NAME`.
        event: &'static str,
    },
    /// The endpoint that was to answer (or receive) went away.
    #[error("endpoint `{endpoint}`: `{remote}` disconnected before answering `{event}`")]
    RemoteDisconnected {
        /// The local endpoint.
        endpoint: String,
        /// The endpoint that disconnected.
        remote: String,
        /// The event or request's `NAME`.
        event: &'static str,
    },
    /// Every endpoint that received a request dropped it without answering.
    #[error("endpoint `{endpoint}`: every recipient of `{event}` dropped it unanswered")]
    NoResponse {
        /// The requesting endpoint.
        endpoint: String,
        /// The request's `NAME`.
        event: &'static str,
    },
    /// A request was not answered in time (see `Endpoint::request_timeout`).
    #[error("endpoint `{endpoint}`: no answer to `{event}` within {timeout:?}")]
    Timeout {
        /// The requesting endpoint.
        endpoint: String,
        /// The request's `NAME`.
        event: &'static str,
        /// How long it waited.
        timeout: std::time::Duration,
    },
    /// A connection was refused: a name already connected, oneself, a protocol version
    /// mismatch, a different user, or the remote's own refusal.
    #[error("endpoint `{endpoint}`: connection with `{remote}` rejected: {reason}")]
    ConnectionAttemptRejected {
        /// The local endpoint.
        endpoint: String,
        /// The other endpoint's name (or socket path, before its name is known).
        remote: String,
        /// Why.
        reason: String,
    },
    /// The endpoint was stopped; nothing more can be done with it.
    #[error("endpoint `{endpoint}` is stopped")]
    Stopped {
        /// The stopped endpoint.
        endpoint: String,
    },
    /// `broadcast_nowait` found a subscriber's queue full; that subscriber missed the
    /// event (the others got it). `broadcast().await` waits instead.
    #[error(
        "endpoint `{endpoint}`: the queue of a subscriber to `{event}` in `{subscriber}` is full"
    )]
    QueueFull {
        /// The sending endpoint.
        endpoint: String,
        /// The event's `NAME`.
        event: &'static str,
        /// The endpoint whose subscriber missed the event.
        subscriber: String,
    },
    /// A connected endpoint read nothing for the connection stall timeout (twice the
    /// stall timeout): it was disconnected, and this event, with those already queued for
    /// it, was not delivered to it. Its other recipients got it.
    #[error(
        "endpoint `{endpoint}`: `{remote}` read nothing for {waited:?} and was disconnected; \
         `{event}` and the events queued for it were not delivered to it"
    )]
    Stalled {
        /// The sending endpoint.
        endpoint: String,
        /// The endpoint that stalled.
        remote: String,
        /// The event's `NAME`.
        event: &'static str,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// An event (or answer) encodes to a frame larger than the maximum frame size
    /// ([`EndpointOptions::max_frame_size`](crate::EndpointOptions::max_frame_size)).
    #[error("endpoint `{endpoint}`: `{event}` encodes to {size} bytes, more than the maximum frame of {max}")]
    FrameTooLarge {
        /// The sending endpoint.
        endpoint: String,
        /// The event's `NAME`.
        event: &'static str,
        /// The frame's size.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// Two different types share an event `NAME`.
    #[error(
        "event name `{name}` is used by two types, `{first_type}` and `{second_type}`: {advice}"
    )]
    DuplicateEventName {
        /// The shared name.
        name: &'static str,
        /// One type.
        first_type: &'static str,
        /// The other.
        second_type: &'static str,
        /// What to change, given how each got its name.
        advice: String,
    },
    /// A socket could not be created, connected to, read or written.
    #[error("endpoint `{endpoint}`: {context}: {source}")]
    Io {
        /// The local endpoint.
        endpoint: String,
        /// What was being done, with the path.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The only subscribers of an event were built from another definition of it (their
    /// schema fingerprint differs, see [`crate::schema`]): it was not sent to them, since
    /// they would misdecode it.
    #[error(
        "endpoint `{endpoint}`: `{remote}` subscribes to `{event}` with schema {remote_fingerprint}, \
         but this endpoint's is {fingerprint}: not sent (the two were built from different \
         definitions of the event; rebuild one, or give the changed one a new name or \
         #[event(version = ...)])"
    )]
    IncompatibleSchema {
        /// The sending endpoint.
        endpoint: String,
        /// The subscriber.
        remote: String,
        /// The event's `NAME`.
        event: &'static str,
        /// The sender's fingerprint of the event's schema.
        fingerprint: crate::schema::Fingerprint,
        /// The subscriber's.
        remote_fingerprint: crate::schema::Fingerprint,
    },
    /// An endpoint name that cannot be used: empty, too long, or with characters that
    /// would make its socket path something else (`/`, whitespace, control characters).
    #[error("`{name}` is not a valid endpoint name: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another live endpoint already serves on this path.
    #[error("endpoint `{endpoint}`: another endpoint is already serving on {}", path.display())]
    AddressInUse {
        /// The local endpoint.
        endpoint: String,
        /// The socket path.
        path: PathBuf,
    },
    /// The socket of the endpoint to connect to did not appear in time.
    #[error("endpoint `{endpoint}`: `{remote}` is not serving on {} (waited {waited:?})", path.display())]
    ConnectTimeout {
        /// The local endpoint.
        endpoint: String,
        /// The endpoint connected to.
        remote: String,
        /// Its socket path.
        path: PathBuf,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// An event could not be encoded.
    #[error("endpoint `{endpoint}`: cannot encode `{event}`: {source}")]
    Encode {
        /// The local endpoint.
        endpoint: String,
        /// The event's `NAME`.
        event: &'static str,
        /// The cause.
        #[source]
        source: postcard::Error,
    },
    /// Bytes received for an event could not be decoded as that event.
    #[error("endpoint `{endpoint}`: cannot decode `{event}` from `{remote}`: {source}")]
    Decode {
        /// The local endpoint.
        endpoint: String,
        /// The endpoint that sent the bytes.
        remote: String,
        /// The event's `NAME`.
        event: String,
        /// The cause.
        #[source]
        source: postcard::Error,
    },
    /// A backend (an engine such as zenoh) failed: it could not be configured, opened or
    /// joined.
    #[error("endpoint `{endpoint}`: {backend}: {context}: {source}")]
    Backend {
        /// The local endpoint.
        endpoint: String,
        /// The backend ("zenoh").
        backend: &'static str,
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A peer broke the protocol (bad frame, bad handshake, unexpected message).
    #[error("endpoint `{endpoint}`: protocol error from `{remote}`: {reason}")]
    Protocol {
        /// The local endpoint.
        endpoint: String,
        /// The peer (name or socket path).
        remote: String,
        /// What was wrong.
        reason: String,
    },
}

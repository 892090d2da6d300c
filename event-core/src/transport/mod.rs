//! Transports: how bytes get between two endpoints.
//!
//! The seam is two small traits. A transport's [`Listener`] accepts connections and its
//! connect function makes them; each connection is a [`Link`]: it can say whether the
//! peer belongs (the Unix transport checks the peer's uid) and split into byte halves
//! (`AsyncRead` + `AsyncWrite`). Everything above it (handshake, framing, subscriptions,
//! routing, requests) lives in [`crate::connection`] and is generic over these traits, so a
//! broker or TCP transport for several hosts is a new module beside [`unix`], and the
//! `Endpoint` semantics do not change.

use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) mod unix;

/// One connection, accepted or made by a transport.
pub(crate) trait Link: Send + 'static {
    /// The half bytes are read from.
    type Read: AsyncRead + Send + Unpin + 'static;
    /// The half bytes are written to.
    type Write: AsyncWrite + Send + Unpin + 'static;

    /// Refuses a peer that does not belong here, saying why.
    fn check_peer(&self) -> Result<(), String>;

    /// The two halves, to be read and written by separate tasks.
    fn split(self) -> (Self::Read, Self::Write);
}

/// Accepts the connections other endpoints make to this one.
pub(crate) trait Listener: Send + 'static {
    /// The connections it accepts.
    type Link: Link;

    /// The next connection.
    fn accept(&mut self) -> impl Future<Output = std::io::Result<Self::Link>> + Send;
}

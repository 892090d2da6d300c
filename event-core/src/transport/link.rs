//! The traits every transport implements.

use std::future::Future;
use std::io::{self, IoSlice};
use tokio::io::{AsyncRead, AsyncWrite};

/// One connection, accepted or made by a transport.
pub(crate) trait Link: Send + 'static {
    /// The half bytes are read from.
    type Read: AsyncRead + Send + Unpin + 'static;
    /// The half bytes are written to: as a stream during the handshake, then shared by
    /// the connection's writer task and the senders that write directly.
    type Write: AsyncWrite + WriteHalf + Unpin;

    /// Refuses a peer that does not belong here, saying why.
    fn check_peer(&self) -> Result<(), String>;

    /// The two halves, to be read and written by separate tasks.
    fn split(self) -> io::Result<(Self::Read, Self::Write)>;
}

/// Accepts the connections other endpoints make to this one.
pub(crate) trait Listener: Send + 'static {
    /// The connections it accepts.
    type Link: Link;

    /// The next connection.
    fn accept(&mut self) -> impl Future<Output = std::io::Result<Self::Link>> + Send;
}

/// Why [`bind`] failed.
pub(crate) enum BindError {
    /// A live endpoint serves on the address.
    InUse,
    Io(std::io::Error),
}

/// A write half that several tasks may write through without waiting: a sender whose
/// frame finds the connection idle writes it at once, from its own task, and the
/// connection's writer task waits for room only when the socket is full.
pub(crate) trait TryWrite: Send + Sync + 'static {
    /// Writes what the socket takes now, without waiting; `WouldBlock` when it takes
    /// nothing.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// A [`TryWrite`] that can also wait until the socket takes bytes again.
pub(crate) trait WriteHalf: TryWrite {
    /// Resolves once a write may make progress (or the socket failed).
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;
}

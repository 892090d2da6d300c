//! The traits every transport implements.

use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite};

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

/// Why [`bind`] failed.
pub(crate) enum BindError {
    /// A live endpoint serves on the address.
    InUse,
    Io(std::io::Error),
}

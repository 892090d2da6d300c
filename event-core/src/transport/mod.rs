//! Transports: how bytes get between two endpoints of the socket mesh, and where they
//! listen.
//!
//! The seam is two small traits and two functions. A transport binds a [`Listener`] at an
//! address ([`bind`], which also hands back a guard that cleans the address up when
//! dropped) and makes connections to one ([`connect`]); each connection is a [`Link`]: it
//! can say whether the peer belongs (the Unix transport checks the peer's uid) and split
//! into byte halves (`AsyncRead` + `AsyncWrite`). Everything above (handshake, framing,
//! subscriptions) is the mesh's ([`crate::mesh`]) and generic over these traits, so a TCP
//! transport is a module beside [`unix`] and nothing else in the crate names a socket.
//!
//! `dir.rs` finds the directory an application's sockets live in
//! ([`ConnectionConfig::socket_dir`](crate::ConnectionConfig::socket_dir)).
//! `socket.rs` holds a connected socket's two halves: registered with the runtime for
//! reading only, so that a peer taking this side's bytes does not wake this process.
//!
//! A broker (zenoh, NATS) is *not* a transport: it does its own routing and subscription
//! bookkeeping, so it replaces the mesh rather than sitting under it. It plugs into the
//! core beside the mesh, through [`crate::backend`].

use std::path::Path;
use std::time::Duration;

mod dir;
mod link;
mod socket;
mod unix;

pub(crate) use link::{BindError, Link, Listener, TryWrite, WriteHalf};

/// Cleans a bound address up (removes the socket file) when dropped.
pub(crate) type Bound = unix::BoundSocket;

/// Listens at `path` (a Unix socket): owner-only, replacing a stale socket file, never a
/// live one.
pub(crate) fn bind(path: &Path) -> Result<(impl Listener, Bound), BindError> {
    unix::bind(path)
}

#[cfg(test)]
pub(crate) use unix::{pair, Peer};

/// Connects to the socket at `path`, waiting up to `timeout` for it to appear.
pub(crate) async fn connect(path: &Path, timeout: Duration) -> std::io::Result<impl Link> {
    unix::connect(path, timeout).await
}

//! The peer pool on the bus: Trinity's `PeerPoolEventServer` and `BaseProxyPeerPool`.
//!
//! The networking process owns the real pool (anything implementing [`PeerPool`]) and
//! runs a [`PeerPoolEventServer`] on its endpoint: the server answers the pool requests,
//! carries out the connect / disconnect commands, and turns pool changes and peer
//! messages into events. Every other process uses a [`ProxyPeerPool`]: it follows the
//! pool's peers through those events and forwards queries and commands to the server.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use trinity_events::*;
//! # async fn demo(pool: Arc<impl PeerPool>, ipc_dir: &std::path::Path, info: PeerInfo)
//! # -> Result<(), event_core::Error> {
//! use event_core::{ConnectionConfig, Endpoint};
//!
//! // In the networking process.
//! let bus = Endpoint::serve(ConnectionConfig::from_name("networking", ipc_dir)).await?;
//! let server = PeerPoolEventServer::start(bus, pool);
//! server.peer_joined(&info).await?; // when the pool gains a peer
//!
//! // In a component process.
//! let bus = Endpoint::serve(ConnectionConfig::from_name("sync", ipc_dir)).await?;
//! bus.connect_to_endpoints(&[ConnectionConfig::from_name("networking", ipc_dir)]).await?;
//! let proxy = ProxyPeerPool::start_targeting(bus, "networking").await?;
//! let count = proxy.peer_count().await?;
//! # let _ = (server, count); Ok(()) }
//! ```

mod broadcaster;
mod peer_pool;
mod proxy;
mod server;
mod tasks;

pub use broadcaster::PeerPoolBroadcaster;
pub use peer_pool::PeerPool;
pub use proxy::{PeerChange, PeerChanges, ProxyPeerPool};
pub use server::PeerPoolEventServer;

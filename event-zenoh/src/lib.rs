//! The event bus across hosts: the same [`event_core::Endpoint`], the same
//! events and the same compile-time guarantees, carried by [zenoh](https://zenoh.io)
//! (an existing distributed engine, not a broker of our own).
//!
//! ```no_run
//! use event_core::Endpoint;
//! use event_zenoh::ZenohConfig;
//!
//! # async fn run() -> Result<(), event_core::Error> {
//! let endpoint = Endpoint::new("proxy")?;
//! event_zenoh::join(&endpoint, ZenohConfig::client(["tcp/10.0.0.1:7447"]).bus("trinity")).await?;
//! endpoint.wait_until_connected_to("networking").await;
//! // From here on, broadcast, stream, request and respond as over sockets.
//! # Ok(()) }
//! ```
//!
//! # What holds across zenoh
//!
//! Every rule of the bus (the `event_core` crate docs) holds, and these are added:
//!
//! * **Connected means on the bus.** After [`join`], every other endpoint on the bus
//!   counts as connected, with its subscriptions (`is_connected_to`,
//!   `wait_until_*_subscribed_to`, `connected_endpoints_and_subscriptions`), and `join`
//!   returns once those already there are connected, with their subscriptions. Once a
//!   `wait_until_endpoint_subscribed_to` has returned, a broadcast reaches that subscriber.
//!   Each subscription is a token of its own: when a remote subscribes to several events
//!   at once, they are seen one by one, in any order (over sockets, as one set), so wait
//!   for the subscription you rely on, not for another one subscribed after it.
//! * **Subscription-aware routing.** An event is sent only to the endpoints that
//!   subscribe to it with the same schema; each message is addressed to its destination
//!   (the key says who), so no other endpoint is sent its bytes.
//! * **Unique names.** `join` under a name that a live endpoint of the bus holds fails with
//!   `ConnectionAttemptRejected`; the holder carries on. Two joins in the same instant are
//!   settled after the fact: the earlier keeps the name, the later leaves the bus (logged).
//! * **Requests never hang.** A request is a zenoh query, and zenoh *finalizes* a query
//!   whose responder answered, dropped it, stopped, crashed or lost its router: a
//!   request without an answer fails at once, with `RemoteDisconnected` (or `NoResponse`
//!   when every recipient dropped it). A cut network link is noticed after the
//!   [lease](ZenohConfig::lease) (3 s by default).
//! * **Order, back-pressure, and no silent loss.** Events from one endpoint to another
//!   arrive in order, once. Each receiver gives each sender a window (its
//!   `connection_buffer`, at least 64 KiB, at most 64 MiB) and the sender writes only
//!   within it, so a slow subscriber pushes back to the senders of what it is slow to
//!   take, and to them alone: the receiver's other remotes, and zenoh's reading of its
//!   link, go on. A stalled
//!   subscriber is cut off after the stall timeout as over sockets. Where zenoh loses
//!   events anyway (a router dying with them in its queues), per-sender, per-event
//!   sequence numbers show the gap: it is logged and reported as
//!   `ConnectionEvent::EventsLost`, naming the sender, the event and the count.
//! * **`stop()` leaves the bus**, after delivering what it accepted: the others see the
//!   endpoint disconnect at once.
//! * **Sockets and zenoh together.** An endpoint may [`serve`](event_core::Endpoint::serve)
//!   on sockets and join a zenoh bus. Names are unique across both, and a remote reachable
//!   both ways is connected through the first that reached it (each event arrives once).
//! * **Bad input is dropped and logged**: keys that are not the bus's, missing or forged
//!   headers, messages larger than `max_frame_size`, bodies that do not decode, events
//!   from an origin that never appeared on the bus.
//!
//! # Deploying
//!
//! On one host or a LAN, endpoints can be zenoh peers, meshed directly
//! ([`ZenohConfig::peer`] with `listen` and `connect`). Across hosts, run a router on
//! each (zenohd, or the `event-zenoh-router` binary of this crate) and make endpoints
//! clients of one or more routers ([`ZenohConfig::client`]); a client fails over to the
//! next router when it loses one. A router must allow a congested link more than twice
//! the endpoints' stall timeout before closing it
//! (`transport/link/tx/queue/congestion_control/block/wait_before_close`, in µs); the
//! router binary does.
//!
//! **Links.** `tcp/` and `quic/` keep zenoh's order on a link, which the bus relies on;
//! `quic/` locators are given one stream (`multistream=0`), since a stream per priority
//! lets declarations fall behind the events that use them. For encryption use `quic/`:
//! zenoh's `tls/` link can close under traffic and lose what is on its way
//! (eclipse-zenoh/zenoh#2557), and `join` warns of it.
//!
//! **Security.** Anyone who can reach a router can publish on it. Authenticate
//! endpoints ([`ZenohConfig::user_password`], or mutual TLS with [`Tls`] over `quic/`), and let the
//! router's access control allow each user to publish only as itself. The origin is the
//! last chunk of every key an endpoint writes (see the key layout below), so one block
//! of rules per user does it. These are the rules for a bus `trinity` with the users
//! `networking` and `proxy` (the file `deploy/access_control.json5` of this crate, the
//! `access_control` section of the router's `--config`); the crate's tests run a router
//! with exactly this file, and check that the bus works through it and that a holder of
//! proxy's credentials cannot speak as networking:
//!
//! ```json5
#![doc = include_str!("../deploy/access_control.json5")]
//! ```
//!
//! # Key layout
//!
//! Under `evb/<bus>/`, `live/<endpoint>/<incarnation>/<max frame>` and
//! `sub/<endpoint>/<incarnation>/<event>/<fingerprint>` are liveliness tokens;
//! `to/<dst>/ev/<event>/<origin>` carries events and `to/<dst>/rq/<event>/<origin>`
//! requests (queries); `to/<dst>/hb/<origin>` heartbeats (how many of each event the
//! origin sent, so that a lost last event is noticed), `to/<dst>/fl/<origin>` flushes (a
//! stopping origin's last word) and `to/<dst>/cr/<origin>` credit queries (a sender
//! asking for room in the receiver's window); `schemas/<endpoint>` answers with the
//! endpoint's schemas.
//! Names are escaped into one key chunk each (`%XX` for a reserved byte).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod announced;
mod config;
mod credit;
mod error;
mod header;
mod inbox;
mod keys;
mod link;
mod locators;
mod off_runtime;
mod presence;
mod route_keys;
pub mod router;
mod sequence;
mod session;

pub use config::{Tls, ZenohConfig};
pub use error::Error;
pub use router::Router;
/// The zenoh crate this one is built on, for [`ZenohConfig::with_zenoh_config`].
pub use zenoh;

use event_core::Endpoint;

/// Puts `endpoint` on the zenoh bus: from then on every endpoint on that bus counts as
/// connected to it, exactly as a socket peer does.
///
/// Returns once the session is open, this endpoint's presence is announced, and the
/// endpoints already on the bus are connected (each waited for up to the
/// [connect timeout](ZenohConfig::connect_timeout)). Fails with
/// `ConnectionAttemptRejected` when an endpoint of this name is on the bus already, and
/// with `Error::Backend` (holding this crate's [`Error`]) when zenoh cannot be
/// configured or reached.
pub async fn join(endpoint: &Endpoint, config: ZenohConfig) -> Result<(), event_core::Error> {
    session::join(endpoint, config).await
}

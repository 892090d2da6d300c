//! A typed, multi-process event bus.
//!
//! Declare events with `#[derive(Event)]`, requests with `#[request(response = T)]`, and
//! exchange them through an [`Endpoint`], inside one process or between processes over
//! Unix sockets. The compiler checks that a request is answered with its response type.
//!
//! ```
//! use event_core::{Endpoint, Event};
//! use futures_util::StreamExt;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Event)]
//! pub struct PeerCountResponse { pub peer_count: u64 }
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Event)]
//! #[request(response = PeerCountResponse)]
//! pub struct PeerCountRequest;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let bus = Endpoint::new("networking")?;
//! let mut requests = bus.stream_requests::<PeerCountRequest>();
//! tokio::spawn(async move {
//!     while let Some(request) = requests.next().await {
//!         request.respond(PeerCountResponse { peer_count: 3 }).await.ok();
//!     }
//! });
//! let count = bus.request(PeerCountRequest).await?; // a PeerCountResponse
//! assert_eq!(count.peer_count, 3);
//! # Ok::<(), event_core::Error>(()) }).unwrap();
//! ```
//!
//! # Declaring events
//!
//! * `#[derive(Event)]` implements [`Event`]. `NAME`, the type's identity on the wire, is
//!   `module::path::TypeName` by default; `#[event(name = "trinity.protocol.common.events.PeerCountRequest")]`
//!   pins it (do, for anything that crosses a process boundary: it then survives moving
//!   the type to another module).
//! * `#[request(response = T)]` also implements [`Request`] with `Response = T`. It is a
//!   helper attribute of the derive, as `#[serde(...)]` is of serde's: write it *below*
//!   `#[derive(..., Event)]` (above it, rustc reports a derive helper used before it is
//!   introduced; without the derive, it reports an unknown attribute).
//! * Structs (unit, tuple, named) and enums are supported. A generic type is supported
//!   when each type parameter is itself an `Event`: its `NAME` is
//!   `Prefix<P1::NAME,P2::NAME>`, built at compile time, so instantiations never share a
//!   name (`Envelope<Ping>` and `Envelope<Pong>` are two events). Lifetime and const
//!   parameters, and unions, are refused with an error at the offending token.
//! * `#[event(crate = "path")]` names this crate when it is re-exported under another path.
//! * The generated code registers every non-generic event in the [`registry`];
//!   [`Endpoint::new`] fails with [`Error::DuplicateEventName`] when two types share a name.
//!
//! # Where things are
//!
//! * [`Event`], [`Request`]: the traits; `#[derive(Event)]` implements them.
//! * [`registry`]: every event type linked into the program.
//! * [`Endpoint`]: broadcast, stream, subscribe, request/respond, subscription awareness.
//! * [`backend`]: the seam for crates that connect endpoints another way (zenoh).
//!
//! # Architecture
//!
//! Three layers, and the imports point one way: down.
//!
//! ```text
//! endpoint/   the public handles: Endpoint, EventStream, RequestStream, Subscription,
//!             InboundRequest. Thin: each call goes to the core (or to the mesh, for
//!             serve / connect_to_endpoints).
//!    |
//! bus/        the core, synchronous and without sockets: local subscribers (topics),
//!             the remote endpoints and their subscriptions (remotes), where a broadcast
//!             goes (routing), what arrives (inbound), requests in flight (requests),
//!             the delivery and back-pressure policy (delivery), name uniqueness, and
//!             the lock table at the top of bus/mod.rs.
//!    |        <- the backend seam (module `backend`, public, for backend crates)
//! mesh/       the socket mesh, the first backend: handshake rules and message handling
//!             as plain code, driven by thin reader/writer tasks, over
//! wire/       the frame codec (pure), and
//! transport/  sockets: bind, connect, stale files, clean-up (only this names Unix).
//! ```
//!
//! `codec`, `config`, `error`, `event`, `registry` and `sync` (lock helpers) sit under
//! all of them. Where to go for a change:
//!
//! * **a new backend** (a broker, another host): a crate that implements
//!   [`backend::Backend`] and [`backend::RemoteLink`], and reports remotes through
//!   [`backend::attach`]. Nothing in this crate changes; the mesh is built the same way.
//! * **a new [`BroadcastConfig`] option**: `config.rs` for the option, `bus/routing.rs`
//!   for what it does.
//! * **a new wire message**: `wire/` (layout, encode, decode) and `mesh/inbound.rs` (what
//!   it does on arrival).
//! * **the slow-subscriber policy**: `bus/delivery.rs`, whose module doc states it whole.
//! * **a new transport** (TCP): a module beside `transport/unix.rs`.
//!
//! # Semantics
//!
//! 1. A broadcast reaches every subscriber of its type, in this endpoint and in every
//!    connected one, and only those: an endpoint that does not subscribe is not sent the
//!    bytes. Bytes are encoded once per broadcast, whatever the number of connections.
//! 2. With the default [`BroadcastConfig`], `broadcast` and `request` fail with
//!    [`Error::NoSubscribers`] when nobody subscribes.
//! 3. `stream()`, `subscribe()` and `stream_requests()` are registered when they return.
//!    Other endpoints learn of it asynchronously: wait with
//!    [`Endpoint::wait_until_endpoint_subscribed_to`] and friends.
//! 4. Events from one endpoint to another arrive in the order they were sent.
//! 5. A request goes to every subscribed endpoint; the first answer wins. Answers (and
//!    subscription updates) travel ahead of queued events, so they are never stuck behind
//!    a flood: an answer may arrive before events its responder broadcast earlier. A
//!    subscription is announced before any request or event queued after it.
//! 6. A request never hangs on a recipient that is gone (disconnected, stopped, or dropped
//!    the request unanswered).
//! 7. Names are unique among connected endpoints.
//! 8. In-process, nothing is serialized: local subscribers share one `Arc<E>`.
//!
//! # Slow subscribers
//!
//! Queues are bounded. `broadcast().await` waits for room (back-pressure, across
//! processes too); a consumer whose queue stays full for
//! [`EndpointOptions::stall_timeout`] is cut off: its stream ends after what it holds and
//! [`EventStream::overflowed`] returns `true`, with an error in the log. A connected
//! process that reads nothing for twice that long is disconnected, and the sender gets
//! [`Error::Stalled`]. `broadcast_nowait` never waits and reports a full queue as
//! [`Error::QueueFull`]. Nothing is dropped silently. (The whole policy is in one place,
//! the source of `bus/delivery.rs`.)
//!
//! # The wire
//!
//! Frames are a little-endian `u32` length and a message: HELLO / WELCOME / REJECT for the
//! handshake (protocol version and endpoint name), SUBSCRIPTIONS, EVENT (event name or the
//! number the sender gave it, optional request id, postcard body), DEFINE_NAME (a number
//! for a name, sent once per connection before its first use), RESPONSE and
//! REQUEST_DROPPED. Frames above
//! [`EndpointOptions::max_frame_size`] are refused. The socket is owner-only (0600) and
//! peers of another uid are refused. A malformed frame closes only its connection; an
//! event that fails to decode is dropped alone.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod backend;
mod bus;
mod codec;
mod config;
mod endpoint;
mod error;
mod event;
mod mesh;
pub mod registry;
mod sync;
mod transport;
mod wire;

#[doc(hidden)]
pub mod __private;

pub use config::{BroadcastConfig, ConnectionConfig, EndpointOptions};
pub use endpoint::{
    ConnectionStats, Endpoint, EventStream, InboundRequest, RequestStream, Subscription,
};
pub use error::Error;
pub use event::{Event, Request};

/// `#[derive(Event)]`, with its helper attributes `#[event(...)]` and
/// `#[request(response = T)]`. See the crate documentation.
pub use event_derive::Event;

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
//!   when each type parameter has a [`StableName`]: an `Event`, a plain serde type
//!   (`u32`, `String`, `Vec<T>`, `Option<T>`, tuples, arrays) or a type that opts in. Its
//!   `NAME` is `Prefix<P1,P2>`, built at compile time from the parameters' stable names,
//!   so instantiations never share a name (`Envelope<Ping>`, `Envelope<u32>` and
//!   `Page<Vec<app.Row>>` are three events). Lifetime and const parameters, and unions,
//!   are refused with an error at the offending token.
//! * `#[event(crate = "path")]` names this crate when it is re-exported under another path.
//! * The generated code registers every non-generic event in the [`registry`];
//!   [`Endpoint::new`] fails with [`Error::DuplicateEventName`] when two types share a name.
//!
//! # Byte payloads
//!
//! serde writes and reads a plain `Vec<u8>` one byte at a time. Declare a field that
//! carries bytes (an RLP-encoded message, a hash, a blob) as bytes, with `serde_bytes`,
//! and it is encoded as a length and one copy instead:
//!
//! ```
//! use event_core::Event;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Event)]
//! #[event(name = "app.PeerMessage")]
//! struct PeerMessage {
//!     peer: u64,
//!     #[serde(with = "serde_bytes")]
//!     rlp: Vec<u8>,
//! }
//! # let _ = PeerMessage { peer: 1, rlp: vec![0xc0] };
//! ```
//!
//! Measured with `event-bench` (one process to one other, same core): a 1 KiB payload
//! as `Vec<u8>` went at 312 k events/s and 3.2 µs of CPU per delivery; declared as
//! bytes, at 823 k events/s and 1.2 µs (`ipc-broadcast` against `ipc-broadcast-bytes`
//! in one run). The field's type and value are unchanged, but its schema shape is
//! (bytes, not a sequence of `u8`): changing a field to bytes changes the event's
//! fingerprint, like any other change of its shape.
//!
//! # Where things are
//!
//! * [`Event`], [`Request`]: the traits; `#[derive(Event)]` implements them.
//! * [`registry`]: every event type linked into the program.
//! * [`Endpoint`]: broadcast, stream, subscribe, request/respond, subscription awareness.
//! * [`schema`]: each event type's schema and fingerprint.
//! * [`backend`]: the seam for crates that connect endpoints another way (zenoh).
//! * [`observe`]: copies of what other endpoints send, for tools that watch a bus.
//! * [`ConnectionConfig`], [`EndpointOptions`], [`BroadcastConfig`]: where an endpoint
//!   listens, its limits, where a broadcast goes; [`Error`]: every failure.
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
//! [`Error::QueueFull`]. Nothing is dropped silently.
//!
//! # Connecting, and who waits for whom
//!
//! `connect_to_endpoints` returns once the handshake is done. The connecting side has
//! then learned the other's subscriptions (they come with the other side's WELCOME), so it
//! may broadcast to them at once. The accepting side learns the newcomer's subscriptions a
//! moment later, in a message of their own: before it sends to the newcomer, it waits,
//! with [`Endpoint::wait_until_endpoint_subscribed_to`] (or
//! [`Endpoint::wait_until_connected_to`] first, when it does not know the newcomer will
//! come). Every `wait_until_*` waits as long as it takes, and logs a warning after
//! [`EndpointOptions::wait_warning`] naming what it waits for and who is connected
//! instead; bound it with `tokio::time::timeout` where it must end.
//!
//! [`Endpoint::connection_events`] reports every connection and disconnection, with the
//! reason; [`Endpoint::wait_until_disconnected_from`] waits for one. With
//! [`EndpointOptions::reconnect`], an endpoint remakes the connections it made when they
//! are lost (a restarted peer is reached again and its subscriptions learned anew).
//!
//! # Schemas
//!
//! Processes built at different times meet on one bus, and the wire codec is not
//! self-describing. So every event type has a schema (its structure as serde sees it) and
//! a fingerprint of it ([`schema`]); endpoints announce the fingerprints of what they
//! subscribe to and publish the schemas of what they know
//! ([`Endpoint::schemas_of`]). An event is never sent to a subscriber whose fingerprint
//! differs from the sender's: to the sender that subscriber does not subscribe, a
//! broadcast or request that only it would receive fails with
//! [`Error::IncompatibleSchema`] (naming the event, both endpoints and both fingerprints),
//! and each side logs the disagreement once. `#[event(version = N)]` marks an
//! incompatible change by hand; it is the only protection for a type whose schema cannot
//! be traced (see [`schema`]).
//!
//! # Shutting down
//!
//! [`Endpoint::stop`] refuses new operations at once, then lets every connection write
//! what was accepted (events `broadcast` returned `Ok` for, answers `respond` returned
//! `Ok` for), for up to the stall timeout, then closes everything. A broadcast still
//! waiting for room when the stop begins was not accepted: it fails with
//! [`Error::Stopped`].
//!
//! Dropping the last `Endpoint` handle stops it the same way. In a multi-threaded runtime
//! (the default of `#[tokio::main]`), or outside any runtime, the drop waits until what
//! was accepted is written (bounded by the stall timeout), so a program that returns from
//! `main` without calling `stop` loses nothing it sent. A current-thread runtime cannot
//! write while its one thread waits in a drop: there the drop stops taking new work at
//! once and finishes writing in a task, which completes only if the runtime keeps running.
//! Call `stop().await` before leaving such a runtime. Endpoints dropped while the runtime
//! itself shuts down (held by tasks it cancels) cannot write anything more.
//!
//! # The wire
//!
//! Frames are a little-endian `u32` length and a message: HELLO / WELCOME / REJECT for the
//! handshake (protocol version and endpoint name), SUBSCRIPTIONS, EVENT (event name or the
//! number the sender gave it, optional request id, postcard body), DEFINE_NAME (a number
//! for a name, sent once per connection before its first use), RESPONSE,
//! REQUEST_DROPPED, and SCHEMAS (the schemas an endpoint publishes). SUBSCRIPTIONS carry a
//! schema fingerprint per name; HELLO and WELCOME carry each side's maximum frame size. Frames above
//! [`EndpointOptions::max_frame_size`] are refused. The socket is owner-only (0600) and
//! peers of another uid are refused. A malformed frame closes only its connection; an
//! event that fails to decode is dropped alone.
//!
//! # Across hosts
//!
//! The `event-zenoh` crate puts the same [`Endpoint`] on a zenoh bus, across hosts:
//! `event_zenoh::join(&bus, ZenohConfig::client(["tcp/ROUTER:7447"]).bus("app"))` instead
//! of `serve` and `connect_to_endpoints`. Every endpoint on that bus then counts as
//! connected, with the guarantees above (its crate docs list how each is kept, and how
//! to secure a bus with credentials, TLS and access control). One endpoint may use both.
//!
//! # Observing a live bus
//!
//! [`Endpoint::observe`] makes an endpoint an observer: every connected endpoint sends it
//! a copy of what it sends, and it counts as no subscriber and never slows anyone (see
//! [`observe`]). The `evb` tool is built on it: `evb --dir DIR ls`, `evb --dir DIR tap`,
//! `evb --dir DIR request NAME JSON`, with bodies as JSON through the published schemas.
//!
//! # Bad input
//!
//! Nothing another process sends can crash, block or corrupt this one. A malformed,
//! truncated or oversized frame (above [`EndpointOptions::max_frame_size`]), a bad
//! handshake (another protocol version, an invalid or taken name), a frame that stalls
//! halfway, or more event names than a connection may number close that one connection,
//! with an error in the log; every other connection carries on. An event whose name is
//! unknown, whose body does not decode, or whose `Deserialize` panics is dropped alone
//! (a request so dropped is reported back, so its requester does not wait). Connections
//! from processes of another user are refused, and sockets are owner-only (0600). A
//! published schema that does not match its own fingerprint is ignored.
//!
//! # Logging
//!
//! The crate reports through [`tracing`](https://docs.rs/tracing), under the target
//! `event_core`: errors when a subscriber is cut off, a connection is closed for bad
//! input or a stall, or an event is dropped; warnings for schema disagreements, refused
//! connections and waits that last; connections and disconnections at `info`. **Without
//! a tracing subscriber installed, none of it appears**: install one in `main`, for
//! instance `tracing_subscriber::fmt().with_env_filter("event_core=info").init()`.
//! Whatever a program must act on is also in the API: every failed operation returns an
//! [`Error`], a cut-off stream says so ([`EventStream::overflowed`]), and
//! [`Endpoint::connection_events`] reports who came, who left and why, and events lost
//! on the way.
//!
//! # For contributors: where the code is
//!
//! (The modules below are private: this is a map of the source, for a change to the crate.)
//! The public handles, the core under them, and the backends under the core, behind a
//! public seam; the imports point one way: down.
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
//!   [`backend::attach`]. Nothing in this crate changes; the mesh is built the same way,
//!   on the public seam alone.
//! * **a new [`BroadcastConfig`] option**: `config.rs` for the option, `bus/routing.rs`
//!   for what it does.
//! * **a new wire message**: `wire/` (layout, encode, decode) and `mesh/inbound.rs` (what
//!   it does on arrival).
//! * **the slow-subscriber policy**: `bus/delivery.rs`, whose module doc states it whole.
//! * **a new transport** (TCP): a module beside `transport/unix.rs`.
//!
#![deny(missing_docs)]
// Two functions opt out, each with its reasons: `register` and `recv_into`, in
// `transport/socket.rs`.
#![deny(unsafe_code)]

pub mod backend;
mod bus;
mod codec;
mod config;
mod endpoint;
mod error;
mod event;
mod mesh;
pub mod observe;
pub mod registry;
pub mod schema;
mod stable_name;
mod sync;
mod transport;
mod wire;

#[doc(hidden)]
pub mod __private;

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use bus::connections::ConnectionEvent;
pub use config::{BroadcastConfig, ConnectionConfig, EndpointOptions, Reconnect};
pub use endpoint::{
    BroadcastFuture, ConnectionEvents, ConnectionStats, EncodedReply, Endpoint, EventStream,
    InboundRequest, RequestFuture, RequestStream, Subscription,
};
pub use error::Error;
pub use event::{Event, Request};
pub use stable_name::StableName;

/// `#[derive(Event)]`, with its helper attributes `#[event(...)]` and
/// `#[request(response = T)]` (see the crate docs, "Declaring events").
///
/// ```
/// use event_core::{Event, Request};
/// use serde::{Deserialize, Serialize};
///
/// // A pinned name: the type's identity on the wire, the same in every build.
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(name = "app.PeerJoined")]
/// pub struct PeerJoined { pub id: u64 }
///
/// // A request, and the one type it is answered with.
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(name = "app.PeerCountResponse")]
/// pub struct PeerCountResponse { pub peer_count: u64 }
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(name = "app.PeerCountRequest", version = 2)]
/// #[request(response = PeerCountResponse)]
/// pub struct PeerCountRequest;
///
/// // Enums, and generic types: each instantiation is an event of its own.
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(name = "app.Change")]
/// pub enum Change<T> { Added(T), Removed { id: u64 } }
///
/// assert_eq!(PeerJoined::NAME, "app.PeerJoined");
/// assert_eq!(PeerCountRequest::VERSION, 2);
/// assert_eq!(Change::<PeerJoined>::NAME, "app.Change<app.PeerJoined>");
/// fn answer_of<R: Request>() -> &'static str { <R::Response as Event>::NAME }
/// assert_eq!(answer_of::<PeerCountRequest>(), "app.PeerCountResponse");
/// ```
pub use event_derive::Event;

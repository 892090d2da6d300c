//! The seam between an endpoint's core and the backends that connect it to other
//! endpoints. **For backend crates**; applications use [`Endpoint`] alone.
//!
//! An [`Endpoint`] is a set of handles over a synchronous *core* that owns its state and
//! its rules: local subscribers, the remote endpoints and what each subscribes to, routing
//! decisions, pending requests, the delivery policy, and name uniqueness. A *backend*
//! connects that core to other endpoints. The socket mesh of this crate is one
//! (`Endpoint::serve`, `connect_to_endpoints`); a broker-based one (zenoh, NATS) is
//! another, in its own crate. The seam is at the level of routing, not bytes:
//!
//! * the backend tells the core which remote endpoints exist
//!   ([`Attached::add_remote`]), what each subscribes to
//!   ([`RemoteHandle::set_subscriptions`]), what arrives from them
//!   ([`RemoteHandle::deliver`], [`RemoteHandle::answer`],
//!   [`RemoteHandle::request_dropped`]), events it knows were lost
//!   ([`RemoteHandle::report_gap`]), and when one is gone
//!   ([`RemoteHandle::disconnected`]);
//! * the core asks the backend, through each remote's [`RemoteLink`], to send an encoded
//!   event or request to the remotes a broadcast selected, to send an answer or the
//!   notice that a request was dropped, and to drain or close; and through the
//!   [`Backend`] it tells the backend when this endpoint's own subscriptions change and
//!   when it stops.
//!
//! # What a backend must guarantee
//!
//! * **Order.** Events sent to one remote through [`RemoteLink::try_send`] /
//!   [`RemoteLink::send`] are handed to that remote's core in the same order, each once.
//!   Answers and drop notices may overtake events (they travel on a control lane), never
//!   each other.
//! * **Back-pressure, not loss.** `try_send` refuses with [`Refused::Full`] rather than
//!   queue without bound; the core then waits in [`RemoteLink::send`], and gives a remote
//!   that takes nothing for twice the stall timeout up ([`RemoteLink::close`]). Where the
//!   engine below can lose events anyway, the receiving backend detects it and calls
//!   [`RemoteHandle::report_gap`].
//! * **Departures are reported.** A remote that goes away (closed, crashed, lost) is
//!   reported with [`RemoteHandle::disconnected`], which fails the requests it was sent.
//! * **Subscription sets in order.** [`Backend::subscriptions_changed`] is called in the
//!   order the set changed; `add_remote`'s `greet` runs in that same order, so a backend
//!   that announces the set per remote can never deliver an older set after a newer one.
//! * **Nothing blocks, nothing calls back.** Every method here except the two returning
//!   futures is called with core locks held, or on a sender's hot path: queue and
//!   return. From inside [`Backend::subscriptions_changed`], [`Backend::stop`],
//!   [`RemoteLink`] methods and `add_remote`'s `greet`, do not call [`Attached`] or
//!   [`RemoteHandle`] methods: the core's locks are not re-entrant, and that deadlocks.
//!   Hand the work to a task instead.
//! * **Hold [`Attached`], never an `Endpoint`.** The core holds its backends until it
//!   stops; a backend that held an `Endpoint` handle would keep it from ever stopping by
//!   drop.
//!
//! An event's body is encoded once per broadcast by the core (postcard) and lent to every
//! remote's `try_send`; `name_id` is a number the core gives each event name, so a backend
//! may send the name once and the number afterwards (the socket mesh does). The socket
//! mesh of this crate is written against this module alone, as an outside backend would
//! be (`event-core/tests/layers.rs` checks that).
//!
//! [`Endpoint`]: crate::Endpoint

pub(crate) mod handles;
pub(crate) mod link;

pub use bytes::Bytes;
pub use handles::{Attached, RemoteHandle, TopicCache};
pub use link::{Backend, BoxFuture, MessageKind, Outgoing, Refused, RemoteLink, MESSAGE_OVERHEAD};

use crate::error::Error;
use std::sync::Arc;

/// Puts `backend` on `endpoint`, returning the handle through which it reports remotes.
///
/// Fails with [`Error::Stopped`] once the endpoint is stopped.
pub fn attach(
    endpoint: &crate::endpoint::Endpoint,
    backend: Arc<dyn Backend>,
) -> Result<Attached, Error> {
    let bus = endpoint.bus().clone();
    bus.attach(backend)?;
    Ok(Attached::new(bus))
}

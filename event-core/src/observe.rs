//! Observing a bus: a copy of what other endpoints send, for tools (`evb tap`).
//!
//! [`Endpoint::observe`](crate::Endpoint::observe) makes this endpoint an *observer* of
//! some event names (or all of them). Every endpoint it is connected to then sends it a
//! copy of each broadcast, request and answer of those names that it sends anywhere, as
//! an [`Observed`]: who sent it, to whom, the name, and the encoded body (decode it with
//! the sender's published schema, [`Endpoint::schemas_of`](crate::Endpoint::schemas_of)).
//!
//! # Guarantees
//!
//! * **An observer is not a subscriber.** It does not count for
//!   [`Error::NoSubscribers`](crate::Error::NoSubscribers), for the `wait_until_*` and
//!   `is_*_subscribed_to` methods, or as a recipient of a request (it is sent a copy, and
//!   is never waited for). A broadcast that only an observer would see still fails with
//!   `NoSubscribers`, and is not copied.
//! * **An observer never slows the bus.** A sender hands it a copy only if its link has
//!   room at that moment, and never waits for it; the observer's own queue is bounded
//!   ([`EndpointOptions::queue_capacity`](crate::EndpointOptions::queue_capacity)) and
//!   full means dropped. Nothing is dropped silently while a connection lasts: every
//!   [`Observed`] says how many copies from its origin were missed just before it
//!   ([`Observed::missed`]), on the sender's side and on this one. (Copies still queued
//!   when a connection closes are not counted, and a sender counts for all observations
//!   of one endpoint together.) A stopping endpoint does not wait for an observer to
//!   take its copies.
//! * **Order.** Copies from one sender arrive in the order it sent the originals.
//! * **What is seen.** What endpoints send to one another or to everyone: broadcasts
//!   (not those with [`BroadcastConfig::internal`](crate::BroadcastConfig::internal),
//!   which stay in their process, nor their requests' answers), requests, and answers
//!   (an answer is observed under its request's name). An observer sees only what endpoints it is
//!   connected to send, from the moment each of them learned of the observation.
//! * **Cost.** Nothing for an endpoint that has no observer connected (one atomic load
//!   per broadcast); with one, an encode and a copy per observed message.
//! * **Who may observe.** Any connected endpoint may, unless the sender turns it off
//!   with [`EndpointOptions::allow_observers`](crate::EndpointOptions::allow_observers):
//!   do, where an endpoint may not read what is sent to others (a zenoh bus whose users
//!   may announce subscriptions). `observe(["*"])` is `observe` of everything.
//!
//! The observation is announced as subscriptions to reserved names
//! (`event_core.observe:<name>`, `event_core.observe:*`), so every backend carries it
//! as it carries subscriptions; [`Endpoint::connected_endpoints_and_subscriptions`]
//! shows them.
//!
//! [`Endpoint::connected_endpoints_and_subscriptions`]: crate::Endpoint::connected_endpoints_and_subscriptions

use crate::event::Event;
use bytes::Bytes;
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The prefix of the reserved subscription names that announce an observation.
pub const OBSERVE_PREFIX: &str = "event_core.observe:";

/// What one observed message was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ObservedKind {
    /// A broadcast event.
    Broadcast,
    /// A request, with the id its requester gave it.
    Request {
        /// The id, unique per requester: its answer carries it.
        id: u64,
    },
    /// An answer to a request.
    Answer {
        /// The id of the request it answers (the requester's, see [`ObservedKind::Request`]).
        request_id: u64,
        /// The request's name.
        request: String,
    },
}

/// A copy of one message an endpoint sent, as an observer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Observed {
    /// The endpoint that sent it (the one its copy came from: never a name in the copy).
    pub origin: String,
    /// The endpoint it was sent to; `None` for a broadcast to every subscriber.
    pub target: Option<String>,
    /// The event's `NAME` (the answer's own, for an answer).
    pub name: String,
    /// Broadcast, request, or answer.
    pub kind: ObservedKind,
    /// The encoded body (postcard), as the sender encoded it.
    pub body: Bytes,
    /// How many copies were missed just before this one, because the link to this
    /// observer or its queue here was full.
    pub missed: u64,
}

/// What a sender sends an observer: one message's copy. An event of its own, so that it
/// travels every backend as events do, in order with the others.
#[derive(Debug, Serialize, Deserialize, event_derive::Event)]
#[event(crate = "crate", name = "event_core.Observed")]
pub(crate) struct Copy {
    pub kind: ObservedKind,
    pub target: Option<String>,
    pub name: String,
    pub body: Bytes,
    /// Copies to this observer this sender could not send since its previous one.
    pub missed: u64,
}

/// The reserved name that announces the observation of `event` (`None`: of everything).
pub(crate) fn marker(event: Option<&str>) -> String {
    format!("{OBSERVE_PREFIX}{}", event.unwrap_or("*"))
}

/// The name a sender gives [`Copy`]: an observer announces its markers with this type's
/// fingerprint, so that a sender built with another `Copy` sends it nothing.
pub(crate) const COPY_NAME: &str = <Copy as Event>::NAME;

/// The copies of what connected endpoints send, from [`Endpoint::observe`]: a [`Stream`]
/// of [`Observed`].
///
/// Registered when `observe()` returns (remotes learn of it asynchronously, as of a
/// subscription); dropping it ends the observation. It ends when the endpoint stops.
///
/// [`Endpoint::observe`]: crate::Endpoint::observe
pub struct Observation {
    pub(crate) rx: mpsc::Receiver<Observed>,
    pub(crate) _guard: Option<Arc<dyn Send + Sync>>,
}

impl Stream for Observation {
    type Item = Observed;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Observed>> {
        self.rx.poll_recv(cx)
    }
}

impl std::fmt::Debug for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observation")
            .field("queued", &self.rx.len())
            .finish_non_exhaustive()
    }
}

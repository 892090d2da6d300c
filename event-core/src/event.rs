//! The two traits a user's types implement, through `#[derive(Event)]`.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A type that can travel on the bus.
///
/// Implement it with `#[derive(Event)]`, which also registers the type in the
/// [`registry`](crate::registry). An event is serialized only when it leaves the process;
/// subscribers in the same endpoint share one `Arc` of it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event",
    label = "`{Self}` does not implement `event_core::Event`",
    note = "declare it with `#[derive(Debug, Clone, Serialize, Deserialize, Event)]`"
)]
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name: the identity of the event type on the wire and in the registry.
    ///
    /// `#[derive(Event)]` makes it `module::path::TypeName`, or the string given by
    /// `#[event(name = "...")]`. For a generic type it is `Prefix<P1::NAME,P2::NAME>`, so
    /// every instantiation has a name of its own.
    const NAME: &'static str;

    /// A number to bump by hand for an incompatible change that tracing cannot see (see
    /// [`schema`](crate::schema)): `#[event(version = N)]`, 0 by default. It is part of the
    /// schema fingerprint, so processes built with different versions of the type never
    /// exchange it.
    const VERSION: u32 = 0;
}

/// An event that expects exactly one typed answer, declared with
/// `#[request(response = T)]` next to `#[derive(Event)]`.
///
/// [`Endpoint::request`](crate::Endpoint::request) returns `R::Response`, and
/// [`InboundRequest::respond`](crate::InboundRequest::respond) accepts only
/// `R::Response`: the binding is checked by the compiler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request",
    label = "`{Self}` has no `#[request(response = ...)]` binding",
    note = "declare its response type: `#[derive(Event)] #[request(response = MyResponse)]`"
)]
pub trait Request: Event {
    /// The one type a responder may answer with.
    type Response: Event;
}

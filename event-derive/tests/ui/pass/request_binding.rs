use event_core::{Event, Request};
use serde::{Deserialize, Serialize};
use std::any::TypeId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct PeerCountResponse {
    pub peer_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[request(response = PeerCountResponse)]
pub struct PeerCountRequest;

// The response may be written as a path.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[request(response = self::PeerCountRequest)]
pub struct Nested;

// A request whose response is itself a request.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[request(response = Nested)]
pub struct Outer;

fn response_name<R: Request>() -> &'static str {
    <R::Response as Event>::NAME
}

// Compiles only if the binding is exactly `PeerCountResponse`.
fn answer<R: Request<Response = PeerCountResponse>>(_: &R) -> R::Response {
    PeerCountResponse { peer_count: 3 }
}

fn response_type<R: Request>() -> TypeId {
    TypeId::of::<R::Response>()
}

fn main() {
    assert_eq!(answer(&PeerCountRequest).peer_count, 3);
    assert_eq!(
        response_name::<PeerCountRequest>(),
        concat!(module_path!(), "::PeerCountResponse")
    );
    assert_eq!(
        response_type::<PeerCountRequest>(),
        TypeId::of::<PeerCountResponse>()
    );
    assert_eq!(response_name::<Nested>(), PeerCountRequest::NAME);
    assert_eq!(
        response_name::<<Outer as Request>::Response>(),
        PeerCountRequest::NAME
    );
}

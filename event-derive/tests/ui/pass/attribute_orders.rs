use event_core::{Event, Request};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Pong;

#[derive(Debug, Serialize, Deserialize, Event)]
#[request(response = Pong)]
#[event(name = "order.RequestFirst")]
pub struct RequestFirst;

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "order.EventFirst")]
#[request(response = Pong)]
pub struct EventFirst;

// Both keys in one attribute, in either order, and the derive in its own attribute.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(crate = "::event_core", name = "order.CrateFirst")]
#[request(response = Pong)]
pub struct CrateFirst;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "order.NameFirst", crate = "::event_core")]
pub struct NameFirst;

// `#[event]` split over two attributes, one key each.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "order.Split")]
#[event(crate = "::event_core")]
pub struct Split;

// Trailing commas are accepted.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "order.Trailing")]
#[request(response = Pong,)]
pub struct Trailing;

fn response_name<R: Request>() -> &'static str {
    <R::Response as Event>::NAME
}

fn main() {
    assert_eq!(RequestFirst::NAME, "order.RequestFirst");
    assert_eq!(EventFirst::NAME, "order.EventFirst");
    assert_eq!(CrateFirst::NAME, "order.CrateFirst");
    assert_eq!(NameFirst::NAME, "order.NameFirst");
    assert_eq!(Split::NAME, "order.Split");
    assert_eq!(Trailing::NAME, "order.Trailing");
    for name in [
        response_name::<RequestFirst>(),
        response_name::<EventFirst>(),
        response_name::<CrateFirst>(),
        response_name::<Trailing>(),
    ] {
        assert_eq!(name, concat!(module_path!(), "::Pong"));
    }
}

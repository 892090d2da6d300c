// A generic event with a bad attribute: only the attribute error, no "not an event" at uses.
use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Ping;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "has space")]
pub struct Envelope<T>(pub T);

fn needs_event<E: Event>() {}

fn main() {
    needs_event::<Envelope<Ping>>();
}

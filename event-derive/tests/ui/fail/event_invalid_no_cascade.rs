use event_core::{Endpoint, Event};
use serde::{Deserialize, Serialize};

// A type whose declaration is wrong still implements `Event` (a stub), so its uses below
// add no "`Bad` is not an event" errors to the attribute error.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "has space")]
pub struct Bad;

fn needs_event<E: Event>() {}

pub async fn publish(bus: &Endpoint) {
    let _ = bus.broadcast(Bad).await;
    let _ = bus.stream::<Bad>();
}

fn main() {
    needs_event::<Bad>();
    let _ = Bad::NAME;
}

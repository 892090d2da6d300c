use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Envelope<T>(pub T);

fn needs_event<E: Event>() {}

fn main() {
    needs_event::<Envelope<u32>>();
}

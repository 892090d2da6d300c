use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Envelope<T>(pub T);

// Serializable, but neither an event nor a type with a stable name.
#[derive(Serialize, Deserialize)]
pub struct Row {
    pub id: u64,
}

fn needs_event<E: Event>() {}

fn main() {
    needs_event::<Envelope<u32>>();
    needs_event::<Envelope<Row>>();
}

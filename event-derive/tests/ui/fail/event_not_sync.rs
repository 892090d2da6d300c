use event_core::Event;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

// `Cell` is serializable and `Send`, but not `Sync`: events are shared between tasks.
#[derive(Serialize, Deserialize, Event)]
pub struct Counter {
    pub count: Cell<u64>,
}

fn main() {}

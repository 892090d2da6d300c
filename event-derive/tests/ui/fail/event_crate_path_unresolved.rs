use event_core::Event;
use serde::{Deserialize, Serialize};

// A well-formed path that does not lead to event_core.
#[derive(Serialize, Deserialize, Event)]
#[event(crate = "::no_such_crate")]
pub struct Ping;

fn main() {}

use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(crate = "not a path!")]
pub struct Ping;

fn main() {}

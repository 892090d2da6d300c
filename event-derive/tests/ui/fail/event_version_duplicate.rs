use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(version = 1, version = 2)]
pub struct Ping;

fn main() {}

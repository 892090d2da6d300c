use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(nme = "x")]
pub struct Ping;

fn main() {}

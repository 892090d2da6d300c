use event_core::Event;
use serde::{Deserialize, Serialize};

// Serializable, but not an event.
#[derive(Serialize, Deserialize)]
pub struct Pong;

#[derive(Serialize, Deserialize, Event)]
#[request(response = Pong)]
pub struct Ping;

fn main() {}

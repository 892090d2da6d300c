use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

// Every mistake is reported in one compilation, not only the first.
#[derive(Serialize, Deserialize, Event)]
#[event(nme = "x", name = "has space", name = "second")]
#[request(reply = Pong)]
pub struct Ping;

fn main() {}

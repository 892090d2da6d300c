use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

#[derive(Serialize, Deserialize)]
#[request(response = Pong)]
pub struct Ping;

fn main() {}

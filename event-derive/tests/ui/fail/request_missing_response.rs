use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

#[derive(Serialize, Deserialize, Event)]
#[request]
pub struct BarePing;

#[derive(Serialize, Deserialize, Event)]
#[request()]
pub struct EmptyPing;

fn main() {}

use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "a", name = "b")]
pub struct Ping;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "c")]
#[event(name = "d")]
pub struct Pong;

#[derive(Serialize, Deserialize, Event)]
#[event(crate = "::event_core", crate = "::event_core")]
pub struct Pang;

fn main() {}

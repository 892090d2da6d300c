use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

#[derive(Serialize, Deserialize, Event)]
pub struct Pang;

#[derive(Serialize, Deserialize, Event)]
#[request(response = Pong, response = Pang)]
pub struct Ping;

fn main() {}

use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

#[derive(Serialize, Deserialize, Event)]
#[request(response = 42)]
pub struct NumberPing;

#[derive(Serialize, Deserialize, Event)]
#[request(response = "Pong")]
pub struct StringPing;

#[derive(Serialize, Deserialize, Event)]
#[request(response)]
pub struct NoValuePing;

fn main() {}

use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event]
pub struct Bare;

#[derive(Serialize, Deserialize, Event)]
#[event = "my.Ping"]
pub struct NameValue;

fn main() {}

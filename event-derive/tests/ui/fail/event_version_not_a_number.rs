use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(version = "2")]
pub struct Quoted;

#[derive(Serialize, Deserialize, Event)]
#[event(version = -1)]
pub struct Negative;

#[derive(Serialize, Deserialize, Event)]
#[event(version = 4294967296)]
pub struct TooLarge;

fn main() {}

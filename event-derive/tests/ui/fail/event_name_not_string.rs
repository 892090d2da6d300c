use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = 5)]
pub struct Number;

#[derive(Serialize, Deserialize, Event)]
#[event(name = some::path)]
pub struct PathName;

#[derive(Serialize, Deserialize, Event)]
#[event(crate = event_core)]
pub struct PathCrate;

fn main() {}

// A derive helper written above the derive that introduces it is a future-incompatible
// warning (`legacy_derive_helpers`); with the lint denied it is an error.
#![deny(legacy_derive_helpers)]

use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

#[request(response = Pong)]
#[derive(Serialize, Deserialize, Event)]
pub struct Ping;

fn main() {}

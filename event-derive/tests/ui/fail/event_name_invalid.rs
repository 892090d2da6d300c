use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "")]
pub struct Empty;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "has space")]
pub struct Space;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "Envelope<Ping>")]
pub struct Angle;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "a,b")]
pub struct Comma;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "line\nbreak")]
pub struct Control;

fn main() {}

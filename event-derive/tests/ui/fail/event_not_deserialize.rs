use event_core::Event;
use serde::Serialize;

#[derive(Serialize, Event)]
pub struct Ping {
    pub id: u64,
}

fn main() {}

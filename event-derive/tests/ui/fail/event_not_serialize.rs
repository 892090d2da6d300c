use event_core::Event;
use serde::Deserialize;

#[derive(Deserialize, Event)]
pub struct Ping {
    pub id: u64,
}

fn main() {}

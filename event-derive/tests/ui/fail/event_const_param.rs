use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Fixed<const N: usize> {
    pub len: u64,
}

fn main() {}

use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Borrowed<'a> {
    pub text: &'a str,
}

fn main() {}

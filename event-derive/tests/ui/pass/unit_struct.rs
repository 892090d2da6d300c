use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct Tick;

fn name_of<E: Event>(_: &E) -> &'static str {
    E::NAME
}

fn main() {
    assert_eq!(Tick::NAME, concat!(module_path!(), "::Tick"));
    assert_eq!(name_of(&Tick), Tick::NAME);
}

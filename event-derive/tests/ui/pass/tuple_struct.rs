use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct BlockNumber(pub u64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct Pair(pub String, pub Vec<u8>);

fn main() {
    assert_eq!(BlockNumber::NAME, concat!(module_path!(), "::BlockNumber"));
    assert_eq!(Pair::NAME, concat!(module_path!(), "::Pair"));
    assert_eq!(BlockNumber(7).0, 7);
    assert_eq!(Pair("a".into(), vec![1]).1, vec![1]);
}

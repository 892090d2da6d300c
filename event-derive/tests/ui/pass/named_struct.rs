use event_core::Event;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct PeerJoined {
    pub peer_id: String,
    pub port: u16,
    pub capabilities: Vec<String>,
    pub extra: BTreeMap<String, Option<u64>>,
}

fn main() {
    assert_eq!(PeerJoined::NAME, concat!(module_path!(), "::PeerJoined"));
    let event = PeerJoined {
        peer_id: "p".into(),
        port: 30303,
        capabilities: vec!["eth/66".into()],
        extra: BTreeMap::new(),
    };
    assert_eq!(event.clone(), event);
}

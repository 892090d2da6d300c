use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub enum PeerChange {
    Joined { peer_id: String, port: u16 },
    Left(String),
    Reset,
}

// An enum with no variants cannot be constructed, but it is still a valid declaration.
#[derive(Debug, Serialize, Deserialize, Event)]
pub enum Never {}

fn main() {
    assert_eq!(PeerChange::NAME, concat!(module_path!(), "::PeerChange"));
    assert_eq!(Never::NAME, concat!(module_path!(), "::Never"));
    let changes = [
        PeerChange::Joined {
            peer_id: "a".into(),
            port: 1,
        },
        PeerChange::Left("a".into()),
        PeerChange::Reset,
    ];
    assert_eq!(changes.len(), 3);
    assert!(matches!(changes[2], PeerChange::Reset));
}

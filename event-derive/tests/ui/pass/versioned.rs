//! `#[event(version = N)]` sets `Event::VERSION`, and is part of the schema fingerprint.
use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "ui.Versioned", version = 3)]
pub struct Versioned {
    pub n: u64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "ui.Unversioned")]
pub struct Unversioned {
    pub n: u64,
}

fn main() {
    assert_eq!(Versioned::VERSION, 3);
    assert_eq!(Unversioned::VERSION, 0);
    let versioned = event_core::schema::schema_of::<Versioned>();
    let unversioned = event_core::schema::schema_of::<Unversioned>();
    assert_eq!(versioned.version(), 3);
    assert_ne!(versioned.fingerprint(), unversioned.fingerprint());
}

use event_core::{Event, Request};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize, Event)]
#[serde(rename_all = "camelCase")]
#[event(name = "serde.Pong")]
pub struct Pong {
    pub peer_count: u64,
}

/// Doc comments, serde attributes and the event attributes, interleaved.
#[derive(Debug, Serialize, Deserialize, Event)]
#[serde(rename = "PingV2")]
#[request(response = Pong)]
#[serde(deny_unknown_fields)]
#[event(name = "serde.Ping")]
/// A second doc line after the attributes.
pub struct Ping {
    #[serde(default)]
    pub attempt: u32,
    #[serde(skip)]
    pub local_only: bool,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[serde(tag = "kind")]
#[event(name = "serde.Change")]
#[allow(dead_code)]
pub enum Change {
    #[serde(rename = "joined")]
    Joined {
        peer_id: String,
    },
    Left {
        peer_id: String,
    },
}

fn main() {
    assert_eq!(Ping::NAME, "serde.Ping");
    assert_eq!(Pong::NAME, "serde.Pong");
    assert_eq!(Change::NAME, "serde.Change");
    assert_eq!(<<Ping as Request>::Response as Event>::NAME, "serde.Pong");
    let ping = Ping {
        attempt: 1,
        local_only: true,
    };
    assert!(ping.local_only && ping.attempt == 1);
}

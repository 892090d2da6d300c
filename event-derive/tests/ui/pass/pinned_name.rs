use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.PeerCountRequest")]
pub struct PeerCountRequest;

mod deep {
    pub mod inside {
        use event_core::Event;
        use serde::{Deserialize, Serialize};

        // A pinned name does not depend on where the type is declared.
        #[derive(Debug, Serialize, Deserialize, Event)]
        #[event(name = "trinity.Moved")]
        pub struct Moved;
    }
}

fn main() {
    assert_eq!(
        PeerCountRequest::NAME,
        "trinity.protocol.common.events.PeerCountRequest"
    );
    assert_eq!(deep::inside::Moved::NAME, "trinity.Moved");
}

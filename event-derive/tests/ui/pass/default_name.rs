use event_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct TopLevel;

mod network {
    pub mod peers {
        use event_core::Event;
        use serde::{Deserialize, Serialize};

        #[derive(Debug, Serialize, Deserialize, Event)]
        pub struct PeerCount(pub u64);

        pub const EXPECTED: &str = concat!(module_path!(), "::", "PeerCount");
    }
}

fn main() {
    // Declared inside a function: the module path is still that of the enclosing module.
    #[derive(Debug, Serialize, Deserialize, Event)]
    struct Local;

    assert_eq!(TopLevel::NAME, concat!(module_path!(), "::", "TopLevel"));
    // The crate root's module path is the crate name.
    assert_eq!(
        TopLevel::NAME,
        format!("{}::TopLevel", env!("CARGO_CRATE_NAME"))
    );
    assert_eq!(network::peers::PeerCount::NAME, network::peers::EXPECTED);
    assert_eq!(
        network::peers::PeerCount::NAME,
        concat!(module_path!(), "::network::peers::PeerCount")
    );
    assert_eq!(Local::NAME, concat!(module_path!(), "::", "Local"));
}

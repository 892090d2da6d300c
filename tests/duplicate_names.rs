//! Two different types with the same `NAME` make every endpoint of the program refuse to
//! start, naming both types. (Its own test binary: the clash affects the whole program.)

use event_core::{Endpoint, Error, Event};
use serde::{Deserialize, Serialize};

mod networking {
    #[derive(serde::Serialize, serde::Deserialize, event_core::Event)]
    #[event(name = "app.PeerJoined")]
    pub struct PeerJoined {
        pub id: u64,
    }
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "app.PeerJoined")]
pub struct PeerJoined {
    pub name: String,
}

#[test]
fn two_types_with_one_name_make_endpoint_new_fail() {
    let error = Endpoint::new("any").unwrap_err();
    match &error {
        Error::DuplicateEventName {
            name,
            first_type,
            second_type,
            advice,
        } => {
            // Both pin the name: the fix is to change one, not to pin one.
            assert_eq!(
                advice,
                "both declare `#[event(name = \"app.PeerJoined\")]`: change the name of one of them"
            );
            assert_eq!(*name, "app.PeerJoined");
            let mut types = [*first_type, *second_type];
            types.sort();
            assert_eq!(
                types,
                [
                    "duplicate_names::PeerJoined",
                    "duplicate_names::networking::PeerJoined"
                ]
            );
        }
        other => panic!("expected DuplicateEventName, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("duplicate_names::networking::PeerJoined"),
        "{message}"
    );
    assert_eq!(networking::PeerJoined::NAME, PeerJoined::NAME);
}

#[tokio::test]
async fn serve_fails_the_same_way() {
    let dir = std::env::temp_dir();
    let config = event_core::ConnectionConfig::from_name("duplicate-names-test", dir);
    assert!(matches!(
        Endpoint::serve(config).await,
        Err(Error::DuplicateEventName { .. })
    ));
}

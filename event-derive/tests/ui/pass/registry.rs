use event_core::{registry, Event};
use serde::{Deserialize, Serialize};
use std::any::TypeId;

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "ui.registry.Pong")]
pub struct Pong;

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "ui.registry.Ping")]
#[request(response = Pong)]
pub struct Ping;

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Unpinned {
    pub value: u64,
}

mod inner {
    use event_core::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, Event)]
    pub enum Hidden {
        A,
    }
}

fn main() {
    let ping = registry::find("ui.registry.Ping").expect("Ping is registered");
    assert_eq!(ping.name(), Ping::NAME);
    assert_eq!(ping.response_name(), Some("ui.registry.Pong"));
    assert!(ping.is_request());
    assert_eq!(ping.type_id(), TypeId::of::<Ping>());
    assert!(ping.type_name().ends_with("Ping"));

    let pong = registry::find(Pong::NAME).expect("Pong is registered");
    assert_eq!(pong.response_name(), None);
    assert!(!pong.is_request());

    let names: Vec<&str> = registry::all().map(|info| info.name()).collect();
    for expected in [
        "ui.registry.Ping",
        "ui.registry.Pong",
        concat!(module_path!(), "::Unpinned"),
        concat!(module_path!(), "::inner::Hidden"),
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(
        registry::find(inner::Hidden::NAME).unwrap().type_id(),
        TypeId::of::<inner::Hidden>()
    );
    assert!(registry::find("ui.registry.Nope").is_none());
    registry::check_unique_names().unwrap();
}

use serde::{Deserialize, Serialize};

mod reexport {
    pub use ::event_core;
}

mod facade {
    pub mod bus {
        pub use ::event_core::*;
    }
}

use event_core as renamed;

#[derive(Debug, Serialize, Deserialize, event_core::Event)]
#[event(crate = "reexport::event_core")]
pub struct ViaReexport;

#[derive(Debug, Serialize, Deserialize, reexport::event_core::Event)]
#[event(crate = "crate::facade::bus", name = "ui.ViaFacade")]
#[request(response = ViaReexport)]
pub struct ViaFacade;

#[derive(Debug, Serialize, Deserialize, renamed::Event)]
#[event(crate = "renamed")]
pub struct ViaRename<T>(pub T);

#[derive(Debug, Serialize, Deserialize, event_core::Event)]
#[event(crate = "::event_core")]
pub struct Explicit;

fn main() {
    use event_core::{Event, Request};
    assert_eq!(ViaReexport::NAME, concat!(module_path!(), "::ViaReexport"));
    assert_eq!(ViaFacade::NAME, "ui.ViaFacade");
    assert_eq!(
        <<ViaFacade as Request>::Response as Event>::NAME,
        ViaReexport::NAME
    );
    assert_eq!(
        ViaRename::<Explicit>::NAME,
        concat!(
            module_path!(),
            "::ViaRename<",
            module_path!(),
            "::Explicit>"
        )
    );
    let info = event_core::registry::find("ui.ViaFacade").unwrap();
    assert_eq!(
        info.response_name(),
        Some(concat!(module_path!(), "::ViaReexport"))
    );
}

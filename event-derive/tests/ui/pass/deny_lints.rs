//! The generated code must be silent under strict lint settings.
#![deny(warnings, unused_qualifications, missing_docs, unreachable_pub)]
#![deny(rust_2018_idioms, unused_results, trivial_casts, trivial_numeric_casts)]
#![deny(missing_debug_implementations, non_local_definitions, unsafe_code)]
#![deny(clippy::all, clippy::pedantic)]

use event_core::Event;
use serde::{Deserialize, Serialize};

/// A response.
#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Pong;

/// A request.
#[derive(Debug, Serialize, Deserialize, Event)]
#[request(response = Pong)]
#[event(name = "lints.Ping")]
pub struct Ping;

/// A generic event.
#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Envelope<T>(pub T);

/// A generic request.
#[derive(Debug, Serialize, Deserialize, Event)]
#[request(response = Envelope<T>)]
pub struct Wrap<T>(pub T);

mod private {
    use event_core::Event;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, Event)]
    pub(crate) struct Internal {
        pub(crate) id: u64,
    }
}

fn main() {
    #[derive(Debug, Serialize, Deserialize, Event)]
    struct Local;

    assert_eq!(Ping::NAME, "lints.Ping");
    assert_eq!(Pong::NAME, concat!(module_path!(), "::Pong"));
    assert_eq!(
        Envelope::<Pong>::NAME,
        concat!(module_path!(), "::Envelope<", module_path!(), "::Pong>")
    );
    assert_eq!(
        Wrap::<Pong>::NAME,
        concat!(module_path!(), "::Wrap<", module_path!(), "::Pong>")
    );
    assert_eq!(
        private::Internal::NAME,
        concat!(module_path!(), "::private::Internal")
    );
    assert_eq!(private::Internal { id: 1 }.id, 1);
    assert_eq!(Local::NAME, concat!(module_path!(), "::Local"));
}

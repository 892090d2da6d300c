use event_core::{Event, Request};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct Ping;

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "app.Pong")]
pub struct Pong;

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Envelope<T>(pub T);

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "app.Pair")]
pub struct Pair<A, B> {
    pub first: A,
    pub second: B,
}

// Bounds on the parameters are kept next to the `T: Event` bound the derive adds.
#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Bounded<T: Clone>
where
    T: std::fmt::Debug,
{
    pub value: T,
}

// A generic request whose response depends on the parameter.
#[derive(Debug, Serialize, Deserialize, Event)]
#[request(response = Envelope<T>)]
pub struct Wrap<T>(pub T);

// The response may be the parameter itself.
#[derive(Debug, Serialize, Deserialize, Event)]
#[request(response = T)]
pub struct Echo<T>(pub T);

// Plain serde types as parameters, and a type that opts in.
#[derive(Debug, Serialize, Deserialize)]
pub struct Row {
    pub id: u64,
}

impl event_core::StableName for Row {
    const STABLE_NAME: &'static str = "app.Row";
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "app.Page")]
pub struct Page<T> {
    pub items: T,
}

fn response_name<R: Request>() -> &'static str {
    <R::Response as Event>::NAME
}

fn main() {
    assert_eq!(Ping::NAME, concat!(module_path!(), "::Ping"));
    assert_eq!(
        Envelope::<Ping>::NAME,
        concat!(module_path!(), "::Envelope<", module_path!(), "::Ping>")
    );
    assert_eq!(
        Envelope::<Ping>::NAME,
        format!("{}::Envelope<{}>", module_path!(), Ping::NAME)
    );
    assert_eq!(
        Envelope::<Pong>::NAME,
        concat!(module_path!(), "::Envelope<app.Pong>")
    );
    assert_ne!(Envelope::<Ping>::NAME, Envelope::<Pong>::NAME);
    assert_eq!(
        Envelope::<Envelope<Ping>>::NAME,
        concat!(
            module_path!(),
            "::Envelope<",
            module_path!(),
            "::Envelope<",
            module_path!(),
            "::Ping>>"
        )
    );
    assert_eq!(
        Pair::<Ping, Pong>::NAME,
        concat!("app.Pair<", module_path!(), "::Ping,app.Pong>")
    );
    assert_ne!(Pair::<Ping, Pong>::NAME, Pair::<Pong, Ping>::NAME);
    assert_eq!(
        Bounded::<Ping>::NAME,
        concat!(module_path!(), "::Bounded<", module_path!(), "::Ping>")
    );
    assert_eq!(
        response_name::<Wrap<Pong>>(),
        concat!(module_path!(), "::Envelope<app.Pong>")
    );
    assert_eq!(response_name::<Echo<Pong>>(), "app.Pong");
    assert_eq!(
        Echo::<Pong>::NAME,
        concat!(module_path!(), "::Echo<app.Pong>")
    );
    assert_eq!(
        Envelope::<u32>::NAME,
        concat!(module_path!(), "::Envelope<u32>")
    );
    assert_ne!(Envelope::<u32>::NAME, Envelope::<u64>::NAME);
    assert_eq!(Page::<Vec<Row>>::NAME, "app.Page<Vec<app.Row>>");
    assert_eq!(Page::<Option<String>>::NAME, "app.Page<Option<String>>");
    assert_eq!(Page::<(u8, [u16; 4])>::NAME, "app.Page<(u8,[u16;4])>");
    assert_eq!(Page::<Vec<Ping>>::NAME, concat!("app.Page<Vec<", module_path!(), "::Ping>>"));
    // The name is a compile-time constant.
    const NAME: &str = Envelope::<Ping>::NAME;
    assert!(NAME.ends_with(concat!("<", module_path!(), "::Ping>")));
    // Generic types have no single instantiation to register.
    assert!(event_core::registry::find(NAME).is_none());
}

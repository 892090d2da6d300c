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
    // The name is a compile-time constant.
    const NAME: &str = Envelope::<Ping>::NAME;
    assert!(NAME.ends_with(concat!("<", module_path!(), "::Ping>")));
    // Generic types have no single instantiation to register.
    assert!(event_core::registry::find(NAME).is_none());
}

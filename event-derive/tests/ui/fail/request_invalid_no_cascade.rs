use event_core::{Endpoint, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong {
    pub echo: u64,
}

// A misspelt key: one error, at the key. The uses below add none (the type is still a
// request, answered by the type the attribute names).
#[derive(Serialize, Deserialize, Event)]
#[request(respons = Pong)]
pub struct Ask;

// A response in quotes: one error, at the string.
#[derive(Serialize, Deserialize, Event)]
#[request(response = "Pong")]
pub struct Quoted;

// No type at all: one error, at the attribute; uses still add none.
#[derive(Serialize, Deserialize, Event)]
#[request()]
pub struct Bare;

// A generic request with a typo elsewhere: one error, at the typo; the response built
// from the parameter still binds.
#[derive(Serialize, Deserialize, Event)]
#[event(nmae = "app.Echo")]
#[request(response = T)]
pub struct Echo<T>(pub T);

pub async fn echo(bus: &Endpoint) -> u64 {
    bus.request(Echo(Pong { echo: 1 })).await.unwrap().echo
}

pub async fn ask(bus: &Endpoint) -> u64 {
    let pong = bus.request(Ask).await.unwrap();
    let quoted = bus.request(Quoted).await.unwrap();
    let _ = bus.request(Bare).await;
    pong.echo + quoted.echo
}

pub fn serve(bus: &Endpoint) {
    let _ = bus.stream_requests::<Ask>();
    let _ = bus.stream_requests::<Bare>();
}

fn main() {}

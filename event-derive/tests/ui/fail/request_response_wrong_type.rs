use event_core::{Endpoint, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

#[derive(Serialize, Deserialize, Event)]
pub struct Other;

#[derive(Serialize, Deserialize, Event)]
#[request(response = Pong)]
pub struct Ping;

pub async fn ask(bus: &Endpoint) {
    let _answer: Other = bus.request(Ping).await.unwrap();
}

fn main() {}

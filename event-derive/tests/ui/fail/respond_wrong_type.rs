use event_core::{Event, InboundRequest};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Pong;

#[derive(Serialize, Deserialize, Event)]
pub struct Other;

#[derive(Serialize, Deserialize, Event)]
#[request(response = Pong)]
pub struct Ping;

pub async fn answer(request: InboundRequest<Ping>) {
    let _ = request.respond(Other).await;
}

fn main() {}

use event_core::{BroadcastConfig, Endpoint};
use serde::{Deserialize, Serialize};

// Serializable, but never declared an event: each misuse is one error, at the argument.
#[derive(Serialize, Deserialize)]
pub struct NotAnEvent;

pub async fn publish(bus: &Endpoint) {
    let _ = bus.broadcast(NotAnEvent).await;
    let _ = bus
        .broadcast_with(NotAnEvent, BroadcastConfig::internal())
        .await;
}

fn main() {}

use event_core::{Endpoint, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
pub struct Notice;

pub async fn ask(bus: &Endpoint) {
    let _ = bus.request(Notice).await;
}

pub fn serve(bus: &Endpoint) {
    let _ = bus.stream_requests::<Notice>();
}

fn main() {}

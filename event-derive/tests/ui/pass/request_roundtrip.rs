use event_core::{Endpoint, Event};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub struct PeerCountResponse {
    pub peer_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[request(response = PeerCountResponse)]
pub struct PeerCountRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bus = Endpoint::new("ui-roundtrip").unwrap();
    let mut requests = bus.stream_requests::<PeerCountRequest>();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            request
                .respond(PeerCountResponse { peer_count: 3 })
                .await
                .unwrap();
        }
    });
    // The type of `answer` is inferred from the request's binding.
    let answer = bus.request(PeerCountRequest).await.unwrap();
    assert_eq!(answer, PeerCountResponse { peer_count: 3 });
}

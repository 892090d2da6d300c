// Trinity's bindings are checked by the compiler: a PeerCountRequest is answered with a
// PeerCountResponse, and nothing else.
use event_core::InboundRequest;
use trinity_events::{GetConnectedPeersResponse, PeerCountRequest, PeerCountResponse};

async fn answer(request: InboundRequest<PeerCountRequest>) {
    let _ = request.respond(GetConnectedPeersResponse { peers: vec![] }).await;
}

async fn ask(bus: &event_core::Endpoint) {
    let _wrong: GetConnectedPeersResponse = bus.request(PeerCountRequest).await.unwrap();
    let _right: PeerCountResponse = bus.request(PeerCountRequest).await.unwrap();
}

fn main() {
    let _ = (answer, ask);
}

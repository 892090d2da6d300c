//! The peer-pool event server and the proxy, over the real socket transport within one
//! process: a "networking" endpoint serves a simulated pool, a "sync" endpoint connects
//! to it and uses a `ProxyPeerPool`.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_core::{BroadcastConfig, ConnectionConfig, Endpoint, Error, Event};
use futures_util::{Stream, StreamExt};
use trinity_events::{
    peer_message_events, Capabilities, Capability, Command, DisconnectPeerEvent, DisconnectReason,
    GetConnectedPeersRequest, GetProtocolCapabilitiesRequest, Node, PeerChange, PeerCountRequest,
    PeerInfo, PeerMessage, PeerMessageRouter, PeerPool, PeerPoolBroadcaster, PeerPoolEventServer,
    PeerPoolMessageEvent, ProxyPeerPool, PublicKey, Session,
};

const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test instead of hanging.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out: {what}"),
    }
}

async fn next<S: Stream + Unpin>(what: &str, stream: &mut S) -> S::Item {
    within(what, stream.next())
        .await
        .unwrap_or_else(|| panic!("stream ended: {what}"))
}

fn node(seed: u8) -> Node {
    Node::new(
        PublicKey::new([seed; 64]),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, seed)),
        30303,
        30303,
    )
}

fn peer_for(node: Node) -> PeerInfo {
    PeerInfo::new(
        Session::new(node),
        vec![Capability::new("eth", 68)].into(),
        "Geth/v1.14.0-stable",
        false,
    )
}

/// A peer pool in memory that announces its changes like a real one.
struct SimPool {
    peers: Mutex<Vec<PeerInfo>>,
    events: PeerPoolBroadcaster,
    disconnects: Mutex<Vec<(Session, DisconnectReason)>>,
    panic_on_capabilities: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("refusing to dial {0}")]
struct Refused(String);

impl SimPool {
    fn new(endpoint: &Endpoint) -> Arc<SimPool> {
        Arc::new(SimPool {
            peers: Mutex::new(Vec::new()),
            events: PeerPoolBroadcaster::new(endpoint.clone(), PeerMessageRouter::new()),
            disconnects: Mutex::new(Vec::new()),
            panic_on_capabilities: AtomicBool::new(false),
        })
    }

    async fn add(&self, peer: PeerInfo) {
        self.peers.lock().unwrap().push(peer.clone());
        self.events.peer_joined(&peer).await.unwrap();
    }

    fn len(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

impl PeerPool for SimPool {
    type Error = Refused;

    fn connected_peers(&self) -> Vec<PeerInfo> {
        self.peers.lock().unwrap().clone()
    }

    fn capabilities(&self) -> Capabilities {
        if self.panic_on_capabilities.load(Ordering::SeqCst) {
            panic!("simulated bug in the pool");
        }
        vec![Capability::new("eth", 67), Capability::new("eth", 68)].into()
    }

    async fn connect_to_node(&self, node: Node) -> Result<(), Refused> {
        match node.tcp_port() {
            1 => Err(Refused(node.to_string())),
            2 => panic!("simulated bug while dialing"),
            _ => {
                self.add(peer_for(node)).await;
                Ok(())
            }
        }
    }

    async fn disconnect(&self, session: &Session, reason: DisconnectReason) -> Result<(), Refused> {
        let removed = {
            let mut peers = self.peers.lock().unwrap();
            let before = peers.len();
            peers.retain(|peer| &peer.session != session);
            peers.len() != before
        };
        self.disconnects
            .lock()
            .unwrap()
            .push((session.clone(), reason));
        if removed {
            self.events.peer_left(session).await.unwrap();
        }
        Ok(())
    }
}

/// A networking endpoint serving a `SimPool`, and a connected "sync" endpoint.
struct Setup {
    _dir: tempfile::TempDir,
    networking: Endpoint,
    sync: Endpoint,
    pool: Arc<SimPool>,
    server: PeerPoolEventServer<SimPool>,
}

async fn setup(router: PeerMessageRouter) -> Setup {
    let dir = tempfile::Builder::new()
        .prefix("trinity-events-pool-")
        .tempdir()
        .unwrap();
    let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path()))
        .await
        .unwrap();
    let pool = SimPool::new(&networking);
    let server = PeerPoolEventServer::start_with_router(networking.clone(), pool.clone(), router);
    let sync = Endpoint::new("sync").unwrap();
    within(
        "connect",
        sync.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())]),
    )
    .await
    .unwrap();
    Setup {
        _dir: dir,
        networking,
        sync,
        pool,
        server,
    }
}

async fn start_proxy(sync: &Endpoint) -> ProxyPeerPool {
    within(
        "proxy start",
        ProxyPeerPool::start_targeting(sync.clone(), "networking"),
    )
    .await
    .unwrap()
}

fn sessions(peers: &[PeerInfo]) -> HashSet<Session> {
    peers.iter().map(|peer| peer.session.clone()).collect()
}

#[tokio::test]
async fn proxy_sees_existing_then_joining_peers() {
    let s = setup(PeerMessageRouter::new()).await;
    let (a, b, c) = (peer_for(node(1)), peer_for(node(2)), peer_for(node(3)));
    s.pool.add(a.clone()).await;
    s.pool.add(b.clone()).await;

    let proxy = start_proxy(&s.sync).await;
    assert_eq!(proxy.target(), Some("networking"));
    assert_eq!(
        sessions(&proxy.known_peers()),
        sessions(&[a.clone(), b.clone()])
    );

    let mut changes = proxy.peer_changes();
    let mut existing = proxy.stream_existing_and_joining_peers();
    let first = [
        next("change", &mut changes).await,
        next("change", &mut changes).await,
    ];
    assert_eq!(
        first.to_vec(),
        proxy
            .known_peers()
            .into_iter()
            .map(PeerChange::Joined)
            .collect::<Vec<_>>()
    );

    s.pool.add(c.clone()).await;
    assert_eq!(
        next("join", &mut changes).await,
        PeerChange::Joined(c.clone())
    );
    let streamed: Vec<PeerInfo> = vec![
        next("peer", &mut existing).await,
        next("peer", &mut existing).await,
        next("peer", &mut existing).await,
    ];
    assert_eq!(sessions(&streamed), sessions(&[a, b, c.clone()]));
    assert_eq!(proxy.known_peers().last(), Some(&c));

    // Queries go to the pool itself.
    assert_eq!(within("count", proxy.peer_count()).await.unwrap(), 3);
    let connected = within("peers", proxy.connected_peers()).await.unwrap();
    assert_eq!(sessions(&connected), sessions(&proxy.known_peers()));
    assert_eq!(
        within("capabilities", proxy.capabilities()).await.unwrap(),
        s.pool.capabilities()
    );
    assert!(s.server.is_running());
}

#[tokio::test]
async fn count_request_returns_the_pool_size() {
    let s = setup(PeerMessageRouter::new()).await;
    for seed in 1..=5 {
        s.pool.add(peer_for(node(seed))).await;
    }
    within(
        "server subscription",
        s.sync
            .wait_until_endpoint_subscribed_to::<GetConnectedPeersRequest>("networking"),
    )
    .await;
    assert!(s
        .sync
        .is_endpoint_subscribed_to::<PeerCountRequest>("networking"));
    let response = within("count", s.sync.request(PeerCountRequest))
        .await
        .unwrap();
    assert_eq!(response.peer_count, 5);
    assert_eq!(response.peer_count as usize, s.pool.len());

    let response = within("peers", s.sync.request(GetConnectedPeersRequest))
        .await
        .unwrap();
    assert_eq!(
        sessions(&response.peers),
        sessions(&s.pool.connected_peers())
    );
}

#[tokio::test]
async fn disconnect_command_removes_the_peer_and_the_proxy_sees_it_leave() {
    let s = setup(PeerMessageRouter::new()).await;
    let (a, b) = (peer_for(node(1)), peer_for(node(2)));
    s.pool.add(a.clone()).await;
    s.pool.add(b.clone()).await;
    let proxy = start_proxy(&s.sync).await;
    let mut changes = proxy.peer_changes();
    next("existing", &mut changes).await;
    next("existing", &mut changes).await;

    within(
        "disconnect",
        proxy.disconnect_peer(a.session.clone(), DisconnectReason::UselessPeer),
    )
    .await
    .unwrap();
    assert_eq!(
        next("left", &mut changes).await,
        PeerChange::Left(a.session.clone())
    );
    assert_eq!(proxy.known_peers(), vec![b.clone()]);
    assert_eq!(s.pool.connected_peers(), vec![b]);
    assert_eq!(
        s.pool.disconnects.lock().unwrap().clone(),
        vec![(a.session, DisconnectReason::UselessPeer)]
    );
}

#[tokio::test]
async fn disconnect_peer_event_removes_the_peer_and_the_proxy_sees_it_leave() {
    let s = setup(PeerMessageRouter::new()).await;
    let a = peer_for(node(1));
    s.pool.add(a.clone()).await;
    let proxy = start_proxy(&s.sync).await;
    let mut changes = proxy.peer_changes();
    next("existing", &mut changes).await;

    let event = DisconnectPeerEvent {
        session: a.session.clone(),
        reason: DisconnectReason::TooManyPeers,
    };
    within(
        "broadcast",
        s.sync
            .broadcast_with(event, BroadcastConfig::to_endpoint("networking")),
    )
    .await
    .unwrap();
    assert_eq!(
        next("left", &mut changes).await,
        PeerChange::Left(a.session.clone())
    );
    assert!(proxy.known_peers().is_empty());
    assert_eq!(within("count", proxy.peer_count()).await.unwrap(), 0);
    assert_eq!(
        s.pool.disconnects.lock().unwrap()[0].1,
        DisconnectReason::TooManyPeers
    );
}

#[tokio::test]
async fn connect_command_makes_a_peer_join() {
    let s = setup(PeerMessageRouter::new()).await;
    let proxy = start_proxy(&s.sync).await;
    assert!(proxy.known_peers().is_empty());
    let mut changes = proxy.peer_changes();

    within("connect", proxy.connect_to_node(node(7)))
        .await
        .unwrap();
    match next("join", &mut changes).await {
        PeerChange::Joined(peer) => assert_eq!(peer.remote(), &node(7)),
        other => panic!("expected a join, got {other:?}"),
    }
    assert_eq!(s.pool.len(), 1);
}

#[tokio::test]
async fn failing_and_panicking_pool_calls_do_not_stop_the_server() {
    let s = setup(PeerMessageRouter::new()).await;
    let proxy = start_proxy(&s.sync).await;
    let mut changes = proxy.peer_changes();

    // Port 1: the pool refuses; port 2: the pool panics. Then a good one.
    let refused = Node::new(
        PublicKey::new([1; 64]),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        1,
        1,
    );
    let panics = Node::new(
        PublicKey::new([2; 64]),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        2,
        2,
    );
    within("connect", proxy.connect_to_node(refused))
        .await
        .unwrap();
    within("connect", proxy.connect_to_node(panics))
        .await
        .unwrap();
    within("connect", proxy.connect_to_node(node(9)))
        .await
        .unwrap();
    match next("join", &mut changes).await {
        PeerChange::Joined(peer) => assert_eq!(peer.remote(), &node(9)),
        other => panic!("expected a join, got {other:?}"),
    }

    // A panic while answering drops that request: the requester gets an error, not a hang.
    s.pool.panic_on_capabilities.store(true, Ordering::SeqCst);
    let failed = within("capabilities", proxy.capabilities()).await;
    assert!(
        matches!(failed, Err(Error::NoResponse { .. })),
        "{failed:?}"
    );
    s.pool.panic_on_capabilities.store(false, Ordering::SeqCst);
    assert_eq!(
        within(
            "capabilities",
            s.sync.request(GetProtocolCapabilitiesRequest)
        )
        .await
        .unwrap()
        .capabilities
        .highest_version("eth"),
        Some(68)
    );
    assert_eq!(within("count", proxy.peer_count()).await.unwrap(), 1);
    assert!(s.server.is_running());
}

#[tokio::test]
async fn dropping_the_server_unsubscribes_it() {
    let s = setup(PeerMessageRouter::new()).await;
    assert!(s
        .networking
        .is_endpoint_subscribed_to::<PeerCountRequest>("networking"));
    drop(s.server);
    // The aborted tasks drop their streams when the runtime next runs them.
    within("unsubscribe", async {
        while s
            .networking
            .is_any_endpoint_subscribed_to::<PeerCountRequest>()
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(matches!(
        s.networking.request(PeerCountRequest).await,
        Err(Error::NoSubscribers { .. })
    ));
}

#[tokio::test]
async fn proxy_streams_end_when_its_endpoint_stops() {
    let s = setup(PeerMessageRouter::new()).await;
    s.pool.add(peer_for(node(1))).await;
    let proxy = start_proxy(&s.sync).await;
    let mut changes = proxy.peer_changes();
    next("existing", &mut changes).await;
    s.sync.stop().await;
    assert_eq!(within("end", changes.next()).await, None);
    assert!(matches!(
        proxy.peer_count().await,
        Err(Error::Stopped { .. })
    ));
    // A stream asked for afterwards lists the last known peers, then ends.
    let mut late = proxy.peer_changes();
    assert!(matches!(
        next("late", &mut late).await,
        PeerChange::Joined(_)
    ));
    assert_eq!(within("end", late.next()).await, None);
}

#[tokio::test]
async fn proxy_start_fails_if_the_endpoint_stops_while_waiting_for_the_pool() {
    let lonely = Endpoint::new("lonely").unwrap();
    let start = tokio::spawn(ProxyPeerPool::start(lonely.clone()));
    // Wait until the proxy subscribed, i.e. it is waiting for the pool.
    within(
        "proxy subscription",
        lonely.wait_until_endpoint_subscribed_to::<trinity_events::PeerJoinedEvent>("lonely"),
    )
    .await;
    lonely.stop().await;
    let result = within("start", start).await.unwrap();
    assert!(matches!(result, Err(Error::Stopped { .. })), "{result:?}");
}

#[tokio::test]
async fn proxy_in_the_same_endpoint_as_the_server() {
    let bus = Endpoint::new("solo").unwrap();
    let pool = SimPool::new(&bus);
    pool.add(peer_for(node(1))).await;
    let _server = PeerPoolEventServer::start(bus.clone(), pool.clone());
    let proxy = within("start", ProxyPeerPool::start(bus.clone()))
        .await
        .unwrap();
    assert_eq!(proxy.target(), None);
    assert_eq!(proxy.known_peers().len(), 1);
    pool.add(peer_for(node(2))).await;
    assert_eq!(proxy.known_peers().len(), 2);
    assert_eq!(within("count", proxy.peer_count()).await.unwrap(), 2);
}

peer_message_events! {
    /// `eth` `GetBlockHeaders`.
    pub struct GetBlockHeadersEvent = "eth" / "GetBlockHeaders";
    /// `eth` `Transactions`.
    #[event(name = "test.eth.TransactionsEvent")]
    pub struct TransactionsEvent = "eth" / "Transactions";
}

#[tokio::test]
async fn a_subscriber_to_one_command_is_sent_only_that_command() {
    let router = PeerMessageRouter::new()
        .route::<GetBlockHeadersEvent>()
        .route::<TransactionsEvent>();
    let s = setup(router).await;
    let mut headers = s.sync.stream::<GetBlockHeadersEvent>();
    let mut others = s.sync.stream::<PeerPoolMessageEvent>();
    within(
        "subscriptions",
        s.networking
            .wait_until_endpoint_subscribed_to::<PeerPoolMessageEvent>("sync"),
    )
    .await;
    within(
        "subscriptions",
        s.networking
            .wait_until_endpoint_subscribed_to::<GetBlockHeadersEvent>("sync"),
    )
    .await;
    assert!(!s
        .networking
        .is_any_endpoint_subscribed_to::<TransactionsEvent>());

    let session = peer_for(node(1)).session;
    let eth = Capability::new("eth", 66);
    let broadcaster = s.server.broadcaster();
    for (name, id) in [("Transactions", 2), ("Status", 0), ("GetBlockHeaders", 3)] {
        broadcaster
            .peer_message(
                session.clone(),
                Command::new(eth.clone(), name, id, vec![0xc0]),
            )
            .await
            .unwrap();
    }

    let got = next("headers", &mut headers).await;
    assert_eq!(got.command().name, "GetBlockHeaders");
    assert_eq!(got.session(), &session);
    assert_eq!(next("other", &mut others).await.command.name, "Status");
    // GetBlockHeaders was sent last and events arrive in order: anything else sent to
    // "sync" would be queued by now.
    assert!(headers.is_empty() && others.is_empty());
    assert_ne!(GetBlockHeadersEvent::NAME, PeerPoolMessageEvent::NAME);
    assert_eq!(TransactionsEvent::NAME, "test.eth.TransactionsEvent");
}

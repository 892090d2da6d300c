//! The peer-pool event server in a "networking" child process, used from this process
//! through a `ProxyPeerPool`: Trinity's pair, across real processes.

mod support;

use event_core::{BroadcastConfig, ConnectionConfig, Endpoint};
use futures_util::StreamExt;
use support::{connect, within, PeerProcess};
use trinity_events::{DisconnectPeerEvent, DisconnectReason, Node, PeerChange, ProxyPeerPool};

#[tokio::test]
async fn the_proxy_follows_the_pool_of_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut networking = PeerProcess::start("networking", dir.path()).await;
    networking.expect("pool-serve", "pool-serving").await;
    networking.ask("pool-join 1").await;
    let bus = Endpoint::serve(ConnectionConfig::from_name("sync", dir.path()))
        .await
        .unwrap();
    connect(&bus, dir.path(), &["networking"]).await;
    let proxy = within(
        "the proxy",
        ProxyPeerPool::start_targeting(bus.clone(), "networking"),
    )
    .await
    .unwrap();
    let mut changes = proxy.peer_changes();

    // The existing peer, then one joining in the networking process.
    let PeerChange::Joined(first) = within("the existing peer", changes.next()).await.unwrap()
    else {
        panic!("expected the existing peer first");
    };
    let joined = networking.ask("pool-join 2").await;
    let PeerChange::Joined(second) = within("the joining peer", changes.next()).await.unwrap()
    else {
        panic!("expected a join");
    };
    assert_eq!(joined, format!("pool-joined {}", second.session.id()));
    assert_eq!(second.remote().ip().to_string(), "10.0.0.2");

    // The count request returns the pool's size.
    assert_eq!(within("count", proxy.peer_count()).await.unwrap(), 2);
    assert_eq!(networking.ask("pool-count").await, "pool-count 2");
    assert_eq!(
        within("peers", proxy.connected_peers())
            .await
            .unwrap()
            .len(),
        2
    );

    // A disconnect command removes the peer; the proxy sees it leave.
    within(
        "disconnect",
        proxy.disconnect_peer(first.session.clone(), DisconnectReason::UselessPeer),
    )
    .await
    .unwrap();
    assert_eq!(
        within("the departure", changes.next()).await.unwrap(),
        PeerChange::Left(first.session.clone())
    );
    networking.expect("pool-count", "pool-count 1").await;

    // So does DisconnectPeerEvent, broadcast by anyone.
    let event = DisconnectPeerEvent {
        session: second.session.clone(),
        reason: DisconnectReason::TooManyPeers,
    };
    bus.broadcast_with(event, BroadcastConfig::to_endpoint("networking"))
        .await
        .unwrap();
    assert_eq!(
        within("the departure", changes.next()).await.unwrap(),
        PeerChange::Left(second.session.clone())
    );
    assert_eq!(within("count", proxy.peer_count()).await.unwrap(), 0);

    // ConnectToNodeCommand makes the pool dial; the new peer shows up in the proxy.
    let node: Node = "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de@3.209.45.79:30303".parse().unwrap();
    within("connect command", proxy.connect_to_node(node.clone()))
        .await
        .unwrap();
    let PeerChange::Joined(dialed) = within("the dialed peer", changes.next()).await.unwrap()
    else {
        panic!("expected a join");
    };
    assert_eq!(dialed.remote(), &node);
    assert_eq!(proxy.known_peers().len(), 1);

    // The networking process dies: the proxy's requests fail instead of hanging.
    networking.kill().await;
    assert!(within("count after death", proxy.peer_count())
        .await
        .is_err());
}

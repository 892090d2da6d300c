//! Per-command peer message events for an eth-like protocol.
//!
//! Declares one event type per `eth` command, relays a mix of commands through a
//! `PeerPoolEventServer`'s broadcaster, and shows that each subscriber receives the
//! commands of its own type only — a command with no event of its own goes out as a
//! plain `PeerPoolMessageEvent`.
//!
//! Run with `cargo run -p trinity-events --example eth_commands`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use event_core::{Endpoint, Event};
use futures_util::StreamExt;
use trinity_events::{
    peer_message_events, Capabilities, Capability, Command, DisconnectReason, Node, PeerInfo,
    PeerMessage, PeerMessageRouter, PeerPool, PeerPoolEventServer, PeerPoolMessageEvent, Session,
};

peer_message_events! {
    /// `eth` `GetBlockHeaders`: a peer asks for block headers.
    #[event(name = "trinity.protocol.eth.events.GetBlockHeadersEvent")]
    pub struct GetBlockHeadersEvent = "eth" / "GetBlockHeaders";

    /// `eth` `BlockHeaders`: a peer sends block headers.
    #[event(name = "trinity.protocol.eth.events.BlockHeadersEvent")]
    pub struct BlockHeadersEvent = "eth" / "BlockHeaders";

    /// `eth` `NewBlockHashes`: a peer announces new blocks.
    #[event(name = "trinity.protocol.eth.events.NewBlockHashesEvent")]
    pub struct NewBlockHashesEvent = "eth" / "NewBlockHashes";

    /// `eth` `Transactions`: a peer gossips transactions.
    #[event(name = "trinity.protocol.eth.events.TransactionsEvent")]
    pub struct TransactionsEvent = "eth" / "Transactions";
}

/// A pool with no peers: this example only relays messages.
struct NoPeers;

impl PeerPool for NoPeers {
    type Error = std::convert::Infallible;

    fn connected_peers(&self) -> Vec<PeerInfo> {
        Vec::new()
    }

    fn capabilities(&self) -> Capabilities {
        vec![Capability::new("eth", 68)].into()
    }

    async fn connect_to_node(&self, _node: Node) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn disconnect(
        &self,
        _session: &Session,
        _reason: DisconnectReason,
    ) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The names of the commands one subscriber received. In-process delivery is done when
/// `peer_message` returns, so everything sent is already queued: take what is there.
async fn received<M: Event>(
    stream: &mut event_core::EventStream<M>,
    name_of: fn(&M) -> &str,
) -> Vec<String> {
    let mut names = Vec::new();
    while !stream.is_empty() {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(event)) => names.push(name_of(&event).to_owned()),
            _ => break,
        }
    }
    names
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = Endpoint::new("networking")?;
    let router = PeerMessageRouter::new()
        .route::<GetBlockHeadersEvent>()
        .route::<BlockHeadersEvent>()
        .route::<NewBlockHashesEvent>()
        .route::<TransactionsEvent>();
    let server = PeerPoolEventServer::start_with_router(bus.clone(), Arc::new(NoPeers), router);

    // Four components, each subscribed to one kind of message. Nobody subscribes to
    // `BlockHeadersEvent`: those messages are relayed to no one, without error.
    let mut headers_server = bus.stream::<GetBlockHeadersEvent>();
    let mut tx_pool = bus.stream::<TransactionsEvent>();
    let mut block_importer = bus.stream::<NewBlockHashesEvent>();
    let mut catch_all = bus.stream::<PeerPoolMessageEvent>();

    let remote: Node = "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de@3.209.45.79:30303".parse()?;
    let session = Session::new(remote);
    let eth = Capability::new("eth", 68);
    let from_peer = [
        Command::new(eth.clone(), "Transactions", 0x02, vec![0xc0]),
        Command::new(
            eth.clone(),
            "GetBlockHeaders",
            0x03,
            vec![0xc4, 0x01, 0x01, 0x80, 0x80],
        ),
        Command::new(eth.clone(), "NewBlockHashes", 0x01, vec![0xc0]),
        Command::new(eth.clone(), "Transactions", 0x02, vec![0xc1, 0x80]),
        Command::new(eth.clone(), "Status", 0x00, vec![0xc0]),
        Command::new(eth.clone(), "BlockHeaders", 0x04, vec![0xc0]),
        Command::new(
            eth,
            "GetBlockHeaders",
            0x03,
            vec![0xc4, 0x02, 0x01, 0x80, 0x80],
        ),
    ];
    for command in from_peer {
        server.peer_message(session.clone(), command).await?;
    }

    let headers = received(&mut headers_server, |e| &e.command().name).await;
    let transactions = received(&mut tx_pool, |e| &e.command().name).await;
    let announcements = received(&mut block_importer, |e| &e.command().name).await;
    let others = received(&mut catch_all, |e| &e.command.name).await;
    println!("header server got  {headers:?}");
    println!("transaction pool   {transactions:?}");
    println!("block importer     {announcements:?}");
    println!("catch-all got      {others:?} (commands without an event of their own)");

    // Each subscriber received exactly the commands of its type.
    assert_eq!(headers, ["GetBlockHeaders", "GetBlockHeaders"]);
    assert_eq!(transactions, ["Transactions", "Transactions"]);
    assert_eq!(announcements, ["NewBlockHashes"]);
    assert_eq!(others, ["Status"]);
    let names: HashSet<&str> = [
        GetBlockHeadersEvent::NAME,
        BlockHeadersEvent::NAME,
        NewBlockHashesEvent::NAME,
        TransactionsEvent::NAME,
    ]
    .into();
    assert_eq!(names.len(), 4, "every command has a name of its own");
    println!("ok: each subscriber received only its own command");
    bus.stop().await;
    Ok(())
}

//! Per-command events declared inside this crate (through `::trinity_events`), their
//! conversions and the router.

use std::net::{IpAddr, Ipv4Addr};

use event_core::{BroadcastConfig, Endpoint, Event};
use futures_util::StreamExt;

use crate::p2p::{Capability, Command, Node, PublicKey, Session};
use crate::{peer_message_events, PeerMessage, PeerMessageRouter, PeerPoolMessageEvent};

peer_message_events! {
    /// `eth` `GetBlockHeaders`.
    pub(crate) struct GetBlockHeadersEvent = "eth" / "GetBlockHeaders";

    /// `eth` `BlockHeaders`, with a pinned name.
    #[event(name = "test.eth.BlockHeadersEvent")]
    pub(crate) struct BlockHeadersEvent = "eth" / "BlockHeaders";

    /// `snap` `GetAccountRange`.
    struct GetAccountRangeEvent = "snap" / "GetAccountRange";
}

fn session() -> Session {
    Session::new(Node::new(
        PublicKey::new([7; 64]),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        30303,
        30303,
    ))
}

fn command(protocol: &str, version: u32, name: &str) -> Command {
    Command::new(Capability::new(protocol, version), name, 0, vec![0xc0])
}

#[test]
fn names_and_commands() {
    assert_eq!(
        GetBlockHeadersEvent::NAME,
        "trinity_events::messages::tests::GetBlockHeadersEvent"
    );
    assert_eq!(BlockHeadersEvent::NAME, "test.eth.BlockHeadersEvent");
    assert_eq!(GetAccountRangeEvent::PROTOCOL, "snap");
    assert_eq!(GetAccountRangeEvent::COMMAND, "GetAccountRange");
    assert!(GetBlockHeadersEvent::matches(&command(
        "eth",
        66,
        "GetBlockHeaders"
    )));
    assert!(GetBlockHeadersEvent::matches(&command(
        "eth",
        68,
        "GetBlockHeaders"
    )));
    assert!(!GetBlockHeadersEvent::matches(&command(
        "eth",
        68,
        "BlockHeaders"
    )));
    assert!(!GetBlockHeadersEvent::matches(&command(
        "les",
        4,
        "GetBlockHeaders"
    )));
    let registered = event_core::registry::find(BlockHeadersEvent::NAME).unwrap();
    assert_eq!(registered.response_name(), None);
}

#[test]
fn conversions_to_and_from_the_base_event() {
    let base = PeerPoolMessageEvent::new(session(), command("eth", 68, "GetBlockHeaders"));
    let base = match BlockHeadersEvent::try_from(base) {
        Ok(event) => panic!("converted to the wrong command: {event:?}"),
        Err(base) => base,
    };
    let event = GetBlockHeadersEvent::try_from(base.clone()).unwrap();
    assert_eq!(event.session(), &base.session);
    assert_eq!(event.command(), &base.command);
    assert_eq!(PeerPoolMessageEvent::from(event.clone()), base);
    let (session, command) = event.into_parts();
    assert_eq!(
        GetBlockHeadersEvent::from_parts(session, command)
            .command
            .name,
        "GetBlockHeaders"
    );
}

#[test]
fn postcard_round_trip() {
    let event = GetAccountRangeEvent {
        session: session(),
        command: command("snap", 1, "GetAccountRange"),
    };
    let bytes = postcard::to_stdvec(&event).unwrap();
    let decoded: GetAccountRangeEvent = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, event);
    assert_eq!(decoded.session.remote(), event.session.remote());
}

#[test]
fn router_maps_commands_to_their_events() {
    let router = PeerMessageRouter::new()
        .route::<GetBlockHeadersEvent>()
        .route::<BlockHeadersEvent>();
    assert_eq!(router.len(), 2);
    assert!(!router.is_empty());
    assert!(PeerMessageRouter::new().is_empty());
    assert_eq!(
        router.event_name(&command("eth", 66, "GetBlockHeaders")),
        GetBlockHeadersEvent::NAME
    );
    assert_eq!(
        router.event_name(&command("eth", 68, "Status")),
        PeerPoolMessageEvent::NAME
    );
    assert_eq!(
        router.event_name(&command("snap", 1, "GetAccountRange")),
        PeerPoolMessageEvent::NAME
    );
    // Routing the same event twice is harmless; clones share nothing mutable.
    let again = router.clone().route::<GetBlockHeadersEvent>();
    assert_eq!(again.len(), 2);
    let more = router.clone().route::<GetAccountRangeEvent>();
    assert_eq!((router.len(), more.len()), (2, 3));
    assert!(format!("{more:?}").contains("GetAccountRange"));
}

#[tokio::test]
async fn router_relays_each_command_as_its_own_event_only() {
    let bus = Endpoint::new("router-test").unwrap();
    let router = PeerMessageRouter::new().route::<GetBlockHeadersEvent>();
    let mut headers = bus.stream::<GetBlockHeadersEvent>();
    let mut base = bus.stream::<PeerPoolMessageEvent>();
    let fire_and_forget = || BroadcastConfig::default().require_subscriber(false);
    for name in ["GetBlockHeaders", "Status", "BlockHeaders"] {
        router
            .relay(&bus, session(), command("eth", 68, name), fire_and_forget())
            .await
            .unwrap();
    }
    // In-process delivery is complete when `relay` returns.
    assert_eq!(headers.len(), 1);
    assert_eq!(base.len(), 2);
    assert_eq!(
        headers.next().await.unwrap().command.name,
        "GetBlockHeaders"
    );
    assert_eq!(base.next().await.unwrap().command.name, "Status");
    assert_eq!(base.next().await.unwrap().command.name, "BlockHeaders");
}

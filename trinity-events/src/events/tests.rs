//! Names, request bindings and wire round trips of the common events.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use event_core::{Event, Request};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::*;
use crate::p2p::{
    Capabilities, Capability, Command, DisconnectReason, Node, PeerInfo, PublicKey, Session,
};

const PREFIX: &str = "trinity.protocol.common.events.";

fn node(seed: u8) -> Node {
    Node::new(
        PublicKey::new([seed; 64]),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, seed)),
        30303,
        30301,
    )
}

fn session(seed: u8) -> Session {
    Session::with_id(Uuid::from_u128(u128::from(seed) << 64 | 0xfeed), node(seed))
}

fn peer(seed: u8) -> PeerInfo {
    PeerInfo::new(
        session(seed),
        vec![Capability::new("eth", 67), Capability::new("eth", 68)].into(),
        format!("Geth/v1.14.{seed}-stable/linux-amd64/go1.22.2"),
        seed.is_multiple_of(2),
    )
}

fn command() -> Command {
    Command::new(
        Capability::new("eth", 68),
        "GetBlockHeaders",
        0x03,
        vec![0xc7, 0x83, 0x01, 0x02, 0x03, 0x01, 0x80, 0x80],
    )
}

fn assert_name<E: Event>(type_name: &str) {
    assert_eq!(E::NAME, format!("{PREFIX}{type_name}"));
}

fn assert_binding<R: Request<Response = X>, X: Event>() {}

#[test]
fn every_event_has_trinitys_name() {
    assert_name::<ConnectToNodeCommand>("ConnectToNodeCommand");
    assert_name::<DisconnectFromPeerCommand>("DisconnectFromPeerCommand");
    assert_name::<PeerCountRequest>("PeerCountRequest");
    assert_name::<PeerCountResponse>("PeerCountResponse");
    assert_name::<DisconnectPeerEvent>("DisconnectPeerEvent");
    assert_name::<PeerJoinedEvent>("PeerJoinedEvent");
    assert_name::<PeerLeftEvent>("PeerLeftEvent");
    assert_name::<GetConnectedPeersRequest>("GetConnectedPeersRequest");
    assert_name::<GetConnectedPeersResponse>("GetConnectedPeersResponse");
    assert_name::<GetProtocolCapabilitiesRequest>("GetProtocolCapabilitiesRequest");
    assert_name::<ProtocolCapabilitiesResponse>("ProtocolCapabilitiesResponse");
    assert_name::<PeerPoolMessageEvent>("PeerPoolMessageEvent");
}

#[test]
fn requests_are_bound_to_their_responses() {
    assert_binding::<PeerCountRequest, PeerCountResponse>();
    assert_binding::<GetConnectedPeersRequest, GetConnectedPeersResponse>();
    assert_binding::<GetProtocolCapabilitiesRequest, ProtocolCapabilitiesResponse>();
}

#[test]
fn the_registry_lists_every_event_with_its_response() {
    let registered: HashMap<&str, Option<&str>> = event_core::registry::all()
        .filter(|entry| entry.name().starts_with(PREFIX))
        .map(|entry| (entry.name(), entry.response_name()))
        .collect();
    assert_eq!(registered.len(), 12, "{registered:?}");
    assert_eq!(
        registered[PeerCountRequest::NAME],
        Some(PeerCountResponse::NAME)
    );
    assert_eq!(
        registered[GetConnectedPeersRequest::NAME],
        Some(GetConnectedPeersResponse::NAME)
    );
    assert_eq!(
        registered[GetProtocolCapabilitiesRequest::NAME],
        Some(ProtocolCapabilitiesResponse::NAME)
    );
    assert_eq!(registered[PeerJoinedEvent::NAME], None);
}

/// Encodes with postcard (the bus's wire codec, not human-readable) and decodes back.
fn round_trip<E: Event + PartialEq + Debug>(event: E) {
    let bytes = postcard::to_stdvec(&event).expect("encodes");
    let decoded: E = postcard::from_bytes(&bytes).expect("decodes");
    assert_eq!(decoded, event, "{}", E::NAME);
    assert_full_equality(&event, &decoded);
}

/// `Session` compares by id only: compare the encodings too, so that a remote node or
/// a key that did not survive the trip is caught.
fn assert_full_equality<T: Serialize + DeserializeOwned>(a: &T, b: &T) {
    assert_eq!(
        postcard::to_stdvec(a).unwrap(),
        postcard::to_stdvec(b).unwrap()
    );
}

#[test]
fn every_event_round_trips_through_postcard() {
    round_trip(ConnectToNodeCommand { remote: node(1) });
    round_trip(ConnectToNodeCommand {
        remote: Node::new(
            PublicKey::new([0xab; 64]),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            1,
            65535,
        ),
    });
    for reason in DisconnectReason::ALL {
        round_trip(DisconnectFromPeerCommand {
            remote: session(2),
            reason,
        });
        round_trip(DisconnectPeerEvent {
            session: session(3),
            reason,
        });
    }
    round_trip(PeerCountRequest);
    round_trip(PeerCountResponse { peer_count: 0 });
    round_trip(PeerCountResponse {
        peer_count: u64::MAX,
    });
    round_trip(PeerJoinedEvent::from(peer(4)));
    round_trip(PeerLeftEvent {
        session: session(5),
    });
    round_trip(GetConnectedPeersRequest);
    round_trip(GetConnectedPeersResponse::default());
    round_trip(GetConnectedPeersResponse {
        peers: vec![peer(6), peer(7)],
    });
    round_trip(GetProtocolCapabilitiesRequest);
    round_trip(ProtocolCapabilitiesResponse {
        capabilities: Capabilities::new(),
    });
    round_trip(ProtocolCapabilitiesResponse {
        capabilities: vec![Capability::new("eth", 68), Capability::new("snap", 1)].into(),
    });
    round_trip(PeerPoolMessageEvent::new(session(8), command()));
}

#[test]
fn public_keys_travel_as_bytes_and_keep_every_field() {
    let event = ConnectToNodeCommand { remote: node(9) };
    let bytes = postcard::to_stdvec(&event).unwrap();
    // A 64-byte byte string (length prefix 64), not 128 hex characters.
    assert!(bytes.len() < 100, "{} bytes", bytes.len());
    assert_eq!(bytes[0], 64);
    assert_eq!(&bytes[1..65], &[9u8; 64][..]);
    let decoded: ConnectToNodeCommand = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(decoded.remote.pubkey(), node(9).pubkey());
    assert_eq!(decoded.remote.to_string(), node(9).to_string());

    let message = PeerPoolMessageEvent::new(session(10), command());
    let decoded: PeerPoolMessageEvent =
        postcard::from_bytes(&postcard::to_stdvec(&message).unwrap()).unwrap();
    assert_eq!(decoded.session.remote(), session(10).remote());
    assert_eq!(decoded.command, command());
}

#[test]
fn decoding_bad_bytes_fails_without_panicking() {
    let bytes = postcard::to_stdvec(&PeerJoinedEvent::from(peer(11))).unwrap();
    for len in 0..bytes.len() {
        assert!(postcard::from_bytes::<PeerJoinedEvent>(&bytes[..len]).is_err());
    }
    // An unassigned disconnect code is refused.
    let mut bytes = postcard::to_stdvec(&DisconnectPeerEvent {
        session: session(12),
        reason: DisconnectReason::TooManyPeers,
    })
    .unwrap();
    let last = bytes.len() - 1;
    assert_eq!(bytes[last], 4);
    bytes[last] = 12;
    assert!(postcard::from_bytes::<DisconnectPeerEvent>(&bytes).is_err());
}

#[test]
fn peer_joined_carries_the_peer_info() {
    let info = peer(13);
    let event = PeerJoinedEvent::from(info.clone());
    assert_eq!(event.session, info.session);
    assert_eq!(event.peer_info(), info);
    assert_eq!(PeerInfo::from(event), info);
}

#[test]
fn connected_peers_response_is_sorted_by_session() {
    let peers: HashMap<Session, PeerInfo> = (0..20u8)
        .rev()
        .map(|seed| (session(seed), peer(seed)))
        .collect();
    let response = GetConnectedPeersResponse::from_connected_peers(&peers);
    let expected: Vec<PeerInfo> = (0..20u8).map(peer).collect();
    assert_eq!(response.peers, expected);
    assert_eq!(
        response.sessions().cloned().collect::<Vec<_>>(),
        (0..20u8).map(session).collect::<Vec<_>>()
    );
    let empty: HashMap<Session, PeerInfo> = HashMap::new();
    assert!(GetConnectedPeersResponse::from_connected_peers(&empty)
        .peers
        .is_empty());
    assert_eq!(
        GetConnectedPeersResponse::from(vec![peer(1)]).peers,
        vec![peer(1)]
    );
}

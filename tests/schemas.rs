//! Two separately built programs that disagree about an event never misdecode each
//! other: `schema-peer` (its own binary, with other definitions of the `schemas.*` events
//! under the same names) and this test's endpoint refuse to send each other the events
//! whose shapes differ, say so with an error naming the event, both endpoints and both
//! fingerprints, log it once on each side, and keep exchanging the one they agree on.

mod support;

use event_core::schema::schema_of;
use event_core::{Endpoint, Error, Event};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::Path;
use support::backends::{Bus, Kind};
use support::{eventually, within};

/// The newer definitions (`schema-peer` holds the older ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.FieldAdded")]
pub struct FieldAdded {
    pub n: u64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.Reordered")]
pub struct Reordered {
    pub b: String,
    pub a: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.Retyped")]
pub struct Retyped {
    pub n: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.VariantAdded")]
pub enum VariantAdded {
    A,
    B,
    C,
}

/// The same in both programs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.Same")]
pub struct Same {
    pub n: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.Lookup")]
#[request(response = Same)]
pub struct Lookup {
    pub key: String,
}

/// The same request as schema-peer's, answered with another shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.Swap")]
#[request(response = SwapAnswer)]
pub struct Swap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "schemas.SwapAnswer")]
pub struct SwapAnswer {
    pub b: u64,
    pub a: u64,
}

async fn start_old(bus: &Bus) -> event_bus_tests::peer_process::PeerProcess {
    let program = Path::new(env!("CARGO_BIN_EXE_schema-peer"));
    let zenoh = bus
        .router
        .as_ref()
        .map(|router| (router.locator.clone(), bus.name.clone()));
    event_bus_tests::peer_process::PeerProcess::start_program(
        program,
        "old",
        bus.dir(),
        |command| {
            if let Some((locator, name)) = zenoh {
                command
                    .env("BUS_PEER_ZENOH", locator)
                    .env("BUS_PEER_BUS", name);
            }
        },
    )
    .await
}

/// Checks that broadcasting `event` to `old`, its only subscriber, is refused, naming
/// both fingerprints.
async fn refused<E: Event + Clone>(bus: &Endpoint, event: E) {
    assert!(!bus.is_endpoint_subscribed_to::<E>("old"), "{}", E::NAME);
    let published = bus
        .schemas_of("old")
        .into_iter()
        .find(|schema| schema.name() == E::NAME)
        .unwrap_or_else(|| panic!("old published no schema of {}", E::NAME));
    let ours = schema_of::<E>().fingerprint();
    assert_ne!(published.fingerprint(), ours, "{}", E::NAME);
    for _ in 0..2 {
        let result = bus.broadcast(event.clone()).await;
        match result {
            Err(Error::IncompatibleSchema {
                endpoint,
                remote,
                event,
                fingerprint,
                remote_fingerprint,
            }) => {
                assert_eq!(
                    (endpoint.as_str(), remote.as_str(), event),
                    ("driver", "old", E::NAME)
                );
                assert_eq!(
                    (fingerprint, remote_fingerprint),
                    (ours, published.fingerprint())
                );
            }
            other => panic!("{}: {other:?}", E::NAME),
        }
    }
}

#[tokio::test]
async fn over_sockets_events_whose_shapes_differ_are_never_sent_and_the_same_shape_keeps_working() {
    shapes_that_differ_are_never_sent(Kind::Sockets).await
}

/// The same over zenoh. Its runtime is the test's current-thread one, which zenoh itself
/// refuses to block: this also shows that the backend never asks it to.
#[tokio::test]
async fn over_zenoh_events_whose_shapes_differ_are_never_sent_and_the_same_shape_keeps_working() {
    shapes_that_differ_are_never_sent(Kind::Zenoh).await
}

async fn shapes_that_differ_are_never_sent(kind: Kind) {
    let (captured, _log) = support::CapturedLog::start();

    let meeting = Bus::new(kind).await;
    let bus = meeting.endpoint("driver").await;
    let mut old = start_old(&meeting).await;
    meeting.connect(&bus, &["old"]).await;
    within(
        "old's subscription to Same",
        bus.wait_until_endpoint_subscribed_to::<Same>("old"),
    )
    .await;
    // Over sockets a subscription set arrives in one message; over zenoh each
    // subscription is a token of its own, seen in any order: wait for every one the
    // checks below rely on, whatever its schema.
    let subscribed = [
        FieldAdded::NAME,
        Reordered::NAME,
        Retyped::NAME,
        VariantAdded::NAME,
        Same::NAME,
        Lookup::NAME,
        Swap::NAME,
    ];
    eventually("old's subscriptions, every one", || {
        bus.connected_endpoints_and_subscriptions()
            .into_iter()
            .any(|(name, events)| {
                name == "old" && subscribed.iter().all(|event| events.contains(*event))
            })
    })
    .await;
    // Its schemas follow its WELCOME: of what it subscribes to, and the answer it sends.
    let expected: Vec<&str> = subscribed
        .iter()
        .copied()
        .chain([SwapAnswer::NAME])
        .collect();
    within("old's schemas", async {
        for name in &expected {
            bus.wait_until_schema_published("old", name).await;
        }
    })
    .await;
    let published = bus.schemas_of("old");
    for name in &expected {
        assert!(
            published.iter().any(|schema| schema.name() == *name),
            "{name}: waited for, not published"
        );
    }

    // This side refuses to send what old would misdecode, naming both fingerprints.
    refused(
        &bus,
        FieldAdded {
            n: 1,
            label: "x".into(),
        },
    )
    .await;
    refused(
        &bus,
        Reordered {
            b: "b".into(),
            a: 1,
        },
    )
    .await;
    refused(&bus, Retyped { n: 1 }).await;
    refused(&bus, VariantAdded::C).await;
    let request = within("the request", bus.request(Lookup { key: "k".into() })).await;
    assert!(
        matches!(
            request,
            Err(Error::IncompatibleSchema {
                event: "schemas.Lookup",
                ..
            })
        ),
        "{request:?}"
    );
    // The shape both agree on goes through, and it is all old ever received.
    bus.broadcast(Same { n: 1 }).await.unwrap();
    old.expect_eventually(
        "counts",
        "counts FieldAdded=0 Reordered=0 Retyped=0 VariantAdded=0 Same=1",
    )
    .await;

    // The other way round: old refuses too, and sends what both agree on (once it has
    // heard of these subscriptions: `Same`, the last, says it has).
    let field_added = bus.stream::<FieldAdded>();
    let reordered = bus.stream::<Reordered>();
    let retyped = bus.stream::<Retyped>();
    let variant_added = bus.stream::<VariantAdded>();
    let mut same = bus.stream::<Same>();
    old.expect_eventually(
        "send driver",
        "sent FieldAdded=IncompatibleSchema Reordered=IncompatibleSchema Retyped=IncompatibleSchema \
         VariantAdded=IncompatibleSchema Same=ok",
    )
    .await;
    assert_eq!(within("old's Same", same.next()).await.unwrap().n, 7);
    for (name, empty) in [
        ("FieldAdded", field_added.is_empty()),
        ("Reordered", reordered.is_empty()),
        ("Retyped", retyped.is_empty()),
        ("VariantAdded", variant_added.is_empty()),
    ] {
        assert!(empty, "{name} arrived from old");
    }

    // Logged once per event on this side, as sender and as receiver, however often.
    for name in ["FieldAdded", "Reordered", "Retyped", "VariantAdded"] {
        let event = format!("schemas.{name}");
        assert_eq!(
            captured.lines_with(&["not sending this event", &event]),
            1,
            "{event}"
        );
        eventually(&format!("the receiving warning for {event}"), || {
            captured.lines_with(&["will not receive this event", &event]) == 1
        })
        .await;
    }
}

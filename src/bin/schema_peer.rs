//! `schema-peer NAME DIR`: a program built from *other* definitions of some events than
//! the tests', as a process built last month would be. It serves `NAME` in `DIR`,
//! subscribes to every `schemas.*` event and answers `schemas.Lookup` and `schemas.Swap`,
//! prints `ready`, then
//! answers one command per line on stdin:
//!
//! With `BUS_PEER_ZENOH` (and `BUS_PEER_BUS`), as `bus-peer`, it also joins that zenoh bus.
//!
//! ```text
//! counts   -> counts FieldAdded=N Reordered=N Retyped=N VariantAdded=N Same=N
//! send TO  -> sent FieldAdded=R Reordered=R Retyped=R VariantAdded=R Same=R
//!             (to endpoint TO only; R: ok or the error kind)
//! ```

use event_bus_tests::error_kind;
use event_core::{BroadcastConfig, ConnectionConfig, Endpoint, Event};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The older definitions (the tests hold the newer ones under the same names).
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.FieldAdded")]
struct FieldAdded {
    n: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.Reordered")]
struct Reordered {
    a: u64,
    b: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.Retyped")]
struct Retyped {
    n: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.VariantAdded")]
enum VariantAdded {
    A,
    B,
}

/// The same in both programs.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.Same")]
struct Same {
    n: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.Lookup")]
#[request(response = Same)]
struct Lookup {
    key: u32,
}

/// A request of the same shape in both programs, whose answer is not.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.Swap")]
#[request(response = SwapAnswer)]
struct Swap;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "schemas.SwapAnswer")]
struct SwapAnswer {
    a: u64,
    b: u64,
}

fn count<E: Event>(bus: &Endpoint) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let mut stream = bus.stream::<E>();
    let counted = count.clone();
    tokio::spawn(async move {
        while stream.next().await.is_some() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    count
}

fn outcome(result: Result<(), event_core::Error>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(error) => error_kind(&error),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, dir] = args.as_slice() else {
        eprintln!("usage: schema-peer NAME DIR");
        std::process::exit(2);
    };
    let bus = Endpoint::serve(ConnectionConfig::from_name(name, dir))
        .await
        .expect("serve");
    // As bus-peer: `BUS_PEER_ZENOH` also joins that zenoh bus.
    event_bus_tests::join_zenoh_from_env(&bus)
        .await
        .expect("join the zenoh bus");
    let counts = [
        ("FieldAdded", count::<FieldAdded>(&bus)),
        ("Reordered", count::<Reordered>(&bus)),
        ("Retyped", count::<Retyped>(&bus)),
        ("VariantAdded", count::<VariantAdded>(&bus)),
        ("Same", count::<Same>(&bus)),
    ];
    let mut swaps = bus.stream_requests::<Swap>();
    tokio::spawn(async move {
        while let Some(request) = swaps.next().await {
            let _ = request.respond(SwapAnswer { a: 1, b: 2 }).await;
        }
    });
    let mut lookups = bus.stream_requests::<Lookup>();
    tokio::spawn(async move {
        while let Some(request) = lookups.next().await {
            let n = u64::from(request.key);
            let _ = request.respond(Same { n }).await;
        }
    });
    println!("ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line.trim() {
            "counts" => {
                let counts: Vec<String> = counts
                    .iter()
                    .map(|(name, count)| format!("{name}={}", count.load(Ordering::SeqCst)))
                    .collect();
                println!("counts {}", counts.join(" "));
            }
            command if command.starts_with("send ") => {
                let to = || BroadcastConfig::to_endpoint(&command["send ".len()..]);
                let reordered = Reordered {
                    a: 1,
                    b: "b".into(),
                };
                let sent = [
                    (
                        "FieldAdded",
                        outcome(bus.broadcast_with(FieldAdded { n: 1 }, to()).await),
                    ),
                    (
                        "Reordered",
                        outcome(bus.broadcast_with(reordered, to()).await),
                    ),
                    (
                        "Retyped",
                        outcome(bus.broadcast_with(Retyped { n: 1 }, to()).await),
                    ),
                    (
                        "VariantAdded",
                        outcome(bus.broadcast_with(VariantAdded::B, to()).await),
                    ),
                    (
                        "Same",
                        outcome(bus.broadcast_with(Same { n: 7 }, to()).await),
                    ),
                ];
                let sent: Vec<String> = sent
                    .iter()
                    .map(|(name, outcome)| format!("{name}={outcome}"))
                    .collect();
                println!("sent {}", sent.join(" "));
            }
            other => println!("error unknown command {other}"),
        }
    }
}

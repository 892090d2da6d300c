//! The children of the zenoh scenarios: a router, the bus's roles joined to zenoh (see
//! [`crate::roles`]: `--zenoh LOCATOR` puts them on the bus `bench` through that router),
//! and the raw zenoh baselines, which do the same work on zenoh alone.
//!
//! | role | what it does |
//! |---|---|
//! | `zenoh-router` | a zenoh router listening on `--locator` |
//! | `zenoh-raw-consumer` | a zenoh subscriber of `bench/perf`: postcard, the same checks |
//! | `zenoh-raw-producer` | encodes each event once, one `put` for every consumer (the engine fans out) |
//! | `zenoh-raw-responder` / `zenoh-raw-requester` | a queryable answering each `get` with the same payload |
//!
//! A raw consumer (or responder) declares a liveliness token once it can receive, and the
//! producer (or requester) waits for every one before it starts, as the bus's driver waits
//! for its consumers' subscriptions. Every role runs a multi-threaded runtime with one
//! worker: zenoh refuses to block on a current-thread one.

use crate::events::{perf_event, Checker, PerfEvent, PerfRequest, PerfResponse, FILL};
use crate::roles::{command, emit, round_trips, until_closed, within, Error, Pacing, RoleArgs};
use crate::sys::{cpu_ns, now_ns};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;
use zenoh::qos::CongestionControl;
use zenoh::query::{ConsolidationMode, QueryTarget};
use zenoh::Wait;

const EVENTS: &str = "bench/perf";
const REQUESTS: &str = "bench/request";

/// Whether `role` is one of this file's.
pub fn is_zenoh_role(role: &str) -> bool {
    role.starts_with("zenoh-")
}

/// Runs one of this file's roles.
pub async fn run(
    role: &str,
    args: &RoleArgs,
    commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    match role {
        "zenoh-router" => router(args, commands).await,
        "zenoh-raw-consumer" => raw_consumer(args, commands).await,
        "zenoh-raw-producer" => raw_producer(args, commands).await,
        "zenoh-raw-responder" => raw_responder(args, commands).await,
        "zenoh-raw-requester" => raw_requester(args).await,
        other => Err(format!("unknown role `{other}`").into()),
    }
}

/// The bus's client configuration for `--zenoh LOCATOR`.
pub fn client_config(locator: &str) -> event_zenoh::ZenohConfig {
    event_zenoh::ZenohConfig::client([locator.to_owned()]).bus("bench")
}

async fn router(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let router = event_zenoh::Router::new()
        .listen([args.get("locator")?.to_owned()])
        .open()
        .await?;
    emit(json!({"kind": "ready"}));
    until_closed(&mut commands).await;
    drop(router);
    Ok(())
}

/// A raw zenoh client session of the router at `--zenoh`.
async fn open(args: &RoleArgs) -> Result<zenoh::Session, Error> {
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", "\"client\"")?;
    config.insert_json5(
        "connect/endpoints",
        &format!("[\"{}\"]", args.get("zenoh")?),
    )?;
    config.insert_json5("scouting/multicast/enabled", "false")?;
    zenoh::open(config).await
}

/// Waits until `count` raw peers declared their readiness token under `prefix`.
async fn wait_ready(session: &zenoh::Session, prefix: &str, count: usize) -> Result<(), Error> {
    within("every raw peer to be ready", async {
        loop {
            let replies = session
                .liveliness()
                .get(format!("bench/ready/{prefix}/*"))
                .await?;
            let mut seen = 0;
            while let Ok(reply) = replies.recv_async().await {
                seen += usize::from(reply.result().is_ok());
            }
            if seen >= count {
                return Ok::<(), Error>(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await?
}

async fn raw_consumer(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let name = args.get("name")?;
    let events: u64 = args.num("events")?;
    let mut checker = Checker::new(args.num("payload")?, events);
    let session = open(args).await?;
    let subscriber = session
        .declare_subscriber(EVENTS)
        .with(flume::bounded(crate::roles::QUEUE))
        .await?;
    let _ready = session
        .liveliness()
        .declare_token(format!("bench/ready/consumers/{name}"))
        .await?;
    let cpu_start = cpu_ns();
    emit(json!({"kind": "ready"}));
    while checker.received < events {
        let Ok(sample) = subscriber.recv_async().await else {
            break;
        };
        let event: PerfEvent = postcard::from_bytes(&sample.payload().to_bytes())?;
        checker.check(&event);
    }
    emit(json!({
        "kind": "done",
        "received": checker.received,
        "in_order": checker.in_order,
        "overflowed": false,
        "last_ns": checker.last_ns,
        "cpu_ns": cpu_ns() - cpu_start,
    }));
    until_closed(&mut commands).await;
    Ok(())
}

async fn raw_producer(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let consumers = args.names("consumers")?.len();
    let events: u64 = args.num("events")?;
    let fill = vec![FILL; args.num("payload")?];
    let session = open(args).await?;
    wait_ready(&session, "consumers", consumers).await?;
    let publisher = session
        .declare_publisher(EVENTS)
        .congestion_control(CongestionControl::Block)
        .await?;
    let cpu_start = cpu_ns();
    let start_ns = now_ns();
    let mut buffer = Vec::new();
    for index in 0..events {
        buffer.clear();
        let encoded = postcard::to_extend(&perf_event(&fill, index), buffer)?;
        publisher.put(encoded.clone()).wait()?;
        buffer = encoded;
    }
    emit(json!({"kind": "sent", "start_ns": start_ns, "end_ns": now_ns()}));
    command(&mut commands, "report").await?;
    emit(
        json!({"kind": "report", "cpu_ns": cpu_ns() - cpu_start, "events_sent": events * consumers as u64}),
    );
    until_closed(&mut commands).await;
    Ok(())
}

async fn raw_responder(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let session = open(args).await?;
    let queryable = session
        .declare_queryable(REQUESTS)
        .with(flume::bounded(crate::roles::QUEUE))
        .await?;
    let _ready = session
        .liveliness()
        .declare_token("bench/ready/responder/raw")
        .await?;
    let serving = tokio::spawn(async move {
        while let Ok(query) = queryable.recv_async().await {
            let Some(payload) = query.payload() else {
                continue;
            };
            let Ok(request) = postcard::from_bytes::<PerfRequest>(&payload.to_bytes()) else {
                continue;
            };
            let response = PerfResponse {
                payload: request.payload,
                index: request.index,
            };
            if let Ok(body) = postcard::to_stdvec(&response) {
                let _ = query.reply(query.key_expr().clone(), body).await;
            }
        }
    });
    let cpu_start = cpu_ns();
    emit(json!({"kind": "ready"}));
    command(&mut commands, "report").await?;
    emit(json!({"kind": "report", "cpu_ns": cpu_ns() - cpu_start}));
    until_closed(&mut commands).await;
    serving.abort();
    Ok(())
}

async fn raw_requester(args: &RoleArgs) -> Result<(), Error> {
    let (warmup, count): (u64, u64) = (args.num("warmup")?, args.num("events")?);
    let fill = vec![FILL; args.num("payload")?];
    let session = open(args).await?;
    wait_ready(&session, "responder", 1).await?;
    let report = round_trips(warmup, count, &fill, Pacing::new(None), |request| {
        let session = &session;
        async move {
            let replies = session
                .get(REQUESTS)
                .payload(postcard::to_stdvec(&request)?)
                .target(QueryTarget::All)
                .consolidation(ConsolidationMode::None)
                .await?;
            let reply = replies
                .recv_async()
                .await
                .map_err(|_| "no answer to a raw get")?;
            let sample = reply.result().map_err(|_| "an error reply to a raw get")?;
            let response: PerfResponse = postcard::from_bytes(&sample.payload().to_bytes())?;
            Ok(response)
        }
    })
    .await?;
    emit(report);
    Ok(())
}

//! `stress`: floods and faults for a chosen duration, with figures.
//!
//! ```text
//! cargo run --release --bin stress -- [--seconds N]   (default 60)
//! ```
//!
//! The driver (this process) serves an endpoint and four `bus-peer` processes join it
//! (this same binary, re-run in that role):
//!
//! * `steady` subscribes to every `Counter` and answers `Ping`s; it is never disturbed, so
//!   it must receive every `Counter` the driver broadcast (lost events must be 0) in order;
//! * `flaky` also subscribes and answers, and is SIGKILLed and restarted every 2 s (the
//!   driver reconnects to it), often in the middle of a request or a burst;
//! * `staller` subscribes and never reads; its endpoint cuts it off after 500 ms of a full
//!   queue, and it subscribes again every 3 s;
//! * `requester` requests `Ping`s from the driver in a loop, while the driver answers.
//!
//! Meanwhile one task broadcasts `Counter`s (fire and forget: someone always listens) and
//! eight tasks request `Ping`s from `steady` and `flaky` in turn (those to `flaky` fail
//! with `RemoteDisconnected` when it is killed, or `NoSubscribers` while it restarts:
//! counted by kind; none may hang). At the end it prints the figures (one JSON line on stdout,
//! readable lines on stderr) and exits non-zero if an event was lost or out of order.

use event_bus_tests::peer_process::{proc_status_kib, PeerProcess};
use event_bus_tests::{error_kind, Counter, Ping, Pong};
use event_core::{BroadcastConfig, ConnectionConfig, Endpoint};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Figures {
    broadcasts: AtomicU64,
    requests_ok: AtomicU64,
    restarts: AtomicU64,
    resubscriptions: AtomicU64,
    answered_for_requester: AtomicU64,
    longest_broadcast_us: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    peak_rss_kib: Mutex<BTreeMap<String, u64>>,
}

impl Figures {
    fn error(&self, what: &str, error: &event_core::Error) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry(format!("{what}:{}", error_kind(error)))
            .or_default() += 1;
    }

    fn rss(&self, name: &str, kib: u64) {
        let mut peaks = self.peak_rss_kib.lock().unwrap();
        let peak = peaks.entry(name.to_owned()).or_default();
        *peak = (*peak).max(kib);
    }
}

/// The environment variable that makes this binary run as a `bus-peer` child.
const ROLE: &str = "STRESS_ROLE";

fn main() {
    if std::env::var_os(ROLE).is_some_and(|role| role == "bus-peer") {
        return event_bus_tests::bus_peer::main();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(drive());
}

async fn drive() {
    let seconds: u64 = match std::env::args().collect::<Vec<_>>().as_slice() {
        [_] => 60,
        [_, flag, value] if flag == "--seconds" => value.parse().expect("--seconds N"),
        _ => {
            eprintln!("usage: stress [--seconds N]");
            std::process::exit(2);
        }
    };
    // The children are this very binary in the bus-peer role: nothing else to build.
    let program = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let figures = Arc::new(Figures::default());
    let bus = Endpoint::serve(ConnectionConfig::from_name("driver", dir.path()))
        .await
        .unwrap();

    let mut steady = start(&program, "steady", dir.path(), &[]).await;
    let mut staller = start(
        &program,
        "staller",
        dir.path(),
        &[("BUS_PEER_STALL_MS", "500"), ("BUS_PEER_QUEUE", "64")],
    )
    .await;
    let mut requester = start(&program, "requester", dir.path(), &[]).await;
    for peer in [&mut steady, &mut staller, &mut requester] {
        connect(&bus, dir.path(), &peer.name).await;
    }
    steady
        .expect("subscribe counter", "subscribed counter")
        .await;
    steady.expect("respond", "serving-pings respond").await;
    staller.expect("stall counter", "stalled counter").await;
    bus.wait_until_endpoint_subscribed_to::<Counter>("steady")
        .await;
    bus.wait_until_endpoint_subscribed_to::<Ping>("steady")
        .await;

    // The driver answers the requester's pings.
    let mut pings = bus.stream_requests::<Ping>();
    let answered = figures.clone();
    tokio::spawn(async move {
        while let Some(request) = pings.next().await {
            let echo = request.value;
            if request
                .respond(Pong {
                    from: "driver".into(),
                    echo,
                })
                .await
                .is_ok()
            {
                answered
                    .answered_for_requester
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    requester
        .expect("wait-subscribed driver ping", "seen driver ping")
        .await;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let running = Arc::new(AtomicBool::new(true));
    eprintln!("stress: {seconds} s with steady, flaky (killed every 2 s), staller, requester");

    let broadcaster = {
        let (bus, figures, running) = (bus.clone(), figures.clone(), running.clone());
        tokio::spawn(async move {
            let mut index = 0;
            while running.load(Ordering::Relaxed) {
                let call = Instant::now();
                let config = BroadcastConfig::default().require_subscriber(false);
                match bus
                    .broadcast_with(
                        Counter {
                            index,
                            payload: vec![0; 128],
                        },
                        config,
                    )
                    .await
                {
                    Ok(()) => index += 1,
                    Err(error) => figures.error("broadcast", &error),
                }
                figures
                    .longest_broadcast_us
                    .fetch_max(call.elapsed().as_micros() as u64, Ordering::Relaxed);
                figures.broadcasts.store(index, Ordering::Relaxed);
                if index % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut requesters = Vec::new();
    for task in 0..8u64 {
        let (bus, figures, running) = (bus.clone(), figures.clone(), running.clone());
        requesters.push(tokio::spawn(async move {
            let mut round = 0;
            while running.load(Ordering::Relaxed) {
                let value = task << 40 | round;
                // To the other processes, not to this one's own responder (which answers
                // the child requester): every request crosses a socket.
                let target = if round % 2 == 0 { "steady" } else { "flaky" };
                let request =
                    bus.request_with(Ping { value }, BroadcastConfig::to_endpoint(target));
                match tokio::time::timeout(Duration::from_secs(10), request)
                    .await
                    .unwrap_or_else(|_| panic!("request {value} to {target} hung"))
                {
                    Ok(pong) if pong.echo == value => {
                        figures.requests_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(pong) => panic!("request {value} answered with {}", pong.echo),
                    Err(error) => figures.error("request", &error),
                }
                round += 1;
            }
        }));
    }

    let mut flaky = None;
    let mut next_kill = Instant::now();
    let mut next_stall = Instant::now() + Duration::from_secs(3);
    let mut requester_rounds = 0u64;
    while Instant::now() < deadline {
        if Instant::now() >= next_kill {
            if let Some(old) = flaky.take() {
                record_rss(&figures, &old);
                old.kill().await;
                figures.restarts.fetch_add(1, Ordering::Relaxed);
            }
            let mut new = start(&program, "flaky", dir.path(), &[]).await;
            // The old connection may not be torn down yet: retry until the name is free.
            while bus
                .connect_to_endpoints(&[ConnectionConfig::from_name("flaky", dir.path())])
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            new.expect("subscribe counter", "subscribed counter").await;
            new.expect("respond", "serving-pings respond").await;
            flaky = Some(new);
            next_kill = Instant::now() + Duration::from_secs(2);
        }
        if Instant::now() >= next_stall {
            staller.expect("stall counter", "stalled counter").await;
            figures.resubscriptions.fetch_add(1, Ordering::Relaxed);
            next_stall = Instant::now() + Duration::from_secs(3);
        }
        let answer = requester.ask(&format!("request {requester_rounds}")).await;
        if !answer.starts_with("response") {
            *figures
                .errors
                .lock()
                .unwrap()
                .entry(format!("child-request:{answer}"))
                .or_default() += 1;
        }
        requester_rounds += 1;
        for peer in [&steady, &staller, &requester] {
            record_rss(&figures, peer);
        }
        figures.rss("driver", proc_status_kib(std::process::id(), "VmHWM"));
    }
    running.store(false, Ordering::Relaxed);
    broadcaster.await.unwrap();
    for task in requesters {
        task.await.unwrap();
    }
    let sent = figures.broadcasts.load(Ordering::Relaxed);
    steady.wait_count("counter", sent).await;
    let elapsed = started.elapsed().as_secs_f64();

    let errors = figures.errors.lock().unwrap().clone();
    let peaks = figures.peak_rss_kib.lock().unwrap().clone();
    let summary = format!(
        "{{\"seconds\":{elapsed:.1},\"events_broadcast\":{sent},\"events_received_by_steady\":{sent},\"lost_events\":0,\
         \"requests_ok\":{},\"child_requests\":{requester_rounds},\"answered_for_child\":{},\"flaky_restarts\":{},\
         \"staller_resubscriptions\":{},\"longest_broadcast_ms\":{:.1},\"errors\":{},\"peak_rss_mib\":{}}}",
        figures.requests_ok.load(Ordering::Relaxed),
        figures.answered_for_requester.load(Ordering::Relaxed),
        figures.restarts.load(Ordering::Relaxed),
        figures.resubscriptions.load(Ordering::Relaxed),
        figures.longest_broadcast_us.load(Ordering::Relaxed) as f64 / 1000.0,
        json_map(errors.iter().map(|(k, v)| (k.clone(), v.to_string()))),
        json_map(peaks.iter().map(|(k, v)| (k.clone(), format!("{:.1}", *v as f64 / 1024.0)))),
    );
    eprintln!(
        "stress: {sent} events ({:.0}/s), all received in order by steady; {} requests ok ({:.0}/s); errors {errors:?}; peak RSS MiB {:?}",
        sent as f64 / elapsed,
        figures.requests_ok.load(Ordering::Relaxed),
        figures.requests_ok.load(Ordering::Relaxed) as f64 / elapsed,
        peaks
            .iter()
            .map(|(name, kib)| (name.as_str(), (*kib as f64 / 1024.0 * 10.0).round() / 10.0))
            .collect::<Vec<_>>(),
    );
    println!("{summary}");
    bus.stop().await;
}

async fn start(program: &Path, name: &str, dir: &Path, env: &[(&str, &str)]) -> PeerProcess {
    PeerProcess::start_program(program, name, dir, |command| {
        command.env(ROLE, "bus-peer");
        for (key, value) in env {
            command.env(key, value);
        }
    })
    .await
}

async fn connect(bus: &Endpoint, dir: &Path, name: &str) {
    bus.connect_to_endpoints(&[ConnectionConfig::from_name(name, dir)])
        .await
        .unwrap();
}

fn record_rss(figures: &Figures, peer: &PeerProcess) {
    if peer.id().is_some() {
        figures.rss(&peer.name, peer.memory_kib("VmHWM"));
    }
}

fn json_map(entries: impl Iterator<Item = (String, String)>) -> String {
    let body: Vec<String> = entries
        .map(|(key, value)| format!("{key:?}:{value}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

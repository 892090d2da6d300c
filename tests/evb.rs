//! `evb` against a running bus of real processes: a peer pool served in one (`networking`,
//! Trinity's `PeerPoolEventServer`) and followed from another (`sync`, a `ProxyPeerPool`),
//! as in the peer-pool demo, over sockets and over zenoh. `evb` runs as its own process
//! (`bus-peer evb ARGS...` runs exactly the `evb` binary's code).

mod support;

use event_bus_tests::peer_process::PeerProcess;
use serde_json::Value;
use std::process::Stdio;
use support::backends::{on_both_backends, Bus, Kind};
use support::within;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const JOINED: &str = "trinity.protocol.common.events.PeerJoinedEvent";
const COUNT_REQUEST: &str = "trinity.protocol.common.events.PeerCountRequest";
const COUNT_RESPONSE: &str = "trinity.protocol.common.events.PeerCountResponse";

on_both_backends!(
    ls_lists_the_pool_processes_with_their_subscriptions_and_schemas,
    tap_shows_events_requests_and_answers_as_json_and_is_nobody,
    request_builds_the_request_from_json_and_prints_the_answer,
    a_request_nobody_answers_times_out_after_the_timeout_given,
    a_tap_that_cannot_keep_up_slows_nobody_and_says_what_it_missed,
);

/// The pool: `networking` serves it, `sync` follows it through a proxy.
async fn pool(bus: &Bus) -> (PeerProcess, PeerProcess) {
    let mut networking = bus.peer("networking").await;
    networking.expect("pool-serve", "pool-serving").await;
    let mut sync = bus.peer("sync").await;
    bus.peer_connect(&mut sync, "networking").await;
    sync.expect("proxy networking", "proxying networking").await;
    (networking, sync)
}

/// `evb`'s arguments that name `bus`.
fn on(bus: &Bus) -> Vec<String> {
    match bus.kind {
        Kind::Sockets => vec!["--dir".into(), bus.dir().display().to_string()],
        Kind::Zenoh => vec![
            "--zenoh".into(),
            bus.locator(),
            "--bus".into(),
            bus.name.clone(),
        ],
    }
}

fn evb(bus: &Bus, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bus-peer"));
    command
        .arg("evb")
        .args(on(bus))
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `evb ARGS` to its end: its stdout, stderr, and whether it succeeded.
async fn evb_output(bus: &Bus, args: &[&str]) -> (String, String, bool) {
    let output = within(&format!("evb {}", args.join(" ")), evb(bus, args).output())
        .await
        .expect("run evb");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.success(),
    )
}

async fn ls_lists_the_pool_processes_with_their_subscriptions_and_schemas(kind: Kind) {
    let bus = Bus::new(kind).await;
    let (_networking, _sync) = pool(&bus).await;
    let (stdout, stderr, ok) = evb_output(&bus, &["ls", "--json"]).await;
    assert!(ok, "evb ls failed: {stderr}");
    let listed: Value = serde_json::from_str(&stdout).expect("one JSON array");
    let endpoint = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["endpoint"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed: {stdout}"))
            .clone()
    };
    let subscribes = |entry: &Value, event: &str| {
        entry["subscribes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|name| name == event)
    };
    let networking = endpoint("networking");
    let sync = endpoint("sync");
    assert!(subscribes(&networking, COUNT_REQUEST), "{networking}");
    assert!(!subscribes(&networking, JOINED), "{networking}");
    assert!(subscribes(&sync, JOINED), "{sync}");
    assert!(!subscribes(&sync, COUNT_REQUEST), "{sync}");
    // Each schema, with what a request is answered by.
    let schema = networking["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|schema| schema["name"] == COUNT_REQUEST)
        .expect("the request's schema")
        .clone();
    assert_eq!(schema["response"][0], COUNT_RESPONSE, "{schema}");

    // The text form names the same, with each schema's structure.
    let (text, _, ok) = evb_output(&bus, &["ls"]).await;
    assert!(ok);
    assert!(text.contains("networking\n  subscribes to:\n"), "{text}");
    assert!(
        text.contains(&format!(
            "{COUNT_RESPONSE}  {}  struct PeerCountResponse {{ peer_count: u64 }}",
            fingerprint_in(&networking, COUNT_RESPONSE)
        )),
        "{text}"
    );
}

/// The fingerprint `entry` (an `ls --json` endpoint) published for `event`, as `ls`
/// prints it.
fn fingerprint_in(entry: &Value, event: &str) -> String {
    let fingerprint = entry["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|schema| schema["name"] == event)
        .unwrap()["fingerprint"]
        .as_u64()
        .unwrap();
    format!("{fingerprint:016x}")
}

/// A running `evb tap --json`, read line by line.
struct Tap {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Tap {
    async fn start(bus: &Bus, args: &[&str]) -> Tap {
        let mut all = vec!["--name", "tap", "tap", "--json"];
        all.extend_from_slice(args);
        let mut child = evb(bus, &all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start evb tap");
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        // Log lines may come first (a warning of the bus's): the tap says when it taps.
        within("evb tap to start", async {
            loop {
                let said = stderr.next_line().await.unwrap().expect("evb tap exited");
                if said.starts_with("tapping ") {
                    assert!(said.contains(" as tap "), "evb tap said: {said}");
                    return;
                }
            }
        })
        .await;
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Tap { child, lines }
    }

    /// Its endpoint's name on the bus.
    fn name(&self) -> String {
        "tap".to_owned()
    }

    async fn next(&mut self) -> Value {
        let line = within("a line from evb tap", self.lines.next_line())
            .await
            .unwrap()
            .expect("evb tap exited");
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"))
    }

    /// The next lines about `first` and `second`, skipping others: copies from different
    /// endpoints may arrive in any order (an answer before its request).
    async fn next_of_both(&mut self, first: &str, second: &str) -> (Value, Value) {
        let (mut a, mut b) = (None, None);
        while a.is_none() || b.is_none() {
            let line = self.next().await;
            if line["name"] == first && a.is_none() {
                a = Some(line);
            } else if line["name"] == second && b.is_none() {
                b = Some(line);
            }
        }
        (a.unwrap(), b.unwrap())
    }

    /// The next line about `name`, skipping others.
    async fn next_of(&mut self, name: &str) -> Value {
        loop {
            let line = self.next().await;
            if line["name"] == name {
                return line;
            }
        }
    }
}

async fn tap_shows_events_requests_and_answers_as_json_and_is_nobody(kind: Kind) {
    let bus = Bus::new(kind).await;
    let (mut networking, mut sync) = pool(&bus).await;
    let mut tap = Tap::start(&bus, &[]).await;
    let tap_name = tap.name();
    for (peer, events) in [
        (&mut networking, [JOINED, COUNT_RESPONSE]),
        (&mut sync, [COUNT_REQUEST, "tests.Other"]),
    ] {
        for event in events {
            peer.expect(
                &format!("wait-observed {tap_name} {event}"),
                &format!("observed-by {tap_name} {event}"),
            )
            .await;
        }
    }

    // A peer joins: the pool broadcasts it, the tap shows it decoded.
    let joined = networking.ask("pool-join 7").await;
    let session = joined
        .strip_prefix("pool-joined ")
        .expect(&joined)
        .to_owned();
    let event = tap.next_of(JOINED).await;
    assert_eq!(event["kind"], "event", "{event}");
    assert_eq!(event["origin"], "networking", "{event}");
    assert_eq!(event["target"], Value::Null, "{event}");
    assert_eq!(event["missed"], 0, "{event}");
    let id = event["body"]["session"]["id"].as_str().expect("decoded");
    assert_eq!(
        id.trim_start_matches("0x"),
        session.replace('-', ""),
        "{event}"
    );
    assert!(
        event["body"]["client_version_string"].is_string(),
        "{event}"
    );
    assert!(event["size"].as_u64().unwrap() > 64, "{event}");

    // The proxy asks for the count: the request and its answer, paired by id.
    let count = sync.ask("proxy-count").await;
    assert_eq!(count, "peer-count 1");
    let (request, answer) = tap.next_of_both(COUNT_REQUEST, COUNT_RESPONSE).await;
    assert_eq!(
        (&request["kind"], &request["origin"], &request["body"]),
        (&Value::from("request"), &Value::from("sync"), &Value::Null),
        "{request}"
    );
    assert_eq!(answer["kind"], "answer", "{answer}");
    assert_eq!(answer["origin"], "networking", "{answer}");
    assert_eq!(answer["target"], "sync", "{answer}");
    assert_eq!(answer["request_id"], request["request_id"], "{answer}");
    assert_eq!(answer["request"], COUNT_REQUEST, "{answer}");
    assert_eq!(answer["body"]["peer_count"], 1, "{answer}");

    // An event that nobody but the tap would receive still has no subscriber.
    let refused = sync.ask("broadcast other 1").await;
    assert!(refused.starts_with("error NoSubscribers"), "{refused}");
}

async fn request_builds_the_request_from_json_and_prints_the_answer(kind: Kind) {
    let bus = Bus::new(kind).await;
    let (mut networking, _sync) = pool(&bus).await;
    for seed in 1..=3 {
        networking.ask(&format!("pool-join {seed}")).await;
    }
    networking.expect("pool-count", "pool-count 3").await;
    let (stdout, stderr, ok) = evb_output(&bus, &["request", COUNT_REQUEST, "null"]).await;
    assert!(ok, "evb request failed: {stderr}");
    let answer: Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(answer, serde_json::json!({ "peer_count": 3 }));
    assert!(
        stderr.contains(&format!("networking answered {COUNT_RESPONSE} in ")),
        "{stderr}"
    );

    // JSON that does not fit the schema is refused with the reason, before sending.
    let (_, stderr, ok) = evb_output(&bus, &["request", COUNT_REQUEST, "{\"x\": 1}"]).await;
    assert!(!ok);
    assert!(stderr.contains("expected null"), "{stderr}");
    let (_, stderr, ok) = evb_output(&bus, &["request", "no.such.Request", "null"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("no endpoint subscribes to `no.such.Request`"),
        "{stderr}"
    );
}

async fn a_request_nobody_answers_times_out_after_the_timeout_given(kind: Kind) {
    let bus = Bus::new(kind).await;
    let mut alice = bus.peer("alice").await;
    alice.expect("hold", "serving-pings hold").await;
    let (_, stderr, ok) = evb_output(
        &bus,
        &[
            "request",
            "tests.Ping",
            "{\"value\": 7}",
            "--timeout-ms",
            "1500",
        ],
    )
    .await;
    assert!(!ok);
    // The whole 1.5 s, though the wait for alice's schema took part of it.
    assert!(
        stderr.contains("no answer to `tests.Ping` within 1.5s"),
        "{stderr}"
    );
    // Taken by alice's core before evb left; held by her serving task soon after.
    alice.expect_eventually("held", "held 1").await;
}

async fn a_tap_that_cannot_keep_up_slows_nobody_and_says_what_it_missed(kind: Kind) {
    const EVENTS: u64 = 5_000;
    let bus = Bus::new(kind).await;
    let mut alice = bus
        .peer_with("alice", |command| {
            // A short stall timeout: a sender that waited for the stopped tap would fail.
            // A small buffer: its connection to the tap fills long before 5000 copies.
            command
                .env("BUS_PEER_STALL_MS", "300")
                .env("BUS_PEER_BUFFER", "16384");
        })
        .await;
    let mut bob = bus.peer("bob").await;
    bus.peer_connect(&mut bob, "alice").await;
    for event in ["counter", "other"] {
        bob.expect(
            &format!("subscribe {event}"),
            &format!("subscribed {event}"),
        )
        .await;
        alice
            .expect(
                &format!("wait-subscribed bob {event}"),
                &format!("seen bob {event}"),
            )
            .await;
    }
    let mut tap = Tap::start(&bus, &[]).await;
    let tap_name = tap.name();
    alice
        .expect(
            &format!("wait-observed {tap_name} tests.Counter"),
            &format!("observed-by {tap_name} tests.Counter"),
        )
        .await;

    // The tap's process stops reading; alice's broadcasts go on, and none fails.
    let pid = rustix::process::Pid::from_raw(tap.child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    alice
        .expect(
            &format!("broadcast counter {EVENTS}"),
            &format!("broadcast-done {EVENTS}"),
        )
        .await;
    bob.wait_count("counter", EVENTS).await;
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();

    // Then one `Other` per line read, until the tap shows one: every copy before it was
    // either shown or counted as missed (the `Other`s before it among them).
    let (mut counters, mut missed, mut others_sent) = (0u64, 0u64, 0u64);
    loop {
        alice.expect("broadcast other 1", "broadcast-done 1").await;
        others_sent += 1;
        let line = tap.next().await;
        missed += line["missed"].as_u64().unwrap();
        if line["name"] == "tests.Other" {
            break;
        }
        assert_eq!(line["name"], "tests.Counter", "{line}");
        counters += 1;
    }
    let counters_missed = EVENTS - counters;
    assert!(
        counters_missed > 0,
        "a stopped tap missed nothing of {EVENTS}"
    );
    let others_missed = missed
        .checked_sub(counters_missed)
        .unwrap_or_else(|| panic!("{counters} shown and {missed} missed of {EVENTS}"));
    assert!(
        others_missed < others_sent,
        "{others_missed} of the {others_sent} `Other`s counted as missed"
    );
}

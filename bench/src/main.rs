//! `event-bench`: the event bus measured over real processes and real Unix sockets, each
//! figure next to its baseline measured in the same run (see `BENCH.md`).
//!
//! ```text
//! cargo run --release -p event-bench -- [--quick] [--repeats N] [--scenario NAME]...
//!                                       [--placement same-core|unpinned]
//!                                       [--consumer-stall-timeout-ms MS]
//!                                       [--sporadic-spacing-us US]
//! ```
//!
//! Progress goes to stderr; stdout gets one JSON object per measurement, e.g.
//!
//! ```json
//! {"scenario":"ipc-broadcast","consumers":10,"payload_bytes":16,"events":60000,"repeats":3,
//!  "value":312000.0,"unit":"deliveries/s","spread":[305000.0,320000.0], ...,
//!  "baseline":"fanout-floor","baseline_value":1234000.0, ...,"ratio":0.25,
//!  "ratio_per_repeat":[0.25,0.26,0.25],"target":">= 0.5","target_met":false,
//!  "placement":"same-core","cpu":1,"complete":true}
//! ```
//!
//! `value` and `baseline_value` are medians over the repeats (default 3; `--quick`: 1,
//! at small sizes); `spread` is `[min, max]`; `ratio` is `value / baseline_value`, and
//! `ratio_per_repeat` pairs each repeat with the baseline run next to it. `complete` is
//! `false` when any consumer missed an event or saw one out of order, or a process failed;
//! the binary then exits with status 1.
//!
//! # Scenarios and baselines
//!
//! * **`ipc-broadcast`** (N = 1 and 10 consumers × 16 B and 1 KiB payloads). N consumer
//!   processes each serve an endpoint and stream `PerfEvent`; a driver process connects to
//!   all, waits until each subscribes (`wait_until_endpoint_subscribed_to`), then
//!   `broadcast`s M events back to back. Each consumer checks it gets all M, in order,
//!   payload intact. Elapsed time runs from the driver's first broadcast to the last
//!   consumer's last receipt (`CLOCK_MONOTONIC` is one clock for all processes). Figures:
//!   deliveries/s (= N × M / elapsed; the `value`), `events_per_s_per_consumer`, and
//!   `cpu_ns_per_delivery`.
//!   Baselines: **`stream-floor`** (N = 1) and **`fanout-floor`** (N = 10): the same
//!   processes without the bus. The producer builds the same `PerfEvent`, encodes it once
//!   with postcard into a reused buffer behind a 4-byte length, and writes the frame to
//!   each consumer's `BufWriter<UnixStream>` (64 KiB, the bus's write buffer size); each
//!   consumer reads frames through a 64 KiB `BufReader`, decodes them with postcard and
//!   sends them through a tokio mpsc (capacity 4096, the bus's stream capacity) to a
//!   counting task that runs the same checks.
//! * **`ipc-broadcast-bytes`** (N = 1 and 10 × 1 KiB and 64 KiB): the same, with
//!   `PerfBytesEvent`, whose payload is declared `#[serde(with = "serde_bytes")]`, in the
//!   scenario and in both floors. A plain `Vec<u8>` goes through serde byte by byte; as
//!   bytes it is one length and one copy.
//! * **`ipc-request`**: a requester process sends M sequential `request(PerfRequest)`
//!   (16 B payload) to a responder process that answers each with `respond`; figures: p50
//!   (the `value`) and p99 latency in µs, round trips/s, CPU µs per round trip (both
//!   processes). Baseline **`uds-pingpong`**: two tokio processes, one Unix socket, a
//!   request frame (4-byte length + 16 B) answered by an identical reply frame. Both run
//!   a warm-up first that is not counted.
//! * **`ipc-request-sporadic`**: the same processes, one request every 10 ms (300, after
//!   20 not counted), against `uds-pingpong` at the same spacing. Each round trip finds
//!   both processes idle, as a component's occasional question does: it measures the
//!   work and the wake-ups on a request's way, which back-to-back requests hide.
//! * **`local-broadcast`**: one process, one endpoint, 1 and 10 `stream()` subscribers in
//!   their own tasks, M `broadcast`s (16 B payload); deliveries/s from the first broadcast
//!   to the last delivery. Baseline **`tokio-broadcast`**: `tokio::sync::broadcast` of
//!   `Arc<PerfEvent>` with the same number of receiver tasks, made lossless with one
//!   semaphore of credits per receiver (see `roles::tokio_broadcast`).
//! * **`stalled-consumer`**: a consumer process subscribes, then stops reading; the
//!   driver broadcasts 1 KiB events for 5 s (1.5 s with `--quick`). Both endpoints use
//!   `EndpointOptions::stall_timeout` 2 s (0.5 s with `--quick`) so that the bus's cut-off
//!   happens within the run (`--consumer-stall-timeout-ms` gives the consumer another
//!   one). Reported as observed: peak RSS (`VmHWM`) of both processes and its growth above
//!   their RSS at the start (the `value` is the larger growth), how many broadcasts
//!   succeeded, the longest single `broadcast` call (did it block?), errors by kind and
//!   when the first came, and who cut what off (`cut_off`: the consumer's stream, or the
//!   driver's connection). Then the consumer reads everything left (until it has every
//!   broadcast the driver was told succeeded, its stream ends, or nothing comes for 1 s),
//!   which accounts for each of those events: delivered in order, dropped after a
//!   cut-off the consumer was told of (`overflowed()`), or `silently_dropped`. No
//!   baseline.
//!
//! * **`zenoh-broadcast`** (N = 1 and 10 × 16 B and 1 KiB) and **`zenoh-request`**
//!   (16 B; p50 and p99): the same drivers, consumers, requester and responder, joined to
//!   a zenoh bus through a router child process (`event_zenoh::Router`) on a free
//!   127.0.0.1 port instead of serving sockets. Baselines, through a router of their own
//!   in the same way: **`zenoh-put`**, raw zenoh with one `put` per event to a subscriber
//!   (zenoh fans out to the N consumers), and **`zenoh-get`**, a raw zenoh `get` answered
//!   by a queryable. Both sides encode with postcard and run the same checks. See
//!   [`zenoh_roles`].
//!
//! # Processes
//!
//! The binary re-executes itself (`std::env::current_exe()`) with a hidden
//! `--role ROLE` argument for every child (see [`roles`]). A child says `ready`, `sent`,
//! `done` or `report` as JSON lines on stdout and takes commands on stdin; the
//! orchestrator ([`harness`]) waits on those lines, each with a deadline, so a hang
//! becomes an error, never a stuck run, and there are no sleeps used as synchronisation.
//! Sockets live in a fresh temporary directory, removed at the end.
//!
//! # Placement
//!
//! On this 2-core VM where processes run decides a round trip (same core ≈ 10–15 µs,
//! one per core ≈ 45 µs, as an idle vCPU wakes slowly), so the default, `same-core`,
//! pins every child process — scenario and baseline alike — to one CPU (the last one the
//! orchestrator may use) with `sched_setaffinity`, and every child runs a single-threaded
//! tokio runtime. Why one core and not one per process or none:
//!
//! * it is reproducible: the scheduler cannot pick a different layout for the scenario
//!   and for its baseline, which unpinned runs do from one repeat to the next;
//! * the ratios then compare the CPU work per message of the bus with that of the floor,
//!   which is what the targets are about, rather than vCPU wake-up latency;
//! * it leaves the other core to the other work on this shared machine, which makes the
//!   numbers steadier when someone builds at the same time.
//!
//! What it does not show is the speed-up from running consumers in parallel; run with
//! `--placement unpinned` to see that (same runtimes, no affinity). Every JSON line
//! says which placement (and CPU) it ran under.
//!
//! # CPU accounting
//!
//! Each process measures itself with `getrusage(RUSAGE_SELF)` (user + system, every
//! thread): a consumer from `ready` (subscribed, idle) to its last event, the producer
//! or driver from just before its first send to the moment the orchestrator tells it
//! every consumer is done (so writing out its queues counts). `cpu_ns_per_delivery` is
//! the sum over all processes of a run divided by N × M; the orchestrator's own (idle)
//! time is not counted. Where both sides measured it, `cpu_ratio` is ours over the
//! baseline's.
//!
//! # Targets
//!
//! Each line's `target` and `target_met` are `BENCH.md`'s, round two where it set one:
//! `ipc-broadcast` 16 B ≥ 0.75 with `cpu_ratio` ≤ 1.4 (1 KiB ≥ 0.5),
//! `ipc-broadcast-bytes` ≥ 0.8, `ipc-request` p50 ≤ 1.15, `ipc-request-sporadic` p50
//! ≤ 1.25, `local-broadcast` ≥ 0.8, `zenoh-broadcast` ≥ 0.7, `zenoh-request` p50 ≤ 1.3.
//! They hold in both placements.

mod events;
mod harness;
mod roles;
mod scenarios;
mod sys;
mod zenoh_roles;

use std::process::ExitCode;

const USAGE: &str = "\
usage: event-bench [--quick] [--repeats N] [--scenario NAME]... [--placement same-core|unpinned]

  --quick        every scenario once, at small sizes (a smoke test: seconds)
  --repeats N    runs of every scenario and baseline; the median is reported (default 3)
  --scenario S   only these scenarios (repeatable): ipc-broadcast, ipc-broadcast-bytes,
                 ipc-request, ipc-request-sporadic, local-broadcast, stalled-consumer,
                 zenoh-broadcast, zenoh-request
  --placement P  same-core (default: every process pinned to one CPU) or unpinned
  --consumer-stall-timeout-ms MS
                 stalled-consumer only: the consumer's stall_timeout, when it should
                 differ from the driver's (by default both are 2 s, 0.5 s with --quick)
  --sporadic-spacing-us US
                 ipc-request-sporadic only: the time between two requests (default
                 10000, the scenario's target is for that); shorter spacings show how
                 much of the gap comes from the processes being idle in between

Prints one JSON object per measurement on stdout, progress on stderr; exits with 1 if
any consumer missed an event or a process failed.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--role") {
        let Some(role) = args.get(1) else {
            eprintln!("--role needs a value");
            return ExitCode::FAILURE;
        };
        return roles::main(role, &args[2..]);
    }
    match parse(&args) {
        Ok(Some(settings)) => orchestrate(settings),
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("event-bench: {error}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[String]) -> Result<Option<scenarios::Settings>, String> {
    let mut quick = false;
    let mut repeats = None;
    let mut selected = Vec::new();
    let mut placement = "same-core";
    let mut consumer_stall_timeout_ms = None;
    let mut sporadic_spacing_us = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => quick = true,
            "--repeats" => {
                let n: usize = number(arg, value()?)?;
                repeats = Some(n.max(1));
            }
            "--scenario" => {
                let name = value()?;
                if !scenarios::SCENARIOS.contains(&name.as_str()) {
                    return Err(format!("unknown scenario `{name}`"));
                }
                selected.push(name.clone());
            }
            "--placement" => {
                placement = match value()?.as_str() {
                    "same-core" => "same-core",
                    "unpinned" => "unpinned",
                    other => return Err(format!("unknown placement `{other}`")),
                }
            }
            "--consumer-stall-timeout-ms" => {
                consumer_stall_timeout_ms = Some(number(arg, value()?)?);
            }
            "--sporadic-spacing-us" => {
                let us: u64 = number(arg, value()?)?;
                if us == 0 {
                    return Err(
                        "--sporadic-spacing-us: must be above 0 (ipc-request is back to back)"
                            .into(),
                    );
                }
                sporadic_spacing_us = Some(us);
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if selected.is_empty() {
        selected = scenarios::SCENARIOS
            .iter()
            .map(|name| name.to_string())
            .collect();
    }
    Ok(Some(scenarios::Settings {
        quick,
        repeats: repeats.unwrap_or(if quick { 1 } else { 3 }),
        scenarios: selected,
        placement,
        consumer_stall_timeout_ms,
        sporadic_spacing_us,
    }))
}

/// The number `text` that follows the flag `arg`.
fn number<T: std::str::FromStr>(arg: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{arg}: not a number"))
}

fn orchestrate(settings: scenarios::Settings) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("event-bench: cannot find my own executable: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cpu = if settings.placement == "same-core" {
        match sys::allowed_cpus() {
            Ok(cpus) if !cpus.is_empty() => cpus.last().copied(),
            Ok(_) | Err(_) => {
                eprintln!("event-bench: cannot read the CPU affinity mask");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    eprintln!(
        "event-bench: placement {}{}, {} repeat(s){}",
        settings.placement,
        cpu.map(|cpu| format!(" (CPU {cpu})")).unwrap_or_default(),
        settings.repeats,
        if settings.quick { ", quick sizes" } else { "" }
    );
    let started = std::time::Instant::now();
    let mut bench = match scenarios::Bench::new(harness::Launcher { exe, cpu }, settings) {
        Ok(bench) => bench,
        Err(error) => {
            eprintln!("event-bench: cannot create the socket directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    bench.run();
    let failures = std::mem::take(&mut bench.failures);
    // Removes the socket directory.
    drop(bench);
    eprintln!(
        "event-bench: finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("event-bench: {} FAILURE(S):", failures.len());
        for failure in &failures {
            eprintln!("  {failure}");
        }
        ExitCode::FAILURE
    }
}

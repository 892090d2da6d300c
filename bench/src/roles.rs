//! The child processes: `event-bench --role ROLE --KEY VALUE...`.
//!
//! Every child pins itself first (when given `--cpu`), runs one single-threaded tokio
//! runtime, prints JSON lines on stdout (`ready`, `sent`, `done`, `report` or `error`),
//! and reads commands on stdin (`report`; end of input means "exit now"). Progress and
//! event-core's warnings go to stderr.
//!
//! | role | what it does |
//! |---|---|
//! | `bus-consumer` | serves an endpoint, streams `PerfEvent`, checks `events` arrive in order |
//! | `bus-driver` | connects to the consumers, waits until each subscribes, broadcasts `events` |
//! | `floor-consumer` | the same consumer without the bus: listener, frames, postcard, mpsc, counter |
//! | `floor-producer` | encodes each event once, writes the frame to every consumer's socket |
//! | `responder` / `requester` | `ipc-request`: `request(PerfRequest)` answered with `respond` |
//! | `pingpong-server` / `pingpong-client` | `uds-pingpong`: one length-prefixed frame each way |
//! | `local-broadcast` / `tokio-broadcast` | in-process fan-out to `subscribers` tasks |
//! | `stall-consumer` / `stall-driver` | `stalled-consumer`: a subscriber that never reads |
//!
//! With `--zenoh LOCATOR`, `bus-consumer`, `bus-driver`, `responder` and `requester`
//! join the zenoh bus `bench` through that router instead of serving and connecting
//! sockets; the zenoh-only roles are in [`crate::zenoh_roles`].

use crate::events::{
    perf_event, Checker, Perf, PerfBytesEvent, PerfEvent, PerfRequest, PerfResponse, FILL,
};
use crate::sys::{cpu_ns, now_ns, rss_kib};
use event_core::{ConnectionConfig, Endpoint, EndpointOptions};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, Semaphore};

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest any setup step of a child may take (connecting, waiting for a
/// subscription) before it reports an error instead of hanging.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Capacity of every queue on the consumer side: the bus's default stream capacity, and
/// the same for the baselines' mpsc and broadcast channels.
pub(crate) const QUEUE: usize = 4096;
/// Write and read buffers of the baselines: the size of the bus's connection buffers.
const IO_BUFFER: usize = 64 * 1024;

/// The `--KEY VALUE` arguments of a role.
pub struct RoleArgs(HashMap<String, String>);

impl RoleArgs {
    /// Parses `--KEY VALUE` pairs.
    pub fn parse(args: &[String]) -> Result<RoleArgs, String> {
        let mut map = HashMap::new();
        let mut args = args.iter();
        while let Some(key) = args.next() {
            let key = key
                .strip_prefix("--")
                .ok_or_else(|| format!("expected --KEY, got `{key}`"))?;
            let value = args
                .next()
                .ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key.to_owned(), value.clone());
        }
        Ok(RoleArgs(map))
    }

    pub(crate) fn get(&self, key: &str) -> Result<&str, Error> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("missing --{key}").into())
    }

    pub(crate) fn num<T: FromStr>(&self, key: &str) -> Result<T, Error> {
        self.get(key)?
            .parse()
            .map_err(|_| format!("--{key}: not a number").into())
    }

    fn dir(&self) -> Result<PathBuf, Error> {
        Ok(PathBuf::from(self.get("dir")?))
    }

    pub(crate) fn names(&self, key: &str) -> Result<Vec<String>, Error> {
        Ok(self.get(key)?.split(',').map(str::to_owned).collect())
    }

    /// `--payload-type bytes`: the fan-out roles send [`PerfBytesEvent`], not [`PerfEvent`].
    fn bytes(&self) -> bool {
        self.0.get("payload-type").map(String::as_str) == Some("bytes")
    }

    /// `--spacing-us`: how far apart round trips start (none: back to back).
    pub(crate) fn spacing(&self) -> Result<Option<Duration>, Error> {
        if !self.0.contains_key("spacing-us") {
            return Ok(None);
        }
        Ok(Some(Duration::from_micros(self.num("spacing-us")?)))
    }

    /// Endpoint options: the defaults, with `--stall-timeout-ms` if given.
    fn options(&self) -> Result<EndpointOptions, Error> {
        let mut options = EndpointOptions::default();
        if self.0.contains_key("stall-timeout-ms") {
            options = options.stall_timeout(Duration::from_millis(self.num("stall-timeout-ms")?));
        }
        Ok(options)
    }
}

/// Runs `role` to completion: the entry point of a child process.
pub fn main(role: &str, args: &[String]) -> ExitCode {
    let result = RoleArgs::parse(args).map_err(Error::from).and_then(|args| {
        if let Some(cpu) = args.0.get("cpu") {
            let cpu = cpu.parse().map_err(|_| "--cpu: not a number")?;
            crate::sys::pin_to_cpu(cpu)
                .map_err(|error| format!("cannot pin to CPU {cpu}: {error}"))?;
        }
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
        // zenoh refuses to block on a current-thread runtime: its roles, and the bus's
        // roles on zenoh, get one worker thread.
        let runtime = if crate::zenoh_roles::is_zenoh_role(role) || args.0.contains_key("zenoh") {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        };
        runtime.block_on(run(role, &args))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            emit(json!({"kind": "error", "message": format!("{role}: {error}")}));
            eprintln!("event-bench {role}: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(role: &str, args: &RoleArgs) -> Result<(), Error> {
    let commands = commands();
    match role {
        "bus-consumer" if args.bytes() => bus_consumer::<PerfBytesEvent>(args, commands).await,
        "bus-consumer" => bus_consumer::<PerfEvent>(args, commands).await,
        "bus-driver" if args.bytes() => bus_driver::<PerfBytesEvent>(args, commands).await,
        "bus-driver" => bus_driver::<PerfEvent>(args, commands).await,
        "floor-consumer" if args.bytes() => floor_consumer::<PerfBytesEvent>(args, commands).await,
        "floor-consumer" => floor_consumer::<PerfEvent>(args, commands).await,
        "floor-producer" if args.bytes() => floor_producer::<PerfBytesEvent>(args, commands).await,
        "floor-producer" => floor_producer::<PerfEvent>(args, commands).await,
        "responder" => responder(args, commands).await,
        "requester" => requester(args).await,
        "pingpong-server" => pingpong_server(args, commands).await,
        "pingpong-client" => pingpong_client(args).await,
        "local-broadcast" => local_broadcast(args).await,
        "tokio-broadcast" => tokio_broadcast(args).await,
        "stall-consumer" => stall_consumer(args, commands).await,
        "stall-driver" => stall_driver(args, commands).await,
        zenoh if crate::zenoh_roles::is_zenoh_role(zenoh) => {
            crate::zenoh_roles::run(zenoh, args, commands).await
        }
        other => Err(format!("unknown role `{other}`").into()),
    }
}

// ---------------------------------------------------------------------------------------
// Plumbing

/// The endpoint `name` of a bus role: served on sockets in `--dir`, or joined to the
/// zenoh bus through `--zenoh`.
async fn endpoint(args: &RoleArgs, name: &str, serve: bool) -> Result<Endpoint, Error> {
    let options = args.options()?;
    if let Ok(locator) = args.get("zenoh") {
        let bus = Endpoint::with_options(name, options)?;
        event_zenoh::join(&bus, crate::zenoh_roles::client_config(locator)).await?;
        return Ok(bus);
    }
    if serve {
        let config = ConnectionConfig::from_name(name, args.dir()?);
        return Ok(Endpoint::serve_with(config, options).await?);
    }
    Ok(Endpoint::with_options(name, options)?)
}

/// Connects `bus` to the endpoints `names`: dials their sockets, or (on zenoh) waits
/// until they are on the bus.
async fn connect(args: &RoleArgs, bus: &Endpoint, names: &[String]) -> Result<(), Error> {
    if args.get("zenoh").is_ok() {
        return within("every endpoint on the bus", async {
            for name in names {
                bus.wait_until_connected_to(name).await;
            }
        })
        .await;
    }
    let dir = args.dir()?;
    let configs: Vec<ConnectionConfig> = names
        .iter()
        .map(|name| ConnectionConfig::from_name(name, &dir))
        .collect();
    Ok(bus.connect_to_endpoints(&configs).await?)
}

/// Prints one JSON line on stdout (line-buffered, so the orchestrator sees it at once).
pub(crate) fn emit(value: Value) {
    println!("{value}");
}

/// The command lines on stdin; `None` once stdin is closed (the orchestrator's "exit").
/// A plain thread reads them, so no runtime worker blocks on stdin.
fn commands() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim().to_owned()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the command `expected`; end of input or another command is an error.
pub(crate) async fn command(
    commands: &mut mpsc::UnboundedReceiver<String>,
    expected: &str,
) -> Result<(), Error> {
    match commands.recv().await {
        Some(line) if line == expected => Ok(()),
        Some(line) => Err(format!("expected command `{expected}`, got `{line}`").into()),
        None => Err(format!("stdin closed while waiting for `{expected}`").into()),
    }
}

/// Waits until stdin is closed: the orchestrator's signal to exit.
pub(crate) async fn until_closed(commands: &mut mpsc::UnboundedReceiver<String>) {
    while commands.recv().await.is_some() {}
}

/// `future`, or an error naming `what` after [`SETUP_TIMEOUT`].
pub(crate) async fn within<T>(what: &str, future: impl Future<Output = T>) -> Result<T, Error> {
    tokio::time::timeout(SETUP_TIMEOUT, future)
        .await
        .map_err(|_| format!("timed out after {SETUP_TIMEOUT:?} waiting for {what}").into())
}

/// The variant name of an event-core error, e.g. `NoSubscribers`.
fn error_kind(error: &event_core::Error) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or("?")
        .to_owned()
}

fn socket_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.sock"))
}

fn percentile(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

/// When the next round trip starts: at once (back to back), or one every `spacing`, as a
/// component that asks now and then does (a round trip that overruns its slot delays the
/// next one; none is sent in a burst to catch up).
pub(crate) struct Pacing {
    spacing: Option<Duration>,
    next: Option<tokio::time::Instant>,
}

impl Pacing {
    pub(crate) fn new(spacing: Option<Duration>) -> Pacing {
        Pacing {
            spacing,
            next: None,
        }
    }

    /// Waits for the next slot.
    pub(crate) async fn wait(&mut self) {
        let Some(spacing) = self.spacing else {
            return;
        };
        let now = tokio::time::Instant::now();
        let slot = self.next.map_or(now, |next| next.max(now));
        tokio::time::sleep_until(slot).await;
        self.next = Some(slot + spacing);
    }
}

/// `warmup + count` sequential round trips of a `PerfRequest` carrying `fill`, each
/// answered by `ask` and started as `pacing` says; the latency report of the last
/// `count` (and whether every answer matched its request).
pub(crate) async fn round_trips<F, Fut>(
    warmup: u64,
    count: u64,
    fill: &[u8],
    mut pacing: Pacing,
    mut ask: F,
) -> Result<Value, Error>
where
    F: FnMut(PerfRequest) -> Fut,
    Fut: Future<Output = Result<PerfResponse, Error>>,
{
    let mut ok = true;
    let mut latencies = Vec::with_capacity(count as usize);
    let mut cpu_start = cpu_ns();
    let mut start_ns = now_ns();
    for index in 0..warmup + count {
        pacing.wait().await;
        if index == warmup {
            cpu_start = cpu_ns();
            start_ns = now_ns();
        }
        let sent_at = now_ns();
        let request = PerfRequest {
            payload: fill.to_vec(),
            index,
            sent_at,
        };
        let response = ask(request).await?;
        let latency = now_ns() - sent_at;
        ok &= response.index == index && response.payload == fill;
        if index >= warmup {
            latencies.push(latency);
        }
    }
    let elapsed = now_ns() - start_ns;
    Ok(latency_report(latencies, elapsed, cpu_ns() - cpu_start, ok))
}

pub(crate) fn latency_report(
    mut latencies: Vec<u64>,
    elapsed_ns: u64,
    cpu_ns: u64,
    ok: bool,
) -> Value {
    latencies.sort_unstable();
    json!({
        "kind": "done",
        "count": latencies.len(),
        "ok": ok,
        "p50_ns": percentile(&latencies, 50),
        "p99_ns": percentile(&latencies, 99),
        "elapsed_ns": elapsed_ns,
        "cpu_ns": cpu_ns,
    })
}

// ---------------------------------------------------------------------------------------
// ipc-broadcast and its baselines

async fn bus_consumer<E: Perf>(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let name = args.get("name")?;
    let events: u64 = args.num("events")?;
    let mut checker = Checker::new(args.num("payload")?, events);
    let bus = endpoint(args, name, true).await?;
    let mut stream = bus.stream::<E>();
    let cpu_start = cpu_ns();
    emit(json!({"kind": "ready"}));
    while checker.received < events {
        match stream.next().await {
            Some(event) => checker.check(&*event),
            None => break,
        }
    }
    emit(json!({
        "kind": "done",
        "received": checker.received,
        "in_order": checker.in_order,
        "overflowed": stream.overflowed(),
        "last_ns": checker.last_ns,
        "cpu_ns": cpu_ns() - cpu_start,
    }));
    // Stay connected until everyone is done, so no disconnect disturbs the others.
    until_closed(&mut commands).await;
    bus.stop().await;
    Ok(())
}

async fn bus_driver<E: Perf>(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let names = args.names("consumers")?;
    let events: u64 = args.num("events")?;
    let fill = vec![FILL; args.num("payload")?];
    let bus = endpoint(args, "driver", false).await?;
    connect(args, &bus, &names).await?;
    // Not `wait_until_all_endpoints_subscribed_to`: that one also waits for this
    // endpoint's own subscription, and the driver does not subscribe.
    within("every consumer to subscribe", async {
        for name in &names {
            bus.wait_until_endpoint_subscribed_to::<E>(name).await;
        }
    })
    .await?;
    let cpu_start = cpu_ns();
    let start_ns = now_ns();
    for index in 0..events {
        bus.broadcast(E::build(&fill, index)).await?;
    }
    emit(json!({"kind": "sent", "start_ns": start_ns, "end_ns": now_ns()}));
    // Asked once every consumer has everything: the CPU spent writing out the queue counts.
    command(&mut commands, "report").await?;
    let sent: u64 = bus
        .connection_stats()
        .iter()
        .map(|stats| stats.events_sent)
        .sum();
    emit(json!({"kind": "report", "cpu_ns": cpu_ns() - cpu_start, "events_sent": sent}));
    until_closed(&mut commands).await;
    bus.stop().await;
    Ok(())
}

async fn floor_consumer<E: Perf>(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let path = socket_path(&args.dir()?, args.get("name")?);
    let events: u64 = args.num("events")?;
    let mut checker = Checker::new(args.num("payload")?, events);
    let listener = UnixListener::bind(&path)?;
    let cpu_start = cpu_ns();
    emit(json!({"kind": "ready"}));
    let (stream, _) = within("the producer to connect", listener.accept()).await??;
    let (tx, mut rx) = mpsc::channel::<E>(QUEUE);
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(IO_BUFFER, stream);
        let mut body = Vec::new();
        loop {
            let Ok(len) = reader.read_u32_le().await else {
                return Ok::<(), Error>(());
            };
            body.resize(len as usize, 0);
            reader.read_exact(&mut body).await?;
            let event: E = postcard::from_bytes(&body)?;
            if tx.send(event).await.is_err() {
                return Ok(());
            }
        }
    });
    while checker.received < events {
        match rx.recv().await {
            Some(event) => checker.check(&event),
            None => break,
        }
    }
    drop(rx);
    if checker.received < events {
        reader.await??;
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
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn floor_producer<E: Perf>(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let dir = args.dir()?;
    let events: u64 = args.num("events")?;
    let fill = vec![FILL; args.num("payload")?];
    let mut writers = Vec::new();
    for name in args.names("consumers")? {
        let stream = within(
            "a consumer socket",
            UnixStream::connect(socket_path(&dir, &name)),
        )
        .await??;
        writers.push(BufWriter::with_capacity(IO_BUFFER, stream));
    }
    let cpu_start = cpu_ns();
    let start_ns = now_ns();
    let mut frame = Vec::with_capacity(64 + fill.len());
    for index in 0..events {
        let event = E::build(&fill, index);
        frame.clear();
        frame.extend_from_slice(&[0; 4]);
        frame = postcard::to_extend(&event, frame)?;
        let len = (frame.len() - 4) as u32;
        frame[..4].copy_from_slice(&len.to_le_bytes());
        for writer in &mut writers {
            writer.write_all(&frame).await?;
        }
    }
    for writer in &mut writers {
        writer.flush().await?;
    }
    emit(json!({"kind": "sent", "start_ns": start_ns, "end_ns": now_ns()}));
    command(&mut commands, "report").await?;
    emit(
        json!({"kind": "report", "cpu_ns": cpu_ns() - cpu_start, "events_sent": events * writers.len() as u64}),
    );
    until_closed(&mut commands).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ipc-request and uds-pingpong

async fn responder(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let bus = endpoint(args, args.get("name")?, true).await?;
    let mut requests = bus.stream_requests::<PerfRequest>();
    let serving = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let response = PerfResponse {
                payload: request.payload.clone(),
                index: request.index,
            };
            request.respond(response).await?;
        }
        Ok::<(), event_core::Error>(())
    });
    let cpu_start = cpu_ns();
    emit(json!({"kind": "ready"}));
    command(&mut commands, "report").await?;
    emit(json!({"kind": "report", "cpu_ns": cpu_ns() - cpu_start}));
    until_closed(&mut commands).await;
    bus.stop().await;
    serving.abort();
    Ok(())
}

async fn requester(args: &RoleArgs) -> Result<(), Error> {
    let responder = args.get("responder")?;
    let (warmup, count): (u64, u64) = (args.num("warmup")?, args.num("events")?);
    let fill = vec![FILL; args.num("payload")?];
    let bus = endpoint(args, "requester", false).await?;
    connect(args, &bus, &[responder.to_owned()]).await?;
    within(
        "the responder to subscribe",
        bus.wait_until_endpoint_subscribed_to::<PerfRequest>(responder),
    )
    .await?;
    let report = round_trips(
        warmup,
        count,
        &fill,
        Pacing::new(args.spacing()?),
        |request| {
            let bus = &bus;
            async move { Ok(bus.request(request).await?) }
        },
    )
    .await?;
    emit(report);
    bus.stop().await;
    Ok(())
}

async fn pingpong_server(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let path = socket_path(&args.dir()?, args.get("name")?);
    let listener = UnixListener::bind(&path)?;
    let serving = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::with_capacity(IO_BUFFER, read);
        let mut frame = Vec::new();
        loop {
            let Ok(len) = read.read_u32_le().await else {
                return Ok::<(), Error>(());
            };
            frame.clear();
            frame.extend_from_slice(&len.to_le_bytes());
            frame.resize(4 + len as usize, 0);
            read.read_exact(&mut frame[4..]).await?;
            write.write_all(&frame).await?;
        }
    });
    let cpu_start = cpu_ns();
    emit(json!({"kind": "ready"}));
    command(&mut commands, "report").await?;
    emit(json!({"kind": "report", "cpu_ns": cpu_ns() - cpu_start}));
    until_closed(&mut commands).await;
    serving.abort();
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn pingpong_client(args: &RoleArgs) -> Result<(), Error> {
    let path = socket_path(&args.dir()?, args.get("server")?);
    let (warmup, count): (u64, u64) = (args.num("warmup")?, args.num("events")?);
    let fill = vec![FILL; args.num("payload")?];
    let stream = within("the server socket", UnixStream::connect(&path)).await??;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(IO_BUFFER, read);
    let mut request = (fill.len() as u32).to_le_bytes().to_vec();
    request.extend_from_slice(&fill);
    let mut reply = Vec::new();
    let mut ok = true;
    let mut latencies = Vec::with_capacity(count as usize);
    let mut pacing = Pacing::new(args.spacing()?);
    let mut cpu_start = cpu_ns();
    let mut start_ns = now_ns();
    for index in 0..warmup + count {
        pacing.wait().await;
        if index == warmup {
            cpu_start = cpu_ns();
            start_ns = now_ns();
        }
        let sent_at = now_ns();
        write.write_all(&request).await?;
        let len = read.read_u32_le().await?;
        reply.resize(len as usize, 0);
        read.read_exact(&mut reply).await?;
        let latency = now_ns() - sent_at;
        ok &= reply == fill;
        if index >= warmup {
            latencies.push(latency);
        }
    }
    let elapsed = now_ns() - start_ns;
    emit(latency_report(latencies, elapsed, cpu_ns() - cpu_start, ok));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// local-broadcast and tokio-broadcast

fn local_report(checkers: &[Checker], events: u64, start_ns: u64, cpu_ns: u64) -> Value {
    let last_ns = checkers
        .iter()
        .map(|checker| checker.last_ns)
        .max()
        .unwrap_or(start_ns);
    json!({
        "kind": "done",
        "received_min": checkers.iter().map(|checker| checker.received).min().unwrap_or(0),
        "complete": checkers.iter().all(|checker| checker.received == events && checker.in_order),
        "elapsed_ns": last_ns.saturating_sub(start_ns),
        "cpu_ns": cpu_ns,
    })
}

async fn local_broadcast(args: &RoleArgs) -> Result<(), Error> {
    let (subscribers, events): (usize, u64) = (args.num("subscribers")?, args.num("events")?);
    let payload: usize = args.num("payload")?;
    let fill = vec![FILL; payload];
    let bus = Endpoint::with_options("local", args.options()?)?;
    let tasks: Vec<_> = (0..subscribers)
        .map(|_| {
            let mut stream = bus.stream::<PerfEvent>();
            tokio::spawn(async move {
                let mut checker = Checker::new(payload, events);
                while checker.received < events {
                    match stream.next().await {
                        Some(event) => checker.check(&*event),
                        None => break,
                    }
                }
                checker
            })
        })
        .collect();
    let cpu_start = cpu_ns();
    let start_ns = now_ns();
    for index in 0..events {
        bus.broadcast(perf_event(&fill, index)).await?;
    }
    let mut checkers = Vec::new();
    for task in tasks {
        checkers.push(task.await?);
    }
    emit(local_report(
        &checkers,
        events,
        start_ns,
        cpu_ns() - cpu_start,
    ));
    bus.stop().await;
    Ok(())
}

/// `tokio::sync::broadcast`, made lossless: each receiver has a `Semaphore` of
/// [`QUEUE`] permits; the sender takes one permit of every receiver's semaphore before
/// each send (and forgets it), and a receiver adds one back after taking each event. So
/// no receiver is ever more than `QUEUE` events behind, the channel (of capacity `QUEUE`)
/// never overwrites an unread slot, and the sender waits for the slowest receiver, as a
/// bus stream with back-pressure does. A `Lagged` error would still be caught and
/// reported as an incomplete run.
async fn tokio_broadcast(args: &RoleArgs) -> Result<(), Error> {
    let (subscribers, events): (usize, u64) = (args.num("subscribers")?, args.num("events")?);
    let payload: usize = args.num("payload")?;
    let fill = vec![FILL; payload];
    let (tx, _) = broadcast::channel::<Arc<PerfEvent>>(QUEUE);
    let mut credits = Vec::new();
    let tasks: Vec<_> = (0..subscribers)
        .map(|_| {
            let mut rx = tx.subscribe();
            let credit = Arc::new(Semaphore::new(QUEUE));
            credits.push(credit.clone());
            tokio::spawn(async move {
                let mut checker = Checker::new(payload, events);
                while checker.received < events {
                    match rx.recv().await {
                        Ok(event) => {
                            checker.check(&*event);
                            credit.add_permits(1);
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            eprintln!("event-bench tokio-broadcast: a receiver lagged by {missed}");
                            checker.in_order = false;
                            break;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
                checker
            })
        })
        .collect();
    let cpu_start = cpu_ns();
    let start_ns = now_ns();
    for index in 0..events {
        for credit in &credits {
            match credit.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => credit.acquire().await?.forget(),
            }
        }
        tx.send(Arc::new(perf_event(&fill, index)))
            .map_err(|_| "every receiver is gone")?;
    }
    let mut checkers = Vec::new();
    for task in tasks {
        checkers.push(task.await?);
    }
    emit(local_report(
        &checkers,
        events,
        start_ns,
        cpu_ns() - cpu_start,
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// stalled-consumer

async fn stall_consumer(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let config = ConnectionConfig::from_name(args.get("name")?, args.dir()?);
    let bus = Endpoint::serve_with(config, args.options()?).await?;
    // Subscribed, and not read until the driver is done.
    let mut stream = bus.stream::<PerfEvent>();
    let (rss_start, _) = rss_kib();
    emit(json!({"kind": "ready", "rss_kib": rss_start}));
    command(&mut commands, "report").await?;
    let (rss, hwm) = rss_kib();
    let received = bus
        .connection_stats()
        .iter()
        .find(|stats| stats.remote == "driver")
        .map(|stats| stats.events_received);
    emit(json!({
        "kind": "report",
        "rss_start_kib": rss_start,
        "rss_kib": rss,
        "hwm_kib": hwm,
        "queued": stream.len(),
        "overflowed": stream.overflowed(),
        "connected": bus.is_connected_to("driver"),
        "events_received": received,
    }));
    // Then read everything that is left: `drain N`, N = the broadcasts the driver was told
    // succeeded. Reading stops when all N arrived, when the stream ends (cut off), or when
    // nothing arrived for DRAIN_IDLE: the only way to notice events that will never come.
    const DRAIN_IDLE: Duration = Duration::from_secs(1);
    let line = commands.recv().await.ok_or("stdin closed before `drain`")?;
    let expected: u64 = line
        .strip_prefix("drain ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("expected `drain N`, got `{line}`"))?;
    let mut checker = Checker::new(args.num("payload")?, expected);
    let mut first_gap = None;
    let ended = loop {
        if checker.received >= expected {
            break false;
        }
        match tokio::time::timeout(DRAIN_IDLE, stream.next()).await {
            Ok(Some(event)) => {
                if event.index != checker.received && first_gap.is_none() {
                    first_gap = Some(checker.received);
                }
                checker.check(&*event);
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    emit(json!({
        "kind": "drained",
        "delivered": checker.received,
        "in_order": checker.in_order,
        "first_gap": first_gap,
        "stream_ended": ended,
        "overflowed": stream.overflowed(),
        "connected": bus.is_connected_to("driver"),
    }));
    until_closed(&mut commands).await;
    bus.stop().await;
    Ok(())
}

async fn stall_driver(
    args: &RoleArgs,
    mut commands: mpsc::UnboundedReceiver<String>,
) -> Result<(), Error> {
    let consumer = args.get("consumer")?;
    let duration = Duration::from_millis(args.num("duration-ms")?);
    let fill = vec![FILL; args.num("payload")?];
    let bus = Endpoint::with_options("driver", args.options()?)?;
    bus.connect_to_endpoints(&[ConnectionConfig::from_name(consumer, args.dir()?)])
        .await?;
    within(
        "the consumer to subscribe",
        bus.wait_until_endpoint_subscribed_to::<PerfEvent>(consumer),
    )
    .await?;
    let (rss_start, _) = rss_kib();
    let mut ok = 0u64;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_error: Option<(u64, String)> = None;
    let mut first_ok_after_error: Option<u64> = None;
    let (mut longest_ns, mut longest_at_ns, mut blocked_calls) = (0u64, 0u64, 0u64);
    let start = now_ns();
    let end = start + duration.as_nanos() as u64;
    loop {
        let before = now_ns();
        if before >= end {
            break;
        }
        let result = bus.broadcast(perf_event(&fill, ok)).await;
        let took = now_ns() - before;
        if took > longest_ns {
            longest_ns = took;
            longest_at_ns = before - start;
        }
        if took >= 100_000_000 {
            blocked_calls += 1;
        }
        match result {
            Ok(()) => {
                ok += 1;
                if first_error.is_some() && first_ok_after_error.is_none() {
                    first_ok_after_error = Some(now_ns() - start);
                }
            }
            Err(error) => {
                *errors.entry(error_kind(&error)).or_default() += 1;
                first_error.get_or_insert_with(|| (now_ns() - start, error.to_string()));
                // An error returns at once: let the connection tasks run between calls.
                tokio::task::yield_now().await;
            }
        }
    }
    let (rss, hwm) = rss_kib();
    let ms = |ns: u64| (ns as f64 / 1e3).round() / 1e3;
    emit(json!({
        "kind": "done",
        "broadcasts_ok": ok,
        "errors": errors,
        "first_error_ms": first_error.as_ref().map(|(at, _)| ms(*at)),
        "first_error": first_error.map(|(_, message)| message),
        "first_ok_after_error_ms": first_ok_after_error.map(ms),
        "longest_broadcast_ms": ms(longest_ns),
        "longest_broadcast_at_ms": ms(longest_at_ns),
        "blocked_calls": blocked_calls,
        "connected": bus.is_connected_to(consumer),
        "events_sent": bus.connection_stats().iter().map(|stats| stats.events_sent).sum::<u64>(),
        "rss_start_kib": rss_start,
        "rss_kib": rss,
        "hwm_kib": hwm,
    }));
    until_closed(&mut commands).await;
    bus.stop().await;
    Ok(())
}

//! The multi-process demo: Trinity's peer pool, served in one process and used from two
//! others through the event bus.
//!
//! ```text
//! cargo run --release -p trinity-events --example peer_pool [-- --seconds N] [--dir DIR] [--zenoh [--router LOCATOR]]
//! ```
//!
//! It starts three OS processes (this program, re-executed with `--role`), each an
//! endpoint on its own Unix socket in a temporary directory (or, with `--zenoh`, on a
//! zenoh bus through a router: the one at `--router`, or one it starts itself on a free
//! 127.0.0.1 port):
//!
//! * `networking` runs a simulated peer pool (peers with real-looking enodes and client
//!   versions join and leave) behind a `PeerPoolEventServer`, which answers the pool's
//!   requests, obeys commands, and broadcasts `PeerJoinedEvent` / `PeerLeftEvent`;
//! * `sync` follows the pool through a `ProxyPeerPool` and asks for the peer count;
//! * `admin` sends `ConnectToNodeCommand` and `DisconnectPeerEvent`, and asks for the
//!   connected peers and capabilities.
//!
//! Each prints timestamped lines of what flows, and a summary at the end; the directory
//! and its sockets are removed when all have exited. With `--dir DIR` the sockets are made
//! in `DIR` instead (kept afterwards, without its sockets), where `evb --dir DIR` can look
//! at the running demo.
//!
//! One role alone, on a host of its own (the others on other hosts, all clients of the
//! router at `LOCATOR`): `peer_pool --role networking --zenoh --router LOCATOR`.

use event_core::{ConnectionConfig, Endpoint};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use trinity_events::{
    Capabilities, Capability, DisconnectPeerEvent, DisconnectReason, Node, PeerChange, PeerInfo,
    PeerPool, PeerPoolEventServer, ProxyPeerPool, Session,
};

const ROLES: [&str; 3] = ["networking", "sync", "admin"];

/// Mainnet bootnodes (go-ethereum's list): what the admin asks the pool to dial.
const BOOTNODES: [&str; 3] = [
    "enode://d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666@18.138.108.67:30303",
    "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de@3.209.45.79:30303",
    "enode://2b252ab6a1d0f971d9722cb839a42cb81db019ba44c08754628ab4a823487071b5695317c8ccd085219c3a03af063495b2f1da8d18218da2d6a82981b45e6ffc@65.108.70.101:30303",
];

const CLIENTS: [&str; 5] = [
    "Geth/v1.14.11-stable-f3c696fa/linux-amd64/go1.23.2",
    "Nethermind/v1.29.0+6e4ea2fd/linux-x64/dotnet8.0.10",
    "erigon/v2.60.8-1f73ed55/linux-amd64/go1.22.8",
    "besu/v24.10.0/linux-x86_64/openjdk-java-21",
    "reth/v1.1.0-1ba631b/x86_64-unknown-linux-gnu",
];

struct Args {
    role: Option<String>,
    seconds: u64,
    dir: Option<String>,
    epoch_ms: u128,
    /// On a zenoh bus rather than sockets.
    zenoh: bool,
    /// The router's locator (with `--zenoh`); started by the coordinator when missing.
    router: Option<String>,
}

/// The zenoh bus of the demo.
const BUS: &str = "trinity-demo";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        role: None,
        seconds: 10,
        dir: None,
        epoch_ms: now_ms(),
        zenoh: false,
        router: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = || words.next().ok_or(format!("{word} needs a value"));
        match word.as_str() {
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|_| "--seconds takes a number")?
            }
            "--role" => args.role = Some(value()?),
            "--zenoh" => args.zenoh = true,
            "--router" => args.router = Some(value()?),
            "--dir" => args.dir = Some(value()?),
            "--epoch-ms" => {
                args.epoch_ms = value()?.parse().map_err(|_| "--epoch-ms takes a number")?
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: peer_pool [--seconds N] [--dir DIR] [--zenoh [--router LOCATOR]]"
                ))
            }
        }
    }
    Ok(args)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if args.zenoh && args.role.is_some() && args.router.is_none() {
        eprintln!("--role with --zenoh needs --router LOCATOR");
        return ExitCode::from(2);
    }
    match args.role.clone() {
        None => coordinate(&args),
        Some(role) if role == "router" => {
            let listen = args.router.clone().unwrap_or_default();
            match event_zenoh::router::run_from_args(["--listen".to_owned(), listen]) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("router: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(role) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build();
            let Ok(runtime) = runtime else {
                return ExitCode::FAILURE;
            };
            let log = Log {
                role: role.clone(),
                epoch_ms: args.epoch_ms,
            };
            let place = Place {
                dir: args.dir.clone().unwrap_or_default(),
                router: args.zenoh.then(|| args.router.clone().unwrap_or_default()),
            };
            let dir = &place;
            let result = runtime.block_on(async {
                match role.as_str() {
                    "networking" => networking(&log, dir, args.seconds).await,
                    "sync" => sync(&log, dir, args.seconds).await,
                    "admin" => admin(&log, dir, args.seconds).await,
                    other => Err(format!("unknown role {other}")),
                }
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    log.line(&format!("failed: {message}"));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Starts the three processes and waits for them.
/// Where the coordinator puts the sockets: a temporary directory, or the one `--dir`
/// names (so that `evb --dir DIR` can look at the running demo), kept at the end.
enum SocketDir {
    Temporary(tempfile::TempDir),
    Given(std::path::PathBuf),
}

impl SocketDir {
    fn path(&self) -> &std::path::Path {
        match self {
            SocketDir::Temporary(dir) => dir.path(),
            SocketDir::Given(dir) => dir,
        }
    }
}

fn coordinate(args: &Args) -> ExitCode {
    let dir = match &args.dir {
        Some(dir) => match std::fs::create_dir_all(dir) {
            Ok(()) => SocketDir::Given(dir.into()),
            Err(error) => {
                eprintln!("cannot create the directory {dir}: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => match tempfile::tempdir() {
            Ok(dir) => SocketDir::Temporary(dir),
            Err(error) => {
                eprintln!("cannot create a temporary directory: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let Ok(program) = std::env::current_exe() else {
        return ExitCode::FAILURE;
    };
    // Over zenoh, a router of our own unless one was given.
    let mut router_process = None;
    let router = match (&args.router, args.zenoh) {
        (Some(router), true) => Some(router.clone()),
        (None, true) => match start_router(&program) {
            Ok((locator, child)) => {
                router_process = Some(child);
                Some(locator)
            }
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    match &router {
        Some(router) => println!(
            "peer-pool demo: 3 processes, {} s, on the zenoh bus `{BUS}` through the router at {router}\n",
            args.seconds
        ),
        None => println!(
            "peer-pool demo: 3 processes, {} s, sockets in {}{}\n",
            args.seconds,
            dir.path().display(),
            match dir {
                SocketDir::Temporary(_) => " (removed at the end)",
                SocketDir::Given(_) => "",
            }
        ),
    }
    let mut children = Vec::new();
    for role in ROLES {
        let mut command = Command::new(&program);
        command
            .args(["--role", role, "--seconds", &args.seconds.to_string()])
            .args(["--epoch-ms", &args.epoch_ms.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null());
        if let Some(router) = &router {
            command.args(["--zenoh", "--router", router]);
        }
        let child = command.spawn();
        match child {
            Ok(child) => children.push((role, child)),
            Err(error) => {
                eprintln!("cannot start {role}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds + 20);
    let mut failed = false;
    for (role, mut child) in children {
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    break None;
                }
            }
        };
        if !status.is_some_and(|status| status.success()) {
            eprintln!("{role} did not finish cleanly ({status:?})");
            failed = true;
        }
    }
    if let Some(mut router) = router_process {
        let _ = router.kill();
        let _ = router.wait();
    }
    let leftovers = std::fs::read_dir(dir.path())
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "ipc"))
                .count()
        })
        .unwrap_or(0);
    let end = match dir {
        SocketDir::Temporary(_) => "removing the directory",
        SocketDir::Given(_) => "keeping the directory",
    };
    println!("\nall processes exited; {leftovers} socket files left behind; {end}");
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Timestamped, role-prefixed output.
struct Log {
    role: String,
    epoch_ms: u128,
}

impl Log {
    fn line(&self, message: &str) {
        let elapsed = now_ms().saturating_sub(self.epoch_ms) as f64 / 1000.0;
        println!("[{elapsed:>6.3}s] {:<10} {message}", self.role);
    }
}

fn short(node: &Node) -> String {
    let text = node.to_string();
    let at = text.find('@').unwrap_or(text.len());
    format!("enode://{}…{}", &text[8..16], &text[at..])
}

/// A small deterministic generator for the simulation (not for anything secret).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn node(&mut self) -> Node {
        let mut key = [0u8; 64];
        for byte in key.iter_mut() {
            *byte = self.next() as u8;
        }
        let ip = std::net::Ipv4Addr::new(
            (self.below(200) + 20) as u8,
            self.next() as u8,
            self.next() as u8,
            (self.below(250) + 1) as u8,
        );
        Node::new(key.into(), ip.into(), 30303, 30303)
    }

    fn peer(&mut self, node: Node, inbound: bool) -> PeerInfo {
        let client = CLIENTS[self.below(CLIENTS.len() as u64) as usize];
        let capabilities: Capabilities = vec![
            Capability::new("eth", 67),
            Capability::new("eth", 68),
            Capability::new("snap", 1),
        ]
        .into();
        PeerInfo::new(Session::new(node), capabilities, client, inbound)
    }
}

/// What the pool asks of the simulation loop (which owns the event server).
enum PoolCommand {
    Dial(Node),
    Disconnect(Session, DisconnectReason),
}

/// The simulated peer pool of the networking process.
struct SimulatedPool {
    peers: Mutex<Vec<PeerInfo>>,
    commands: tokio::sync::mpsc::UnboundedSender<PoolCommand>,
}

#[derive(Debug, thiserror::Error)]
#[error("the simulation has ended")]
struct Ended;

impl PeerPool for SimulatedPool {
    type Error = Ended;

    fn connected_peers(&self) -> Vec<PeerInfo> {
        self.peers
            .lock()
            .map(|peers| peers.clone())
            .unwrap_or_default()
    }

    fn capabilities(&self) -> Capabilities {
        vec![Capability::new("eth", 68), Capability::new("snap", 1)].into()
    }

    async fn connect_to_node(&self, node: Node) -> Result<(), Ended> {
        self.commands
            .send(PoolCommand::Dial(node))
            .map_err(|_| Ended)
    }

    async fn disconnect(&self, session: &Session, reason: DisconnectReason) -> Result<(), Ended> {
        self.commands
            .send(PoolCommand::Disconnect(session.clone(), reason))
            .map_err(|_| Ended)
    }
}

/// Where the processes meet: a socket directory, or a zenoh router.
struct Place {
    dir: String,
    router: Option<String>,
}

/// Starts `program --role router` on a free 127.0.0.1 port; its locator once it listens.
fn start_router(program: &std::path::Path) -> Result<(String, std::process::Child), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|error| format!("no free port for the router: {error}"))?
        .port();
    let locator = format!("tcp/127.0.0.1:{port}");
    let mut child = Command::new(program)
        .args(["--role", "router", "--router", &locator])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start the router: {error}"))?;
    let stdout = child.stdout.take().ok_or("no router output")?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .map_err(|error| format!("the router: {error}"))?;
    if !line.contains("listening") {
        let _ = child.kill();
        return Err(format!("the router did not start: {line}"));
    }
    Ok((locator, child))
}

async fn serve(name: &str, place: &Place) -> Result<Endpoint, String> {
    match &place.router {
        None => Endpoint::serve(ConnectionConfig::from_name(name, &place.dir))
            .await
            .map_err(|error| error.to_string()),
        Some(router) => {
            let bus = Endpoint::new(name).map_err(|error| error.to_string())?;
            let config = event_zenoh::ZenohConfig::client([router.clone()]).bus(BUS);
            event_zenoh::join(&bus, config)
                .await
                .map_err(|error| error.to_string())?;
            Ok(bus)
        }
    }
}

async fn networking(log: &Log, dir: &Place, seconds: u64) -> Result<(), String> {
    let bus = serve("networking", dir).await?;
    let (commands, mut requests) = tokio::sync::mpsc::unbounded_channel();
    let pool = Arc::new(SimulatedPool {
        peers: Mutex::new(Vec::new()),
        commands,
    });
    let server = PeerPoolEventServer::start(bus.clone(), pool.clone());
    log.line("serving the peer pool");
    let mut dice = Dice(0x5eed_1234_abcd_9876);
    let (mut joined, mut left) = (0u64, 0u64);
    let end =
        tokio::time::Instant::now() + Duration::from_secs(seconds) + Duration::from_millis(1500);
    let mut tick = tokio::time::interval(Duration::from_millis(400));
    // Connection counters, sampled while the others are still connected.
    let mut traffic: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    loop {
        for stats in bus.connection_stats() {
            traffic.insert(
                stats.remote.clone(),
                (stats.events_sent, stats.events_received),
            );
        }
        let change = tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            _ = tick.tick() => {
                let count = pool.peer_count() as u64;
                if count < 3 || dice.below(10) < 6 {
                    let inbound = dice.below(2) == 0;
                    let node = dice.node();
                    Some(PoolCommand::Dial(node)).map(|command| (command, inbound))
                } else {
                    let peers = pool.connected_peers();
                    let peer = &peers[dice.below(peers.len() as u64) as usize];
                    let reasons = [DisconnectReason::Timeout, DisconnectReason::ClientQuitting, DisconnectReason::DisconnectRequested];
                    let reason = if count >= 6 { DisconnectReason::TooManyPeers } else { reasons[dice.below(3) as usize] };
                    Some((PoolCommand::Disconnect(peer.session.clone(), reason), false))
                }
            }
            Some(command) = requests.recv() => Some((command, false)),
        };
        let Some((command, inbound)) = change else {
            continue;
        };
        match command {
            PoolCommand::Dial(node) => {
                let peer = dice.peer(node, inbound);
                let direction = if inbound { "inbound" } else { "outbound" };
                pool.peers
                    .lock()
                    .map_err(|_| "poisoned")?
                    .push(peer.clone());
                joined += 1;
                log.line(&format!(
                    "peer joined  {} {direction} {} ({} peers)",
                    short(peer.remote()),
                    peer.client_version_string
                        .split('/')
                        .take(2)
                        .collect::<Vec<_>>()
                        .join("/"),
                    pool.peer_count()
                ));
                server
                    .peer_joined(&peer)
                    .await
                    .map_err(|error| error.to_string())?;
            }
            PoolCommand::Disconnect(session, reason) => {
                let removed = {
                    let mut peers = pool.peers.lock().map_err(|_| "poisoned")?;
                    let before = peers.len();
                    peers.retain(|peer| peer.session != session);
                    before != peers.len()
                };
                if removed {
                    left += 1;
                    log.line(&format!(
                        "peer left    {} ({reason}) ({} peers)",
                        short(session.remote()),
                        pool.peer_count()
                    ));
                    server
                        .peer_left(&session)
                        .await
                        .map_err(|error| error.to_string())?;
                }
            }
        }
    }
    let per_remote: Vec<String> = traffic
        .iter()
        .map(|(remote, (sent, received))| format!("{remote}: {sent} sent / {received} received"))
        .collect();
    log.line(&format!(
        "summary: {joined} joined, {left} left, {} connected; events and requests {}",
        pool.peer_count(),
        per_remote.join(", ")
    ));
    drop(server);
    bus.stop().await;
    Ok(())
}

/// Latencies of the requests of one process, in microseconds.
#[derive(Default)]
struct Latencies(Mutex<Vec<u64>>);

impl Latencies {
    fn record(&self, since: Instant) -> u64 {
        let micros = since.elapsed().as_micros() as u64;
        if let Ok(mut all) = self.0.lock() {
            all.push(micros);
        }
        micros
    }

    fn summary(&self) -> String {
        let mut all = self.0.lock().map(|all| all.clone()).unwrap_or_default();
        if all.is_empty() {
            return "no requests".into();
        }
        all.sort_unstable();
        let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
        format!(
            "{} requests, latency p50 {} µs, p99 {} µs, max {} µs",
            all.len(),
            at(0.5),
            at(0.99),
            all[all.len() - 1]
        )
    }
}

async fn join(log: &Log, name: &str, place: &Place, others: &[&str]) -> Result<Endpoint, String> {
    let bus = serve(name, place).await?;
    if place.router.is_some() {
        // On the bus, the others are connected as soon as they are there.
        for other in others {
            tokio::time::timeout(Duration::from_secs(20), bus.wait_until_connected_to(other))
                .await
                .map_err(|_| format!("{other} did not appear on the bus"))?;
        }
        log.line(&format!("on the zenoh bus with {}", others.join(", ")));
        return Ok(bus);
    }
    let configs: Vec<ConnectionConfig> = others
        .iter()
        .map(|other| ConnectionConfig::from_name(other, &place.dir))
        .collect();
    bus.connect_to_endpoints(&configs)
        .await
        .map_err(|error| error.to_string())?;
    log.line(&format!("connected to {}", others.join(", ")));
    Ok(bus)
}

async fn sync(log: &Log, dir: &Place, seconds: u64) -> Result<(), String> {
    let bus = join(log, "sync", dir, &["networking"]).await?;
    let proxy = ProxyPeerPool::start_targeting(bus.clone(), "networking")
        .await
        .map_err(|error| error.to_string())?;
    log.line(&format!(
        "following the pool: {} peers now",
        proxy.known_peers().len()
    ));
    let mut changes = proxy.peer_changes();
    let followed = Arc::new(AtomicU64::new(0));
    let counter = followed.clone();
    let follower = tokio::spawn(async move {
        use futures_util::StreamExt;
        while let Some(change) = changes.next().await {
            counter.fetch_add(1, Ordering::Relaxed);
            let _: PeerChange = change;
        }
    });
    let latencies = Latencies::default();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let started = Instant::now();
        let count = proxy
            .peer_count()
            .await
            .map_err(|error| error.to_string())?;
        let micros = latencies.record(started);
        log.line(&format!(
            "PeerCountRequest -> {count} peers in {micros} µs (proxy view: {} peers)",
            proxy.known_peers().len()
        ));
    }
    log.line(&format!(
        "summary: followed {} joins/leaves; {}",
        followed.load(Ordering::Relaxed),
        latencies.summary()
    ));
    follower.abort();
    drop(proxy);
    bus.stop().await;
    Ok(())
}

async fn admin(log: &Log, dir: &Place, seconds: u64) -> Result<(), String> {
    let bus = join(log, "admin", dir, &["networking", "sync"]).await?;
    let proxy = ProxyPeerPool::start_targeting(bus.clone(), "networking")
        .await
        .map_err(|error| error.to_string())?;
    let latencies = Latencies::default();
    let (mut commands, mut round) = (0u64, 0usize);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        round += 1;
        match round % 3 {
            0 => {
                let node: Node = BOOTNODES[round / 3 % BOOTNODES.len()]
                    .parse()
                    .map_err(|error| format!("{error}"))?;
                log.line(&format!("ConnectToNodeCommand {}", short(&node)));
                proxy
                    .connect_to_node(node)
                    .await
                    .map_err(|error| error.to_string())?;
                commands += 1;
            }
            1 => {
                let started = Instant::now();
                let peers = proxy
                    .connected_peers()
                    .await
                    .map_err(|error| error.to_string())?;
                let micros = latencies.record(started);
                if let Some(victim) = peers.first() {
                    log.line(&format!(
                        "GetConnectedPeersRequest -> {} peers in {micros} µs; DisconnectPeerEvent {}",
                        peers.len(),
                        short(victim.remote())
                    ));
                    let event = DisconnectPeerEvent {
                        session: victim.session.clone(),
                        reason: DisconnectReason::UselessPeer,
                    };
                    bus.broadcast(event)
                        .await
                        .map_err(|error| error.to_string())?;
                    commands += 1;
                }
            }
            _ => {
                let started = Instant::now();
                let capabilities = proxy
                    .capabilities()
                    .await
                    .map_err(|error| error.to_string())?;
                let micros = latencies.record(started);
                log.line(&format!(
                    "GetProtocolCapabilitiesRequest -> {capabilities} in {micros} µs"
                ));
            }
        }
    }
    log.line(&format!(
        "summary: {commands} commands sent; {}",
        latencies.summary()
    ));
    drop(proxy);
    bus.stop().await;
    Ok(())
}

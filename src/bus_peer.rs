//! A scriptable bus endpoint for the multi-process tests.
//!
//! `bus-peer <name> <dir>` (the `bus-peer` binary, or `stress` run with
//! `STRESS_ROLE=bus-peer`) serves `<dir>/<name>.ipc`, prints `ready`, then reads one
//! command per line on stdin and answers with one line on stdout (events it receives are
//! counted, not printed, so the output stays small). Commands:
//!
//! ```text
//! connect NAME                  -> connected NAME | error KIND MESSAGE
//! subscribe counter|other       -> subscribed EVENT
//! unsubscribe counter|other     -> unsubscribed EVENT
//! count counter|other           -> count EVENT N ORDERED      (ORDERED: every index in order)
//! respond | ignore | hold       -> serving-pings MODE          (answer, drop, or keep pings)
//! held                          -> held N                      (pings held so far)
//! broadcast EVENT N [TARGET]    -> broadcast-done N | error KIND MESSAGE
//! request VALUE                 -> response FROM ECHO | error KIND MESSAGE
//! subscribe-then-request VALUE  -> response FROM ECHO | error KIND MESSAGE
//!                                  (subscribes to counter, then asks at once)
//! wait-subscribed REMOTE EVENT  -> seen REMOTE EVENT
//! wait-observed OBSERVER NAME   -> observed-by OBSERVER NAME   (OBSERVER observes event NAME)
//! stats REMOTE                  -> stats REMOTE SENT RECEIVED MISSED  (EVENT frames)
//! stall counter                 -> stalled counter             (subscribe, never read)
//! overflowed counter            -> overflowed BOOL             (was the stalled stream cut off)
//! connect-path NAME PATH        -> connected NAME | error KIND MESSAGE
//! pool-serve                    -> pool-serving                (a PeerPoolEventServer)
//! pool-join SEED                -> pool-joined SESSION-ID      (a peer joins the pool)
//! pool-count                    -> pool-count N
//! proxy TARGET                  -> proxying TARGET             (a ProxyPeerPool of TARGET's pool)
//! proxy-known                   -> proxy-known N               (peers the proxy has heard of)
//! proxy-count                   -> peer-count N | error KIND MESSAGE   (asks the pool)
//! stop                          -> stopped (then exits)
//! ```
//!
//! `BUS_PEER_QUEUE`, `BUS_PEER_STALL_MS` and `BUS_PEER_BUFFER` set the endpoint's queue
//! capacity, stall timeout and connection buffer (bytes).
//! `BUS_PEER_ZENOH=LOCATOR[,LOCATOR]...` also joins the zenoh bus
//! `BUS_PEER_BUS` (default `default`) as a client of those routers, before `ready`; then
//! `wait-connected NAME -> connected NAME` waits for an endpoint on the bus.
//!
//! `bus-peer zenoh-router ARGS...` runs a zenoh router instead (the arguments of
//! `event-zenoh-router`), and `bus-peer evb ARGS...` the `evb` tool, so that the tests
//! need no other binary.

use crate::{error_kind, Counter, Other, Ping, Pong};
use event_core::{
    BroadcastConfig, ConnectionConfig, Endpoint, EndpointOptions, EventStream, InboundRequest,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;
use trinity_events::{
    Capabilities, Capability, DisconnectReason, Node, PeerInfo, PeerPool, PeerPoolBroadcaster,
    PeerPoolEventServer, PublicKey, Session,
};

#[derive(Default)]
struct Tally {
    count: AtomicU64,
    out_of_order: AtomicBool,
}

/// Runs the `bus-peer` program: its own single-threaded runtime, arguments from the
/// command line. Used by the `bus-peer` binary, and by `stress`, which re-runs itself in
/// this role so that it needs no other binary.
pub fn main() {
    if std::env::args().nth(1).as_deref() == Some("evb") {
        let code = evb::cli::run(std::env::args_os().skip(1));
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
    if std::env::args().nth(1).as_deref() == Some("zenoh-router") {
        if let Err(error) = event_zenoh::router::run_from_args(std::env::args().skip(2)) {
            eprintln!("bus-peer zenoh-router: {error}");
            std::process::exit(2);
        }
        return;
    }
    // The bus's own log (cut-offs, gaps, refusals) on stderr when RUST_LOG asks for it.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(run());
}

async fn run() {
    let args: Vec<String> = std::env::args().collect();

    let (name, dir) = match args.as_slice() {
        [_, name, dir] => (name.clone(), dir.clone()),
        _ => {
            eprintln!("usage: bus-peer NAME DIR");
            std::process::exit(2);
        }
    };
    let mut options = EndpointOptions::default();
    if let Some(capacity) = env_number("BUS_PEER_QUEUE") {
        options = options.queue_capacity(capacity as usize);
    }
    if let Some(millis) = env_number("BUS_PEER_STALL_MS") {
        options = options.stall_timeout(std::time::Duration::from_millis(millis));
    }
    if let Some(bytes) = env_number("BUS_PEER_BUFFER") {
        options = options.connection_buffer(bytes as usize);
    }
    let bus = match Endpoint::serve_with(ConnectionConfig::from_name(&name, &dir), options).await {
        Ok(bus) => bus,
        Err(error) => {
            println!("error {} {error}", error_kind(&error));
            std::process::exit(1);
        }
    };
    if let Err(error) = crate::join_zenoh_from_env(&bus).await {
        println!("error {} {error}", error_kind(&error));
        std::process::exit(1);
    }
    println!("ready");
    let mut subscriptions: HashMap<String, (JoinHandle<()>, Arc<Tally>)> = HashMap::new();
    let held: Arc<Mutex<Vec<InboundRequest<Ping>>>> = Arc::default();
    let mut stalled: Option<EventStream<Counter>> = None;
    let pool = Arc::new(SimplePool::default());
    let mut _pool_server: Option<PeerPoolEventServer<SimplePool>> = None;
    let mut proxy: Option<trinity_events::ProxyPeerPool> = None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["connect", remote] => match bus
                .connect_to_endpoints(&[ConnectionConfig::from_name(remote, &dir)])
                .await
            {
                Ok(()) => format!("connected {remote}"),
                Err(error) => format!("error {} {error}", error_kind(&error)),
            },
            ["wait-connected", remote] => {
                bus.wait_until_connected_to(remote).await;
                format!("connected {remote}")
            }
            ["subscribe", event] => {
                let tally = Arc::new(Tally::default());
                let task = match *event {
                    "counter" => spawn_counter(bus.stream::<Counter>(), tally.clone(), |c| c.index),
                    _ => spawn_counter(bus.stream::<Other>(), tally.clone(), |o| o.index),
                };
                subscriptions.insert(event.to_string(), (task, tally));
                format!("subscribed {event}")
            }
            ["unsubscribe", event] => {
                if let Some((task, _)) = subscriptions.remove(*event) {
                    task.abort();
                    let _ = task.await;
                }
                format!("unsubscribed {event}")
            }
            ["count", event] => match subscriptions.get(*event) {
                Some((_, tally)) => format!(
                    "count {event} {} {}",
                    tally.count.load(Ordering::SeqCst),
                    !tally.out_of_order.load(Ordering::SeqCst)
                ),
                None => format!("count {event} 0 true"),
            },
            ["respond" | "ignore" | "hold", ..] => {
                let mode = words[0].to_string();
                let mut requests = bus.stream_requests::<Ping>();
                let (me, held) = (name.clone(), held.clone());
                tokio::spawn(async move {
                    while let Some(request) = requests.next().await {
                        match mode.as_str() {
                            "respond" => {
                                let echo = request.value;
                                let _ = request
                                    .respond(Pong {
                                        from: me.clone(),
                                        echo,
                                    })
                                    .await;
                            }
                            "ignore" => drop(request),
                            _ => held.lock().unwrap().push(request),
                        }
                    }
                });
                format!("serving-pings {}", words[0])
            }
            ["held"] => format!("held {}", held.lock().unwrap().len()),
            ["stall", "counter"] => {
                stalled = Some(bus.stream::<Counter>());
                "stalled counter".to_string()
            }
            ["overflowed", "counter"] => {
                format!(
                    "overflowed {}",
                    stalled.as_ref().is_some_and(|s| s.overflowed())
                )
            }
            ["pool-serve"] => {
                let server = PeerPoolEventServer::start(bus.clone(), pool.clone());
                let _ = pool.broadcaster.set(server.broadcaster());
                _pool_server = Some(server);
                "pool-serving".to_string()
            }
            ["pool-join", seed] => {
                let seed: u8 = seed.parse().unwrap_or(1);
                let peer = pool.add(seed).await;
                format!("pool-joined {}", peer.session.id())
            }
            ["pool-count"] => format!("pool-count {}", pool.peer_count()),
            ["proxy", target] => {
                match trinity_events::ProxyPeerPool::start_targeting(bus.clone(), *target).await {
                    Ok(started) => {
                        proxy = Some(started);
                        format!("proxying {target}")
                    }
                    Err(error) => format!("error Proxy {error}"),
                }
            }
            ["proxy-known"] => format!(
                "proxy-known {}",
                proxy.as_ref().map_or(0, |proxy| proxy.known_peers().len())
            ),
            ["proxy-count"] => match &proxy {
                Some(proxy) => match proxy.peer_count().await {
                    Ok(count) => format!("peer-count {count}"),
                    Err(error) => format!("error Proxy {error}"),
                },
                None => "error Usage no proxy".to_string(),
            },
            ["connect-path", remote, path] => {
                let config = ConnectionConfig {
                    name: remote.to_string(),
                    path: path.into(),
                };
                match bus.connect_to_endpoints(&[config]).await {
                    Ok(()) => format!("connected {remote}"),
                    Err(error) => format!("error {} {error}", error_kind(&error)),
                }
            }
            ["broadcast", event, n, rest @ ..] => {
                let n: u64 = n.parse().unwrap_or(0);
                let config = match rest {
                    [target] => BroadcastConfig::to_endpoint(*target),
                    _ => BroadcastConfig::default(),
                };
                let mut result = Ok(());
                for index in 0..n {
                    result = match *event {
                        "counter" => {
                            let counter = Counter {
                                index,
                                payload: vec![7; 16],
                            };
                            bus.broadcast_with(counter, config.clone()).await
                        }
                        _ => bus.broadcast_with(Other { index }, config.clone()).await,
                    };
                    if result.is_err() {
                        break;
                    }
                }
                match result {
                    Ok(()) => format!("broadcast-done {n}"),
                    Err(error) => format!("error {} {error}", error_kind(&error)),
                }
            }
            ["subscribe-then-request", value] => {
                let tally = Arc::new(Tally::default());
                let task = spawn_counter(bus.stream::<Counter>(), tally.clone(), |c| c.index);
                subscriptions.insert("counter".to_string(), (task, tally));
                let value = value.parse().unwrap_or(0);
                match bus.request(Ping { value }).await {
                    Ok(pong) => format!("response {} {}", pong.from, pong.echo),
                    Err(error) => format!("error {} {error}", error_kind(&error)),
                }
            }
            ["request", value] => {
                let value = value.parse().unwrap_or(0);
                match bus.request(Ping { value }).await {
                    Ok(pong) => format!("response {} {}", pong.from, pong.echo),
                    Err(error) => format!("error {} {error}", error_kind(&error)),
                }
            }
            ["wait-subscribed", remote, event] => {
                match *event {
                    "counter" => {
                        bus.wait_until_endpoint_subscribed_to::<Counter>(remote)
                            .await
                    }
                    "ping" => bus.wait_until_endpoint_subscribed_to::<Ping>(remote).await,
                    _ => bus.wait_until_endpoint_subscribed_to::<Other>(remote).await,
                }
                format!("seen {remote} {event}")
            }
            ["wait-observed", observer, event] => {
                bus.wait_until_observed_by(observer, event).await;
                format!("observed-by {observer} {event}")
            }
            ["stats", remote] => {
                let stats = bus.connection_stats();
                match stats.iter().find(|s| s.remote == *remote) {
                    Some(s) => format!(
                        "stats {remote} {} {} {}",
                        s.events_sent, s.events_received, s.events_missed
                    ),
                    None => format!("stats {remote} none"),
                }
            }
            ["stop"] => {
                bus.stop().await;
                println!("stopped");
                return;
            }
            _ => format!("error Usage unknown command: {line}"),
        };
        println!("{reply}");
    }
}

/// A peer pool whose peers join on command, for the pool server tests.
#[derive(Default)]
struct SimplePool {
    peers: Mutex<Vec<PeerInfo>>,
    broadcaster: std::sync::OnceLock<PeerPoolBroadcaster>,
}

impl SimplePool {
    async fn add(&self, seed: u8) -> PeerInfo {
        let key = PublicKey::new([seed; 64]);
        let node = Node::new(
            key,
            std::net::Ipv4Addr::new(10, 0, 0, seed).into(),
            30303,
            30303,
        );
        self.add_node(node).await
    }

    async fn add_node(&self, node: Node) -> PeerInfo {
        let capabilities = vec![Capability::new("eth", 68)].into();
        let peer = PeerInfo::new(
            Session::new(node),
            capabilities,
            "Geth/v1.14.11-stable/linux-amd64",
            false,
        );
        self.peers.lock().unwrap().push(peer.clone());
        if let Some(broadcaster) = self.broadcaster.get() {
            let _ = broadcaster.peer_joined(&peer).await;
        }
        peer
    }
}

impl PeerPool for SimplePool {
    type Error = std::convert::Infallible;

    fn connected_peers(&self) -> Vec<PeerInfo> {
        self.peers.lock().unwrap().clone()
    }

    fn capabilities(&self) -> Capabilities {
        vec![Capability::new("eth", 68)].into()
    }

    async fn connect_to_node(&self, node: Node) -> Result<(), Self::Error> {
        self.add_node(node).await;
        Ok(())
    }

    async fn disconnect(
        &self,
        session: &Session,
        _reason: DisconnectReason,
    ) -> Result<(), Self::Error> {
        let removed = {
            let mut peers = self.peers.lock().unwrap();
            let before = peers.len();
            peers.retain(|peer| &peer.session != session);
            before != peers.len()
        };
        if removed {
            if let Some(broadcaster) = self.broadcaster.get() {
                let _ = broadcaster.peer_left(session).await;
            }
        }
        Ok(())
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn spawn_counter<E: event_core::Event>(
    mut stream: event_core::EventStream<E>,
    tally: Arc<Tally>,
    index: fn(&E) -> u64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            let expected = tally.count.load(Ordering::SeqCst);
            if index(&event) != expected {
                tally.out_of_order.store(true, Ordering::SeqCst);
            }
            tally.count.fetch_add(1, Ordering::SeqCst);
        }
    })
}

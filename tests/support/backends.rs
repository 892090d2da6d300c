//! One harness, two backends: the conformance tests run each scenario over the socket
//! mesh and over zenoh (through a router child process on a 127.0.0.1 port the test
//! picks), with the same steps.

use super::{within, PeerProcess};
use event_bus_tests::peer_process::PeerProcess as Peer;
use event_core::{ConnectionConfig, Endpoint, EndpointOptions};
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Runs each scenario (an `async fn NAME(kind: Kind)` of the invoking file) once per
/// backend, as the tests `sockets::NAME` and `zenoh::NAME`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sockets {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Kind::Sockets).await
                }
            )*
        }
        mod zenoh {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Kind::Zenoh).await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

/// Which backend connects the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sockets,
    Zenoh,
}

/// A zenoh router child process (`bus-peer zenoh-router`), killed when dropped.
pub struct RouterProcess {
    pub locator: String,
    child: Child,
}

impl RouterProcess {
    /// Starts a router on a free 127.0.0.1 port, connected to `peers` (other routers'
    /// locators), and waits until it says it listens.
    pub async fn start(peers: &[&str]) -> RouterProcess {
        let port = free_port();
        Self::start_on(port, peers).await
    }

    /// [`start`](Self::start) on this port.
    pub async fn start_on(port: u16, peers: &[&str]) -> RouterProcess {
        Self::start_with(port, peers, &[]).await
    }

    /// [`start_on`](Self::start_on), with more router arguments (`--config FILE`).
    pub async fn start_with(port: u16, peers: &[&str], extra: &[&str]) -> RouterProcess {
        let locator = format!("tcp/127.0.0.1:{port}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_bus-peer"));
        command
            .args(["zenoh-router", "--listen", &locator, "--lease-ms", "1000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for peer in peers {
            command.args(["--connect", peer]);
        }
        command.args(extra);
        let mut child = command.spawn().expect("start a zenoh router");
        let stdout = child.stdout.take().expect("router stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = within("the router to start", lines.next_line())
            .await
            .expect("router output")
            .expect("the router exited");
        assert!(line.contains("listening"), "router said: {line}");
        // Keep reading, so that the router never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        RouterProcess { locator, child }
    }

    /// SIGKILLs the router.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The endpoints of one test: where they meet, over which backend.
pub struct Bus {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    pub router: Option<RouterProcess>,
    /// The zenoh bus name, the same for every test of one test process: each test has a
    /// router of its own, which no other router reaches.
    pub name: String,
}

impl Bus {
    pub async fn new(kind: Kind) -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let router = match kind {
            Kind::Sockets => None,
            Kind::Zenoh => Some(RouterProcess::start(&[]).await),
        };
        let name = format!("t{}", std::process::id());
        Bus {
            kind,
            dir,
            router,
            name,
        }
    }

    pub fn locator(&self) -> String {
        self.router.as_ref().expect("a zenoh bus").locator.clone()
    }

    /// An endpoint of the test process on this bus.
    pub async fn endpoint(&self, name: &str) -> Endpoint {
        self.endpoint_with(name, EndpointOptions::default()).await
    }

    pub async fn endpoint_with(&self, name: &str, options: EndpointOptions) -> Endpoint {
        match self.kind {
            Kind::Sockets => {
                Endpoint::serve_with(ConnectionConfig::from_name(name, self.dir.path()), options)
                    .await
                    .expect("serve")
            }
            Kind::Zenoh => {
                let endpoint = Endpoint::with_options(name, options).unwrap();
                within("join", event_zenoh::join(&endpoint, self.zenoh_config()))
                    .await
                    .expect("join");
                endpoint
            }
        }
    }

    pub fn zenoh_config(&self) -> event_zenoh::ZenohConfig {
        event_zenoh::ZenohConfig::client([self.locator()])
            .bus(self.name.clone())
            .lease(std::time::Duration::from_secs(1))
    }

    /// A `bus-peer` child process on this bus.
    pub async fn peer(&self, name: &str) -> Peer {
        self.peer_with(name, |_| {}).await
    }

    pub async fn peer_with(&self, name: &str, adjust: impl FnOnce(&mut Command)) -> Peer {
        let (kind, locator, bus) = (
            self.kind,
            self.router.as_ref().map(|r| r.locator.clone()),
            self.name.clone(),
        );
        PeerProcess::start_with(name, self.dir.path(), move |command| {
            if kind == Kind::Zenoh {
                command
                    .env("BUS_PEER_ZENOH", locator.unwrap())
                    .env("BUS_PEER_BUS", bus);
            }
            adjust(command);
        })
        .await
    }

    /// Connects `endpoint` to each of `names`: over sockets it dials them; on zenoh they
    /// are connected by being on the bus, and this waits for that.
    pub async fn connect(&self, endpoint: &Endpoint, names: &[&str]) {
        match self.kind {
            Kind::Sockets => {
                let configs: Vec<ConnectionConfig> = names
                    .iter()
                    .map(|name| ConnectionConfig::from_name(name, self.dir.path()))
                    .collect();
                within("connect", endpoint.connect_to_endpoints(&configs))
                    .await
                    .expect("connect");
            }
            Kind::Zenoh => {
                for name in names {
                    within(
                        &format!("{name} on the bus"),
                        endpoint.wait_until_connected_to(name),
                    )
                    .await;
                }
            }
        }
    }

    /// Has the child `peer` connect to `name` (or wait until it is on the bus).
    pub async fn peer_connect(&self, peer: &mut Peer, name: &str) {
        let command = match self.kind {
            Kind::Sockets => format!("connect {name}"),
            Kind::Zenoh => format!("wait-connected {name}"),
        };
        peer.expect(&command, &format!("connected {name}")).await;
    }

    /// The socket directory (every bus has one: a zenoh endpoint may also serve).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

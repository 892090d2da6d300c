//! Test helpers: the `bus-peer` harness of the root library, pointed at the binary cargo
//! built for these tests.
#![allow(dead_code, unused_imports)]

pub mod backends;

use event_core::{ConnectionConfig, Endpoint, Event};
use std::path::Path;
use tokio::process::Command;

pub use event_bus_tests::peer_process::{eventually, proc_status_kib, within, TIMEOUT};

/// A `bus-peer` child process.
pub struct PeerProcess;

impl PeerProcess {
    /// Starts `bus-peer NAME DIR` and waits for `ready`.
    #[allow(clippy::new_ret_no_self)]
    pub async fn start(name: &str, dir: &Path) -> event_bus_tests::peer_process::PeerProcess {
        Self::start_with(name, dir, |_| {}).await
    }

    /// [`start`](Self::start), with a chance to adjust the command (environment, uid).
    pub async fn start_with(
        name: &str,
        dir: &Path,
        adjust: impl FnOnce(&mut Command),
    ) -> event_bus_tests::peer_process::PeerProcess {
        let program = Path::new(env!("CARGO_BIN_EXE_bus-peer"));
        event_bus_tests::peer_process::PeerProcess::start_program(program, name, dir, adjust).await
    }
}

/// The test process's own endpoint, "driver", served in `dir`.
pub async fn driver(dir: &Path) -> Endpoint {
    Endpoint::serve(ConnectionConfig::from_name("driver", dir))
        .await
        .expect("serve driver")
}

/// Connects `bus` to the endpoints `names` served in `dir`, failing the test on error or
/// after [`TIMEOUT`].
pub async fn connect(bus: &Endpoint, dir: &Path, names: &[&str]) {
    let configs: Vec<ConnectionConfig> = names
        .iter()
        .map(|name| ConnectionConfig::from_name(name, dir))
        .collect();
    within("connect", bus.connect_to_endpoints(&configs))
        .await
        .expect("connect");
}

/// Has the child process `peer` subscribe (`subscribe EVENT`), then waits until `bus` has
/// heard of it.
pub async fn subscribe_remote<E: Event>(
    bus: &Endpoint,
    peer: &mut event_bus_tests::peer_process::PeerProcess,
    event: &str,
) {
    peer.expect(
        &format!("subscribe {event}"),
        &format!("subscribed {event}"),
    )
    .await;
    let name = peer.name.clone();
    within(
        &format!("{name}'s subscription to {event}"),
        bus.wait_until_endpoint_subscribed_to::<E>(&name),
    )
    .await;
}

/// A `tracing` log written into a buffer the test reads, for this thread (a
/// current-thread runtime's tasks included) while the guard lives.
#[derive(Clone, Default)]
pub struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Starts capturing; the log goes back to what it was when the guard drops.
    pub fn start() -> (CapturedLog, impl Drop) {
        let captured = CapturedLog::default();
        let guard = tracing_subscriber::util::SubscriberInitExt::set_default(captured.subscriber());
        (captured, guard)
    }

    /// A `tracing` subscriber that writes into this log.
    fn subscriber(&self) -> impl tracing_subscriber::util::SubscriberInitExt {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
    }

    /// Captures every thread's log (zenoh's callback threads included) for the rest of
    /// the test binary's life; the same log for every caller.
    pub fn global() -> CapturedLog {
        static GLOBAL: std::sync::OnceLock<CapturedLog> = std::sync::OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let captured = CapturedLog::default();
                tracing_subscriber::util::SubscriberInitExt::try_init(captured.subscriber())
                    .expect("no other global log in this test binary");
                captured
            })
            .clone()
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// How many lines contain every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> usize {
        self.text()
            .lines()
            .filter(|line| parts.iter().all(|part| line.contains(part)))
            .count()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The connection changes `changes` has already seen (what is queued now; it waits for
/// nothing more).
pub async fn changes_so_far(
    changes: &mut event_core::ConnectionEvents,
) -> Vec<event_core::ConnectionEvent> {
    use futures_util::StreamExt;
    let mut seen = Vec::new();
    while let Ok(Some(change)) =
        tokio::time::timeout(std::time::Duration::from_millis(1), changes.next()).await
    {
        seen.push(change);
    }
    seen
}

//! Test helpers: the `bus-peer` harness of the root library, pointed at the binary cargo
//! built for these tests.
#![allow(dead_code, unused_imports)]

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

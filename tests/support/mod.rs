//! Test helpers: the `bus-peer` harness of the root library, pointed at the binary cargo
//! built for these tests.
#![allow(dead_code, unused_imports)]

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

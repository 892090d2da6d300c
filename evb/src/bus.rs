//! Getting onto the bus: over sockets (every endpoint served in a directory) or zenoh.

use crate::Error;
use event_core::{ConnectionConfig, Endpoint, EndpointOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which bus to look at.
#[derive(Debug, Clone)]
pub enum Where {
    /// The endpoints whose sockets are in this directory.
    Sockets(PathBuf),
    /// A zenoh bus: its routers' locators and its name.
    Zenoh {
        /// The routers to connect to (`tcp/HOST:PORT`).
        routers: Vec<String>,
        /// The bus name.
        bus: String,
    },
}

/// How long `evb` waits for what the endpoints publish once connected (their schemas).
pub const SETTLE: Duration = Duration::from_secs(2);

/// This tool's endpoint name: unique per process.
pub fn own_name() -> String {
    format!("evb-{}", std::process::id())
}

/// The endpoint names served in `dir` (every `<name>.ipc`), sorted.
pub fn served_in(dir: &Path) -> Result<BTreeSet<String>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Dir {
        dir: dir.display().to_string(),
        source,
    })?;
    Ok(entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".ipc").map(str::to_owned)
        })
        .collect())
}

/// An endpoint of this tool on the bus `at`, connected to what is there. `before` runs
/// on the endpoint before it connects (an observation made there is announced in the
/// handshake).
pub async fn open(at: &Where, before: impl FnOnce(&Endpoint)) -> Result<Endpoint, Error> {
    let options = EndpointOptions::default().queue_capacity(4096);
    let endpoint = Endpoint::with_options(own_name(), options)?;
    before(&endpoint);
    match at {
        Where::Sockets(dir) => {
            let connected = connect_new(&endpoint, dir).await?;
            if connected == 0 {
                return Err(Error::NoEndpoints(dir.display().to_string()));
            }
        }
        Where::Zenoh { routers, bus } => {
            let config = event_zenoh::ZenohConfig::client(routers.clone()).bus(bus.clone());
            event_zenoh::join(&endpoint, config).await?;
        }
    }
    Ok(endpoint)
}

/// Connects `endpoint` to every endpoint served in `dir` that it is not connected to;
/// how many it is connected to then. One that refuses (a stale socket) is reported on
/// stderr and skipped.
pub async fn connect_new(endpoint: &Endpoint, dir: &Path) -> Result<usize, Error> {
    for name in served_in(dir)? {
        if name == endpoint.name() || endpoint.is_connected_to(&name) {
            continue;
        }
        let config = ConnectionConfig::from_name(&name, dir);
        if let Err(error) = endpoint.connect_to_endpoints(&[config]).await {
            tracing::warn!(%name, %error, "cannot connect; skipped");
        }
    }
    Ok(endpoint.connected_endpoints_and_subscriptions().len() - 1)
}

/// Waits (up to [`SETTLE`]) until every connected endpoint's schemas are known: each
/// endpoint publishes at least the schemas of its registered events.
pub async fn settle(endpoint: &Endpoint) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let waiting = remotes(endpoint)
            .iter()
            .any(|name| endpoint.schemas_of(name).is_empty());
        if !waiting || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The connected endpoints' names, sorted (this tool's own left out).
pub fn remotes(endpoint: &Endpoint) -> Vec<String> {
    endpoint
        .connected_endpoints_and_subscriptions()
        .into_iter()
        .skip(1)
        .map(|(name, _)| name)
        .collect()
}

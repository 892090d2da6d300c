//! Getting onto the bus: over sockets (every endpoint served in a directory) or zenoh.

use crate::Error;
use event_core::observe::Observation;
use event_core::{ConnectionConfig, Endpoint, EndpointOptions};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
        /// A user and password, for a router that requires them.
        credentials: Option<(String, String)>,
    },
}

/// How long `evb` waits for what the endpoints publish once connected (their schemas).
pub const SETTLE: Duration = Duration::from_secs(2);

/// How long a connection to one socket may take: a socket file that nobody serves any
/// more (a crashed process) is skipped after this, not after the default 10 s.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A name for this tool's endpoint, unique on a bus of many hosts: its process id and
/// the clock's nanoseconds (two taps in two containers both have pid 1).
pub fn default_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.subsec_nanos())
        .unwrap_or_default();
    format!("evb-{}-{:05x}", std::process::id(), nanos & 0xf_ffff)
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

/// This tool on the bus. It always observes (at least a name nobody sends), so that the
/// endpoints it connects to never count it among those that must subscribe
/// (`wait_until_all_endpoints_subscribed_to`).
pub struct Tool {
    /// Its endpoint.
    pub endpoint: Endpoint,
    /// The observation asked for, if any (`tap`).
    pub observation: Option<Observation>,
    _quiet: Observation,
    /// Sockets that refused, with the time their file was changed: tried again only
    /// when it changes (a process that restarted).
    failed: Refused,
}

/// Puts this tool on the bus `at` as `name`, observing `observe` (`None`: nothing), and
/// connects it to what is there.
pub async fn open(at: &Where, name: &str, observe: Option<&[String]>) -> Result<Tool, Error> {
    let options = EndpointOptions::default()
        .queue_capacity(4096)
        .connect_timeout(CONNECT_TIMEOUT);
    let endpoint = Endpoint::with_options(name, options)?;
    // Made before connecting: the observation is announced in the handshake.
    let quiet = endpoint.observe(["evb.nothing"]);
    let observation = observe.map(|events| endpoint.observe(events.iter().cloned()));
    let mut tool = Tool {
        endpoint,
        observation,
        _quiet: quiet,
        failed: HashMap::new(),
    };
    match at {
        Where::Sockets(dir) => {
            if tool.connect_new(dir).await? == 0 {
                return Err(Error::NoEndpoints(dir.display().to_string()));
            }
        }
        Where::Zenoh {
            routers,
            bus,
            credentials,
        } => {
            let mut config = event_zenoh::ZenohConfig::client(routers.clone()).bus(bus.clone());
            if let Some((user, password)) = credentials {
                config = config.user_password(user.clone(), password.clone());
            }
            event_zenoh::join(&tool.endpoint, config).await?;
        }
    }
    Ok(tool)
}

impl Tool {
    /// [`connect_new`] for this tool.
    pub async fn connect_new(&mut self, dir: &Path) -> Result<usize, Error> {
        connect_new(&self.endpoint, dir, &mut self.failed).await
    }
}

/// Sockets that refused, with the time their file was changed.
pub type Refused = HashMap<String, Option<SystemTime>>;

/// Connects `endpoint` to every endpoint served in `dir` that it is not connected to;
/// how many it is connected to then. A socket that refuses (a stale file) is skipped,
/// and tried again only once its file changes (a process that restarted).
pub async fn connect_new(
    endpoint: &Endpoint,
    dir: &Path,
    failed: &mut Refused,
) -> Result<usize, Error> {
    for name in served_in(dir)? {
        if name == endpoint.name() || endpoint.is_connected_to(&name) {
            continue;
        }
        let config = ConnectionConfig::from_name(&name, dir);
        let changed = std::fs::symlink_metadata(&config.path)
            .and_then(|metadata| metadata.modified())
            .ok();
        if failed.get(&name) == Some(&changed) {
            continue;
        }
        match endpoint.connect_to_endpoints(&[config]).await {
            Ok(()) => {
                failed.remove(&name);
            }
            Err(error) => {
                tracing::warn!(%name, %error, "cannot connect; skipped until its socket changes");
                failed.insert(name, changed);
            }
        }
    }
    Ok(remotes(endpoint).len())
}

/// Waits (up to [`SETTLE`]) until every connected endpoint's schemas are known: each
/// endpoint publishes at least the schemas of its registered events. (There is no
/// notification for a schema's arrival: this polls, for a tool, not a test.)
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

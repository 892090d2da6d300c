//! A zenoh router, for hosts without zenohd: what the `event-zenoh-router` binary runs,
//! and what a program (a test, say) can start in-process.
//!
//! Multicast scouting is off: routers find each other through [`connect`](Router::connect).
//! A congested link is given 60 s before zenoh closes it (its default is 5 s), so that
//! the bus's own stall handling (a subscriber cut off after the stall timeout, a frozen
//! remote given up after twice that) acts first.

use crate::config::{insert, json_list, json_string};
use crate::error::Error;
use std::time::Duration;

/// How to start a router.
///
/// ```no_run
/// # async fn run() -> Result<(), event_zenoh::Error> {
/// let router = event_zenoh::Router::new()
///     .listen(["tcp/0.0.0.0:7447"])
///     .connect(["tcp/10.0.0.2:7447"])
///     .open()
///     .await?;
/// # let _ = router; Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Router {
    listen: Vec<String>,
    connect: Vec<String>,
    lease: Option<Duration>,
    base: Option<zenoh::Config>,
}

impl Router {
    /// A router that listens nowhere yet.
    pub fn new() -> Router {
        Router::default()
    }

    /// Listen on these locators.
    pub fn listen<I: IntoIterator<Item = S>, S: Into<String>>(mut self, locators: I) -> Router {
        self.listen.extend(locators.into_iter().map(Into::into));
        self
    }

    /// Connect to these other routers.
    pub fn connect<I: IntoIterator<Item = S>, S: Into<String>>(mut self, locators: I) -> Router {
        self.connect.extend(locators.into_iter().map(Into::into));
        self
    }

    /// The lease of its links (zenoh's default is 10 s).
    pub fn lease(mut self, lease: Duration) -> Router {
        self.lease = Some(lease);
        self
    }

    /// Starts from this zenoh configuration (access control, TLS, a user dictionary).
    pub fn with_zenoh_config(mut self, config: zenoh::Config) -> Router {
        self.base = Some(config);
        self
    }

    /// The zenoh configuration this amounts to.
    pub fn to_zenoh(&self) -> Result<zenoh::Config, Error> {
        let mut config = self.base.clone().unwrap_or_default();
        let mut set = |key: &str, value: String| insert(&mut config, key, &value);
        set("mode", json_string("router"))?;
        if !self.listen.is_empty() {
            set("listen/endpoints", json_list(&self.listen))?;
        }
        if !self.connect.is_empty() {
            set("connect/endpoints", json_list(&self.connect))?;
        }
        set("scouting/multicast/enabled", "false".into())?;
        set(
            "transport/link/tx/queue/congestion_control/block/wait_before_close",
            "60000000".into(),
        )?;
        if let Some(lease) = self.lease {
            set(
                "transport/link/tx/lease",
                lease.as_millis().max(100).to_string(),
            )?;
        }
        crate::locators::keep_link_order(&mut config)?;
        Ok(config)
    }

    /// Starts the router; it runs until the session is closed or dropped.
    pub async fn open(&self) -> Result<zenoh::Session, Error> {
        let config = self.to_zenoh()?;
        zenoh::open(config).await.map_err(Error::zenoh)
    }
}

/// Runs the router of the command line `args` (without the program name) until the
/// process is killed: `--listen LOCATOR`..., `--connect LOCATOR`..., `--config FILE`,
/// `--lease-ms MS`. Prints one line, `event-zenoh-router <zid> listening on ...`, once
/// it is up. For the `event-zenoh-router` binary and programs that embed one.
pub fn run_from_args(args: impl IntoIterator<Item = String>) -> Result<(), String> {
    let mut router = Router::new();
    let mut listening = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--listen" => {
                let locator = value()?;
                listening.push(locator.clone());
                router = router.listen([locator]);
            }
            "--connect" => router = router.connect([value()?]),
            "--config" => {
                let path = value()?;
                let config =
                    zenoh::Config::from_file(&path).map_err(|error| format!("{path}: {error}"))?;
                router = router.with_zenoh_config(config);
            }
            "--lease-ms" => {
                let ms = value()?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("--lease-ms: `{ms}` is not a number"))?;
                router = router.lease(Duration::from_millis(ms));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if listening.is_empty() && router.base.is_none() {
        return Err(format!("say where to listen\n{USAGE}"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let session = router
            .open()
            .await
            .map_err(|error| format!("cannot start: {error}"))?;
        println!(
            "event-zenoh-router {} listening on {}",
            session.zid(),
            listening.join(", ")
        );
        std::future::pending::<()>().await;
        Ok(())
    })
}

const USAGE: &str = "usage: event-zenoh-router --listen LOCATOR [--listen LOCATOR]... [--connect LOCATOR]... [--config FILE.json5] [--lease-ms MS]";

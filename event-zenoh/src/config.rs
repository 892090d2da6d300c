//! [`ZenohConfig`]: where an endpoint finds the bus, and the deployment settings.

use crate::error::Error;
use std::path::PathBuf;
use std::time::Duration;

/// How an endpoint joins a zenoh bus: as a client of routers or as a peer, which bus, and
/// the deployment settings (TLS, user/password, timeouts). Built with chained calls and
/// handed to [`join`](crate::join).
///
/// Multicast scouting is off unless [`multicast_scouting`](Self::multicast_scouting) turns
/// it on: an endpoint talks to the routers and peers it is given, never to whoever
/// answers on the LAN.
///
/// ```
/// use event_zenoh::ZenohConfig;
/// use std::time::Duration;
///
/// // A component on another host, through two routers (it fails over between them).
/// let config = ZenohConfig::client(["tcp/10.0.0.1:7447", "tcp/10.0.0.2:7447"])
///     .bus("trinity")
///     .user_password("peer-pool", "s3cret")
///     .lease(Duration::from_secs(3));
///
/// // Two processes of one host, meshed directly.
/// let a = ZenohConfig::peer().listen(["tcp/127.0.0.1:7450"]);
/// let b = ZenohConfig::peer().connect(["tcp/127.0.0.1:7450"]);
/// # let _ = (config, a, b);
/// ```
#[derive(Debug, Clone)]
pub struct ZenohConfig {
    pub(crate) mode: Mode,
    pub(crate) listen: Vec<String>,
    pub(crate) connect: Vec<String>,
    pub(crate) bus: String,
    pub(crate) multicast_scouting: bool,
    pub(crate) tls: Option<Tls>,
    pub(crate) user_password: Option<(String, String)>,
    pub(crate) lease: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) json5: Vec<(String, String)>,
    pub(crate) base: Option<zenoh::Config>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Client,
    Peer,
}

/// TLS files (PEM) for [`ZenohConfig::tls`], used by `quic/` and `tls/` locators.
///
/// Prefer `quic/` for encrypted links: zenoh's `tls/` link can close under traffic and
/// lose what is on its way (eclipse-zenoh/zenoh#2557); `join` logs a warning for it.
///
/// ```
/// use event_zenoh::{Tls, ZenohConfig};
///
/// // Mutual TLS: trust the bus's authority, and show a certificate it signed.
/// let config = ZenohConfig::client(["quic/10.0.0.1:7447"])
///     .bus("trinity")
///     .tls(
///         Tls::root_ca("/etc/trinity/bus-ca.pem")
///             .identity("/etc/trinity/proxy.pem", "/etc/trinity/proxy.key")
///             .mutual(true),
///     );
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Tls {
    root_ca: Option<PathBuf>,
    certificate: Option<PathBuf>,
    private_key: Option<PathBuf>,
    mutual: bool,
}

impl Tls {
    /// Trust the routers (or peers) whose certificate this authority signed.
    pub fn root_ca(ca_certificate: impl Into<PathBuf>) -> Tls {
        Tls {
            root_ca: Some(ca_certificate.into()),
            ..Tls::default()
        }
    }

    /// This endpoint's own certificate and key: to listen on `quic/` and `tls/` locators, and to
    /// prove who it is to a router that requires it ([`mutual`](Self::mutual)).
    pub fn identity(
        mut self,
        certificate: impl Into<PathBuf>,
        private_key: impl Into<PathBuf>,
    ) -> Tls {
        self.certificate = Some(certificate.into());
        self.private_key = Some(private_key.into());
        self
    }

    /// Mutual TLS: the listening side asks the connecting side for its certificate.
    pub fn mutual(mut self, mutual: bool) -> Tls {
        self.mutual = mutual;
        self
    }
}

impl ZenohConfig {
    fn new(mode: Mode) -> ZenohConfig {
        ZenohConfig {
            mode,
            listen: Vec::new(),
            connect: Vec::new(),
            bus: "default".to_owned(),
            multicast_scouting: false,
            tls: None,
            user_password: None,
            lease: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            json5: Vec::new(),
            base: None,
        }
    }

    /// A zenoh client of these routers (locators such as `"tcp/10.0.0.1:7447"`). It uses
    /// one at a time and fails over to another when it is lost.
    pub fn client<I: IntoIterator<Item = S>, S: Into<String>>(routers: I) -> ZenohConfig {
        ZenohConfig::new(Mode::Client).connect(routers)
    }

    /// A zenoh peer (multicast scouting off; say where to listen and whom to connect to).
    /// Peers reach each other directly, with no hop between them.
    pub fn peer() -> ZenohConfig {
        ZenohConfig::new(Mode::Peer)
    }

    /// Also listen on these locators (`"tcp/127.0.0.1:7450"`, `"quic/0.0.0.0:7451"`).
    pub fn listen<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        locators: I,
    ) -> ZenohConfig {
        self.listen.extend(locators.into_iter().map(Into::into));
        self
    }

    /// Also connect to these locators (routers, or peers).
    pub fn connect<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        locators: I,
    ) -> ZenohConfig {
        self.connect.extend(locators.into_iter().map(Into::into));
        self
    }

    /// The bus: endpoints on different buses never see each other (default `"default"`).
    pub fn bus(mut self, bus: impl Into<String>) -> ZenohConfig {
        self.bus = bus.into();
        self
    }

    /// Turns zenoh's multicast scouting on (off by default): find routers and peers on the
    /// LAN without naming them.
    pub fn multicast_scouting(mut self, enabled: bool) -> ZenohConfig {
        self.multicast_scouting = enabled;
        self
    }

    /// TLS for `quic/` and `tls/` locators (see [`Tls`]).
    pub fn tls(mut self, tls: Tls) -> ZenohConfig {
        self.tls = Some(tls);
        self
    }

    /// Authenticate to routers (and peers) with this user name and password; the router's
    /// dictionary lists who may join, and its access control what each may publish.
    pub fn user_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user_password = Some((user.into(), password.into()));
        self
    }

    /// How long a silent link (a cut cable, a frozen router) lasts before it is declared
    /// lost, with its endpoints and the requests sent to them. Default 3 s (zenoh's own
    /// default is 10 s).
    pub fn lease(mut self, lease: Duration) -> ZenohConfig {
        self.lease = lease;
        self
    }

    /// How long [`join`](crate::join) waits for the routers or peers it connects to.
    /// Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> ZenohConfig {
        self.connect_timeout = timeout;
        self
    }

    /// The longest a request waits for an answer before it fails with
    /// `RemoteDisconnected` even though its responder is still there (zenoh queries must
    /// have a deadline; over sockets there is none). Default 10 min.
    pub fn request_timeout(mut self, timeout: Duration) -> ZenohConfig {
        self.request_timeout = timeout;
        self
    }

    /// Sets one key of the zenoh configuration (`"transport/link/tx/batch_size"`, `"8192"`),
    /// applied last. For whatever this type has no method for.
    pub fn insert_json5(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.json5.push((key.into(), value.into()));
        self
    }

    /// Starts from this zenoh configuration (read from a file, say) instead of zenoh's
    /// defaults; the settings of this type are applied on top.
    pub fn with_zenoh_config(mut self, config: zenoh::Config) -> ZenohConfig {
        self.base = Some(config);
        self
    }

    /// The bus name.
    pub fn bus_name(&self) -> &str {
        &self.bus
    }

    /// The zenoh configuration this amounts to, for an endpoint whose subscribers may
    /// stall for `stall_timeout` (zenoh must not close a congested link before the bus
    /// cuts such a subscriber off).
    pub(crate) fn to_zenoh(
        &self,
        stall_timeout: Duration,
        max_frame_size: usize,
    ) -> Result<zenoh::Config, Error> {
        let mut config = self.base.clone().unwrap_or_default();
        let mut set = |key: &str, value: String| insert(&mut config, key, &value);
        let mode = match self.mode {
            Mode::Client => "client",
            Mode::Peer => "peer",
        };
        set("mode", json_string(mode))?;
        if self.mode == Mode::Client && self.connect.is_empty() {
            return Err(Error::Config {
                key: "connect/endpoints".into(),
                reason: "a client needs at least one router to connect to".into(),
            });
        }
        if !self.connect.is_empty() {
            set("connect/endpoints", json_list(&self.connect))?;
        }
        if !self.listen.is_empty() {
            set("listen/endpoints", json_list(&self.listen))?;
        }
        set(
            "scouting/multicast/enabled",
            self.multicast_scouting.to_string(),
        )?;
        let connect_ms = self.connect_timeout.as_millis().max(1);
        set("connect/timeout_ms", connect_ms.to_string())?;
        set("connect/exit_on_failure", "true".into())?;
        let lease_ms = self.lease.as_millis().max(100);
        set("transport/link/tx/lease", lease_ms.to_string())?;
        // The bus cuts off a stalled subscriber after the stall timeout and gives up a
        // remote that takes nothing for twice that; zenoh must not close the whole link
        // under congestion first (its default is 5 s).
        let block_us = stall_timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(5))
            .as_micros()
            .max(5_000_000);
        set(
            "transport/link/tx/queue/congestion_control/block/wait_before_close",
            block_us.to_string(),
        )?;
        // zenoh reassembles a fragmented message before anyone sees it: bound that by the
        // largest message the endpoint accepts (with room for the key and attachment), not
        // zenoh's default of 1 GiB.
        let max_message = max_frame_size.saturating_add(64 * 1024);
        set(
            "transport/link/rx/max_message_size",
            max_message.to_string(),
        )?;
        if let Some(tls) = &self.tls {
            let path = |path: &PathBuf| json_string(&path.to_string_lossy());
            if let Some(ca) = &tls.root_ca {
                set("transport/link/tls/root_ca_certificate", path(ca))?;
            }
            if let (Some(cert), Some(key)) = (&tls.certificate, &tls.private_key) {
                set("transport/link/tls/listen_certificate", path(cert))?;
                set("transport/link/tls/listen_private_key", path(key))?;
                set("transport/link/tls/connect_certificate", path(cert))?;
                set("transport/link/tls/connect_private_key", path(key))?;
            }
            set("transport/link/tls/enable_mtls", tls.mutual.to_string())?;
        }
        if let Some((user, password)) = &self.user_password {
            set("transport/auth/usrpwd/user", json_string(user))?;
            set("transport/auth/usrpwd/password", json_string(password))?;
        }
        for (key, value) in &self.json5 {
            set(key, value.clone())?;
        }
        crate::locators::keep_link_order(&mut config)?;
        Ok(config)
    }
}

/// Sets `key` of `config` to the JSON5 `value`, naming the key when zenoh refuses it.
pub(crate) fn insert(config: &mut zenoh::Config, key: &str, value: &str) -> Result<(), Error> {
    config
        .insert_json5(key, value)
        .map_err(|error| Error::Config {
            key: key.to_owned(),
            reason: error.to_string(),
        })
}

/// `text` as a JSON string literal.
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `items` as a JSON list of strings.
pub(crate) fn json_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| json_string(item)).collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_without_routers_is_refused() {
        let error = ZenohConfig::client(Vec::<String>::new())
            .to_zenoh(Duration::from_secs(1), 1 << 20)
            .unwrap_err();
        assert!(error.to_string().contains("at least one router"), "{error}");
    }

    #[test]
    fn a_bad_locator_is_a_clear_error() {
        let error = ZenohConfig::client(["not a locator"])
            .to_zenoh(Duration::from_secs(1), 1 << 20)
            .unwrap_err();
        assert!(error.to_string().contains("connect/endpoints"), "{error}");
    }

    #[test]
    fn settings_reach_the_zenoh_config() {
        let config = ZenohConfig::peer()
            .listen(["tcp/127.0.0.1:7450"])
            .user_password("u", "p\"w")
            .to_zenoh(Duration::from_secs(10), 1 << 20)
            .unwrap();
        let get = |key: &str| config.get_json(key).unwrap();
        assert_eq!(get("mode"), "\"peer\"");
        assert_eq!(get("scouting/multicast/enabled"), "false");
        assert_eq!(get("transport/auth/usrpwd/password"), "\"p\\\"w\"");
        assert_eq!(
            get("transport/link/tx/queue/congestion_control/block/wait_before_close"),
            "25000000"
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}

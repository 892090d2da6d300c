//! Configuration values: where an endpoint listens, where a broadcast goes, and the
//! limits of an endpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The name of an endpoint and the path of its Unix socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionConfig {
    /// The endpoint's name, unique among connected endpoints.
    pub name: String,
    /// The path of the endpoint's Unix socket.
    pub path: PathBuf,
}

impl ConnectionConfig {
    /// The config of endpoint `name` with its socket at `<base_dir>/<name>.ipc`.
    ///
    /// ```
    /// let config = event_core::ConnectionConfig::from_name("networking", "/run/app");
    /// assert_eq!(config.path, std::path::Path::new("/run/app/networking.ipc"));
    /// ```
    pub fn from_name(name: &str, base_dir: impl AsRef<Path>) -> ConnectionConfig {
        ConnectionConfig {
            name: name.to_owned(),
            path: base_dir.as_ref().join(format!("{name}.ipc")),
        }
    }
}

/// The longest endpoint name, in bytes (its socket file is `<name>.ipc`).
pub(crate) const MAX_ENDPOINT_NAME: usize = 200;

/// Says what is wrong with an endpoint name, if anything. A name is the endpoint's
/// identity on the bus and the stem of its socket file, so it must be a plain file name.
pub(crate) fn check_endpoint_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > MAX_ENDPOINT_NAME {
        return Err(format!(
            "it has {} bytes, more than {MAX_ENDPOINT_NAME}",
            name.len()
        ));
    }
    if name.starts_with('.') {
        return Err("it starts with `.`".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| *c == '/' || *c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("it contains {bad:?}"));
    }
    Ok(())
}

/// Which endpoints a broadcast or request goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every subscriber, here and in every connected endpoint.
    Everyone,
    /// Only this endpoint's own subscribers.
    Internal,
    /// Only the named endpoint's subscribers (possibly this endpoint's own).
    Endpoint(Arc<str>),
}

/// Where a broadcast or request goes, and whether it needs a subscriber.
///
/// The default goes to every subscriber and fails with
/// [`Error::NoSubscribers`](crate::Error::NoSubscribers) when there is none.
///
/// ```
/// use event_core::BroadcastConfig;
/// let only_sync = BroadcastConfig::to_endpoint("sync");
/// let fire_and_forget = BroadcastConfig::default().require_subscriber(false);
/// # let _ = (only_sync, fire_and_forget);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastConfig {
    pub(crate) target: Target,
    pub(crate) require_subscriber: bool,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            target: Target::Everyone,
            require_subscriber: true,
        }
    }
}

impl BroadcastConfig {
    /// Only the endpoint called `name` receives it.
    pub fn to_endpoint(name: impl Into<String>) -> BroadcastConfig {
        BroadcastConfig {
            target: Target::Endpoint(Arc::from(name.into())),
            require_subscriber: true,
        }
    }

    /// Only this endpoint's own subscribers receive it.
    pub fn internal() -> BroadcastConfig {
        BroadcastConfig {
            target: Target::Internal,
            require_subscriber: true,
        }
    }

    /// `false`: no error when nobody subscribes (fire and forget). A request still fails
    /// with `NoSubscribers`, since nobody could answer it.
    pub fn require_subscriber(mut self, required: bool) -> BroadcastConfig {
        self.require_subscriber = required;
        self
    }
}

/// Limits and timeouts of an endpoint. `Default` gives values fit for most programs.
///
/// ```
/// use std::time::Duration;
/// let options = event_core::EndpointOptions::default()
///     .queue_capacity(256)
///     .stall_timeout(Duration::from_secs(2));
/// let bus = event_core::Endpoint::with_options("tuned", options).unwrap();
/// # let _ = bus;
/// ```
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    /// Whether endpoints that observe ([`Endpoint::observe`](crate::Endpoint::observe))
    /// are sent copies.
    pub(crate) allow_observers: bool,
    pub(crate) queue_capacity: usize,
    pub(crate) stall_timeout: Duration,
    pub(crate) connection_buffer: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) frame_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) wait_warning: Duration,
    pub(crate) reconnect: Option<Reconnect>,
}

impl Default for EndpointOptions {
    fn default() -> Self {
        EndpointOptions {
            queue_capacity: 4096,
            allow_observers: true,
            stall_timeout: Duration::from_secs(10),
            connection_buffer: 1024 * 1024,
            max_frame_size: 16 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(5),
            frame_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            wait_warning: Duration::from_secs(5),
            reconnect: None,
        }
    }
}

impl EndpointOptions {
    /// Whether this endpoint sends copies of what it sends to endpoints that observe
    /// ([`Endpoint::observe`](crate::Endpoint::observe), `evb tap`); on by default. Turn
    /// it off where a connected endpoint may not read what is sent to others: on a bus
    /// with access control, any user allowed to announce subscriptions could observe.
    ///
    /// ```
    /// let options = event_core::EndpointOptions::default().allow_observers(false);
    /// ```
    pub fn allow_observers(mut self, allowed: bool) -> Self {
        self.allow_observers = allowed;
        self
    }

    /// How many events a stream (or request stream) holds before senders must wait.
    /// Default 4096.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How long a sender waits on a subscriber's full queue before it declares that
    /// subscriber stalled and cuts it off. Default 10 s.
    ///
    /// A connection whose peer reads nothing for twice as long is considered dead (a
    /// frozen process) and disconnected, with [`Error::Stalled`](crate::Error::Stalled)
    /// for the sender. Twice, so that a peer whose own subscriber stalled cuts that
    /// subscriber off (and reads on) before its connection is given up.
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// How many bytes of events may wait for the socket per connection before senders
    /// wait. Default 1 MiB.
    pub fn connection_buffer(mut self, bytes: usize) -> Self {
        self.connection_buffer = bytes.max(1);
        self
    }

    /// How long a connection may read nothing before it is given up: twice the stall
    /// timeout.
    pub(crate) fn connection_stall_timeout(&self) -> Duration {
        self.stall_timeout.saturating_mul(2)
    }

    /// The largest frame accepted or sent, in bytes. Default 16 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes.clamp(64, u32::MAX as usize);
        self
    }

    /// How long a new connection has to complete its handshake. Default 5 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long the rest of a frame may take once its first byte arrived. Default 30 s.
    pub fn frame_timeout(mut self, timeout: Duration) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// How long `connect_to_endpoints` waits for a socket that does not exist yet.
    /// Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// After how long a `wait_until_*` that is still waiting logs a warning saying what
    /// it waits for and which endpoints are connected instead (then again after twice as
    /// long, and so on). Default 5 s. The wait itself goes on: bound it with
    /// `tokio::time::timeout` where it must end.
    pub fn wait_warning(mut self, after: Duration) -> Self {
        self.wait_warning = after;
        self
    }

    /// Reconnects, with back-off, to every endpoint this one connected to with
    /// `connect_to_endpoints`, whenever that connection is lost (a restarted peer is
    /// reached again and its subscriptions learned anew). Off by default. Connections
    /// that the other side made are the other side's to remake.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = Some(policy);
        self
    }
}

/// How [`EndpointOptions::reconnect`] retries: the first attempt after `first_delay`,
/// each next one after twice the last delay, at most `max_delay`, until it connects, the
/// endpoint stops, or (if set) `give_up_after` has passed since the connection was lost.
///
/// ```
/// use std::time::Duration;
/// use event_core::{EndpointOptions, Reconnect};
/// let options = EndpointOptions::default().reconnect(
///     Reconnect::default()
///         .max_delay(Duration::from_secs(2))
///         .give_up_after(Duration::from_secs(60)),
/// );
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    pub(crate) first_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) give_up_after: Option<Duration>,
}

impl Default for Reconnect {
    /// 50 ms, doubling up to 5 s, forever.
    fn default() -> Self {
        Reconnect {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            give_up_after: None,
        }
    }
}

impl Reconnect {
    /// The delay before the first attempt.
    pub fn first_delay(mut self, delay: Duration) -> Self {
        self.first_delay = delay;
        self
    }

    /// The longest delay between two attempts.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Stop trying this long after the connection was lost.
    pub fn give_up_after(mut self, after: Duration) -> Self {
        self.give_up_after = Some(after);
        self
    }

    /// The delay after `delay`.
    pub(crate) fn next_delay(&self, delay: Duration) -> Duration {
        delay.saturating_mul(2).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::check_endpoint_name;

    #[test]
    fn endpoint_names_are_plain_file_names() {
        for good in ["networking", "sync-1", "a.b_c", "ünï"] {
            assert_eq!(check_endpoint_name(good), Ok(()), "{good}");
        }
        let long = "x".repeat(201);
        for (bad, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("../up", "starts with `.`"),
            ("with space", "' '"),
            ("tab\t", "'\\t'"),
            (long.as_str(), "more than 200"),
        ] {
            let reason = check_endpoint_name(bad).unwrap_err();
            assert!(reason.contains(why), "{bad:?}: {reason}");
        }
    }
}

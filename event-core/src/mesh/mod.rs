//! The socket mesh: the first backend, connecting endpoints of one host over Unix sockets,
//! full mesh as in lahja (each endpoint serves its own socket; connections are
//! bidirectional).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Mesh`], the [`Backend`]: listening, connecting, the handshake tasks |
//! | `handshake.rs` | the handshake rules as plain functions |
//! | `inbound.rs` | what each received message does, as plain code |
//! | `connection.rs` | a connection's [`RemoteLink`] and its reader and writer tasks |
//! | `outbox.rs` | the bytes waiting to be written to one connection |
//!
//! The wire layout is in [`crate::wire`], the sockets in [`crate::transport`].
//!
//! # Bad input
//!
//! The rule is: one bad connection never hurts the others.
//!
//! * Bytes that are not a frame (an oversized length prefix, a frame that does not decode,
//!   a message out of place) close that connection, logged with `tracing::error!`.
//! * A frame cut short by the peer closing, or whose rest does not arrive within the frame
//!   timeout, closes that connection.
//! * A bad handshake (wrong magic or protocol version, own name, a name already connected,
//!   no HELLO within the handshake timeout) is answered with REJECT and closed.
//! * What one peer can make a connection hold is bounded: numbered names (count and
//!   bytes) and published schemas (count and bytes, each schema's nesting depth too).
//! * An EVENT whose body does not decode as the subscribed type, or whose name nobody
//!   subscribes to here, is dropped alone (the frame boundary is intact); if it was a
//!   request the requester is told at once (REQUEST_DROPPED).
//!
//! Everything accepted before stays delivered, and every other connection carries on.

mod connection;
mod handshake;
mod inbound;
mod outbox;

use crate::backend::handles::{Attached, RemoteHandle};
use crate::backend::link::Backend;
use crate::config::{ConnectionConfig, EndpointOptions, Reconnect};
use crate::error::Error;
use crate::schema::{EventSchema, Fingerprint};
use crate::sync;
use crate::transport::{self, BindError, Bound, Link, Listener};
use crate::wire::{self, FrameReader};
use connection::{read_loop, write_loop, Connection};
use handshake::{Answer, AnswerError};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

pub(crate) use handshake::check_hello;
pub(crate) use inbound::{Action, Inbound};

/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 64;
/// The largest handshake frame (HELLO, WELCOME with a subscription set, REJECT).
const MAX_HANDSHAKE_FRAME: usize = 1024 * 1024;

/// The socket mesh of one endpoint.
pub(crate) struct Mesh {
    core: Attached,
    /// This endpoint's name, shared with every connection for its log lines.
    name: Arc<str>,
    /// Every registered connection, to announce subscription changes to.
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    /// The listening socket of a served endpoint.
    listening: Mutex<Option<Listening>>,
    /// Names of the endpoints this one is connecting to right now.
    connecting: Mutex<HashSet<Arc<str>>>,
    /// The configs of the connections this endpoint made, by connection id, to make
    /// again when they are lost (only with `EndpointOptions::reconnect`).
    to_remake: Mutex<HashMap<u64, ConnectionConfig>>,
    next_connection_id: AtomicU64,
}

/// The accept task and the bound socket (removed when dropped).
struct Listening {
    path: std::path::PathBuf,
    task: AbortHandle,
    _bound: Bound,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend for Mesh {
    fn subscriptions_changed(&self, subscribed: &[Arc<EventSchema>]) {
        let connections = sync::lock(&self.connections);
        if connections.is_empty() {
            return;
        }
        match wire::subscriptions(&announced(subscribed), self.options().max_frame_size) {
            Ok(frame) => {
                for connection in connections.values() {
                    // A schema this connection has not seen goes first.
                    connection.describe(subscribed);
                    connection.send_control(&frame);
                }
            }
            Err(error) => {
                tracing::error!(endpoint = %self.core.endpoint_name(), %error, "cannot announce subscriptions")
            }
        }
    }

    fn stop(&self) {
        // Dropping it stops accepting and removes the socket file.
        let listening = sync::lock(&self.listening).take();
        drop(listening);
    }
}

impl Mesh {
    /// The mesh of the endpoint behind `core`; attach it to be told of changes.
    pub(crate) fn new(core: Attached) -> Arc<Mesh> {
        Arc::new(Mesh {
            name: Arc::from(core.endpoint_name()),
            core,
            connections: Mutex::new(HashMap::new()),
            listening: Mutex::new(None),
            connecting: Mutex::new(HashSet::new()),
            to_remake: Mutex::new(HashMap::new()),
            next_connection_id: AtomicU64::new(1),
        })
    }

    fn options(&self) -> &EndpointOptions {
        self.core.options()
    }

    fn endpoint_name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A closed connection leaves the announcement list; one this endpoint made is made
    /// again, if the options say so.
    fn forget(self: &Arc<Self>, id: u64) {
        let forgotten = sync::lock(&self.connections).remove(&id);
        drop(forgotten);
        let remake = sync::lock(&self.to_remake).remove(&id);
        if let (Some(config), Some(policy)) = (remake, self.options().reconnect.clone()) {
            // Not while stopping, and not without a runtime (one shutting down).
            if let (false, Ok(runtime)) = (
                self.core.is_stopped(),
                tokio::runtime::Handle::try_current(),
            ) {
                runtime.spawn(self.clone().reconnect(config, policy));
            }
        }
    }

    /// Connects to `config` again, with back-off, until it works, the endpoint stops, the
    /// other side connects to us first, or the policy gives up.
    async fn reconnect(self: Arc<Self>, config: ConnectionConfig, policy: Reconnect) {
        let me = self.core.endpoint_name();
        let lost = tokio::time::Instant::now();
        let mut delay = policy.first_delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.core.stopped() => return,
            }
            if self.core.is_stopped() || self.core.is_connected_to(&config.name) {
                return;
            }
            match self.connect(&config).await {
                Ok(()) => {
                    tracing::info!(endpoint = me, remote = %config.name, after = ?lost.elapsed(), "reconnected");
                    return;
                }
                Err(error) => {
                    tracing::debug!(endpoint = me, remote = %config.name, %error, "reconnect attempt failed")
                }
            }
            if policy
                .give_up_after
                .is_some_and(|after| lost.elapsed() >= after)
            {
                tracing::warn!(endpoint = me, remote = %config.name, after = ?lost.elapsed(), "giving up reconnecting");
                return;
            }
            delay = policy.next_delay(delay);
        }
    }

    fn new_connection(&self, remote: &str, peer_max_frame_size: u32) -> Arc<Connection> {
        Connection::new(
            self.next_connection_id(),
            self.endpoint_name(),
            remote,
            peer_max_frame_size,
            self.options(),
        )
    }

    /// Starts the reader and writer of a registered connection. Whichever way they end
    /// (the connection closed, or aborted by its close), the mesh forgets it.
    fn spawn_io<R, W>(
        self: &Arc<Self>,
        handle: RemoteHandle,
        connection: &Arc<Connection>,
        reader: FrameReader<R>,
        write: W,
    ) where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
        W: transport::WriteHalf,
    {
        let forget = Arc::new(Forget {
            mesh: self.clone(),
            id: connection.id,
        });
        let (reading_guard, writing_guard) = (forget.clone(), forget);
        // A task that ends for any reason, a panic included, takes its connection down:
        // a connection whose reader is gone would lose every later event silently.
        let reading = tokio::spawn({
            let (handle, connection) = (handle.clone(), connection.clone());
            let _down = TearDown(handle.clone(), "reader ended");
            async move {
                let _forget = reading_guard;
                let _down = _down;
                read_loop(handle, connection, reader).await
            }
        });
        let writing = tokio::spawn({
            let connection = connection.clone();
            let _down = TearDown(handle.clone(), "writer ended");
            async move {
                let _forget = writing_guard;
                let _down = _down;
                write_loop(handle, connection, Arc::new(write)).await
            }
        });
        connection.add_task(reading.abort_handle());
        connection.add_task(writing.abort_handle());
    }

    /// Registers a connection whose handshake succeeded; `greeting` builds the first
    /// frame it must be sent, from this endpoint's subscriptions. The schemas this
    /// endpoint publishes follow it.
    fn register(
        self: &Arc<Self>,
        connection: &Arc<Connection>,
        subscriptions: HashMap<String, Fingerprint>,
        greeting: impl FnOnce(Vec<(String, Fingerprint)>) -> Result<bytes::Bytes, wire::WireError>,
    ) -> Result<RemoteHandle, Error> {
        let link = connection.clone();
        // Before the core's locks are taken (`greet` runs under them).
        let published = self.core.known_schemas();
        self.core.add_remote(
            connection.remote_name(),
            subscriptions,
            link,
            |subscribed| {
                let frame = greeting(announced(subscribed)).map_err(|error| error.to_string())?;
                connection.send_control(&frame);
                connection.describe(&published);
                connection.describe(subscribed);
                // Under the same lock as announcements: no later set can overtake it.
                sync::lock(&self.connections).insert(connection.id, connection.clone());
                Ok(())
            },
        )
    }

    // -- the listening side --------------------------------------------------------------

    pub(crate) fn listen(self: &Arc<Self>, path: &Path) -> Result<(), Error> {
        let name = self.core.endpoint_name();
        let (listener, bound) = transport::bind(path).map_err(|error| match error {
            BindError::InUse => Error::AddressInUse {
                endpoint: name.to_owned(),
                path: path.to_owned(),
            },
            BindError::Io(source) => Error::Io {
                endpoint: name.to_owned(),
                context: format!("cannot listen on {}", path.display()),
                source,
            },
        })?;
        let task = tokio::spawn(self.clone().accept_loop(listener));
        let listening = Listening {
            path: path.to_owned(),
            task: task.abort_handle(),
            _bound: bound,
        };
        *sync::lock(&self.listening) = Some(listening);
        // A stop that ran meanwhile would have missed it.
        if self.core.is_stopped() {
            self.stop();
        }
        tracing::debug!(endpoint = name, path = %path.display(), "serving");
        Ok(())
    }

    async fn accept_loop<L: Listener>(self: Arc<Self>, mut listener: L) {
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        loop {
            let Ok(permit) = handshakes.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok(link) => {
                    let mesh = self.clone();
                    tokio::spawn(async move {
                        mesh.accept_one(link).await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::error!(endpoint = %self.core.endpoint_name(), %error, "accept failed");
                    drop(permit);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn accept_one<K: Link>(self: &Arc<Self>, link: K) {
        let me = self.core.endpoint_name();
        if let Err(reason) = link.check_peer() {
            tracing::error!(endpoint = me, reason, "connection refused");
            return;
        }
        let (read, mut write) = match link.split() {
            Ok(halves) => halves,
            Err(error) => {
                tracing::error!(endpoint = me, %error, "cannot set the connection up");
                return;
            }
        };
        let options = self.options();
        let mut reader = FrameReader::new(
            read,
            MAX_HANDSHAKE_FRAME.min(options.max_frame_size),
            options.frame_timeout,
        );
        let first = match tokio::time::timeout(options.handshake_timeout, reader.next()).await {
            Err(_) => {
                let reason = format!("no HELLO within {:?}", options.handshake_timeout);
                return self.refuse(&mut write, "?", &reason).await;
            }
            Ok(Ok(None)) => return,
            Ok(Err(error)) => {
                tracing::error!(endpoint = me, %error, "bad handshake; connection closed");
                return;
            }
            Ok(Ok(Some(frame))) => wire::decode(frame),
        };
        let connecting = |name: &str| sync::lock(&self.connecting).contains(name);
        let hello = match handshake::check_hello(first, me, connecting) {
            Ok(hello) => hello,
            Err(refusal) => {
                return self
                    .refuse(&mut write, &refusal.remote, &refusal.reason)
                    .await
            }
        };
        let connection = self.new_connection(&hello.name, hello.max_frame_size);
        let max = options.max_frame_size;
        let greeting = |names| wire::welcome(me, names, max);
        let handle = match self.register(&connection, HashMap::new(), greeting) {
            Ok(handle) => handle,
            Err(error) => {
                let reason = rejection_reason(error);
                return self.refuse(&mut write, &hello.name, &reason).await;
            }
        };
        tracing::info!(endpoint = me, remote = %hello.name, "accepted connection");
        reader.set_max(options.max_frame_size);
        self.spawn_io(handle, &connection, reader, write);
    }

    async fn refuse<W: AsyncWrite + Unpin>(&self, write: &mut W, remote: &str, reason: &str) {
        tracing::error!(endpoint = %self.core.endpoint_name(), remote, reason, "connection rejected");
        if let Ok(frame) = wire::reject(reason, self.options().max_frame_size) {
            let _ = write.write_all(&frame).await;
            let _ = write.shutdown().await;
        }
    }

    // -- the connecting side -------------------------------------------------------------

    /// Connects to `config`, or fails; `stop()` cancels it with [`Error::Stopped`].
    pub(crate) async fn connect(self: &Arc<Self>, config: &ConnectionConfig) -> Result<(), Error> {
        let core = &self.core;
        if core.is_stopped() {
            return Err(core.stopped_error());
        }
        let rejected = |reason: String| Error::ConnectionAttemptRejected {
            endpoint: core.endpoint_name().to_owned(),
            remote: config.name.clone(),
            reason,
        };
        if let Err(reason) = crate::config::check_endpoint_name(&config.name) {
            return Err(Error::InvalidName {
                name: config.name.clone(),
                reason,
            });
        }
        if config.name == core.endpoint_name() {
            let serves_there = sync::lock(&self.listening)
                .as_ref()
                .is_some_and(|listening| listening.path == config.path);
            return Err(rejected(if serves_there {
                "an endpoint cannot connect to itself".into()
            } else {
                format!(
                    "the name `{}` is taken: this endpoint is also named `{}`, and names are unique among connected endpoints",
                    config.name, config.name
                )
            }));
        }
        if core.is_connected_to(&config.name) {
            return Err(rejected(format!("`{}` is already connected", config.name)));
        }
        let Some(_connecting) = Connecting::start(self, &config.name) else {
            return Err(rejected(format!(
                "a connection to `{}` is already being made",
                config.name
            )));
        };
        tokio::select! {
            result = self.connect_once(config) => match result {
                Err(_) if core.is_stopped() => Err(core.stopped_error()),
                other => other,
            },
            () = core.stopped() => Err(core.stopped_error()),
        }
    }

    /// Makes the connection, then the handshake.
    async fn connect_once(self: &Arc<Self>, config: &ConnectionConfig) -> Result<(), Error> {
        let me = self.core.endpoint_name();
        let options = self.options();
        let link = transport::connect(&config.path, options.connect_timeout)
            .await
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::TimedOut => Error::ConnectTimeout {
                    endpoint: me.to_owned(),
                    remote: config.name.clone(),
                    path: config.path.clone(),
                    waited: options.connect_timeout,
                },
                _ => Error::Io {
                    endpoint: me.to_owned(),
                    context: format!(
                        "cannot connect to `{}` at {}",
                        config.name,
                        config.path.display()
                    ),
                    source,
                },
            })?;
        self.handshake_outbound(config, link).await
    }

    /// The connecting side of the handshake, over any transport's link.
    async fn handshake_outbound<K: Link>(
        self: &Arc<Self>,
        config: &ConnectionConfig,
        link: K,
    ) -> Result<(), Error> {
        let me = self.core.endpoint_name();
        let rejected = |reason: String| Error::ConnectionAttemptRejected {
            endpoint: me.to_owned(),
            remote: config.name.clone(),
            reason,
        };
        let protocol_error = |reason: String| Error::Protocol {
            endpoint: me.to_owned(),
            remote: config.name.clone(),
            reason,
        };
        let options = self.options();
        link.check_peer().map_err(rejected)?;
        let (read, mut write) = link.split().map_err(|source| Error::Io {
            endpoint: me.to_owned(),
            context: format!("cannot set the connection to `{}` up", config.name),
            source,
        })?;
        let mut reader = FrameReader::new(read, options.max_frame_size, options.frame_timeout);
        let hello = wire::hello(me, options.max_frame_size)
            .map_err(|error| protocol_error(error.to_string()))?;
        let answer = tokio::time::timeout(options.handshake_timeout, async {
            write.write_all(&hello).await.map_err(wire::WireError::Io)?;
            reader.next().await
        })
        .await
        .map_err(|_| {
            protocol_error(format!(
                "no answer to HELLO within {:?}",
                options.handshake_timeout
            ))
        })?
        .map_err(|error| protocol_error(error.to_string()))?
        .ok_or_else(|| protocol_error("connection closed during the handshake".into()))?;
        let where_ = config.path.display().to_string();
        let welcome = match handshake::check_answer(wire::decode(answer), &config.name, &where_) {
            Ok(Answer::Welcomed(welcome)) => welcome,
            Ok(Answer::LostTieBreak(reason)) => {
                let core = &self.core;
                let connected = core.wait_until_connected(&config.name);
                return match tokio::time::timeout(options.handshake_timeout, connected).await {
                    Ok(()) if core.is_connected_to(&config.name) => Ok(()),
                    _ => Err(rejected(reason)),
                };
            }
            Err(AnswerError::Rejected(reason)) => return Err(rejected(reason)),
            Err(AnswerError::Protocol(reason)) => return Err(protocol_error(reason)),
        };
        let connection = self.new_connection(&welcome.name, welcome.max_frame_size);
        let max = options.max_frame_size;
        let greeting =
            |subscribed: Vec<(String, Fingerprint)>| wire::subscriptions(&subscribed, max);
        let subscriptions = welcome.subscriptions.into_iter().collect();
        let handle = self
            .register(&connection, subscriptions, greeting)
            .map_err(|error| rejected(rejection_reason(error)))?;
        if options.reconnect.is_some() {
            sync::lock(&self.to_remake).insert(connection.id, config.clone());
        }
        tracing::info!(endpoint = me, remote = %welcome.name, "connected");
        self.spawn_io(handle, &connection, reader, write);
        Ok(())
    }
}

/// What SUBSCRIPTIONS and WELCOME carry of a subscription set.
fn announced(subscribed: &[Arc<EventSchema>]) -> Vec<(String, Fingerprint)> {
    subscribed
        .iter()
        .map(|schema| (schema.name().to_owned(), schema.fingerprint()))
        .collect()
}

/// The reason a registration was refused, for a REJECT or an error.
fn rejection_reason(error: Error) -> String {
    match error {
        Error::ConnectionAttemptRejected { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Takes a connection off the mesh's list once both of its tasks are gone.
struct Forget {
    mesh: Arc<Mesh>,
    id: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.mesh.forget(self.id);
    }
}

/// Disconnects its remote when dropped (a no-op if it is already gone).
struct TearDown(RemoteHandle, &'static str);

impl Drop for TearDown {
    fn drop(&mut self) {
        self.0.disconnected(self.1);
    }
}

/// Marks a connection to `name` as being made, for as long as it lives; the accepting
/// side uses it to settle simultaneous connections (see `handshake`).
struct Connecting<'a> {
    mesh: &'a Mesh,
    name: Arc<str>,
}

impl<'a> Connecting<'a> {
    fn start(mesh: &'a Mesh, name: &str) -> Option<Connecting<'a>> {
        let name: Arc<str> = Arc::from(name);
        sync::lock(&mesh.connecting)
            .insert(name.clone())
            .then_some(Connecting { mesh, name })
    }
}

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        sync::lock(&self.mesh.connecting).remove(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// A byte stream whose first read panics, as a reader task that dies would.
    struct Panicking;

    impl tokio::io::AsyncRead for Panicking {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            panic!("the reader dies")
        }
    }

    /// A mesh on `bus` with a registered connection from `b`, whose I/O is not started.
    fn connection_from_b(bus: &Arc<crate::bus::Bus>) -> (Arc<Mesh>, Arc<Connection>, RemoteHandle) {
        let mesh = Mesh::new(Attached::new(bus.clone()));
        let connection = mesh.new_connection("b", 1 << 20);
        let greeting = |names: Vec<(String, Fingerprint)>| wire::subscriptions(&names, 1 << 20);
        let handle = mesh
            .register(&connection, HashMap::new(), greeting)
            .unwrap();
        (mesh, connection, handle)
    }

    #[tokio::test]
    async fn a_connection_whose_reader_dies_is_torn_down() {
        let bus = Arc::new(crate::bus::Bus::new(
            Arc::from("a"),
            EndpointOptions::default(),
        ));
        let (mesh, connection, handle) = connection_from_b(&bus);
        assert!(bus.remotes.contains("b"));
        let reader = FrameReader::new(Panicking, 1 << 20, Duration::from_secs(1));
        let (write, _peer) = crate::transport::pair();
        mesh.spawn_io(handle, &connection, reader, write);
        // The writer alone would wait forever; the reader's death takes the connection down.
        tokio::time::timeout(Duration::from_secs(10), async {
            while bus.remotes.contains("b") {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the connection was left registered");
    }

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "mesh.Tick")]
    struct Tick(u64, Vec<u8>);

    /// While its consumer takes nothing, a connection reads on (up to its bound), so the
    /// peer sees its bytes taken: here about 200 KiB go through a pipe of 4 KiB, which
    /// without reading on would hold the writer after one read and the pipe's worth.
    #[tokio::test]
    async fn a_connection_reads_on_while_its_consumer_pauses() {
        use crate::bus::topics::{Sink, Subscriber};
        use tokio::io::AsyncWriteExt;
        const EVENTS: u64 = 200;
        let options = EndpointOptions::default()
            .queue_capacity(1)
            .stall_timeout(Duration::from_secs(300));
        let bus = Arc::new(crate::bus::Bus::new(Arc::from("a"), options));
        let (tx, mut rx) = crate::bus::queue::queue(1);
        bus.add_subscriber::<Tick>(Subscriber {
            id: bus.topics.next_id(),
            sink: Sink::Queue {
                tx,
                wants_requests: false,
                overflowed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            },
        });
        let (mesh, connection, handle) = connection_from_b(&bus);
        let (ours, mut theirs) = tokio::io::duplex(4096);
        let reader = FrameReader::new(ours, 1 << 20, Duration::from_secs(5));
        let (write, _peer) = crate::transport::pair();
        mesh.spawn_io(handle, &connection, reader, write);
        let tick = |index| Tick(index, vec![index as u8; 1000]);
        tokio::time::timeout(Duration::from_secs(10), async {
            for index in 0..EVENTS {
                let frame = wire::event("mesh.Tick", None, &tick(index), 1 << 20).unwrap();
                theirs.write_all(&frame).await.unwrap();
            }
        })
        .await
        .expect("the connection stopped reading while its consumer paused");
        for index in 0..EVENTS {
            let delivery = tokio::time::timeout(
                Duration::from_secs(10),
                std::future::poll_fn(|cx| rx.poll_recv(cx)),
            )
            .await
            .expect("an event read ahead was not delivered")
            .expect("the queue is open");
            let got = delivery.event.downcast::<Tick>().unwrap();
            assert_eq!((got.0, &got.1), (index, &tick(index).1));
        }
    }
}

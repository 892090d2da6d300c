//! Connections between endpoints: handshake, the reader and writer tasks, and what each
//! received message does. Generic over the transport's byte halves (see
//! [`crate::transport`]).
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
//! * An EVENT whose body does not decode as the subscribed type, or whose name nobody
//!   subscribes to here, is dropped alone (the frame boundary is intact); if it was a
//!   request the requester is told at once (REQUEST_DROPPED).
//!
//! Everything accepted before stays delivered, and every other connection carries on.

use crate::config::ConnectionConfig;
use crate::endpoint::{
    deliver_local, Define, Gone, Listening, LookupCache, Origin, Peer, Refused, Reply, ReplyGuard,
    Shared,
};
use crate::error::Error;
use crate::transport::{unix, Link, Listener};
use crate::wire::{self, EventName, FrameReader, Message};
use bytes::BytesMut;
use rustc_hash::FxHasher;
use std::collections::HashMap;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 64;
/// The most event names one peer may number (DEFINE_NAME) on a connection.
const MAX_NAMES_PER_CONNECTION: usize = 65536;
/// The largest handshake frame (HELLO, WELCOME with a subscription set, REJECT).
const MAX_HANDSHAKE_FRAME: usize = 1024 * 1024;
/// Initial write buffers per connection: frames queued together go out in one system call.
const WRITE_BUFFER: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// Listening side

pub(crate) async fn listen(shared: &Arc<Shared>, path: &Path) -> Result<(), Error> {
    let (listener, socket) = unix::bind(path).map_err(|error| match error {
        unix::BindError::InUse => Error::AddressInUse {
            endpoint: shared.name.to_string(),
            path: path.to_owned(),
        },
        unix::BindError::Io(source) => Error::Io {
            endpoint: shared.name.to_string(),
            context: format!("cannot listen on {}", path.display()),
            source,
        },
    })?;
    let task = tokio::spawn(accept_loop(shared.clone(), unix::SocketListener(listener)));
    *shared
        .listening
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Listening {
        path: path.to_owned(),
        socket,
        task: task.abort_handle(),
    });
    tracing::debug!(endpoint = %shared.name, path = %path.display(), "serving");
    Ok(())
}

async fn accept_loop<L: Listener>(shared: Arc<Shared>, mut listener: L) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok(link) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    accept_one(&shared, link).await;
                    drop(permit);
                });
            }
            Err(error) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::error!(endpoint = %shared.name, %error, "accept failed");
                drop(permit);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn accept_one<K: Link>(shared: &Arc<Shared>, link: K) {
    if let Err(reason) = link.check_peer() {
        tracing::error!(endpoint = %shared.name, reason, "connection refused");
        return;
    }
    let (read, mut write) = link.split();
    let options = &shared.options;
    let mut reader = FrameReader::new(
        read,
        MAX_HANDSHAKE_FRAME.min(options.max_frame_size),
        options.frame_timeout,
    );
    let hello = match tokio::time::timeout(options.handshake_timeout, reader.next()).await {
        Err(_) => {
            tracing::warn!(endpoint = %shared.name, timeout = ?options.handshake_timeout, "no handshake in time; connection closed");
            return;
        }
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            tracing::error!(endpoint = %shared.name, %error, "bad handshake; connection closed");
            return;
        }
        Ok(Ok(Some(frame))) => wire::decode(frame),
    };
    let hello = match hello {
        Ok(Message::Hello(hello)) => hello,
        Ok(other) => {
            return refuse(
                shared,
                &mut write,
                "?",
                &format!("expected HELLO, got {}", kind(&other)),
            )
            .await;
        }
        Err(error) => return refuse(shared, &mut write, "?", &format!("bad HELLO: {error}")).await,
    };
    if hello.magic != wire::MAGIC {
        return refuse(
            shared,
            &mut write,
            &hello.name,
            "not an event-bus peer (bad magic)",
        )
        .await;
    }
    if hello.protocol != wire::PROTOCOL_VERSION {
        let reason = format!(
            "protocol version {} is not supported (this endpoint speaks {})",
            hello.protocol,
            wire::PROTOCOL_VERSION
        );
        return refuse(shared, &mut write, &hello.name, &reason).await;
    }
    // Both sides connecting to each other at once: both must keep the same connection,
    // the one opened by the endpoint whose name sorts first. The other side applies the
    // same rule to the HELLO it receives from us.
    if shared.connecting().contains(hello.name.as_str()) && *shared.name < *hello.name {
        let reason = format!("{SIMULTANEOUS}: keeping the one `{}` opened", shared.name);
        return refuse(shared, &mut write, &hello.name, &reason).await;
    }
    let peer = Peer::new(
        Arc::from(hello.name.as_str()),
        shared.next_peer_id(),
        HashSet::new(),
        options.connection_buffer,
    );
    let max = options.max_frame_size;
    let name = shared.name.clone();
    if let Err(reason) = shared.register_peer(&peer, |names| wire::welcome(&name, names, max)) {
        return refuse(shared, &mut write, &hello.name, &reason).await;
    }
    tracing::info!(endpoint = %shared.name, remote = %peer.name, "accepted connection");
    reader.set_max(options.max_frame_size);
    spawn_io(shared, &peer, reader, write);
}

async fn refuse<W: AsyncWrite + Unpin>(shared: &Shared, write: &mut W, remote: &str, reason: &str) {
    tracing::error!(endpoint = %shared.name, remote, reason, "connection rejected");
    if let Ok(frame) = wire::reject(reason, shared.options.max_frame_size) {
        let _ = write.write_all(&frame).await;
        let _ = write.shutdown().await;
    }
}

fn kind(message: &Message) -> &'static str {
    match message {
        Message::Hello(_) => "HELLO",
        Message::Welcome(_) => "WELCOME",
        Message::Reject(_) => "REJECT",
        Message::Subscriptions(_) => "SUBSCRIPTIONS",
        Message::Event { .. } => "EVENT",
        Message::Response { .. } => "RESPONSE",
        Message::RequestDropped(_) => "REQUEST_DROPPED",
        Message::DefineName { .. } => "DEFINE_NAME",
    }
}

// ---------------------------------------------------------------------------------------
// Connecting side

/// The start of the REJECT reason for the losing side of a simultaneous connection.
const SIMULTANEOUS: &str = "simultaneous connection";

/// Connects to `config`, or fails; `stop()` cancels it with [`Error::Stopped`].
pub(crate) async fn connect(shared: &Arc<Shared>, config: &ConnectionConfig) -> Result<(), Error> {
    shared.check_running()?;
    let rejected = |reason: String| Error::ConnectionAttemptRejected {
        endpoint: shared.name.to_string(),
        remote: config.name.clone(),
        reason,
    };
    if config.name == *shared.name {
        return Err(rejected("an endpoint cannot connect to itself".into()));
    }
    if shared.peer(&config.name).is_some() {
        return Err(rejected(format!("`{}` is already connected", config.name)));
    }
    let Some(_connecting) = Connecting::start(shared, &config.name) else {
        return Err(rejected(format!(
            "a connection to `{}` is already being made",
            config.name
        )));
    };
    tokio::select! {
        result = connect_once(shared, config) => match result {
            Err(_) if shared.is_stopped() => Err(shared.stopped_error()),
            other => other,
        },
        () = shared.wait_until(|shared| shared.is_stopped()) => Err(shared.stopped_error()),
    }
}

/// Marks a connection to `name` as being made, for as long as it lives; the accepting
/// side uses it to settle simultaneous connections (see `accept_one`).
struct Connecting<'a> {
    shared: &'a Shared,
    name: Arc<str>,
}

impl<'a> Connecting<'a> {
    fn start(shared: &'a Shared, name: &str) -> Option<Connecting<'a>> {
        let name: Arc<str> = Arc::from(name);
        shared
            .connecting()
            .insert(name.clone())
            .then_some(Connecting { shared, name })
    }
}

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        self.shared.connecting().remove(&self.name);
    }
}

/// Makes the connection (the Unix transport: the socket at `config.path`), then the
/// handshake.
async fn connect_once(shared: &Arc<Shared>, config: &ConnectionConfig) -> Result<(), Error> {
    let options = &shared.options;
    let link = unix::connect(&config.path, options.connect_timeout)
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::TimedOut => Error::ConnectTimeout {
                endpoint: shared.name.to_string(),
                remote: config.name.clone(),
                path: config.path.clone(),
                waited: options.connect_timeout,
            },
            _ => Error::Io {
                endpoint: shared.name.to_string(),
                context: format!(
                    "cannot connect to `{}` at {}",
                    config.name,
                    config.path.display()
                ),
                source,
            },
        })?;
    handshake_outbound(shared, config, link).await
}

/// The connecting side of the handshake, over any transport's link.
async fn handshake_outbound<K: Link>(
    shared: &Arc<Shared>,
    config: &ConnectionConfig,
    link: K,
) -> Result<(), Error> {
    let rejected = |reason: String| Error::ConnectionAttemptRejected {
        endpoint: shared.name.to_string(),
        remote: config.name.clone(),
        reason,
    };
    let options = &shared.options;
    link.check_peer().map_err(rejected)?;
    let (read, mut write) = link.split();
    let mut reader = FrameReader::new(read, options.max_frame_size, options.frame_timeout);
    let protocol_error = |reason: String| Error::Protocol {
        endpoint: shared.name.to_string(),
        remote: config.name.clone(),
        reason,
    };
    let hello = wire::hello(&shared.name, options.max_frame_size)
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
    let welcome = match wire::decode(answer) {
        Ok(Message::Welcome(welcome)) => welcome,
        Ok(Message::Reject(reason)) if reason.starts_with(SIMULTANEOUS) => {
            // The other side's connection to us won the tie-break: it is (or is about to
            // be) registered by the accepting side, and is the connection we wanted.
            let connected = shared.wait_until(|shared| shared.peer(&config.name).is_some());
            return match tokio::time::timeout(options.handshake_timeout, connected).await {
                Ok(()) if shared.peer(&config.name).is_some() => Ok(()),
                _ => Err(rejected(reason)),
            };
        }
        Ok(Message::Reject(reason)) => return Err(rejected(reason)),
        Ok(other) => {
            return Err(protocol_error(format!(
                "expected WELCOME, got {}",
                kind(&other)
            )))
        }
        Err(error) => return Err(protocol_error(error.to_string())),
    };
    if welcome.name != config.name {
        return Err(rejected(format!(
            "expected `{}` at {}, but `{}` answered",
            config.name,
            config.path.display(),
            welcome.name
        )));
    }
    let peer = Peer::new(
        Arc::from(welcome.name.as_str()),
        shared.next_peer_id(),
        welcome.subscriptions.into_iter().collect(),
        options.connection_buffer,
    );
    let max = options.max_frame_size;
    shared
        .register_peer(&peer, |names| wire::subscriptions(&names, max))
        .map_err(rejected)?;
    tracing::info!(endpoint = %shared.name, remote = %peer.name, "connected");
    spawn_io(shared, &peer, reader, write);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Both sides, after the handshake

fn spawn_io<R, W>(shared: &Arc<Shared>, peer: &Arc<Peer>, reader: FrameReader<R>, write: W)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let reading = tokio::spawn(read_loop(shared.clone(), peer.clone(), reader));
    let writing = tokio::spawn(write_loop(shared.clone(), peer.clone(), write));
    peer.add_task(reading.abort_handle());
    peer.add_task(writing.abort_handle());
}

/// What became of a frame handed to [`send_data`].
pub(crate) enum Sent {
    Queued,
    /// The connection is closed (the peer went away).
    Closed,
    /// The peer read nothing for the connection stall timeout: it was disconnected.
    Stalled,
}

/// Queues an EVENT frame for `peer`, waiting for room up to the connection stall timeout;
/// a peer that stays full that long is disconnected.
pub(crate) async fn send_data(
    shared: &Shared,
    peer: &Arc<Peer>,
    frame: &[u8],
    define: Option<Define<'_>>,
) -> Sent {
    match peer.try_send_data(frame, define) {
        Ok(()) => Sent::Queued,
        Err(Refused::Closed) => Sent::Closed,
        Err(Refused::Full) => {
            let timeout = shared.options.connection_stall_timeout();
            match peer.send_data_timeout(frame, define, timeout).await {
                Ok(()) => Sent::Queued,
                Err(Refused::Closed) => Sent::Closed,
                Err(Refused::Full) => {
                    tracing::error!(
                        endpoint = %shared.name,
                        remote = %peer.name,
                        ?timeout,
                        "connection stalled (the peer read nothing); disconnecting"
                    );
                    shared.disconnect_peer(peer, "stalled");
                    Sent::Stalled
                }
            }
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(shared: Arc<Shared>, peer: Arc<Peer>, mut write: W) {
    // Two buffers swapped with the outbox: everything queued goes out in one write, and
    // the allocations are reused.
    let mut control = BytesMut::with_capacity(WRITE_BUFFER);
    let mut data = BytesMut::with_capacity(WRITE_BUFFER);
    while peer.outbox.take(&mut control, &mut data).await {
        let mut result = write.write_all(&control).await;
        if result.is_ok() {
            result = write.write_all(&data).await;
        }
        if result.is_ok() {
            result = write.flush().await;
        }
        control.clear();
        data.clear();
        if let Err(error) = result {
            tracing::warn!(endpoint = %shared.name, remote = %peer.name, %error, "write failed");
            peer.outbox.writer_finished();
            shared.disconnect_peer(&peer, "write failed");
            return;
        }
    }
    // The outbox was finished (a graceful stop: everything is written) or closed.
    peer.outbox.writer_finished();
    shared.disconnect_peer(&peer, "closed");
}

async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    peer: Arc<Peer>,
    mut reader: FrameReader<R>,
) {
    // The topic of inline names, and the names (with their topics) this peer numbered.
    let mut topics = LookupCache::default();
    let mut numbered: HashMap<u32, (Box<str>, LookupCache), BuildHasherDefault<FxHasher>> =
        HashMap::default();
    loop {
        let frame = match reader.next().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return shared.disconnect_peer(&peer, "connection closed"),
            Err(error) => {
                tracing::error!(endpoint = %shared.name, remote = %peer.name, %error, "closing connection");
                return shared.disconnect_peer(&peer, "bad frame");
            }
        };
        let message = match wire::decode(frame) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(endpoint = %shared.name, remote = %peer.name, %error, "closing connection");
                return shared.disconnect_peer(&peer, "malformed frame");
            }
        };
        match message {
            Message::Subscriptions(names) => {
                peer.set_subscriptions(names.into_iter().collect());
                shared.invalidate_routes();
                shared.notify_changed();
            }
            Message::Event {
                name,
                request_id,
                body,
            } => {
                peer.events_received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (name, cache) = match &name {
                    EventName::Inline(name) => (name.as_str(), &mut topics),
                    EventName::Id(id) => match numbered.get_mut(id) {
                        Some((name, cache)) => (&**name, cache),
                        None => {
                            tracing::error!(endpoint = %shared.name, remote = %peer.name, id, "EVENT names an undefined name id; closing connection");
                            return shared.disconnect_peer(&peer, "protocol violation");
                        }
                    },
                };
                on_event(&shared, &peer, cache, name, request_id, &body).await
            }
            Message::DefineName { id, name } => {
                if numbered.len() >= MAX_NAMES_PER_CONNECTION && !numbered.contains_key(&id) {
                    tracing::error!(endpoint = %shared.name, remote = %peer.name, "more than {MAX_NAMES_PER_CONNECTION} event names; closing connection");
                    return shared.disconnect_peer(&peer, "too many names");
                }
                numbered.insert(id, (name.as_str().into(), LookupCache::default()));
            }
            Message::Response {
                request_id,
                name,
                body,
            } => {
                let reply = Reply::Remote {
                    from: peer.name.clone(),
                    name: name.as_str().to_owned(),
                    body,
                };
                if !shared.pending.complete(request_id, peer.id, reply) {
                    tracing::debug!(endpoint = %shared.name, remote = %peer.name, request_id, "late or unknown response discarded");
                }
            }
            Message::RequestDropped(request_id) => {
                shared
                    .pending
                    .recipient_gone(&shared.name, request_id, peer.id, Gone::Dropped);
            }
            other @ (Message::Hello(_) | Message::Welcome(_) | Message::Reject(_)) => {
                tracing::error!(endpoint = %shared.name, remote = %peer.name, message = kind(&other), "handshake message after the handshake; closing connection");
                return shared.disconnect_peer(&peer, "protocol violation");
            }
        }
    }
}

async fn on_event(
    shared: &Arc<Shared>,
    peer: &Arc<Peer>,
    topics: &mut LookupCache,
    name: &str,
    request_id: Option<u64>,
    body: &[u8],
) {
    let found = shared
        .topics
        .lookup_cached(topics, name.as_bytes(), || name.to_owned());
    let Some((static_name, decode, subscribers)) = found else {
        if crate::registry::find(name).is_some() {
            // A race with an unsubscribe: the sender had not yet heard of it.
            tracing::debug!(endpoint = %shared.name, remote = %peer.name, event = name, "event nobody here subscribes to; dropped");
        } else {
            tracing::warn!(endpoint = %shared.name, remote = %peer.name, event = name, "unknown event name; frame dropped");
        }
        if let Some(id) = request_id {
            if let Ok(frame) = wire::request_dropped(id, shared.options.max_frame_size) {
                peer.send_control(&frame);
            }
        }
        return;
    };
    let reply = request_id.map(|id| {
        Arc::new(ReplyGuard::new(
            shared.clone(),
            id,
            static_name,
            Origin::Remote(Arc::downgrade(peer)),
            peer.name.clone(),
        ))
    });
    match decode(body) {
        Ok(event) => deliver_local(shared, static_name, &subscribers, event, reply.as_ref()).await,
        Err(error) => {
            // The frame boundary is intact: drop this frame only. A request's guard goes
            // with it, which tells the requester.
            tracing::error!(endpoint = %shared.name, remote = %peer.name, event = static_name, %error, "cannot decode event; frame dropped");
        }
    }
}

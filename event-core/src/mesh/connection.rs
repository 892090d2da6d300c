//! One socket connection after its handshake: the [`RemoteLink`] the core sends through
//! (an [`Outbox`]), and the two thin tasks that move its bytes. The reader splits frames,
//! decodes them and hands each message to the connection's [`Inbound`] rules, then
//! carries out the [`Action`] on the core; the writer writes whatever the outbox holds
//! (senders that find the connection idle write their frame themselves: see `outbox.rs`).
//! Either task ending, for any reason, tears the connection down; the mesh starts them.

use super::inbound::{Action, Inbound};
use super::outbox::Outbox;
use crate::backend::handles::{RemoteHandle, WaitingDelivery};
use crate::backend::link::{BoxFuture, MessageKind, Outgoing, Refused, RemoteLink};
use crate::config::EndpointOptions;
use crate::schema::{EventSchema, Fingerprint};
use crate::sync;
use crate::transport::WriteHalf;
use crate::wire::{self, FrameReader};
use bytes::{Buf, BytesMut};
use std::collections::HashSet;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::task::AbortHandle;

/// Initial write buffers per connection: frames queued together go out in one system call.
const WRITE_BUFFER: usize = 64 * 1024;

/// A connection's sending side and its tasks.
pub(crate) struct Connection {
    /// Unique per connection within the mesh.
    pub id: u64,
    /// This endpoint's name and the peer's, for the log.
    endpoint: Arc<str>,
    remote: Arc<str>,
    max_frame_size: usize,
    /// The largest frame the peer accepts (from its HELLO or WELCOME).
    peer_max_frame_size: usize,
    outbox: Outbox,
    tasks: Mutex<Vec<AbortHandle>>,
    closed: AtomicBool,
    /// The schemas already sent on this connection (SCHEMAS), by name and fingerprint.
    described: Mutex<HashSet<(String, Fingerprint)>>,
}

impl Connection {
    pub(crate) fn new(
        id: u64,
        endpoint: Arc<str>,
        remote: &str,
        peer_max_frame_size: u32,
        options: &EndpointOptions,
    ) -> Arc<Connection> {
        Arc::new(Connection {
            id,
            endpoint,
            remote: Arc::from(remote),
            max_frame_size: options.max_frame_size,
            peer_max_frame_size: peer_max_frame_size as usize,
            outbox: Outbox::new(options.connection_buffer),
            tasks: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            described: Mutex::default(),
        })
    }

    pub(crate) fn remote_name(&self) -> &str {
        &self.remote
    }

    /// Sends a control frame (queued, or written at once on an idle connection); `false`
    /// when the connection is gone.
    pub(crate) fn send_control(&self, frame: &[u8]) -> bool {
        !self.closed.load(Ordering::SeqCst) && self.outbox.push_control(frame).is_ok()
    }

    /// Queues SCHEMAS frames, one a schema, with those of `schemas` not sent on this
    /// connection yet. One too large for either side's frames is left out (the peer
    /// then cannot decode that event without its type, which it may have anyway).
    pub(crate) fn describe(&self, schemas: &[Arc<EventSchema>]) {
        let new: Vec<&EventSchema> = {
            let mut described = sync::lock(&self.described);
            schemas
                .iter()
                .filter(|schema| described.insert((schema.name().to_owned(), schema.fingerprint())))
                .map(|schema| &**schema)
                .collect()
        };
        let max = self.max_frame_size.min(self.peer_max_frame_size);
        for schema in new {
            match wire::schemas(&[schema], max) {
                Ok(frame) => {
                    self.send_control(&frame);
                }
                Err(error) => {
                    tracing::debug!(endpoint = %self.endpoint, remote = %self.remote, event = schema.name(), %error, "schema not published")
                }
            }
        }
    }

    /// Ties a task to the connection: closing it aborts the task.
    pub(crate) fn add_task(&self, task: AbortHandle) {
        let mut tasks = sync::lock(&self.tasks);
        if self.closed.load(Ordering::SeqCst) {
            task.abort();
        } else {
            tasks.push(task);
        }
    }
}

impl RemoteLink for Connection {
    fn frame_limit(&self) -> Option<usize> {
        Some(self.peer_max_frame_size)
    }

    fn header_len(&self, name: &'static str, kind: MessageKind) -> usize {
        // What `wire` puts before the body, without the length prefix (the maximum frame
        // size does not count it).
        match kind {
            MessageKind::Answer => wire::response_header_len(name),
            MessageKind::Request => wire::event_frame_len(wire::NameRef::Id(0), Some(0), 0) - 4,
            _ => wire::event_frame_len(wire::NameRef::Id(0), None, 0) - 4,
        }
    }

    fn try_send(&self, event: &Outgoing<'_>) -> Result<(), Refused> {
        self.outbox.try_push_event(event)
    }

    fn send<'a>(
        &'a self,
        event: &'a Outgoing<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), Refused>> {
        Box::pin(self.outbox.push_event(event, timeout))
    }

    fn respond(&self, request_id: u64, name: &'static str, body: &[u8]) -> Result<(), Refused> {
        match wire::response(request_id, name, body, self.max_frame_size) {
            Ok(frame) if self.send_control(&frame) => Ok(()),
            Ok(_) => Err(Refused::Closed),
            Err(error) => {
                // The core checked the size; only a name too long for the frame gets here.
                tracing::error!(endpoint = %self.endpoint, remote = %self.remote, event = name, %error, "cannot frame the answer");
                Err(Refused::Closed)
            }
        }
    }

    fn drop_request(&self, request_id: u64) {
        if let Ok(frame) = wire::request_dropped(request_id, self.max_frame_size) {
            self.send_control(&frame);
        }
    }

    fn finish(&self) {
        self.outbox.finish();
    }

    fn drained(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.outbox.wait_writer_finished())
    }

    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.outbox.close();
        // Its writer is gone (or going): nobody waits for it to drain.
        self.outbox.writer_finished();
        for task in sync::lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Writes what the outbox holds until it is finished or closed.
pub(crate) async fn write_loop<W: WriteHalf>(
    handle: RemoteHandle,
    connection: Arc<Connection>,
    write: Arc<W>,
) {
    connection.outbox.attach_socket(write.clone());
    // Two buffers swapped with the outbox: everything queued goes out in one write, and
    // the allocations are reused.
    let mut control = BytesMut::with_capacity(WRITE_BUFFER);
    let mut data = BytesMut::with_capacity(WRITE_BUFFER);
    while connection.outbox.take(&mut control, &mut data).await {
        let result = write_both(&*write, &mut control, &mut data).await;
        control.clear();
        data.clear();
        if let Err(error) = result {
            tracing::warn!(endpoint = %connection.endpoint, remote = %connection.remote, %error, "write failed");
            connection.outbox.writer_finished();
            return handle.disconnected("write failed");
        }
    }
    // The outbox was finished (a graceful stop: everything is written) or closed.
    connection.outbox.writer_finished();
    handle.disconnected("closed");
}

/// Writes `control`, then `data`, in as few system calls as the socket allows (one, when
/// it has room for both).
async fn write_both<W: WriteHalf>(
    write: &W,
    control: &mut BytesMut,
    data: &mut BytesMut,
) -> io::Result<()> {
    while !control.is_empty() || !data.is_empty() {
        match write.try_write_vectored(&[IoSlice::new(control), IoSlice::new(data)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => {
                let from_control = written.min(control.len());
                control.advance(from_control);
                data.advance(written - from_control);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => write.writable().await?,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// While an event waits for room in a subscriber's queue, the reader reads on into its
/// buffer, up to this many bytes. The peer judges this end by what it reads (a peer that
/// reads nothing for twice the stall timeout is given up): without reading on, a slow
/// consumer that keeps taking would look stalled whenever the frames read in one go take
/// it longer than that. What a connection holds behind the waiting event is still
/// bounded, by this.
pub(crate) const READ_AHEAD: usize = 256 * 1024;

/// Waits for the delivery of an event to subscribers that had no room, reading on
/// meanwhile (see [`READ_AHEAD`]); the frames read are taken in order afterwards.
async fn deliver_reading_on<R: AsyncRead + Unpin>(
    handle: &RemoteHandle,
    waiting: WaitingDelivery,
    reader: &mut FrameReader<R>,
) {
    let mut delivered = std::pin::pin!(handle.finish_delivery(waiting));
    loop {
        tokio::select! {
            biased;
            () = &mut delivered => return,
            () = reader.read_ahead(READ_AHEAD) => {}
        }
    }
}

/// Reads, decodes and carries out messages until the connection ends.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    handle: RemoteHandle,
    connection: Arc<Connection>,
    mut reader: FrameReader<R>,
) {
    let log = |error: &dyn std::fmt::Display| {
        tracing::error!(endpoint = %connection.endpoint, remote = %connection.remote, %error, "closing connection");
    };
    let mut inbound = Inbound::default();
    loop {
        let frame = match reader.next_ref().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return handle.disconnected("connection closed"),
            Err(error) => {
                log(&error);
                return handle.disconnected("bad frame");
            }
        };
        // Events, the bulk of the traffic, are read where they lie in the read buffer;
        // the other messages are split off it (answers keep their body) and decoded whole.
        let message;
        let action = match wire::decode_event(frame) {
            Some(Ok(event)) => inbound.on_event(event),
            Some(Err(error)) => {
                log(&error);
                return handle.disconnected("malformed frame");
            }
            None => {
                let frame = reader.take_lent();
                let frame_len = frame.len();
                message = match wire::decode(frame) {
                    Ok(message) => message,
                    Err(error) => {
                        log(&error);
                        return handle.disconnected("malformed frame");
                    }
                };
                inbound.on_frame(&message, frame_len)
            }
        };
        match action {
            Ok(Action::Subscriptions(names)) => handle.set_subscriptions(names.iter().cloned()),
            Ok(Action::Schemas(schemas)) => handle.describe(schemas.to_vec()),
            Ok(Action::Deliver {
                name,
                cache,
                request_id,
                body,
            }) => {
                if let Some(waiting) = handle.start_delivery(cache, name, request_id, body) {
                    deliver_reading_on(&handle, waiting, &mut reader).await;
                }
            }
            Ok(Action::Answer {
                request_id,
                name,
                body,
            }) => handle.answer(request_id, name, body),
            Ok(Action::Dropped(request_id)) => handle.request_dropped(request_id),
            Ok(Action::Nothing) => {}
            Err(violation) => {
                log(&violation);
                return handle.disconnected(violation.reason());
            }
        }
    }
}

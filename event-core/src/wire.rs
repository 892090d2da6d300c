//! The wire: frames and the messages they carry between two connected endpoints.
//!
//! # Frame layout
//!
//! Every frame is a little-endian `u32` length followed by that many bytes; the first of
//! them is the message kind:
//!
//! ```text
//! frame            = len:u32le kind:u8 payload            (len counts kind + payload)
//! 1 HELLO          = postcard(Hello { magic: [u8;4] = "EVB1", protocol: u32, name: String })
//! 2 WELCOME        = postcard(Welcome { name: String, subscriptions: Vec<String> })
//! 3 REJECT         = postcard(String)                      reason; the sender then closes
//! 4 SUBSCRIPTIONS  = postcard(Vec<String>)                 the sender's full set of event names
//! 5 EVENT          = flags:u8 [request_id:u64le if flags&1] event-name body
//!                    event-name = name_len:u16le name        (flags&2 clear)
//!                               | name_id:u32le              (flags&2 set)
//! 6 RESPONSE       = request_id:u64le name_len:u16le name body
//! 7 REQUEST_DROPPED= postcard(u64)                         every local recipient dropped it
//! 8 DEFINE_NAME    = name_id:u32le name                     for the EVENTs that follow
//! ```
//!
//! Names are interned: the sending endpoint numbers the event names it sends, and writes
//! DEFINE_NAME on a connection before the first EVENT that uses a number there (in the
//! same queue, so it always arrives first). A hot 16-byte event then travels in a
//! 37-byte frame instead of carrying its 30-byte name every time, and since the numbers
//! belong to the sender, not to the connection, a broadcast is still encoded once for
//! every connection. A receiver accepts at most 65536 names per connection.
//!
//! `body` is the event encoded with postcard and runs to the end of the frame, so the
//! receiver decodes it in place and a broadcast is encoded once, into one buffer shared
//! by every connection it is written to.
//!
//! A connection starts with HELLO from the connecting side, answered by WELCOME (which
//! carries the acceptor's subscriptions) or REJECT; the connecting side then sends its own
//! SUBSCRIPTIONS. Each side sends SUBSCRIPTIONS again whenever its set changes.
//!
//! The origin of an EVENT is not in the frame: it is the name bound to the connection by
//! the handshake, so a peer cannot speak for another. The routing decision (who
//! subscribes, `to_endpoint`) is made by the sender, which writes the frame only to the
//! connections that should get it; the receiver delivers every EVENT to its own
//! subscribers.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Version of this layout; both sides of a connection must speak the same.
pub(crate) const PROTOCOL_VERSION: u32 = 1;
/// First bytes of a HELLO, to tell a bus peer from anything else on the socket.
pub(crate) const MAGIC: [u8; 4] = *b"EVB1";

const KIND_HELLO: u8 = 1;
const KIND_WELCOME: u8 = 2;
const KIND_REJECT: u8 = 3;
const KIND_SUBSCRIPTIONS: u8 = 4;
const KIND_EVENT: u8 = 5;
const KIND_RESPONSE: u8 = 6;
const KIND_REQUEST_DROPPED: u8 = 7;
const KIND_DEFINE_NAME: u8 = 8;

const FLAG_REQUEST: u8 = 1;
const FLAG_NAME_ID: u8 = 2;
/// How much room a read offers: many small frames per system call.
const READ_CHUNK: usize = 64 * 1024;
const LEN_PREFIX: usize = 4;

/// A decoded message. Names and bodies borrow from the frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Reject(String),
    Subscriptions(Vec<String>),
    Event {
        name: EventName,
        request_id: Option<u64>,
        body: Bytes,
    },
    DefineName {
        id: u32,
        name: Name,
    },
    Response {
        request_id: u64,
        name: Name,
        body: Bytes,
    },
    RequestDropped(u64),
}

/// The opening message of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub magic: [u8; 4],
    pub protocol: u32,
    pub name: String,
}

/// The acceptor's answer to a valid HELLO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Welcome {
    pub name: String,
    pub subscriptions: Vec<String>,
}

/// How an EVENT frame names its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventName {
    Inline(Name),
    /// A number given by an earlier DEFINE_NAME on the same connection.
    Id(u32),
}

/// How to name the event in an EVENT frame being written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NameRef<'a> {
    Inline(&'a str),
    Id(u32),
}

/// An event name inside a frame: validated UTF-8, not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name(Bytes);

impl Name {
    pub(crate) fn as_str(&self) -> &str {
        // Validated when the frame was decoded.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Why a frame could not be built or read.
#[derive(Debug)]
pub(crate) enum WireError {
    /// The frame would exceed (or announced more than) the maximum size.
    TooLarge { size: usize, max: usize },
    /// The bytes are not a valid message.
    Malformed(String),
    /// The body could not be encoded.
    Encode(postcard::Error),
    /// The connection ended in the middle of a frame.
    Truncated { have: usize, want: usize },
    /// The rest of a started frame did not arrive in time.
    Stalled(Duration),
    /// The socket failed.
    Io(std::io::Error),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooLarge { size, max } => {
                write!(f, "frame of {size} bytes exceeds the maximum of {max}")
            }
            WireError::Malformed(reason) => write!(f, "malformed frame: {reason}"),
            WireError::Encode(error) => write!(f, "cannot encode: {error}"),
            WireError::Truncated { have, want } => write!(
                f,
                "connection closed in the middle of a frame ({have} of {want} bytes)"
            ),
            WireError::Stalled(timeout) => {
                write!(f, "the rest of a frame did not arrive within {timeout:?}")
            }
            WireError::Io(error) => write!(f, "socket error: {error}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encoding

fn start_frame(kind: u8, capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(LEN_PREFIX + 1 + capacity);
    buf.put_u32_le(0);
    buf.put_u8(kind);
    buf
}

fn finish_frame(mut buf: BytesMut, max: usize) -> Result<Bytes, WireError> {
    let size = buf.len() - LEN_PREFIX;
    if size > max {
        return Err(WireError::TooLarge { size, max });
    }
    buf[..LEN_PREFIX].copy_from_slice(&(size as u32).to_le_bytes());
    Ok(buf.freeze())
}

fn control_frame<T: Serialize + ?Sized>(
    kind: u8,
    value: &T,
    max: usize,
) -> Result<Bytes, WireError> {
    let buf = start_frame(kind, 64);
    let mut writer = buf.writer();
    postcard::to_io(value, &mut writer).map_err(WireError::Encode)?;
    finish_frame(writer.into_inner(), max)
}

fn put_name(buf: &mut BytesMut, name: &str) -> Result<(), WireError> {
    let len = u16::try_from(name.len())
        .map_err(|_| WireError::Malformed(format!("event name of {} bytes", name.len())))?;
    buf.put_u16_le(len);
    buf.put_slice(name.as_bytes());
    Ok(())
}

pub(crate) fn hello(name: &str, max: usize) -> Result<Bytes, WireError> {
    let hello = Hello {
        magic: MAGIC,
        protocol: PROTOCOL_VERSION,
        name: name.to_owned(),
    };
    control_frame(KIND_HELLO, &hello, max)
}

pub(crate) fn welcome(
    name: &str,
    subscriptions: Vec<String>,
    max: usize,
) -> Result<Bytes, WireError> {
    let welcome = Welcome {
        name: name.to_owned(),
        subscriptions,
    };
    control_frame(KIND_WELCOME, &welcome, max)
}

pub(crate) fn reject(reason: &str, max: usize) -> Result<Bytes, WireError> {
    control_frame(KIND_REJECT, reason, max)
}

pub(crate) fn subscriptions(names: &[String], max: usize) -> Result<Bytes, WireError> {
    control_frame(KIND_SUBSCRIPTIONS, names, max)
}

pub(crate) fn request_dropped(request_id: u64, max: usize) -> Result<Bytes, WireError> {
    control_frame(KIND_REQUEST_DROPPED, &request_id, max)
}

/// An EVENT frame: the event is encoded once, straight into the frame buffer.
pub(crate) fn event<E: Serialize>(
    name: &str,
    request_id: Option<u64>,
    event: &E,
    max: usize,
) -> Result<Bytes, WireError> {
    let mut buf = BytesMut::with_capacity(LEN_PREFIX + 1 + 1 + 8 + 2 + name.len() + 32);
    write_event_frame(&mut buf, NameRef::Inline(name), request_id, event, max)?;
    Ok(buf.freeze())
}

/// A DEFINE_NAME frame.
pub(crate) fn define_name(id: u32, name: &str, max: usize) -> Result<Bytes, WireError> {
    let mut buf = start_frame(KIND_DEFINE_NAME, 4 + name.len());
    buf.put_u32_le(id);
    buf.put_slice(name.as_bytes());
    finish_frame(buf, max)
}

/// Builds an EVENT frame in a buffer reused by this thread and lends it to `use_frame`,
/// which must not await: the hot path of a broadcast, without an allocation per event.
pub(crate) fn with_event_frame<E: Serialize, T>(
    name: NameRef<'_>,
    request_id: Option<u64>,
    event: &E,
    max: usize,
    use_frame: impl FnOnce(&[u8]) -> T,
) -> Result<T, WireError> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::with_capacity(4096));
    }
    SCRATCH.with(|scratch| {
        // A re-entrant call (an encoder that broadcasts) gets a buffer of its own.
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            let mut own = BytesMut::new();
            write_event_frame(&mut own, name, request_id, event, max)?;
            return Ok(use_frame(&own));
        };
        buf.clear();
        write_event_frame(&mut buf, name, request_id, event, max)?;
        let result = use_frame(&buf);
        // Do not keep a huge buffer alive after one huge event.
        if buf.capacity() > 1 << 20 {
            *buf = BytesMut::with_capacity(4096);
        }
        Ok(result)
    })
}

/// Writes a whole EVENT frame into the empty `buf`.
fn write_event_frame<E: Serialize>(
    buf: &mut BytesMut,
    name: NameRef<'_>,
    request_id: Option<u64>,
    event: &E,
    max: usize,
) -> Result<(), WireError> {
    buf.put_u32_le(0);
    buf.put_u8(KIND_EVENT);
    let name_flag = match name {
        NameRef::Inline(_) => 0,
        NameRef::Id(_) => FLAG_NAME_ID,
    };
    match request_id {
        Some(id) => {
            buf.put_u8(FLAG_REQUEST | name_flag);
            buf.put_u64_le(id);
        }
        None => buf.put_u8(name_flag),
    }
    match name {
        NameRef::Inline(name) => put_name(buf, name)?,
        NameRef::Id(id) => buf.put_u32_le(id),
    }
    postcard::to_io(event, &mut (&mut *buf).writer()).map_err(WireError::Encode)?;
    let size = buf.len() - LEN_PREFIX;
    if size > max {
        return Err(WireError::TooLarge { size, max });
    }
    buf[..LEN_PREFIX].copy_from_slice(&(size as u32).to_le_bytes());
    Ok(())
}

/// A RESPONSE frame.
pub(crate) fn response<E: Serialize>(
    request_id: u64,
    name: &str,
    response: &E,
    max: usize,
) -> Result<Bytes, WireError> {
    let mut buf = start_frame(KIND_RESPONSE, 8 + 2 + name.len() + 32);
    buf.put_u64_le(request_id);
    put_name(&mut buf, name)?;
    encode_body(buf, response, max)
}

fn encode_body<E: Serialize>(buf: BytesMut, value: &E, max: usize) -> Result<Bytes, WireError> {
    let mut writer = buf.writer();
    postcard::to_io(value, &mut writer).map_err(WireError::Encode)?;
    finish_frame(writer.into_inner(), max)
}

// ---------------------------------------------------------------------------------------
// Decoding

/// Decodes one frame (without its length prefix).
pub(crate) fn decode(mut frame: Bytes) -> Result<Message, WireError> {
    if frame.is_empty() {
        return Err(WireError::Malformed("empty frame".into()));
    }
    let kind = frame.get_u8();
    match kind {
        KIND_HELLO => control(&frame, "HELLO").map(Message::Hello),
        KIND_WELCOME => control(&frame, "WELCOME").map(Message::Welcome),
        KIND_REJECT => control(&frame, "REJECT").map(Message::Reject),
        KIND_SUBSCRIPTIONS => control(&frame, "SUBSCRIPTIONS").map(Message::Subscriptions),
        KIND_REQUEST_DROPPED => control(&frame, "REQUEST_DROPPED").map(Message::RequestDropped),
        KIND_EVENT => {
            let flags = take_u8(&mut frame, "EVENT flags")?;
            if flags & !(FLAG_REQUEST | FLAG_NAME_ID) != 0 {
                return Err(WireError::Malformed(format!(
                    "unknown EVENT flags {flags:#04x}"
                )));
            }
            let request_id = if flags & FLAG_REQUEST != 0 {
                Some(take_u64(&mut frame, "EVENT request id")?)
            } else {
                None
            };
            let name = if flags & FLAG_NAME_ID != 0 {
                EventName::Id(take_u32(&mut frame, "EVENT name id")?)
            } else {
                EventName::Inline(take_name(&mut frame)?)
            };
            Ok(Message::Event {
                name,
                request_id,
                body: frame,
            })
        }
        KIND_DEFINE_NAME => {
            let id = take_u32(&mut frame, "DEFINE_NAME id")?;
            if std::str::from_utf8(&frame).is_err() {
                return Err(WireError::Malformed("DEFINE_NAME name is not UTF-8".into()));
            }
            Ok(Message::DefineName {
                id,
                name: Name(frame),
            })
        }
        KIND_RESPONSE => {
            let request_id = take_u64(&mut frame, "RESPONSE request id")?;
            let name = take_name(&mut frame)?;
            Ok(Message::Response {
                request_id,
                name,
                body: frame,
            })
        }
        other => Err(WireError::Malformed(format!(
            "unknown message kind {other}"
        ))),
    }
}

fn control<T: for<'de> Deserialize<'de>>(payload: &[u8], what: &str) -> Result<T, WireError> {
    match postcard::take_from_bytes(payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(WireError::Malformed(format!(
            "{} trailing bytes after {what}",
            rest.len()
        ))),
        Err(error) => Err(WireError::Malformed(format!("bad {what}: {error}"))),
    }
}

fn take_u8(frame: &mut Bytes, what: &str) -> Result<u8, WireError> {
    if frame.remaining() < 1 {
        return Err(WireError::Malformed(format!("frame ends before {what}")));
    }
    Ok(frame.get_u8())
}

fn take_u32(frame: &mut Bytes, what: &str) -> Result<u32, WireError> {
    if frame.remaining() < 4 {
        return Err(WireError::Malformed(format!("frame ends before {what}")));
    }
    Ok(frame.get_u32_le())
}

fn take_u64(frame: &mut Bytes, what: &str) -> Result<u64, WireError> {
    if frame.remaining() < 8 {
        return Err(WireError::Malformed(format!("frame ends before {what}")));
    }
    Ok(frame.get_u64_le())
}

fn take_name(frame: &mut Bytes) -> Result<Name, WireError> {
    if frame.remaining() < 2 {
        return Err(WireError::Malformed(
            "frame ends before the event name".into(),
        ));
    }
    let len = frame.get_u16_le() as usize;
    if frame.remaining() < len {
        return Err(WireError::Malformed(format!(
            "event name of {len} bytes but only {} left in the frame",
            frame.remaining()
        )));
    }
    let name = frame.split_to(len);
    if std::str::from_utf8(&name).is_err() {
        return Err(WireError::Malformed("event name is not UTF-8".into()));
    }
    Ok(Name(name))
}

// ---------------------------------------------------------------------------------------
// Reading frames from a stream

/// Splits a byte stream into frames, refusing oversized ones before reading them.
///
/// An idle connection may wait for its next frame forever; once a frame has started,
/// the rest must arrive within the frame timeout, so a peer that trickles bytes cannot
/// hold the connection (and its memory) forever.
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max: usize,
    frame_timeout: Duration,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, max: usize, frame_timeout: Duration) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max,
            frame_timeout,
        }
    }

    /// Changes the largest frame accepted (the handshake uses a small one).
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// The next frame (without its length prefix), or `None` at a clean end of stream.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, WireError> {
        let mut deadline = None;
        loop {
            if let Some(frame) = self.split_frame()? {
                return Ok(Some(frame));
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(READ_CHUNK);
            }
            let read = if self.buf.is_empty() {
                self.inner.read_buf(&mut self.buf).await
            } else {
                let deadline = *deadline
                    .get_or_insert_with(|| tokio::time::Instant::now() + self.frame_timeout);
                match tokio::time::timeout_at(deadline, self.inner.read_buf(&mut self.buf)).await {
                    Ok(read) => read,
                    Err(_) => return Err(WireError::Stalled(self.frame_timeout)),
                }
            };
            match read {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) => {
                    let want = if self.buf.len() >= LEN_PREFIX {
                        LEN_PREFIX + self.announced_len()
                    } else {
                        LEN_PREFIX
                    };
                    return Err(WireError::Truncated {
                        have: self.buf.len(),
                        want,
                    });
                }
                Ok(_) => {}
                Err(error) => return Err(WireError::Io(error)),
            }
        }
    }

    fn announced_len(&self) -> usize {
        u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize
    }

    fn split_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        if self.buf.len() < LEN_PREFIX {
            return Ok(None);
        }
        let len = self.announced_len();
        if len > self.max {
            return Err(WireError::TooLarge {
                size: len,
                max: self.max,
            });
        }
        if self.buf.len() < LEN_PREFIX + len {
            // Room grows as bytes arrive (see `next`), not by the announced length: a
            // peer that announces a large frame and sends nothing costs nothing.
            return Ok(None);
        }
        self.buf.advance(LEN_PREFIX);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

#[cfg(test)]
mod tests;

//! Building frames. Control frames are built whole; EVENT and DEFINE_NAME frames are
//! appended to a connection's outbox buffer in place (`put_*`), with the event body the
//! core encoded once for every connection.

use super::message::*;
use crate::schema::{EventSchema, Fingerprint};
use bytes::Bytes;
use bytes::{BufMut, BytesMut};
use serde::Serialize;

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
        max_frame_size: u32::try_from(max).unwrap_or(u32::MAX),
    };
    control_frame(KIND_HELLO, &hello, max)
}

pub(crate) fn welcome(
    name: &str,
    subscriptions: Vec<(String, Fingerprint)>,
    max: usize,
) -> Result<Bytes, WireError> {
    let welcome = Welcome {
        name: name.to_owned(),
        subscriptions,
        max_frame_size: u32::try_from(max).unwrap_or(u32::MAX),
    };
    control_frame(KIND_WELCOME, &welcome, max)
}

pub(crate) fn reject(reason: &str, max: usize) -> Result<Bytes, WireError> {
    control_frame(KIND_REJECT, reason, max)
}

pub(crate) fn subscriptions(
    subscriptions: &[(String, Fingerprint)],
    max: usize,
) -> Result<Bytes, WireError> {
    control_frame(KIND_SUBSCRIPTIONS, subscriptions, max)
}

/// A SCHEMAS frame: schemas this endpoint publishes.
pub(crate) fn schemas(schemas: &[&EventSchema], max: usize) -> Result<Bytes, WireError> {
    control_frame(KIND_SCHEMAS, schemas, max)
}

pub(crate) fn request_dropped(request_id: u64, max: usize) -> Result<Bytes, WireError> {
    control_frame(KIND_REQUEST_DROPPED, &request_id, max)
}

/// What a RESPONSE frame puts before the body, without the length prefix.
pub(crate) fn response_header_len(name: &str) -> usize {
    1 + 8 + 2 + name.len()
}

/// A RESPONSE frame around an encoded body.
pub(crate) fn response(
    request_id: u64,
    name: &str,
    body: &[u8],
    max: usize,
) -> Result<Bytes, WireError> {
    let mut buf = start_frame(KIND_RESPONSE, 8 + 2 + name.len() + body.len());
    buf.put_u64_le(request_id);
    put_name(&mut buf, name)?;
    buf.put_slice(body);
    finish_frame(buf, max)
}

/// The size of the EVENT frame [`put_event`] appends, length prefix included.
pub(crate) fn event_frame_len(name: NameRef<'_>, request_id: Option<u64>, body: usize) -> usize {
    let name = match name {
        NameRef::Inline(name) => 2 + name.len(),
        NameRef::Id(_) => 4,
    };
    LEN_PREFIX + 1 + 1 + if request_id.is_some() { 8 } else { 0 } + name + body
}

/// Appends a whole EVENT frame to `buf`. The caller checked the size against the
/// maximum; an inline name must fit a `u16` length (names are checked when declared).
pub(crate) fn put_event(
    buf: &mut BytesMut,
    name: NameRef<'_>,
    request_id: Option<u64>,
    body: &[u8],
) {
    let size = event_frame_len(name, request_id, body.len()) - LEN_PREFIX;
    let name_flag = match name {
        NameRef::Inline(_) => 0,
        NameRef::Id(_) => FLAG_NAME_ID,
    };
    // The header is put together on the stack and appended in one copy: one capacity
    // check instead of one per field, on every event sent.
    let mut header = [0u8; LEN_PREFIX + 1 + 1 + 8 + 4];
    header[..LEN_PREFIX].copy_from_slice(&(size as u32).to_le_bytes());
    header[LEN_PREFIX] = KIND_EVENT;
    let mut at = LEN_PREFIX + 2;
    match request_id {
        Some(id) => {
            header[LEN_PREFIX + 1] = FLAG_REQUEST | name_flag;
            header[at..at + 8].copy_from_slice(&id.to_le_bytes());
            at += 8;
        }
        None => header[LEN_PREFIX + 1] = name_flag,
    }
    match name {
        NameRef::Inline(name) => {
            header[at..at + 2].copy_from_slice(&(name.len() as u16).to_le_bytes());
            at += 2;
        }
        NameRef::Id(id) => {
            header[at..at + 4].copy_from_slice(&id.to_le_bytes());
            at += 4;
        }
    }
    buf.reserve(size + LEN_PREFIX);
    buf.extend_from_slice(&header[..at]);
    if let NameRef::Inline(name) = name {
        buf.extend_from_slice(name.as_bytes());
    }
    buf.extend_from_slice(body);
}

/// An EVENT frame with an inline name, for an event encoded here.
#[cfg(test)]
pub(crate) fn event<E: Serialize>(
    name: &str,
    request_id: Option<u64>,
    event: &E,
    max: usize,
) -> Result<Bytes, WireError> {
    if u16::try_from(name.len()).is_err() {
        return Err(WireError::Malformed(format!(
            "event name of {} bytes",
            name.len()
        )));
    }
    let body = crate::codec::body(event).map_err(WireError::Encode)?;
    let size = event_frame_len(NameRef::Inline(name), request_id, body.len()) - LEN_PREFIX;
    if size > max {
        return Err(WireError::TooLarge { size, max });
    }
    let mut buf = BytesMut::new();
    put_event(&mut buf, NameRef::Inline(name), request_id, &body);
    Ok(buf.freeze())
}

/// The size of the DEFINE_NAME frame [`put_define_name`] appends, length prefix included.
pub(crate) fn define_name_len(name: &str) -> usize {
    LEN_PREFIX + 1 + 4 + name.len()
}

/// Appends a DEFINE_NAME frame to `buf`.
pub(crate) fn put_define_name(buf: &mut BytesMut, id: u32, name: &str) {
    buf.put_u32_le((define_name_len(name) - LEN_PREFIX) as u32);
    buf.put_u8(KIND_DEFINE_NAME);
    buf.put_u32_le(id);
    buf.put_slice(name.as_bytes());
}

/// A DEFINE_NAME frame.
#[cfg(test)]
pub(crate) fn define_name(id: u32, name: &str, max: usize) -> Result<Bytes, WireError> {
    let size = define_name_len(name) - LEN_PREFIX;
    if size > max {
        return Err(WireError::TooLarge { size, max });
    }
    let mut buf = BytesMut::new();
    put_define_name(&mut buf, id, name);
    Ok(buf.freeze())
}

//! Reading one frame's message. Never panics: every malformed frame is an error that
//! says what is wrong.

use super::message::*;
use bytes::Buf;
use bytes::Bytes;
use serde::Deserialize;

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
        KIND_SCHEMAS => control(&frame, "SCHEMAS").map(Message::Schemas),
        KIND_REQUEST_DROPPED => control(&frame, "REQUEST_DROPPED").map(Message::RequestDropped),
        KIND_EVENT => {
            let event = event_payload(&frame)?;
            Ok(Message::Event {
                name: match event.name {
                    EventNameRef::Id(id) => EventName::Id(id),
                    EventNameRef::Inline(name) => {
                        EventName::Inline(Name(frame.slice_ref(name.as_bytes())))
                    }
                },
                request_id: event.request_id,
                body: frame.slice_ref(event.body),
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

/// Decodes an EVENT frame (without its length prefix) where it lies, borrowing its name
/// and body; `None` for a frame of another kind, to be read with [`decode`]. The hot
/// path of a connection's reader: no reference counting, no copy.
pub(crate) fn decode_event(frame: &[u8]) -> Option<Result<EventRef<'_>, WireError>> {
    match frame.split_first() {
        Some((&KIND_EVENT, payload)) => Some(event_payload(payload)),
        _ => None,
    }
}

/// An EVENT's payload: everything after its kind.
fn event_payload(mut payload: &[u8]) -> Result<EventRef<'_>, WireError> {
    let flags = take_u8(&mut payload, "EVENT flags")?;
    if flags & !(FLAG_REQUEST | FLAG_NAME_ID) != 0 {
        return Err(WireError::Malformed(format!(
            "unknown EVENT flags {flags:#04x}"
        )));
    }
    let request_id = if flags & FLAG_REQUEST != 0 {
        Some(take_u64(&mut payload, "EVENT request id")?)
    } else {
        None
    };
    let name = if flags & FLAG_NAME_ID != 0 {
        EventNameRef::Id(take_u32(&mut payload, "EVENT name id")?)
    } else {
        EventNameRef::Inline(take_name_ref(&mut payload)?)
    };
    Ok(EventRef {
        name,
        request_id,
        body: payload,
    })
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

fn take_u8(frame: &mut impl Buf, what: &str) -> Result<u8, WireError> {
    if frame.remaining() < 1 {
        return Err(WireError::Malformed(format!("frame ends before {what}")));
    }
    Ok(frame.get_u8())
}

fn take_u32(frame: &mut impl Buf, what: &str) -> Result<u32, WireError> {
    if frame.remaining() < 4 {
        return Err(WireError::Malformed(format!("frame ends before {what}")));
    }
    Ok(frame.get_u32_le())
}

fn take_u64(frame: &mut impl Buf, what: &str) -> Result<u64, WireError> {
    if frame.remaining() < 8 {
        return Err(WireError::Malformed(format!("frame ends before {what}")));
    }
    Ok(frame.get_u64_le())
}

fn take_name(frame: &mut Bytes) -> Result<Name, WireError> {
    let mut rest = &frame[..];
    let len = take_name_ref(&mut rest)?.len();
    frame.advance(2);
    Ok(Name(frame.split_to(len)))
}

/// A name (`name_len:u16le name`), checked to be UTF-8.
fn take_name_ref<'a>(frame: &mut &'a [u8]) -> Result<&'a str, WireError> {
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
    let (name, rest) = frame.split_at(len);
    *frame = rest;
    std::str::from_utf8(name).map_err(|_| WireError::Malformed("event name is not UTF-8".into()))
}

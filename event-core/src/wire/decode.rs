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

//! Items used by the code that `#[derive(Event)]` generates. Not a public API.

pub use inventory;
pub use serde;

pub use crate::schema::{schema_of, ResponseOf};

/// The schema of `R`'s response, for the registration `#[derive(Event)]` makes of a
/// request.
pub fn response_schema_of<R: crate::event::Request>() -> std::sync::Arc<crate::schema::EventSchema>
{
    schema_of::<R::Response>()
}

/// Capacity of a compile-time generic event name.
const NAME_CAPACITY: usize = 512;

/// A string built at compile time from the parts of a generic event's name.
pub struct NameBuf {
    bytes: [u8; NAME_CAPACITY],
    len: usize,
}

impl NameBuf {
    /// Concatenates `parts`. Evaluated at compile time: a name over the capacity is a
    /// compile error (a const-evaluation failure), never a run-time panic.
    pub const fn join(parts: &[&str]) -> NameBuf {
        let mut bytes = [0u8; NAME_CAPACITY];
        let mut len = 0;
        let mut part = 0;
        while part < parts.len() {
            let source = parts[part].as_bytes();
            let mut index = 0;
            while index < source.len() {
                assert!(
                    len < NAME_CAPACITY,
                    "generic event name longer than 512 bytes"
                );
                bytes[len] = source[index];
                len += 1;
                index += 1;
            }
            part += 1;
        }
        NameBuf { bytes, len }
    }

    /// The decimal digits of `n`.
    pub const fn number(mut n: usize) -> NameBuf {
        let mut digits = [0u8; 20];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut bytes = [0u8; NAME_CAPACITY];
        let mut index = 0;
        while index < count {
            bytes[index] = digits[count - 1 - index];
            index += 1;
        }
        NameBuf { bytes, len: count }
    }

    /// The joined name.
    pub const fn as_str(&'static self) -> &'static str {
        let (name, _) = self.bytes.split_at(self.len);
        match core::str::from_utf8(name) {
            Ok(name) => name,
            // Unreachable: the parts are `&str`s joined whole.
            Err(_) => "<invalid utf-8>",
        }
    }
}

/// The compile-time name buffer of a generic event type.
pub trait GenericEventName {
    /// The joined name; `Event::NAME` borrows from it.
    const NAME_BUF: &'static NameBuf;
}

/// Runs `data` through the frame decoder, the message decoder and the connection's
/// rules exactly as a connection does (handshake first, then messages), for the fuzz
/// target. Synchronous: no runtime. Returns the number of frames decoded; never panics.
pub fn fuzz_wire(data: &[u8]) -> usize {
    use crate::mesh::Inbound;
    use crate::wire::{decode, decode_event, FrameDecoder};
    let decoder = FrameDecoder::new(64 * 1024);
    let mut buf = bytes::BytesMut::from(data);
    let mut inbound = Inbound::default();
    let mut decoded = 0;
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        // The reader's in-place path first, then the whole decoding, on the same bytes.
        if let Some(Ok(event)) = decode_event(&frame) {
            if let Ok(crate::mesh::Action::Deliver { body, .. }) = inbound.on_event(event) {
                let _ = postcard::from_bytes::<(u64, Vec<u8>, String)>(body);
            }
        }
        let message = decode(frame);
        if decoded == 0 {
            let _ = crate::mesh::check_hello(message, "fuzz", |_| false);
        } else if let Ok(message) = message {
            if let Ok(crate::mesh::Action::Deliver { body, .. }) = inbound.on_message(&message) {
                let _ = postcard::from_bytes::<(u64, Vec<u8>, String)>(body);
            }
        }
        decoded += 1;
    }
    let _ = decoder.end(&buf);
    decoded
}

/// The response of a request whose `#[request(...)]` did not parse and named no type: the
/// derive's error stub answers with it, so that uses of the request add no errors to the
/// one at the attribute.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct UnknownResponse;

impl crate::event::Event for UnknownResponse {
    const NAME: &'static str = "<invalid request declaration>";
}

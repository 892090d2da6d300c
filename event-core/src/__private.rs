//! Items used by the code that `#[derive(Event)]` generates. Not a public API.

pub use inventory;

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

/// Runs `data` through the frame reader and message decoder exactly as a connection does
/// (handshake first, then messages), for the fuzz target. Returns the number of frames
/// decoded; never panics.
pub fn fuzz_wire(data: &[u8]) -> usize {
    use crate::wire::{decode, FrameReader, Message};
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => return 0,
    };
    runtime.block_on(async {
        let mut bytes = data;
        let mut reader = FrameReader::new(&mut bytes, 64 * 1024, std::time::Duration::from_secs(1));
        let mut decoded = 0;
        while let Ok(Some(frame)) = reader.next().await {
            match decode(frame) {
                Ok(Message::Event { name, body, .. }) => {
                    if let crate::wire::EventName::Inline(name) = name {
                        let _ = name.as_str();
                    }
                    let _ = postcard::from_bytes::<(u64, Vec<u8>, String)>(&body);
                }
                Ok(_) => {}
                Err(error) => {
                    let _ = error.to_string();
                }
            }
            decoded += 1;
        }
        decoded
    })
}

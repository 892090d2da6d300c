//! The body codec: how an event's value becomes bytes and back, the same for every
//! backend (postcard: compact and fast, not self-describing, so both sides must agree on
//! the type, which its `NAME` stands for).
//!
//! Encoding goes into a buffer reused by the thread, lent to a closure that must not
//! await: the hot path of a broadcast, with no allocation per event.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;

/// Above this capacity the reused buffer is given back after use: one huge event must not
/// keep a huge buffer alive.
const KEEP_CAPACITY: usize = 1 << 20;

/// Encodes `value` into this thread's reused buffer and lends the bytes to `use_body`.
pub(crate) fn with_body<E: Serialize + ?Sized, T>(
    value: &E,
    use_body: impl FnOnce(&[u8]) -> T,
) -> Result<T, postcard::Error> {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
    }
    SCRATCH.with(|scratch| {
        // A re-entrant call (a `Serialize` impl that broadcasts) gets a buffer of its own.
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            let own = body(value)?;
            return Ok(use_body(&own));
        };
        buf.clear();
        let encoded = postcard::to_io(value, &mut *buf).map(|_| ());
        let result = encoded.map(|()| use_body(&buf));
        if buf.capacity() > KEEP_CAPACITY {
            *buf = Vec::with_capacity(4096);
        }
        result
    })
}

/// Encodes `value` into a buffer of its own.
pub(crate) fn body<E: Serialize + ?Sized>(value: &E) -> Result<Vec<u8>, postcard::Error> {
    let mut buf = Vec::with_capacity(64);
    postcard::to_io(value, &mut buf)?;
    Ok(buf)
}

/// Decodes a body as `E`.
pub(crate) fn decode<E: DeserializeOwned>(bytes: &[u8]) -> Result<E, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reused_buffer_and_an_own_buffer_encode_alike() {
        let value = (7u64, vec![1u8, 2, 3], String::from("x"));
        let lent = with_body(&value, <[u8]>::to_vec).unwrap();
        assert_eq!(lent, body(&value).unwrap());
        assert_eq!(decode::<(u64, Vec<u8>, String)>(&lent).unwrap(), value);
    }

    #[test]
    fn a_nested_encoding_gets_a_buffer_of_its_own() {
        let outer = with_body(&1u32, |outer| {
            let inner = with_body(&2u32, <[u8]>::to_vec).unwrap();
            (outer.to_vec(), inner)
        })
        .unwrap();
        assert_eq!(outer, (vec![1], vec![2]));
    }
}

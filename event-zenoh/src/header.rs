//! What rides in a message's zenoh attachment: who sent it in which incarnation, its
//! sequence number (events) or request id (requests), and where it ends in the sender's
//! flow-control numbering (see [`crate::credit`]). The key says the rest.

/// An event's attachment: `[1][incarnation: u64 LE][seq: u64 LE][end: u64 LE]`.
const EVENT: u8 = 1;
/// A request's attachment: `[2][incarnation: u64 LE][request id: u64 LE][end: u64 LE]`.
const REQUEST: u8 = 2;
/// A heartbeat's attachment: `[3][incarnation: u64 LE][0: u64][0: u64]`.
const HEARTBEAT: u8 = 3;
const LEN: usize = 25;

/// The payload of the error reply that says "every recipient dropped it unanswered".
pub(crate) const DROPPED: &[u8] = b"dropped";

/// A message's attachment, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    Event {
        incarnation: u64,
        seq: u64,
        end: u64,
    },
    Request {
        incarnation: u64,
        request_id: u64,
        end: u64,
    },
    Heartbeat {
        incarnation: u64,
    },
}

impl Header {
    /// This header with its end in the sender's window (see [`crate::credit`]); a
    /// heartbeat has none.
    pub(crate) fn with_end(self, end: u64) -> Header {
        match self {
            Header::Event {
                incarnation, seq, ..
            } => Header::Event {
                incarnation,
                seq,
                end,
            },
            Header::Request {
                incarnation,
                request_id,
                ..
            } => Header::Request {
                incarnation,
                request_id,
                end,
            },
            heartbeat => heartbeat,
        }
    }

    pub(crate) fn encode(self) -> [u8; LEN] {
        let (kind, incarnation, number, end) = match self {
            Header::Event {
                incarnation,
                seq,
                end,
            } => (EVENT, incarnation, seq, end),
            Header::Request {
                incarnation,
                request_id,
                end,
            } => (REQUEST, incarnation, request_id, end),
            Header::Heartbeat { incarnation } => (HEARTBEAT, incarnation, 0, 0),
        };
        let mut out = [0; LEN];
        out[0] = kind;
        out[1..9].copy_from_slice(&incarnation.to_le_bytes());
        out[9..17].copy_from_slice(&number.to_le_bytes());
        out[17..25].copy_from_slice(&end.to_le_bytes());
        out
    }

    /// `None` for anything [`encode`](Self::encode) does not make.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Header> {
        if bytes.len() != LEN {
            return None;
        }
        let incarnation = u64::from_le_bytes(bytes[1..9].try_into().ok()?);
        let number = u64::from_le_bytes(bytes[9..17].try_into().ok()?);
        let end = u64::from_le_bytes(bytes[17..25].try_into().ok()?);
        match bytes[0] {
            EVENT => Some(Header::Event {
                incarnation,
                seq: number,
                end,
            }),
            REQUEST => Some(Header::Request {
                incarnation,
                request_id: number,
                end,
            }),
            HEARTBEAT if number == 0 && end == 0 => Some(Header::Heartbeat { incarnation }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn headers_round_trip(incarnation: u64, number: u64, end: u64, kind in 0..3u8) {
            let header = match kind {
                0 => Header::Request { incarnation, request_id: number, end },
                1 => Header::Event { incarnation, seq: number, end },
                _ => Header::Heartbeat { incarnation },
            };
            prop_assert_eq!(Header::decode(&header.encode()), Some(header));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Some(header) = Header::decode(&bytes) {
                prop_assert_eq!(&header.encode()[..], &bytes[..]);
            }
        }
    }
}

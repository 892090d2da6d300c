//! The events the benchmark sends. The same Rust types travel over the bus and, encoded
//! by hand with postcard, through the baselines, so both pay for the same bytes.

use event_core::Event;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One broadcast event: `payload` of the configured size, `index` (0, 1, 2, ... so a
/// consumer can check it got every event in order) and `sent_at` (the sender's
/// [`now_ns`](crate::sys::now_ns) when it built the event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct PerfEvent {
    /// Filler of the configured size (16 B or 1 KiB).
    pub payload: Vec<u8>,
    /// Position in the run, from 0.
    pub index: u64,
    /// When the sender built it ([`now_ns`](crate::sys::now_ns)).
    pub sent_at: u64,
}

/// [`PerfEvent`] with its payload declared as bytes (`#[serde(with = "serde_bytes")]`):
/// serde then encodes and decodes it as one block of bytes, where a plain `Vec<u8>` goes
/// byte by byte. The shape Trinity's peer messages (RLP bytes) want.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct PerfBytesEvent {
    /// Filler of the configured size (1 KiB or 64 KiB).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// Position in the run, from 0.
    pub index: u64,
    /// When the sender built it ([`now_ns`](crate::sys::now_ns)).
    pub sent_at: u64,
}

/// What the fan-out roles need of the event they send: [`PerfEvent`] or
/// [`PerfBytesEvent`], one code path for both.
pub trait Perf: Event + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The `index`-th event of a run with `payload` as its filler, sent now.
    fn build(payload: &[u8], index: u64) -> Self;
    /// Its position in the run.
    fn index(&self) -> u64;
    /// Its filler.
    fn payload(&self) -> &[u8];
}

macro_rules! perf {
    ($event:ident) => {
        impl Perf for $event {
            fn build(payload: &[u8], index: u64) -> Self {
                $event {
                    payload: payload.to_vec(),
                    index,
                    sent_at: crate::sys::now_ns(),
                }
            }
            fn index(&self) -> u64 {
                self.index
            }
            fn payload(&self) -> &[u8] {
                &self.payload
            }
        }
    };
}
perf!(PerfEvent);
perf!(PerfBytesEvent);

/// The answer to a [`PerfRequest`]: its payload and index echoed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub struct PerfResponse {
    /// The request's payload.
    pub payload: Vec<u8>,
    /// The request's index.
    pub index: u64,
}

/// The request of `ipc-request`: the same shape as [`PerfEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[request(response = PerfResponse)]
pub struct PerfRequest {
    /// 16 B of filler.
    pub payload: Vec<u8>,
    /// Position in the run, from 0.
    pub index: u64,
    /// When the requester built it.
    pub sent_at: u64,
}

/// The filler byte of every payload.
pub const FILL: u8 = 0xA5;

/// The `index`-th event of a run with `payload` as its filler.
pub fn perf_event(payload: &[u8], index: u64) -> PerfEvent {
    PerfEvent::build(payload, index)
}

/// Checks the events a consumer receives: every index in order, every payload intact.
#[derive(Debug, Clone)]
pub struct Checker {
    payload_bytes: usize,
    expected: u64,
    /// Events seen.
    pub received: u64,
    /// `false` once an event came out of order or with a wrong payload.
    pub in_order: bool,
    /// When the `expected`-th event arrived ([`now_ns`](crate::sys::now_ns)); read
    /// once, not per event, so the clock costs nothing per event.
    pub last_ns: u64,
}

impl Checker {
    /// A checker for `expected` events whose payload is `payload_bytes` long.
    pub fn new(payload_bytes: usize, expected: u64) -> Checker {
        Checker {
            payload_bytes,
            expected,
            received: 0,
            in_order: true,
            last_ns: 0,
        }
    }

    /// Records one event.
    pub fn check<E: Perf>(&mut self, event: &E) {
        let payload = event.payload();
        if event.index() != self.received
            || payload.len() != self.payload_bytes
            || payload.iter().any(|&byte| byte != FILL)
        {
            if self.in_order {
                eprintln!(
                    "event-bench: expected event #{} with {} B of payload, got #{} with {} B",
                    self.received,
                    self.payload_bytes,
                    event.index(),
                    payload.len()
                );
            }
            self.in_order = false;
        }
        self.received += 1;
        if self.received == self.expected {
            self.last_ns = crate::sys::now_ns();
        }
    }
}

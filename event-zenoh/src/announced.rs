//! This endpoint's subscription tokens, declared before what it sends next.
//!
//! The core tells the backend of a subscription change under its lock, where nothing may
//! block, so the tokens are declared by a task a moment later. A remote must still learn
//! of a subscription before anything this endpoint sends after making it: a proxy
//! subscribes to a pool's events and then asks for a snapshot, and an event broadcast
//! between the snapshot and the token would be missed. So each change gets a number
//! ([`Announced::want`]); the task says which it has declared ([`Announced::declared`]);
//! and a writer, before it writes, waits until what was wanted is declared
//! ([`Announced::wait`]). zenoh sends declarations ahead of data, on the same session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Which subscription change was asked for, and which is declared.
#[derive(Debug, Default)]
pub(crate) struct Announced {
    wanted: AtomicU64,
    declared: AtomicU64,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Announced {
    /// A new change: its number.
    pub(crate) fn want(&self) -> u64 {
        self.wanted.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Change `generation` (and every one before it) is declared.
    pub(crate) fn declared(&self, generation: u64) {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.declared.fetch_max(generation, Ordering::AcqRel);
        self.changed.notify_all();
    }

    /// Nothing will be declared any more (the endpoint leaves): never wait again.
    pub(crate) fn release(&self) {
        self.declared(u64::MAX);
    }

    /// Blocks (a writer thread) until every change asked for so far is declared, or
    /// `timeout` passes; `false` on the timeout.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let wanted = self.wanted.load(Ordering::Acquire);
        if self.declared.load(Ordering::Acquire) >= wanted {
            return true;
        }
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while self.declared.load(Ordering::Acquire) < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_writer_waits_for_what_was_wanted_before_it() {
        let announced = Arc::new(Announced::default());
        assert!(announced.wait(Duration::ZERO), "nothing wanted yet");
        let first = announced.want();
        assert!(
            !announced.wait(Duration::from_millis(1)),
            "not declared yet"
        );
        let declaring = {
            let announced = announced.clone();
            std::thread::spawn(move || announced.declared(first))
        };
        assert!(announced.wait(Duration::from_secs(10)));
        declaring.join().unwrap();
        let _second = announced.want();
        assert!(!announced.wait(Duration::from_millis(1)));
        announced.release();
        assert!(announced.wait(Duration::ZERO));
    }
}

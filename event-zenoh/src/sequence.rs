//! Loss that is never silent: per-sender, per-event sequence numbers, checked on receipt.
//!
//! A sender numbers the events it sends to one remote, per event name, from 0, for the
//! lifetime of its incarnation (a link re-made after a failover goes on counting). The
//! receiver remembers the next number it expects per event; a larger one means events
//! were lost on the way (a router died with them in its queues), and how many. The first
//! number seen from an incarnation sets the baseline, so a newcomer reports no history.
//!
//! A lost *last* event has no successor to show the gap: so a sender that has sent events
//! and then been idle for a second (and every ten seconds after that, in case the
//! heartbeat was lost too), and every new link to a remote (after a failover, the old
//! link's queue is gone), sends a heartbeat with how many of each event it has numbered;
//! the receiver reports what it did not get ([`Sequences::sync`]).

use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// How many event names one sender is tracked for; beyond that, new names are not
/// checked (a hostile sender cannot grow this without bound).
const MAX_TRACKED: usize = 4096;

/// What an event's number says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    /// The next one (or the first): deliver.
    InOrder,
    /// `missed` events were lost before this one: report, then deliver.
    Gap { missed: u64 },
    /// Numbered below what was expected: not from the sender's own counter (forged).
    Stale,
}

/// The receiver's record of one sender.
#[derive(Debug, Default)]
pub(crate) struct Sequences {
    incarnation: Option<u64>,
    next: HashMap<String, u64>,
}

impl Sequences {
    pub(crate) fn observe(&mut self, incarnation: u64, event: &str, seq: u64) -> Observed {
        self.check_incarnation(incarnation);
        let Some(next) = self.next.get_mut(event) else {
            if self.next.len() < MAX_TRACKED {
                self.next.insert(event.to_owned(), seq.wrapping_add(1));
            }
            return Observed::InOrder;
        };
        if seq < *next {
            return Observed::Stale;
        }
        let missed = seq - *next;
        *next = seq.wrapping_add(1);
        if missed == 0 {
            Observed::InOrder
        } else {
            Observed::Gap { missed }
        }
    }
}

impl Sequences {
    fn check_incarnation(&mut self, incarnation: u64) {
        if self.incarnation != Some(incarnation) {
            self.incarnation = Some(incarnation);
            self.next.clear();
        }
    }

    /// Whether every one of the `sent` events named `event` that this record could see
    /// has arrived (an event never seen has no baseline: nothing to wait for).
    pub(crate) fn has_up_to(&self, event: &str, sent: u64) -> bool {
        self.next.get(event).is_none_or(|next| *next >= sent)
    }

    /// A heartbeat says the sender has numbered `sent` events named `event`: how many of
    /// those never arrived (`None` for none, or for an event not seen before, whose
    /// count becomes the baseline).
    pub(crate) fn sync(&mut self, incarnation: u64, event: &str, sent: u64) -> Option<u64> {
        self.check_incarnation(incarnation);
        match self.next.get_mut(event) {
            Some(next) if *next < sent => {
                let missed = sent - *next;
                *next = sent;
                Some(missed)
            }
            Some(_) => None,
            None => {
                if self.next.len() < MAX_TRACKED {
                    self.next.insert(event.to_owned(), sent);
                }
                None
            }
        }
    }
}

/// The sender's counters for one remote, by event name id.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    next: FxHashMap<u32, (&'static str, u64)>,
}

impl Counters {
    /// The number of the next event `name_id` (`name`) sent.
    pub(crate) fn take(&mut self, name_id: u32, name: &'static str) -> u64 {
        let next = self.next.entry(name_id).or_insert((name, 0));
        let seq = next.1;
        next.1 += 1;
        seq
    }

    /// How many of each event were numbered.
    pub(crate) fn counts(&self) -> FxHashMap<&'static str, u64> {
        self.next.values().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_gaps_and_duplicates() {
        let mut seen = Sequences::default();
        assert_eq!(seen.observe(7, "a", 5), Observed::InOrder, "baseline");
        assert_eq!(seen.observe(7, "a", 6), Observed::InOrder);
        assert_eq!(seen.observe(7, "b", 0), Observed::InOrder, "per event");
        assert_eq!(seen.observe(7, "a", 9), Observed::Gap { missed: 2 });
        assert_eq!(seen.observe(7, "a", 9), Observed::Stale);
        assert_eq!(seen.observe(7, "a", 10), Observed::InOrder);
        assert_eq!(
            seen.observe(8, "a", 3),
            Observed::InOrder,
            "a new incarnation"
        );
        assert_eq!(seen.observe(8, "a", 4), Observed::InOrder);
    }

    #[test]
    fn counters_count_per_name() {
        let mut counters = Counters::default();
        assert_eq!(counters.take(1, "a"), 0);
        assert_eq!(counters.take(1, "a"), 1);
        assert_eq!(counters.take(2, "b"), 0);
        assert_eq!(
            counters.counts(),
            FxHashMap::from_iter([("a", 2), ("b", 1)])
        );
    }

    #[test]
    fn a_heartbeat_reveals_a_lost_tail() {
        let mut seen = Sequences::default();
        assert_eq!(seen.sync(7, "a", 4), None, "baseline");
        seen.observe(7, "a", 4);
        seen.observe(7, "a", 5);
        assert_eq!(seen.sync(7, "a", 6), None, "all arrived");
        assert_eq!(seen.sync(7, "a", 9), Some(3), "the last three were lost");
        assert_eq!(seen.sync(7, "a", 9), None, "reported once");
        assert_eq!(seen.observe(7, "a", 9), Observed::InOrder);
    }

    #[test]
    fn a_hostile_sender_cannot_grow_the_record() {
        let mut seen = Sequences::default();
        for i in 0..(MAX_TRACKED + 100) {
            seen.observe(1, &i.to_string(), 0);
        }
        assert_eq!(seen.next.len(), MAX_TRACKED);
    }
}

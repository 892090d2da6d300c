//! Loss that is never silent: per-sender, per-event sequence numbers, checked on receipt.
//!
//! A sender numbers the events it sends to one remote, per event name, from 0, for the
//! lifetime of its incarnation (a link re-made after a failover goes on counting). The
//! receiver remembers the next number it expects per event; a larger one means events
//! were lost on the way (a router died with them in its queues), and how many. The first
//! number seen from an incarnation sets the baseline, so a newcomer reports no history.

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
    /// Already seen (a duplicate): drop, so that each event arrives once.
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
        if self.incarnation != Some(incarnation) {
            self.incarnation = Some(incarnation);
            self.next.clear();
        }
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

/// The sender's counters for one remote, by event name id.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    next: HashMap<u32, u64>,
}

impl Counters {
    /// The number of the next event `name_id` sent.
    pub(crate) fn take(&mut self, name_id: u32) -> u64 {
        let next = self.next.entry(name_id).or_insert(0);
        let seq = *next;
        *next += 1;
        seq
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
        assert_eq!(counters.take(1), 0);
        assert_eq!(counters.take(1), 1);
        assert_eq!(counters.take(2), 0);
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

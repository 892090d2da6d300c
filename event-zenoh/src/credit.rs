//! Flow control: how much one sender may have on its way to one receiver.
//!
//! # Why not zenoh's own back-pressure
//!
//! zenoh pushes back by not reading: a subscriber callback that blocks stops its
//! session's reading of that link. But zenoh also counts the link dead when reading it
//! stalls for a [lease](crate::ZenohConfig::lease): a callback held up by a slow local
//! subscriber for that long (one batch of small events at the subscriber's pace is
//! enough) made the *receiving* session drop its router, and the events on the way with
//! it. So callbacks here never wait, and the receiver bounds its queues with a window
//! instead, as TCP and QUIC do.
//!
//! # The window
//!
//! Every event and request costs its body's length plus [`PER_MESSAGE`] (what a queued
//! message costs beyond its body). A sender numbers what it writes to a receiver by
//! cumulative cost: each message's header carries its `end`, the total cost written up to
//! and including it. It may write while `end` stays within its *limit*; when less than
//! half its window is left it asks the receiver for more with a *credit query*
//! (`to/<receiver>/cr/<sender>`) carrying how far it has written. The receiver queues
//! that query behind what came before it and answers it when its core has taken all of
//! that: with how far it has taken and its window, so the new limit is `taken + window`.
//! A fresh link starts with [`INITIAL_WINDOW`].
//!
//! What is queued at the receiver is thus bounded by the window (the receiver's
//! `connection_buffer`, at least [`INITIAL_WINDOW`]), plus one message larger than the
//! window, which is written only when nothing else is outstanding. The receiver drops
//! (and logs) what goes beyond twice that: only a sender that ignores its window sends
//! it, and the sequence numbers report what was dropped.
//!
//! # Loss and order
//!
//! An answer counts everything written before the query as taken, whether it arrived or
//! was lost on the way (a router died with it): so lost messages never shrink the window
//! for good. If zenoh delivered a query ahead of earlier events, those events arrive on
//! top of a fresh window: at most twice the window is queued, within the bound above.
//! A query that zenoh finalizes without an answer (timed out, its route gone) is asked
//! again, after [`ASK_AGAIN_AFTER`].
//!
//! The sender's state moves from one link to the next with the rest of the numbering
//! (a failover keeps it); the receiver's is per sender incarnation.

use std::time::{Duration, Instant};

/// What a queued message costs beyond its body (its name, header and queue entry).
pub(crate) const PER_MESSAGE: u64 = 128;

/// The window a fresh link starts with, before the receiver said its own.
pub(crate) const INITIAL_WINDOW: u64 = 64 * 1024;

/// How long after a credit query ended unanswered the sender asks again.
pub(crate) const ASK_AGAIN_AFTER: Duration = Duration::from_millis(50);

/// What a message with a body of `len` bytes costs.
pub(crate) fn cost(len: usize) -> u64 {
    (len as u64).saturating_add(PER_MESSAGE)
}

/// A sender's view of one receiver's window.
#[derive(Debug, Clone)]
pub(crate) struct SendWindow {
    /// The total cost written.
    sent: u64,
    /// How far the receiver has said it took.
    acked: u64,
    /// How far this sender may write.
    limit: u64,
    /// The receiver's window, as it last said.
    window: u64,
    /// A credit query is on its way.
    asking: bool,
    /// How many credit queries went (the last one's id).
    asks: u64,
    /// Not before then may the next credit query go (the last one went unanswered).
    ask_not_before: Option<Instant>,
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            sent: 0,
            acked: 0,
            limit: INITIAL_WINDOW,
            window: INITIAL_WINDOW,
            asking: false,
            asks: 0,
            ask_not_before: None,
        }
    }
}

impl SendWindow {
    /// Whether a message costing `cost` may be written now: it fits within the limit, or
    /// nothing is outstanding (so a message larger than the window goes alone).
    pub(crate) fn may_send(&self, cost: u64) -> bool {
        self.sent.saturating_add(cost) <= self.limit || self.sent == self.acked
    }

    /// Counts a message written; returns its `end`, for its header.
    pub(crate) fn sent(&mut self, cost: u64) -> u64 {
        self.sent = self.sent.saturating_add(cost);
        self.sent
    }

    /// Whether a credit query should go now: less than half the window is left (or a
    /// message is waiting for room), none is on its way, and the last did not just fail.
    pub(crate) fn should_ask(&self, waiting: bool, now: Instant) -> bool {
        let low = self.limit.saturating_sub(self.sent) < self.window / 2;
        !self.asking && (low || waiting) && self.ask_not_before.is_none_or(|at| now >= at)
    }

    /// A credit query goes; returns its id and how far this sender has written (for its
    /// payload).
    pub(crate) fn asked(&mut self) -> (u64, u64) {
        self.asking = true;
        self.asks += 1;
        (self.asks, self.sent)
    }

    /// The receiver answered: it took everything up to `taken`, and its window is `window`.
    pub(crate) fn granted(&mut self, taken: u64, window: u64) {
        self.asking = false;
        self.ask_not_before = None;
        // Never more than was written: a forged answer cannot open the window further.
        let taken = taken.min(self.sent);
        self.acked = self.acked.max(taken);
        self.window = window.max(1);
        self.limit = self.limit.max(taken.saturating_add(window));
    }

    /// Credit query `ask` ended without an answer: ask again, a little later (unless
    /// another one went meanwhile).
    pub(crate) fn ask_ended(&mut self, ask: u64, now: Instant) {
        if self.asking && ask == self.asks {
            self.asking = false;
            self.ask_not_before = Some(now + ASK_AGAIN_AFTER);
        }
    }
}

/// A receiver's record of how far it took one sender's messages.
#[derive(Debug, Default)]
pub(crate) struct ReceiveWindow {
    incarnation: Option<u64>,
    taken: u64,
}

impl ReceiveWindow {
    /// The core took a message of that sender incarnation, numbered up to `end`.
    pub(crate) fn took(&mut self, incarnation: u64, end: u64) {
        self.check_incarnation(incarnation);
        self.taken = self.taken.max(end);
    }

    /// Answers a credit query from `incarnation`, which had written up to `sent` when it
    /// asked and everything before which was taken: how far it took.
    pub(crate) fn answer(&mut self, incarnation: u64, sent: u64) -> u64 {
        self.took(incarnation, sent);
        self.taken
    }

    fn check_incarnation(&mut self, incarnation: u64) {
        if self.incarnation != Some(incarnation) {
            // A restarted sender counts from nothing again.
            self.incarnation = Some(incarnation);
            self.taken = 0;
        }
    }
}

/// The most a receiver with `window` and `max_frame` queues from one sender before it
/// drops what comes (see the module docs): twice the window, plus one message larger
/// than it, plus room for heartbeats and queries.
pub(crate) fn queue_limit(window: u64, max_frame: usize) -> u64 {
    window
        .saturating_mul(2)
        .saturating_add(cost(max_frame))
        .saturating_add(INITIAL_WINDOW)
}

/// A credit query's payload: the sender's incarnation and how far it has written.
pub(crate) fn encode_ask(incarnation: u64, sent: u64) -> [u8; 16] {
    pair(incarnation, sent)
}

/// `None` for anything [`encode_ask`] does not make.
pub(crate) fn decode_ask(bytes: &[u8]) -> Option<(u64, u64)> {
    unpair(bytes)
}

/// A credit answer's payload: how far the receiver took, and its window.
pub(crate) fn encode_grant(taken: u64, window: u64) -> [u8; 16] {
    pair(taken, window)
}

/// `None` for anything [`encode_grant`] does not make.
pub(crate) fn decode_grant(bytes: &[u8]) -> Option<(u64, u64)> {
    unpair(bytes)
}

fn pair(a: u64, b: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}

fn unpair(bytes: &[u8]) -> Option<(u64, u64)> {
    if bytes.len() != 16 {
        return None;
    }
    let a = u64::from_le_bytes(bytes[..8].try_into().ok()?);
    let b = u64::from_le_bytes(bytes[8..].try_into().ok()?);
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// What travels between the two state machines of a simulated link.
    #[derive(Debug)]
    enum Wire {
        Message { end: u64, cost: u64 },
        Ask { id: u64, sent: u64 },
    }

    /// What the simulation does at one step.
    #[derive(Debug, Clone)]
    enum Step {
        /// The sender writes a message with a body of this size, if its window allows.
        Send(usize),
        /// zenoh delivers what is on the wire to the receiver's queue (up to this many).
        Deliver(usize),
        /// The receiver's core takes this many from its queue.
        Take(usize),
        /// The router dies with what is on the wire.
        Lose,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0usize..3000).prop_map(Step::Send),
            (0usize..8).prop_map(Step::Deliver),
            (0usize..8).prop_map(Step::Take),
            Just(Step::Lose),
        ]
    }

    /// The two sides, and the wire and queue between them.
    struct Link {
        sender: SendWindow,
        receiver: ReceiveWindow,
        window: u64,
        wire: VecDeque<Wire>,
        queue: VecDeque<Wire>,
        queued: u64,
        now: Instant,
    }

    impl Link {
        fn new(window: u64) -> Link {
            Link {
                sender: SendWindow::default(),
                receiver: ReceiveWindow::default(),
                window,
                wire: VecDeque::new(),
                queue: VecDeque::new(),
                queued: 0,
                now: Instant::now(),
            }
        }

        /// The sender's turn: write if allowed, ask if it should; `true` if written.
        fn send(&mut self, len: usize) -> bool {
            let cost = cost(len);
            let sent = self.sender.may_send(cost);
            if sent {
                let end = self.sender.sent(cost);
                self.wire.push_back(Wire::Message { end, cost });
            }
            if self.sender.should_ask(!sent, self.now) {
                let (id, sent) = self.sender.asked();
                self.wire.push_back(Wire::Ask { id, sent });
            }
            sent
        }

        fn deliver(&mut self, n: usize) {
            for _ in 0..n {
                let Some(item) = self.wire.pop_front() else {
                    return;
                };
                if let Wire::Message { cost, .. } = item {
                    self.queued += cost;
                }
                self.queue.push_back(item);
            }
        }

        fn take(&mut self, n: usize) {
            for _ in 0..n {
                match self.queue.pop_front() {
                    None => return,
                    Some(Wire::Message { end, cost }) => {
                        self.queued -= cost;
                        self.receiver.took(1, end);
                    }
                    Some(Wire::Ask { sent, .. }) => {
                        let taken = self.receiver.answer(1, sent);
                        self.sender.granted(taken, self.window);
                    }
                }
            }
        }

        fn lose(&mut self) {
            for item in std::mem::take(&mut self.wire) {
                if let Wire::Ask { id, .. } = item {
                    self.sender.ask_ended(id, self.now);
                    self.now += ASK_AGAIN_AFTER;
                }
            }
        }
    }

    proptest! {
        /// Whatever the pace of each side and whatever is lost, the receiver never
        /// queues more than the bound, and a sender that waits always gets through once
        /// the receiver takes everything.
        #[test]
        fn the_queue_stays_bounded_and_nothing_deadlocks(
            steps in proptest::collection::vec(step(), 1..400),
            window in 1024u64..20_000,
        ) {
            let mut link = Link::new(window);
            let bound = queue_limit(window.max(INITIAL_WINDOW), 3000);
            for step in steps {
                match step {
                    Step::Send(len) => { link.send(len); }
                    Step::Deliver(n) => link.deliver(n),
                    Step::Take(n) => link.take(n),
                    Step::Lose => link.lose(),
                }
                prop_assert!(link.queued <= bound, "queued {} > {}", link.queued, bound);
            }
            // Everything on its way is delivered and taken: the sender gets room again.
            for _ in 0..4 {
                if link.send(2999) {
                    return Ok(());
                }
                link.deliver(usize::MAX);
                link.take(usize::MAX);
            }
            prop_assert!(false, "the sender never got room: {:?}", link.sender);
        }
    }

    #[test]
    fn a_fresh_sender_writes_its_initial_window_then_waits() {
        let mut window = SendWindow::default();
        let one = cost(1000);
        let mut written = 0;
        while window.may_send(one) {
            window.sent(one);
            written += 1;
        }
        assert_eq!(written, INITIAL_WINDOW / one);
        assert!(window.should_ask(true, Instant::now()));
    }

    #[test]
    fn a_message_larger_than_the_window_goes_when_nothing_is_outstanding() {
        let mut window = SendWindow::default();
        let big = cost(10 * INITIAL_WINDOW as usize);
        assert!(window.may_send(big), "nothing outstanding yet");
        window.sent(cost(10));
        assert!(!window.may_send(big));
        let (_, sent) = window.asked();
        window.granted(sent, INITIAL_WINDOW);
        assert!(window.may_send(big));
    }

    #[test]
    fn an_answer_never_opens_more_than_was_written_plus_the_window() {
        let mut window = SendWindow::default();
        window.sent(100);
        window.asked();
        window.granted(u64::MAX, 1000);
        window.sent(10);
        // Taken counts as 100 (all that was written), not more: the limit stays the
        // initial window, and with 10 outstanding nothing larger than what fits goes.
        assert!(window.may_send(INITIAL_WINDOW - 110));
        assert!(!window.may_send(INITIAL_WINDOW - 109));
    }

    #[test]
    fn a_restarted_sender_starts_from_nothing() {
        let mut receiver = ReceiveWindow::default();
        receiver.took(1, 50_000);
        assert_eq!(receiver.answer(2, 10), 10);
    }

    #[test]
    fn an_unanswered_ask_is_repeated_only_after_a_pause() {
        let mut window = SendWindow::default();
        let now = Instant::now();
        window.sent(INITIAL_WINDOW);
        assert!(window.should_ask(true, now));
        let (first, _) = window.asked();
        assert!(!window.should_ask(true, now));
        window.ask_ended(first, now);
        assert!(!window.should_ask(true, now));
        assert!(window.should_ask(true, now + ASK_AGAIN_AFTER));
        // The end of an older query says nothing about the one on its way.
        let (_, _) = window.asked();
        window.ask_ended(first, now);
        assert!(!window.should_ask(true, now + ASK_AGAIN_AFTER));
    }

    proptest! {
        #[test]
        fn payloads_round_trip(a: u64, b: u64) {
            prop_assert_eq!(decode_ask(&encode_ask(a, b)), Some((a, b)));
            prop_assert_eq!(decode_grant(&encode_grant(a, b)), Some((a, b)));
        }

        #[test]
        fn garbage_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(decode_ask(&bytes).is_some(), bytes.len() == 16);
        }
    }
}

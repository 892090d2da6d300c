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
//! and including it. It may write while `end` stays within its *limit*, which starts at
//! [`INITIAL_WINDOW`]; when less than half its window is left it asks the receiver for
//! more with a *credit query* (`to/<receiver>/cr/<sender>`) carrying how far it has
//! written. The receiver keeps the latest query of each sender (a newer one replaces it)
//! and answers it as its core takes that sender's messages: with how far it has taken
//! and its window, so the sender's limit becomes `taken + window`. It answers at once,
//! then whenever it took more and [`ANSWER_EVERY`] has passed or it has nothing more
//! queued from that sender, and a last time (dropping the query, which zenoh then
//! finalizes) once it took all that the query counted. So a slow consumer moves its
//! senders on at its own pace, never in steps of half a window.
//!
//! What is queued at the receiver is bounded by the window (the receiver's
//! `connection_buffer`, at least [`INITIAL_WINDOW`]; a sender believes no window above
//! [`MAX_WINDOW`]), plus one message larger than the window, which is written only when
//! nothing else is outstanding. Answers report only what was taken, so the bound holds
//! whatever order zenoh delivers queries and events in. Heartbeats and flushes are
//! outside the window (one a second at most, and one at the end). The receiver drops
//! (and logs) what goes beyond [`queue_limit`]: only a sender that ignores its window
//! gets there, and the sequence numbers report what was dropped.
//!
//! # Loss
//!
//! A message that never reaches the receiver's queue (lost with a router, or dropped
//! before any queue as bad input) is never taken, and the sender would wait for it for
//! good. So a receiver that has nothing queued from a sender, whose core took nothing
//! for [`PRESUME_LOST_AFTER`], while that sender's query counts more, counts it as
//! taken; not again within [`PRESUME_AGAIN_AFTER`] unless a message at or past that
//! point was taken (or the sender asked counting less, as a forged query's count
//! would). If it was only late
//! (credit queries travel above the data's priority and may overtake it), it arrives on
//! top of a fresh window: at most twice the window (or twice one larger message) is
//! then queued, within [`queue_limit`].
//! A message the receiver drops itself (held too long for its sender's presence, or from
//! another incarnation) counts as taken at once. A credit query that zenoh finalizes
//! without an answer (its route gone) is asked again after [`ASK_AGAIN_AFTER`]; one that
//! was answered, at once if needed; a new link does not wait for the old link's query.
//!
//! The sender's state moves from one link to the next with the rest of the numbering;
//! the receiver's is per sender incarnation, and follows a sender that numbers afresh
//! (ends that go back). An answer never counts more as taken than its query said was
//! written, nor a window beyond [`MAX_WINDOW`], so a forged answer cannot open a
//! sender's window without bound.

use std::time::{Duration, Instant};

/// What a queued message costs beyond its body (its name, header and queue entry).
pub(crate) const PER_MESSAGE: u64 = 128;

/// The window a fresh link starts with, before the receiver said its own.
pub(crate) const INITIAL_WINDOW: u64 = 64 * 1024;

/// How long after a credit query ended unanswered the sender asks again.
pub(crate) const ASK_AGAIN_AFTER: Duration = Duration::from_millis(50);

/// How often, at most, a receiver answers a credit query while its core takes.
pub(crate) const ANSWER_EVERY: Duration = Duration::from_millis(20);

/// How long a receiver with nothing queued from a sender, whose core took nothing
/// meanwhile, waits before it counts what that sender's credit query counts as taken
/// (lost on the way, or dropped before any queue).
pub(crate) const PRESUME_LOST_AFTER: Duration = Duration::from_millis(100);

/// How long after a presumption that nothing has confirmed another may be made (what it
/// counted was lost, not late, if nothing of it came in this long).
pub(crate) const PRESUME_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// The largest window a sender believes a receiver gives.
pub(crate) const MAX_WINDOW: u64 = 64 * 1024 * 1024;

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
    /// `now` is called only to tell the last: a writer asks this for every message.
    pub(crate) fn should_ask(&self, waiting: bool, now: impl FnOnce() -> Instant) -> bool {
        let low = self.limit.saturating_sub(self.sent) < self.window / 2;
        !self.asking && (low || waiting) && self.ask_not_before.is_none_or(|at| now() >= at)
    }

    /// A credit query goes; returns its id and how far this sender has written (for its
    /// payload).
    pub(crate) fn asked(&mut self) -> (u64, u64) {
        self.asking = true;
        self.asks += 1;
        (self.asks, self.sent)
    }

    /// An answer to the credit query that counted `asked` as written: the receiver took
    /// everything up to `taken`, and its window is `window`.
    pub(crate) fn granted(&mut self, asked: u64, taken: u64, window: u64) {
        let taken = taken.min(asked).min(self.sent);
        let window = window.clamp(1, MAX_WINDOW);
        self.acked = self.acked.max(taken);
        self.window = window;
        self.limit = self.limit.max(taken.saturating_add(window));
    }

    /// Credit query `ask` ended (zenoh finalized it): another may go; after a pause if
    /// it got no answer at all.
    pub(crate) fn ask_ended(&mut self, ask: u64, answered: bool, now: Instant) {
        if self.asking && ask == self.asks {
            self.asking = false;
            self.ask_not_before = (!answered).then(|| now + ASK_AGAIN_AFTER);
        }
    }

    /// A new link to the same remote takes over: the old one's credit query is no
    /// longer waited for (what it left outstanding is the receiver's to count; see the
    /// module docs on loss).
    pub(crate) fn handed_over(&mut self) {
        self.asking = false;
        self.ask_not_before = None;
    }
}

/// A receiver's record of how far it took one sender's messages.
#[derive(Debug, Default)]
pub(crate) struct ReceiveWindow {
    incarnation: Option<u64>,
    taken: u64,
    /// What was last presumed taken, and when, until a message at or past it is taken
    /// (or the sender asks counting less: it never wrote that far).
    presumed: Option<(u64, Instant)>,
}

impl ReceiveWindow {
    /// The core took a message of that sender incarnation, numbered up to `end` (or
    /// counted it as taken). Ends only grow along one numbering; one that goes back means
    /// the sender numbers afresh (a new link after it forgot this endpoint), and is
    /// followed.
    pub(crate) fn took(&mut self, incarnation: u64, end: u64) {
        self.check_incarnation(incarnation);
        self.taken = end;
        if self.presumed.is_some_and(|(presumed, _)| end >= presumed) {
            self.presumed = None;
        }
    }

    /// A credit query from `incarnation` came, counting `sent`.
    pub(crate) fn asked(&mut self, incarnation: u64, sent: u64) {
        self.check_incarnation(incarnation);
        if self.presumed.is_some_and(|(presumed, _)| sent < presumed) {
            self.presumed = None;
        }
    }

    /// Whether what a credit query counts may be presumed taken: not within
    /// [`PRESUME_AGAIN_AFTER`] of an earlier presumption still unconfirmed (what it
    /// counted may still be on its way, and a second would let the sender write a window
    /// more on top of it).
    pub(crate) fn may_presume(&self, now: Instant) -> bool {
        self.presumed
            .is_none_or(|(_, at)| now >= at + PRESUME_AGAIN_AFTER)
    }

    /// When a presumption may next be made (see [`may_presume`](Self::may_presume)).
    pub(crate) fn may_presume_from(&self) -> Option<Instant> {
        self.presumed.map(|(_, at)| at + PRESUME_AGAIN_AFTER)
    }

    /// Counts everything up to `sent` as taken: lost on the way, or dropped before any
    /// queue (see the module docs).
    pub(crate) fn presume(&mut self, incarnation: u64, sent: u64, now: Instant) {
        if self.may_presume(now) {
            self.took(incarnation, sent);
            self.presumed = Some((sent, now));
        }
    }

    /// How far the core took what `incarnation` sent (nothing, for an incarnation it
    /// took nothing from).
    pub(crate) fn taken(&self, incarnation: u64) -> u64 {
        if self.incarnation == Some(incarnation) {
            self.taken
        } else {
            0
        }
    }

    fn check_incarnation(&mut self, incarnation: u64) {
        if self.incarnation != Some(incarnation) {
            // A restarted sender counts from nothing again.
            self.incarnation = Some(incarnation);
            self.taken = 0;
            self.presumed = None;
        }
    }
}

/// The most a receiver with `window` and `max_frame` queues from one sender before it
/// drops what comes: the window or one message larger than it, as much again that was
/// presumed lost and came late (see the module docs), and room for heartbeats and
/// flushes.
pub(crate) fn queue_limit(window: u64, max_frame: usize) -> u64 {
    let one = window.max(cost(max_frame));
    one.saturating_mul(2).saturating_add(INITIAL_WINDOW)
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

    /// What the simulation does at one step.
    #[derive(Debug, Clone)]
    enum Step {
        /// The sender writes a message with a body of this size, if its window allows.
        Send(usize),
        /// The sender writes a message larger than the window, if nothing is outstanding.
        SendBig,
        /// zenoh delivers what is on the wire to the receiver's queue (up to this many).
        Deliver(usize),
        /// zenoh delivers the oldest credit query on its way, ahead of any messages.
        DeliverAsk,
        /// The receiver's core takes this many from its queue.
        Take(usize),
        /// The router dies with what is on its way; the sender makes a new link.
        Lose,
        /// The receiver, with nothing queued, counts what its query counts as taken.
        Presume,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0usize..3000).prop_map(Step::Send),
            Just(Step::SendBig),
            (0usize..8).prop_map(Step::Deliver),
            Just(Step::DeliverAsk),
            (0usize..8).prop_map(Step::Take),
            Just(Step::Lose),
            Just(Step::Presume),
        ]
    }

    /// A credit query: its id, and how far the sender had written.
    #[derive(Debug, Clone, Copy)]
    struct Ask {
        id: u64,
        sent: u64,
    }

    /// The two sides, and the wire and queue between them. The receiver answers less
    /// often than the real one (only once it took all the query counted, or has nothing
    /// more queued): if this one never deadlocks, neither does the real one.
    struct Link {
        sender: SendWindow,
        receiver: ReceiveWindow,
        window: u64,
        wire: VecDeque<(u64, u64)>,
        asks: VecDeque<Ask>,
        queue: VecDeque<(u64, u64)>,
        queued: u64,
        /// The query the receiver holds, and whether it answered it yet.
        pending: Option<(Ask, bool)>,
        now: Instant,
    }

    impl Link {
        fn new(window: u64) -> Link {
            Link {
                sender: SendWindow::default(),
                receiver: ReceiveWindow::default(),
                window,
                wire: VecDeque::new(),
                asks: VecDeque::new(),
                queue: VecDeque::new(),
                queued: 0,
                pending: None,
                now: Instant::now(),
            }
        }

        /// The sender's turn: write if allowed, ask if it should; `true` if written.
        fn send(&mut self, len: usize) -> bool {
            let cost = cost(len);
            let sent = self.sender.may_send(cost);
            if sent {
                let end = self.sender.sent(cost);
                self.wire.push_back((end, cost));
            }
            if self.sender.should_ask(!sent, || self.now) {
                let (id, sent) = self.sender.asked();
                self.asks.push_back(Ask { id, sent });
            }
            sent
        }

        fn deliver(&mut self, n: usize) {
            for _ in 0..n {
                let Some((end, cost)) = self.wire.pop_front() else {
                    return;
                };
                self.queued += cost;
                self.queue.push_back((end, cost));
            }
        }

        fn deliver_ask(&mut self) {
            let Some(ask) = self.asks.pop_front() else {
                return;
            };
            // A newer query replaces the one held: that one ends.
            if let Some((old, answered)) = self.pending.replace((ask, false)) {
                self.sender.ask_ended(old.id, answered, self.now);
            }
            self.receiver.asked(1, ask.sent);
            self.answer(true);
        }

        fn answer(&mut self, now: bool) {
            let Some((ask, answered)) = &mut self.pending else {
                return;
            };
            let taken = self.receiver.taken(1);
            if now || taken >= ask.sent || self.queue.is_empty() {
                // (The real receiver answers as often, or more.)
                self.sender.granted(ask.sent, taken, self.window);
                *answered = true;
            }
            if taken >= ask.sent {
                let (ask, answered) = self.pending.take().unwrap();
                self.sender.ask_ended(ask.id, answered, self.now);
            }
        }

        fn take(&mut self, n: usize) {
            for _ in 0..n {
                let Some((end, cost)) = self.queue.pop_front() else {
                    return;
                };
                self.queued -= cost;
                self.receiver.took(1, end);
                self.answer(false);
            }
        }

        fn presume(&mut self) {
            if let (true, Some((ask, _))) = (self.queue.is_empty(), self.pending) {
                if self.receiver.taken(1) < ask.sent && self.receiver.may_presume(self.now) {
                    self.receiver.presume(1, ask.sent, self.now);
                    self.answer(true);
                }
            }
        }

        fn lose(&mut self) {
            self.wire.clear();
            let pending = self
                .pending
                .take()
                .map(|(ask, answered)| (ask.id, answered));
            let lost = self.asks.drain(..).map(|ask| (ask.id, false));
            for (id, answered) in lost.chain(pending).collect::<Vec<_>>() {
                self.sender.ask_ended(id, answered, self.now);
            }
            self.now += ASK_AGAIN_AFTER;
            self.sender.handed_over();
        }
    }

    proptest! {
        /// Whatever the pace of each side, the order zenoh delivers queries in, and
        /// whatever is lost, the receiver never queues more than the window allows (plus
        /// what a new link may add), and a sender that waits always gets through once the
        /// receiver takes everything.
        #[test]
        fn the_queue_stays_bounded_and_nothing_deadlocks(
            steps in proptest::collection::vec(step(), 1..600),
            window in INITIAL_WINDOW..4 * INITIAL_WINDOW,
        ) {
            let mut link = Link::new(window);
            let big = 2 * window as usize;
            // The window (or one larger message), and as much again presumed lost that
            // came late.
            let honest = 2 * window.max(cost(big));
            prop_assert!(honest <= queue_limit(window, big));
            for step in steps {
                match step {
                    Step::Send(len) => { link.send(len); }
                    Step::SendBig => { link.send(big); }
                    Step::Deliver(n) => link.deliver(n),
                    Step::DeliverAsk => link.deliver_ask(),
                    Step::Take(n) => link.take(n),
                    Step::Lose => link.lose(),
                    Step::Presume => link.presume(),
                }
                prop_assert!(link.queued <= honest, "queued {} > {}", link.queued, honest);
            }
            // Everything on its way is delivered and taken: the sender gets room again.
            for _ in 0..4 {
                if link.send(2999) {
                    return Ok(());
                }
                link.deliver(usize::MAX);
                while !link.asks.is_empty() {
                    link.deliver_ask();
                }
                link.take(usize::MAX);
                link.presume();
                link.now += PRESUME_AGAIN_AFTER;
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
        assert!(window.should_ask(true, Instant::now));
    }

    #[test]
    fn a_message_larger_than_the_window_goes_when_nothing_is_outstanding() {
        let mut window = SendWindow::default();
        let big = cost(10 * INITIAL_WINDOW as usize);
        assert!(window.may_send(big), "nothing outstanding yet");
        window.sent(cost(10));
        assert!(!window.may_send(big));
        let (_, sent) = window.asked();
        window.granted(sent, sent, INITIAL_WINDOW);
        assert!(window.may_send(big));
    }

    #[test]
    fn a_forged_answer_opens_no_more_than_what_its_query_counted_plus_the_largest_window() {
        let mut window = SendWindow::default();
        window.sent(100);
        let (_, asked) = window.asked();
        window.sent(1000);
        window.granted(asked, u64::MAX, u64::MAX);
        // Taken counts as 100 (what the query counted), not 1100: 1000 stay outstanding.
        assert!(window.may_send(MAX_WINDOW - 1000));
        assert!(!window.may_send(MAX_WINDOW - 999));
    }

    #[test]
    fn a_new_link_does_not_wait_for_the_old_ones_query() {
        let mut window = SendWindow::default();
        while window.may_send(1000) {
            window.sent(1000);
        }
        window.asked();
        window.handed_over();
        assert!(!window.may_send(1000), "what was outstanding still is");
        assert!(window.should_ask(true, Instant::now));
    }

    #[test]
    fn a_sender_numbering_afresh_is_followed() {
        let mut receiver = ReceiveWindow::default();
        receiver.took(1, 50_000);
        receiver.took(1, 300);
        assert_eq!(receiver.taken(1), 300);
    }

    #[test]
    fn a_restarted_sender_starts_from_nothing() {
        let mut receiver = ReceiveWindow::default();
        receiver.took(1, 50_000);
        assert_eq!(receiver.taken(2), 0);
        receiver.took(2, 10);
        assert_eq!(receiver.taken(2), 10);
        assert_eq!(receiver.taken(1), 0);
    }

    #[test]
    fn an_unanswered_ask_is_repeated_only_after_a_pause() {
        let mut window = SendWindow::default();
        let now = Instant::now();
        window.sent(INITIAL_WINDOW);
        assert!(window.should_ask(true, || now));
        let (first, _) = window.asked();
        assert!(!window.should_ask(true, || now));
        window.ask_ended(first, false, now);
        assert!(!window.should_ask(true, || now));
        assert!(window.should_ask(true, || now + ASK_AGAIN_AFTER));
        // The end of an older query says nothing about the one on its way.
        let (second, _) = window.asked();
        window.ask_ended(first, false, now);
        assert!(!window.should_ask(true, || now + ASK_AGAIN_AFTER));
        // One that was answered may be followed at once.
        window.ask_ended(second, true, now);
        assert!(window.should_ask(true, || now));
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

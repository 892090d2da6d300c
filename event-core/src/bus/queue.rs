//! A subscriber's bounded queue: many senders (the tasks that deliver to it), one
//! receiver (its stream).
//!
//! # Semantics
//!
//! * **Bounded.** At most `capacity` items are queued, or taken by the receiver and not
//!   yet yielded. Each item yielded makes room at once for
//!   [`try_send`](QueueSender::try_send), which hands the item back when the queue is
//!   full; [`wait_room`](QueueSender::wait_room) waits for room, up to a deadline (the
//!   stall timeout), and is woken in steps (see there).
//! * **Order.** Items come out in the order they went in.
//! * **End.** The receiver yields what is queued, then `None` once every sender is gone.
//!   A dropped receiver refuses new items ([`TrySend::Closed`]) and drops what it held.
//! * **Cooperation.** Each item yielded spends the task's tokio budget, as tokio's own
//!   channels do: a stream that never runs dry still lets the other tasks of its thread
//!   run.
//!
//! # Why not `tokio::sync::mpsc`
//!
//! Every event crosses one of these queues, and a stream's consumer usually takes many in
//! a row. Here the receiver takes everything queued with one lock and then yields it
//! without a lock, publishing what it still holds with one plain store per item; a sender takes
//! the lock once per item. tokio's bounded channel pays several atomic operations per
//! item on each side (its semaphore releases a permit under a mutex on every receive).
//!
//! Unlike tokio's semaphore, waiting senders are not served in turn: all are woken when
//! room appears and the first to look takes it.

use crate::sync;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use tokio::sync::Notify;

/// While a sender waits, the receiver wakes it every this many parts of the capacity
/// it yields.
const ROOM_STEPS: usize = 8;

/// How long a waiting sender goes without looking for room itself, at most.
const LOOK_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

struct State<T> {
    items: VecDeque<T>,
    /// The receiver, parked on an empty queue.
    waker: Option<Waker>,
    receiver_gone: bool,
    senders: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Waiting senders are woken every this many items yielded
    /// (`capacity / ROOM_STEPS`, at least 1).
    room_step: usize,
    /// Items the receiver took and has not yielded yet. Written by the receiver alone
    /// (under the lock when it takes a batch, with a plain store as it yields), read by
    /// senders under the lock. A stale read only ever sees less room than there is, and
    /// a waiting sender looks again within [`LOOK_AT_MOST_EVERY`].
    held: AtomicUsize,
    /// Senders waiting in [`QueueSender::wait_room`].
    waiting: AtomicUsize,
    room: Notify,
}

impl<T> Shared<T> {
    fn is_full(&self, state: &State<T>) -> bool {
        state.items.len() + self.held.load(Ordering::Acquire) >= self.capacity
    }
}

/// Why [`QueueSender::try_send`] handed the item back.
#[derive(Debug)]
pub(crate) enum TrySend<T> {
    Full(T),
    Closed(T),
}

/// Makes a queue of `capacity` items (at least 1).
pub(crate) fn queue<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            waker: None,
            receiver_gone: false,
            senders: 1,
        }),
        capacity: capacity.max(1),
        room_step: (capacity / ROOM_STEPS).max(1),
        held: AtomicUsize::new(0),
        waiting: AtomicUsize::new(0),
        room: Notify::new(),
    });
    let receiver = QueueReceiver {
        shared: shared.clone(),
        batch: VecDeque::new(),
        woken_at: 0,
    };
    (QueueSender { shared }, receiver)
}

/// The sending side; clones share the queue.
pub(crate) struct QueueSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        sync::lock(&self.shared.state).senders += 1;
        QueueSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = sync::lock(&self.shared.state);
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> QueueSender<T> {
    /// Queues `item` if there is room now.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySend<T>> {
        let waker = {
            let mut state = sync::lock(&self.shared.state);
            if state.receiver_gone {
                return Err(TrySend::Closed(item));
            }
            if self.shared.is_full(&state) {
                return Err(TrySend::Full(item));
            }
            state.items.push_back(item);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Waits until the queue may have room or the receiver is gone (`true`; try again
    /// then: another sender may have taken the room first), or until `deadline`
    /// (`false`).
    ///
    /// The receiver wakes waiting senders when it takes a batch and every
    /// [`ROOM_STEPS`]th of the capacity it yields, so that they fill the queue in
    /// batches, not one item each; between wake-ups a waiting sender looks for itself
    /// every sixteenth of its wait (every 20 ms at most), so a consumer that keeps
    /// reading, however slowly, makes room before the deadline, and room is never left
    /// unused for long.
    pub(crate) async fn wait_room(&self, deadline: tokio::time::Instant) -> bool {
        let shared = &self.shared;
        let has_room = || {
            let state = sync::lock(&shared.state);
            state.receiver_gone || !shared.is_full(&state)
        };
        let look_every = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .div_f64(16.0)
            .clamp(std::time::Duration::from_millis(1), LOOK_AT_MOST_EVERY);
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&shared.waiting);
        loop {
            let notified = shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if has_room() {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let _ = tokio::time::timeout_at(deadline.min(now + look_every), notified).await;
        }
    }
}

/// Counts a sender out of the waiting ones, however its wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The receiving side.
pub(crate) struct QueueReceiver<T> {
    shared: Arc<Shared<T>>,
    /// Taken from the queue, not yet yielded.
    batch: VecDeque<T>,
    /// The batch's length when waiting senders were last woken.
    woken_at: usize,
}

impl<T> QueueReceiver<T> {
    /// The next item; `None` once the queue is empty and every sender is gone.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        if let Some(item) = self.batch.pop_front() {
            // One plain store: a sender reads what is held when it looks for room.
            self.shared.held.store(self.batch.len(), Ordering::Release);
            if self.woken_at - self.batch.len() >= self.shared.room_step {
                self.wake_senders();
            }
            coop.made_progress();
            return Poll::Ready(Some(item));
        }
        let mut old_waker = None;
        let item = {
            let mut state = sync::lock(&self.shared.state);
            std::mem::swap(&mut state.items, &mut self.batch);
            let item = self.batch.pop_front();
            self.shared.held.store(self.batch.len(), Ordering::Release);
            if item.is_none() {
                if state.senders == 0 {
                    coop.made_progress();
                    return Poll::Ready(None);
                }
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    old_waker = state.waker.replace(cx.waker().clone());
                }
            }
            item
        };
        // Dropped outside the lock: a waker is another crate's code.
        drop(old_waker);
        // The queue was emptied: room for whoever waits.
        self.wake_senders();
        match item {
            Some(item) => {
                coop.made_progress();
                Poll::Ready(Some(item))
            }
            None => Poll::Pending,
        }
    }

    fn wake_senders(&mut self) {
        self.woken_at = self.batch.len();
        // Orders the plain stores of `held` before the look at `waiting` (a sender counts
        // itself in, then looks at `held`): one of the two sees the other. Once a step.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.shared.waiting.load(Ordering::SeqCst) > 0 {
            self.shared.room.notify_waiters();
        }
    }

    /// The next item (see [`poll_recv`](Self::poll_recv)).
    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// How many items are queued or held, not yet yielded.
    pub(crate) fn len(&self) -> usize {
        sync::lock(&self.shared.state).items.len() + self.batch.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for QueueReceiver<T> {
    fn drop(&mut self) {
        let items = {
            let mut state = sync::lock(&self.shared.state);
            state.receiver_gone = true;
            std::mem::take(&mut state.items)
        };
        self.shared.held.store(0, Ordering::Release);
        // Dropped outside the lock: an item's drop may run code of its own (a request's
        // reply handle tells its requester).
        drop(items);
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn recv<T>(receiver: &mut QueueReceiver<T>) -> Option<T> {
        receiver.recv().await
    }

    fn now<T>(receiver: &mut QueueReceiver<T>) -> Poll<Option<T>> {
        receiver.poll_recv(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test]
    async fn items_come_out_in_order_and_the_queue_holds_at_most_its_capacity() {
        let (tx, mut rx) = queue(3);
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(3), Err(TrySend::Full(3))));
        assert_eq!(rx.len(), 3);
        // Taken into the receiver's batch, the items still count until they are yielded.
        assert_eq!(recv(&mut rx).await, Some(0));
        tx.try_send(3).unwrap();
        assert!(matches!(tx.try_send(4), Err(TrySend::Full(4))));
        assert_eq!(rx.len(), 3);
        let mut got = Vec::new();
        while let Poll::Ready(Some(item)) = now(&mut rx) {
            got.push(item);
        }
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(rx.len(), 0);
        for i in 4..7 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(7), Err(TrySend::Full(7))));
    }

    #[tokio::test]
    async fn the_stream_ends_after_what_is_queued_once_every_sender_is_gone() {
        let (tx, mut rx) = queue(8);
        let other = tx.clone();
        tx.try_send(1).unwrap();
        drop(tx);
        other.try_send(2).unwrap();
        assert!(now(&mut rx).is_ready());
        let waiting = tokio::spawn(async move {
            let mut got = vec![2];
            assert_eq!(recv(&mut rx).await, Some(2));
            while let Some(item) = recv(&mut rx).await {
                got.push(item);
            }
            got
        });
        tokio::task::yield_now().await;
        other.try_send(3).unwrap();
        drop(other);
        let got = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the receiver was not woken")
            .unwrap();
        assert_eq!(got, vec![2, 3]);
    }

    #[tokio::test]
    async fn an_item_yielded_makes_room_at_once_and_a_waiting_sender_finds_it() {
        let capacity = 64;
        let (tx, mut rx) = queue(capacity);
        for i in 0..capacity {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(capacity), Err(TrySend::Full(_))));
        // One item taken (the rest of the queue now held by the receiver): one slot free
        // for a sender that only tries, as `broadcast_nowait` does.
        assert_eq!(recv(&mut rx).await, Some(0));
        tx.try_send(capacity).unwrap();
        assert!(matches!(tx.try_send(capacity + 1), Err(TrySend::Full(_))));
        // A sender waiting for room gets it from the next single item yielded, without
        // the consumer reading anything more (it looks for itself between wake-ups).
        let waiting = {
            let tx = tx.clone();
            tokio::spawn(async move {
                // Looks for itself every 20 ms: long before the deadline,
                // which the test's timeout below never reaches.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(16);
                assert!(tx.wait_room(deadline).await, "no room before the deadline");
                tx.try_send(capacity + 1)
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(recv(&mut rx).await, Some(1));
        let sent = tokio::time::timeout(Duration::from_secs(8), waiting)
            .await
            .expect("the waiting sender did not find the room")
            .unwrap();
        assert!(sent.is_ok());
        let mut rest = Vec::new();
        drop(tx);
        while let Some(item) = recv(&mut rx).await {
            rest.push(item);
        }
        assert_eq!(rest, (2..capacity + 2).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_stream_that_never_runs_dry_still_yields_to_its_thread() {
        let (tx, mut rx) = queue(1 << 20);
        for i in 0..100_000 {
            tx.try_send(i).unwrap();
        }
        let other = tokio::spawn(async {});
        // Reading on without ever seeing an empty queue: the budget makes it yield, and
        // the other task runs before the queue is drained.
        let mut read = 0;
        while !other.is_finished() {
            assert!(recv(&mut rx).await.is_some());
            read += 1;
            assert!(read < 100_000, "the stream never yielded");
        }
    }

    /// Senders on other threads, a small queue: every item arrives, each sender's in
    /// order, and nothing hangs. (A lost wake-up would cost a waiting sender one look's
    /// delay, not a hang, so this does not catch one.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_lose_nothing_and_never_hang() {
        const SENDERS: u64 = 4;
        const EACH: u64 = 20_000;
        let (tx, mut rx) = queue::<(u64, u64)>(16);
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for index in 0..EACH {
                        let mut item = (sender, index);
                        loop {
                            match tx.try_send(item) {
                                Ok(()) => break,
                                Err(TrySend::Full(back)) => item = back,
                                Err(TrySend::Closed(_)) => panic!("closed"),
                            }
                            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                            assert!(
                                tx.wait_room(deadline).await,
                                "a waiting sender was never given room"
                            );
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u64; SENDERS as usize];
        while let Some((sender, index)) =
            tokio::time::timeout(Duration::from_secs(10), recv(&mut rx))
                .await
                .expect("the receiver was never woken")
        {
            assert_eq!(next[sender as usize], index, "sender {sender} out of order");
            next[sender as usize] += 1;
        }
        assert_eq!(next, [EACH; SENDERS as usize]);
        for sender in senders {
            sender.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_dropped_receiver_refuses_items_drops_what_it_held_and_frees_waiters() {
        let (tx, rx) = queue(1);
        let held = Arc::new(());
        tx.try_send(held.clone()).unwrap();
        let waiter = {
            let tx = tx.clone();
            tokio::spawn(async move {
                tx.wait_room(tokio::time::Instant::now() + Duration::from_secs(10))
                    .await
            })
        };
        tokio::task::yield_now().await;
        drop(rx);
        assert_eq!(Arc::strong_count(&held), 1, "the queued item was dropped");
        assert!(matches!(tx.try_send(held.clone()), Err(TrySend::Closed(_))));
        let freed = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiting sender was not freed")
            .unwrap();
        assert!(freed, "freed by the receiver's end, not by its deadline");
    }
}

//! A subscriber's bounded queue: many senders (the tasks that deliver to it), one
//! receiver (its stream).
//!
//! # Semantics
//!
//! * **Bounded.** At most `capacity` items are queued or held by the receiver and not yet
//!   taken by its consumer. [`try_send`](QueueSender::try_send) into a full queue hands
//!   the item back; [`room`](QueueSender::room) waits until there may be room (callers
//!   wait with a deadline: the stall timeout).
//! * **Order.** Items come out in the order they went in.
//! * **End.** The receiver yields what is queued, then `None` once every sender is gone.
//!   A dropped receiver refuses new items ([`TrySend::Closed`]) and drops what it held.
//!
//! # Why not `tokio::sync::mpsc`
//!
//! Every event crosses one of these queues, and a stream's consumer usually takes many in
//! a row. Here the receiver takes everything queued with one lock and then yields it
//! without touching shared state; a sender takes the lock once per item. tokio's bounded
//! channel pays several atomic operations per item on each side (its semaphore releases a
//! permit under a mutex on every receive).
//!
//! The receiver hands room back to the senders when it takes the next batch, and, while a
//! sender waits for room, every [`ROOM_STEPS`]th of the capacity it consumes: a consumer
//! that keeps reading always makes room well before a waiting sender's deadline.

use crate::sync;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;

/// While a sender waits, room is handed back in this many steps of the capacity.
const ROOM_STEPS: usize = 8;

struct State<T> {
    items: VecDeque<T>,
    /// Items the receiver took and its consumer has not taken yet, as last told.
    held: usize,
    /// The receiver, parked on an empty queue.
    waker: Option<Waker>,
    receiver_gone: bool,
    senders: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Senders waiting in [`QueueSender::room`].
    waiting: AtomicUsize,
    room: Notify,
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
            held: 0,
            waker: None,
            receiver_gone: false,
            senders: 1,
        }),
        capacity: capacity.max(1),
        waiting: AtomicUsize::new(0),
        room: Notify::new(),
    });
    let receiver = QueueReceiver {
        shared: shared.clone(),
        batch: VecDeque::new(),
        told_held: 0,
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
            if state.items.len() + state.held >= self.shared.capacity {
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

    /// Resolves once the queue may have room or the receiver is gone; try again then
    /// (another sender may have taken the room first).
    pub(crate) async fn room(&self) {
        let shared = &self.shared;
        let notified = shared.room.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let state = sync::lock(&shared.state);
            if state.receiver_gone || state.items.len() + state.held < shared.capacity {
                return;
            }
        }
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&shared.waiting);
        // The receiver may have taken the last batch between the check and the count:
        // it then saw nobody waiting and handed no room back. Look once more.
        {
            let state = sync::lock(&shared.state);
            if state.receiver_gone || state.items.len() + state.held < shared.capacity {
                return;
            }
        }
        notified.await;
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
    /// `held` as the senders last saw it.
    told_held: usize,
}

impl<T> QueueReceiver<T> {
    /// The next item; `None` once the queue is empty and every sender is gone.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(item) = self.batch.pop_front() {
            self.maybe_hand_back_room();
            return Poll::Ready(Some(item));
        }
        let item = {
            let mut state = sync::lock(&self.shared.state);
            std::mem::swap(&mut state.items, &mut self.batch);
            let item = self.batch.pop_front();
            state.held = self.batch.len();
            self.told_held = state.held;
            if item.is_none() {
                if state.senders == 0 {
                    return Poll::Ready(None);
                }
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
            }
            item
        };
        // The queue was emptied: room for whoever waits.
        if self.shared.waiting.load(Ordering::SeqCst) > 0 {
            self.shared.room.notify_waiters();
        }
        match item {
            Some(item) => Poll::Ready(Some(item)),
            None => Poll::Pending,
        }
    }

    /// The next item (see [`poll_recv`](Self::poll_recv)).
    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Tells waiting senders of the room consumed since they were last told, in steps.
    fn maybe_hand_back_room(&mut self) {
        if self.shared.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let step = (self.shared.capacity / ROOM_STEPS).max(1);
        if self.told_held - self.batch.len() < step {
            return;
        }
        sync::lock(&self.shared.state).held = self.batch.len();
        self.told_held = self.batch.len();
        self.shared.room.notify_waiters();
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
            state.held = 0;
            std::mem::take(&mut state.items)
        };
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
    async fn a_waiting_sender_gets_room_as_the_consumer_reads_on() {
        let capacity = 64;
        let (tx, mut rx) = queue(capacity);
        for i in 0..capacity {
            tx.try_send(i).unwrap();
        }
        let sender = tokio::spawn(async move {
            let mut next = capacity;
            while next < 4 * capacity {
                match tx.try_send(next) {
                    Ok(()) => next += 1,
                    Err(TrySend::Full(_)) => {
                        tokio::time::timeout(Duration::from_secs(10), tx.room())
                            .await
                            .expect("no room was handed back");
                    }
                    Err(TrySend::Closed(_)) => panic!("closed"),
                }
            }
        });
        // The consumer reads one item at a time and never drains a batch before the
        // sender must have been given room: the steps hand it back.
        for expected in 0..4 * capacity {
            let item = tokio::time::timeout(Duration::from_secs(10), recv(&mut rx))
                .await
                .expect("the consumer starved");
            assert_eq!(item, Some(expected));
        }
        sender.await.unwrap();
    }

    /// Senders on other threads, a small queue: every item arrives, each sender's in
    /// order, and no wake-up is lost (a lost one turns into a timeout here).
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
                            tokio::time::timeout(Duration::from_secs(10), tx.room())
                                .await
                                .expect("a waiting sender was never given room");
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
            tokio::spawn(async move { tx.room().await })
        };
        tokio::task::yield_now().await;
        drop(rx);
        assert_eq!(Arc::strong_count(&held), 1, "the queued item was dropped");
        assert!(matches!(tx.try_send(held.clone()), Err(TrySend::Closed(_))));
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiting sender was not freed")
            .unwrap();
    }
}

//! # Delivery and back-pressure
//!
//! Two levels of queue stand between a sender and a consumer, and each has its rule.
//!
//! **A subscriber's queue.** Every stream ([`EventStream`](crate::EventStream),
//! [`RequestStream`](crate::RequestStream)) owns a bounded queue
//! ([`EndpointOptions::queue_capacity`](crate::EndpointOptions::queue_capacity)). A
//! handler registered with [`subscribe`](crate::Endpoint::subscribe) is called in place, by
//! the task that delivers the event; it must be quick and must not block, and a panic in
//! it is caught and logged.
//!
//! * `broadcast().await` (and a backend delivering what a remote sent) **waits** when a
//!   queue is full: back-pressure, lossless.
//! * A queue that stays full for
//!   [`stall_timeout`](crate::EndpointOptions::stall_timeout) marks its consumer
//!   **stalled**: the subscription is cut off (logged with `tracing::error!`, naming the
//!   event and endpoint), its stream yields what it already holds, then ends, and
//!   [`EventStream::overflowed`](crate::EventStream::overflowed) says why. Memory stays
//!   bounded, and a wait cycle (a consumer that awaits a request whose answer is queued
//!   behind events it has not read) becomes a delay, not a deadlock.
//! * `broadcast_nowait` never waits: a full queue makes that subscriber miss the event and
//!   the call returns [`Error::QueueFull`](crate::Error::QueueFull).
//!
//! **A remote's link.** What a backend queues for one remote is bounded too (for the
//! socket mesh, [`connection_buffer`](crate::EndpointOptions::connection_buffer) bytes).
//! A sender that finds it full waits for room; a remote that takes nothing for **twice**
//! the stall timeout is considered dead (a frozen process) and disconnected, and the
//! sender gets [`Error::Stalled`](crate::Error::Stalled) naming it. Twice, so that a remote
//! whose own subscriber stalled cuts that subscriber off (and reads on) before its
//! connection is given up. Answers and subscription sets do not wait behind events.
//!
//! "Takes" is judged by what the remote reads. So that a remote whose consumer keeps
//! taking, however slowly, is never taken for dead, the socket mesh reads on while a
//! delivery waits for queue room, into a buffer of at most 256 KiB per connection behind
//! the waiting event (the frames are delivered in order afterwards); once that is full,
//! it reads as its consumers take. What a connection read and had not delivered when it
//! closes is lost with it, as what its socket held always was.
//!
//! A sender waits for all the full queues (or remotes) of one broadcast against one
//! deadline: several stalled consumers cost one timeout, not one each, and the healthy
//! ones are never held longer than that.
//!
//! No event is ever dropped silently: it is delivered, or the sender gets an error, or the
//! consumer's stream ends with `overflowed() == true`. All subscribers of one event share
//! one `Arc` of it; nothing is serialized in-process.

use super::queue::TrySend;
use super::remotes::Remote;
use super::requests::ReplyGuard;
use super::topics::{AnyEvent, Delivery, Handler, Sink, Subscriber};
use super::Bus;
use crate::backend::link::{Outgoing, Refused};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The outcome of delivering to one subscriber.
pub(crate) enum Delivered {
    Ok,
    /// The subscriber's queue stayed full for the stall timeout.
    Stalled(u64),
}

/// What became of an event handed to a remote's link.
pub(crate) enum Sent {
    Queued,
    /// The remote is gone.
    Closed,
    /// The remote took nothing for twice the stall timeout: it was disconnected.
    Stalled,
}

impl Subscriber {
    fn delivery(&self, event: AnyEvent, reply: Option<&Arc<ReplyGuard>>) -> Delivery {
        let wants_requests = matches!(
            self.sink,
            Sink::Queue {
                wants_requests: true,
                ..
            }
        );
        Delivery {
            event,
            reply: if wants_requests { reply.cloned() } else { None },
        }
    }

    /// Delivers if there is room now; a full queue hands the delivery back, to be waited
    /// for with [`wait_deliver`](Self::wait_deliver).
    fn offer(
        &self,
        event_name: &str,
        event: AnyEvent,
        reply: Option<&Arc<ReplyGuard>>,
    ) -> Result<(), Delivery> {
        match &self.sink {
            Sink::Handler(handler) => {
                call_handler(event_name, handler, event);
                Ok(())
            }
            Sink::Queue { overflowed, .. } if overflowed.load(Ordering::Acquire) => Ok(()),
            Sink::Queue { tx, .. } => match tx.try_send(self.delivery(event, reply)) {
                Ok(()) | Err(TrySend::Closed(_)) => Ok(()),
                Err(TrySend::Full(delivery)) => Err(delivery),
            },
        }
    }

    /// Delivers what [`offer`](Self::offer) handed back, waiting for room until
    /// `deadline`.
    ///
    /// A subscriber cut off for stalling gets nothing more, not even from a delivery that
    /// was already waiting when it was cut off: its stream ends with what it held, never
    /// with a gap in the middle.
    async fn wait_deliver(&self, delivery: Delivery, deadline: tokio::time::Instant) -> Delivered {
        let Sink::Queue { tx, overflowed, .. } = &self.sink else {
            return Delivered::Ok;
        };
        let mut delivery = delivery;
        loop {
            if overflowed.load(Ordering::Acquire) {
                return Delivered::Ok;
            }
            match tx.try_send(delivery) {
                Ok(()) | Err(TrySend::Closed(_)) => return Delivered::Ok,
                Err(TrySend::Full(back)) => delivery = back,
            }
            if !tx.wait_room(deadline).await {
                overflowed.store(true, Ordering::Release);
                return Delivered::Stalled(self.id);
            }
        }
    }

    /// Delivers without waiting; `false` when the queue was full.
    pub(crate) fn try_deliver(
        &self,
        event_name: &str,
        event: &AnyEvent,
        reply: Option<&Arc<ReplyGuard>>,
    ) -> bool {
        match &self.sink {
            Sink::Handler(handler) => {
                call_handler(event_name, handler, event.clone());
                true
            }
            Sink::Queue { overflowed, .. } if overflowed.load(Ordering::Acquire) => true,
            Sink::Queue { tx, .. } => !matches!(
                tx.try_send(self.delivery(event.clone(), reply)),
                Err(TrySend::Full(_))
            ),
        }
    }
}

/// A panicking handler must not take the delivering task (possibly a backend's) down.
fn call_handler(event_name: &str, handler: &Handler, event: AnyEvent) {
    if catch_unwind(AssertUnwindSafe(|| handler(event))).is_err() {
        tracing::error!(
            event = event_name,
            "a subscribe() handler panicked; the event was dropped for it"
        );
    }
}

impl Bus {
    /// Delivers to local subscribers, in order, with back-pressure; cuts off a subscriber
    /// that stalls. Every subscriber with room gets the event at once; those without are
    /// then waited for against one deadline, so several stalled subscribers cost one
    /// stall timeout, not one each.
    pub(crate) async fn deliver_local(
        &self,
        name: &'static str,
        subscribers: &[Subscriber],
        event: AnyEvent,
        reply: Option<&Arc<ReplyGuard>>,
    ) {
        let full = self.offer_local(name, subscribers, event, reply);
        if !full.is_empty() {
            self.wait_local(name, subscribers, full).await;
        }
    }

    /// Hands `event` to every subscriber with room now; those without come back (their
    /// index in `subscribers`, and the delivery to wait with). Allocates only when a
    /// queue is full.
    pub(crate) fn offer_local(
        &self,
        name: &'static str,
        subscribers: &[Subscriber],
        event: AnyEvent,
        reply: Option<&Arc<ReplyGuard>>,
    ) -> Vec<(usize, Delivery)> {
        let mut full = Vec::new();
        // Every subscriber but the last gets a clone; the last (often the only one) takes
        // the event itself.
        let mut event = Some(event);
        for (index, subscriber) in subscribers.iter().enumerate() {
            let shared_event = if index + 1 == subscribers.len() {
                event.take()
            } else {
                event.clone()
            };
            let Some(shared_event) = shared_event else {
                break;
            };
            if let Err(delivery) = subscriber.offer(name, shared_event, reply) {
                full.push((index, delivery));
            }
        }
        full
    }

    /// Waits for room for the deliveries [`offer_local`](Self::offer_local) could not
    /// make, against one deadline; cuts off a subscriber that stalls.
    pub(crate) async fn wait_local(
        &self,
        name: &'static str,
        subscribers: &[Subscriber],
        full: Vec<(usize, Delivery)>,
    ) {
        let stall = self.options.stall_timeout;
        let deadline = tokio::time::Instant::now() + stall;
        for (index, delivery) in full {
            let subscriber = &subscribers[index];
            if let Delivered::Stalled(id) = subscriber.wait_deliver(delivery, deadline).await {
                tracing::error!(
                    endpoint = %self.name,
                    event = name,
                    ?stall,
                    "subscriber stalled (queue full): cut off; its stream ends after what it holds"
                );
                self.remove_subscriber(name, id);
            }
        }
    }

    /// Hands `event` to `remote`, waiting for room until `deadline` (twice the stall
    /// timeout after the sender first found a remote full); a remote that stays full
    /// that long is disconnected.
    pub(crate) async fn send_or_stall(
        &self,
        remote: &Remote,
        event: &Outgoing<'_>,
        deadline: tokio::time::Instant,
    ) -> Sent {
        let refused = match remote.link.try_send(event) {
            Ok(()) => None,
            Err(Refused::Full) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match remote.link.send(event, left).await {
                    Ok(()) => None,
                    Err(Refused::Full) => {
                        let waited = self.options.connection_stall_timeout();
                        tracing::error!(
                            endpoint = %self.name,
                            remote = %remote.name,
                            ?waited,
                            "remote stalled (it took nothing); disconnecting"
                        );
                        self.disconnect(remote, "stalled");
                        return Sent::Stalled;
                    }
                    Err(refused) => Some(refused),
                }
            }
            Err(refused) => Some(refused),
        };
        match refused {
            None => {
                remote.events_sent.fetch_add(1, Ordering::Relaxed);
                Sent::Queued
            }
            Some(_) => Sent::Closed,
        }
    }

    /// The deadline of a sender that finds a remote full now.
    pub(crate) fn remote_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.options.connection_stall_timeout()
    }

    /// Hands `event` to `remote` if it has room now.
    pub(crate) fn try_send(&self, remote: &Remote, event: &Outgoing<'_>) -> Result<(), Refused> {
        remote.link.try_send(event)?;
        remote.events_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

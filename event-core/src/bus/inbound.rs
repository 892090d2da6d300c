//! What arrives from remote endpoints, as their backends hand it in.
//!
//! * An event or request is looked up among the local topics, decoded once as the
//!   subscribed type, and delivered under the delivery policy. One that nobody here
//!   subscribes to (a race with an unsubscribe the sender had not heard of yet, or an
//!   unknown name) or whose body does not decode is dropped alone, logged; a request so
//!   dropped is reported back at once, so its requester does not wait.
//! * An answer completes the pending request it names, if this remote was sent it.
//! * A `Deserialize` that panics is contained like a handler that panics: that event is
//!   dropped, logged, and everything else carries on.
//! * A copy for observers (`event_core.Observed`) goes to this endpoint's observations,
//!   never to subscribers (see `observers.rs`).
//! * The origin is the remote the backend reported it from, never a name in the message:
//!   one remote cannot speak for another.

use super::remotes::Remote;
use super::requests::{Gone, Origin, ReplyGuard};
use super::topics::{Delivery, Subscriber, TopicCache};
use super::Bus;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An event from a remote that waits for room in some of its subscribers' queues.
pub(crate) struct WaitingDelivery {
    name: &'static str,
    subscribers: Arc<[Subscriber]>,
    /// The subscribers without room (indices into `subscribers`), with their deliveries.
    full: Vec<(usize, Delivery)>,
}

impl Bus {
    /// The part of receiving an event that never waits: decodes the event and hands it
    /// to every subscriber with room. What is left to wait for (the
    /// subscribers whose queues were full) comes back owning all it needs, so that the
    /// caller may read on while it waits.
    pub(crate) fn start_receive_event(
        self: &Arc<Self>,
        remote: &Arc<Remote>,
        cache: &mut TopicCache,
        name: &str,
        request_id: Option<u64>,
        body: &[u8],
    ) -> Option<WaitingDelivery> {
        remote.events_received.fetch_add(1, Ordering::Relaxed);
        if self.is_stopped() {
            return None;
        }
        if name == crate::observe::COPY_NAME {
            self.receive_copy(remote, body);
            return None;
        }
        let Some(found) = self.topics.find_cached(cache, name) else {
            if crate::registry::find(name).is_some() {
                tracing::debug!(endpoint = %self.name, remote = %remote.name, event = name, "event nobody here subscribes to; dropped");
            } else {
                tracing::warn!(endpoint = %self.name, remote = %remote.name, event = name, "unknown event name; dropped");
            }
            if let Some(id) = request_id {
                remote.link.drop_request(id);
            }
            return None;
        };
        let reply = request_id.map(|id| {
            Arc::new(ReplyGuard::new(
                self.clone(),
                id,
                found.name,
                Origin::Remote(Arc::downgrade(remote)),
                remote.name.clone(),
            ))
        });
        // A `Deserialize` impl is user code: one that panics must not take the backend's
        // task (and every later event from this remote) down with it.
        let decoded = std::panic::catch_unwind(|| (found.decode)(body));
        match decoded {
            Ok(Ok(event)) => {
                let full = self.offer_local(found.name, &found.subscribers, event, reply.as_ref());
                (!full.is_empty()).then(|| WaitingDelivery {
                    name: found.name,
                    subscribers: found.subscribers,
                    full,
                })
            }
            Ok(Err(error)) => {
                // Dropped alone. A request's guard goes with it, which tells the requester.
                tracing::error!(endpoint = %self.name, remote = %remote.name, event = found.name, %error, "cannot decode event; dropped");
                None
            }
            Err(_panic) => {
                tracing::error!(endpoint = %self.name, remote = %remote.name, event = found.name, "decoding the event panicked; dropped");
                None
            }
        }
    }

    /// Waits for the subscribers that had no room when the event arrived (see
    /// [`start_receive_event`](Self::start_receive_event)).
    pub(crate) async fn finish_receive_event(&self, waiting: WaitingDelivery) {
        let WaitingDelivery {
            name,
            subscribers,
            full,
        } = waiting;
        self.wait_local(name, &subscribers, full).await;
    }

    pub(crate) fn receive_answer(
        &self,
        remote: &Remote,
        request_id: u64,
        name: &str,
        body: bytes::Bytes,
    ) {
        let completed =
            self.pending
                .complete_remote(request_id, remote.id, &remote.name, name, body);
        if !completed {
            tracing::debug!(endpoint = %self.name, remote = %remote.name, request_id, "late or unknown response discarded");
        }
    }

    pub(crate) fn receive_request_dropped(&self, remote: &Remote, request_id: u64) {
        self.pending
            .recipient_gone(&self.name, request_id, remote.id, Gone::Dropped);
    }

    pub(crate) fn receive_request_lost(&self, remote: &Remote, request_id: u64) {
        self.pending
            .recipient_gone(&self.name, request_id, remote.id, Gone::Disconnected);
    }
}

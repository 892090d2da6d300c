//! Observers: sending them copies, and being one (see [`crate::observe`] for the
//! semantics).
//!
//! * **Sending.** A remote that announced observation markers with this build's
//!   fingerprint of [`Copy`] is an observer of the names they give ([`Observing`]). A
//!   broadcast, request or answer of such a name is copied to it with `try_send`, never
//!   waited for; a copy that finds no room is counted on the remote and the count goes
//!   with its next copy. Routing to subscribers is untouched: an observer is never in a
//!   route.
//! * **Being one.** Each [`Endpoint::observe`](crate::Endpoint::observe) adds a sink here
//!   (a bounded queue) and its markers to the topic table, which announces them with the
//!   subscriptions. A copy that arrives goes to every sink whose filter takes it, or is
//!   counted missed on the sink that is full.

use super::observation::{copy_fingerprint, markers, Sink};
use super::remotes::Remote;
use super::Bus;
use crate::backend::link::{MessageKind, Outgoing, Refused};
use crate::event::Event;
use crate::observe::{Copy, Observed, ObservedKind, COPY_NAME};
use crate::sync;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

impl Bus {
    // -- being an observer ---------------------------------------------------------------

    /// Registers an observation of `filter` (`None`: everything); its copies go to `tx`.
    /// The returned id removes it.
    pub(crate) fn add_observation(
        &self,
        filter: Option<BTreeSet<String>>,
        tx: mpsc::Sender<Observed>,
    ) -> Option<u64> {
        let fingerprint = copy_fingerprint();
        // `*` is the marker of everything: as a filter, it is no filter.
        let filter = filter.filter(|names| !names.contains("*"));
        let mut topics = self.topics.write();
        if self.is_stopped() {
            return None;
        }
        let id = self.topics.next_id();
        let markers = markers(&filter);
        sync::lock(&self.observers.sinks).push(Arc::new(Sink {
            id,
            filter,
            tx,
            missed: Default::default(),
        }));
        if topics.add_markers(&markers, fingerprint) {
            self.announce(&topics);
        }
        drop(topics);
        self.notify_changed();
        Some(id)
    }

    pub(crate) fn remove_observation(&self, id: u64) {
        let mut topics = self.topics.write();
        let removed = {
            let mut sinks = sync::lock(&self.observers.sinks);
            let index = sinks.iter().position(|sink| sink.id == id);
            index.map(|index| sinks.remove(index))
        };
        let Some(removed) = removed else {
            return;
        };
        if topics.remove_markers(&markers(&removed.filter)) {
            self.announce(&topics);
        }
        drop(topics);
        self.notify_changed();
    }

    /// A copy arrived from `remote`: to every sink that takes it.
    pub(crate) fn receive_copy(&self, remote: &Remote, body: &[u8]) {
        let sinks = self.observers.snapshot();
        if sinks.is_empty() {
            // Late (after the observation ended), or sent to an endpoint that never
            // observed: dropped, quietly (a peer must not fill the log).
            tracing::debug!(endpoint = %self.name, remote = %remote.name, "a copy for no observation; dropped");
            return;
        }
        let copy: Copy = match crate::codec::decode(body) {
            Ok(copy) => copy,
            Err(error) => {
                tracing::debug!(endpoint = %self.name, remote = %remote.name, %error, "cannot decode an observed copy; dropped");
                return;
            }
        };
        let filtered_by = match &copy.kind {
            ObservedKind::Answer { request, .. } => request.as_str(),
            _ => copy.name.as_str(),
        };
        for sink in sinks {
            if sink
                .filter
                .as_ref()
                .is_some_and(|names| !names.contains(filtered_by))
            {
                continue;
            }
            let mut missed_here = sync::lock(&sink.missed);
            let before = missed_here.remove(&remote.name).unwrap_or(0);
            // A count from the wire is the peer's word: saturate, never overflow.
            let missed = copy.missed.saturating_add(before);
            let observed = Observed {
                origin: remote.name.to_string(),
                target: copy.target.clone(),
                name: copy.name.clone(),
                kind: copy.kind.clone(),
                body: copy.body.clone(),
                missed,
            };
            if sink.tx.try_send(observed).is_err() {
                missed_here.insert(remote.name.clone(), missed.saturating_add(1));
            }
        }
    }

    // -- sending copies ------------------------------------------------------------------

    /// The observers a copy of a message filtered by `name` goes to, looked up once per
    /// message: none, without a lock, when copies are refused or nobody observes (the one
    /// check a sender pays then).
    #[inline]
    pub(crate) fn observers_for(&self, name: &str) -> Vec<Arc<Remote>> {
        if !self.options.allow_observers {
            return Vec::new();
        }
        self.remotes.observers_of(name)
    }

    /// Copies an event about to be broadcast (or a request, with its id) to the
    /// observers of its name, encoding it for them only if there are any.
    pub(crate) fn copy_event<E: Event>(
        &self,
        event: &E,
        target: Option<&str>,
        request_id: Option<u64>,
    ) {
        let observers = self.observers_for(E::NAME);
        if observers.is_empty() {
            return;
        }
        if let Ok(body) = crate::codec::body(event) {
            self.copy_encoded(&observers, E::NAME, target, request_id, body);
        }
    }

    /// [`copy_event`](Self::copy_event) for an event already encoded as `body`, to the
    /// `observers` [`observers_for`](Self::observers_for) found.
    pub(crate) fn copy_encoded(
        &self,
        observers: &[Arc<Remote>],
        name: &str,
        target: Option<&str>,
        request_id: Option<u64>,
        body: Vec<u8>,
    ) {
        let kind = match request_id {
            Some(id) => ObservedKind::Request { id },
            None => ObservedKind::Broadcast,
        };
        self.send_copies(observers, kind, target, name, body);
    }

    /// Copies an answer, encoded as `body`, to request `request_id` (named `request`)
    /// from `requester`, to the `observers` [`observers_for`](Self::observers_for) found.
    pub(crate) fn copy_answer_to(
        &self,
        observers: &[Arc<Remote>],
        request: &str,
        request_id: u64,
        requester: &str,
        name: &str,
        body: Vec<u8>,
    ) {
        let kind = ObservedKind::Answer {
            request_id,
            request: request.to_owned(),
        };
        self.send_copies(observers, kind, Some(requester), name, body);
    }

    fn send_copies(
        &self,
        observers: &[Arc<Remote>],
        kind: ObservedKind,
        target: Option<&str>,
        name: &str,
        body: Vec<u8>,
    ) {
        let Some(name_id) = self.names.id(COPY_NAME) else {
            return;
        };
        let mut copy = Copy {
            kind,
            target: target.map(str::to_owned),
            name: name.to_owned(),
            body: body.into(),
            missed: 0,
        };
        for observer in observers {
            copy.missed = observer.copies_missed.swap(0, Ordering::Relaxed);
            let sent = crate::codec::body(&copy).ok().and_then(|encoded| {
                let link = [(&*observer.link, observer.frame_limit)];
                self.check_size(COPY_NAME, MessageKind::Broadcast, encoded.len(), link)
                    .ok()?;
                let outgoing = Outgoing {
                    name: COPY_NAME,
                    name_id,
                    request_id: None,
                    body: &encoded,
                };
                Some(observer.link.try_send(&outgoing))
            });
            match sent {
                Some(Ok(())) => {
                    observer.copies_sent.fetch_add(1, Ordering::Relaxed);
                }
                Some(Err(Refused::Closed)) => {}
                // No room, or too large to copy: missed, and said with the next copy.
                _ => {
                    observer
                        .copies_missed
                        .fetch_add(copy.missed.saturating_add(1), Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::fake_link::FakeLink;
    use crate::config::{BroadcastConfig, EndpointOptions};
    use crate::observe::marker;
    use crate::schema::Fingerprint;
    use std::collections::HashMap;

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "observers.Tick")]
    struct Tick(u64);

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "observers.Ask")]
    #[request(response = Tick)]
    struct Ask;

    /// A core `a` with an observer `tap` of everything, announced with `fingerprint`.
    fn core(options: EndpointOptions, fingerprint: Fingerprint) -> (Arc<Bus>, Arc<FakeLink>) {
        let bus = Arc::new(Bus::new(Arc::from("a"), options));
        let tap = Arc::new(FakeLink::default());
        let markers: HashMap<String, Fingerprint> = [(marker(None), fingerprint)].into();
        bus.add_remote("tap", markers, tap.clone(), |_| Ok(()))
            .unwrap();
        (bus, tap)
    }

    fn copies(tap: &FakeLink) -> usize {
        sync::lock(&tap.sent)
            .iter()
            .filter(|(name, _)| *name == COPY_NAME)
            .count()
    }

    #[tokio::test]
    async fn what_stays_in_the_process_is_not_copied_and_the_rest_is() {
        let (bus, tap) = core(EndpointOptions::default(), copy_fingerprint());
        let quiet = BroadcastConfig::default().require_subscriber(false);
        bus.broadcast(Tick(1), &quiet).await.unwrap();
        assert_eq!(copies(&tap), 1);
        // An internal request answered here: neither it nor its answer is copied.
        let bus_for_answers = bus.clone();
        let (tx, mut rx) = crate::bus::queue::queue(4);
        bus.add_subscriber::<Ask>(crate::bus::topics::Subscriber {
            id: bus.topics.next_id(),
            sink: crate::bus::topics::Sink::Queue {
                tx,
                wants_requests: true,
                overflowed: Default::default(),
            },
        });
        let answering = tokio::spawn(async move {
            let delivery = rx.recv().await.unwrap();
            delivery.reply.unwrap().respond(Tick(2)).unwrap();
            drop(bus_for_answers);
        });
        bus.request(Ask, &BroadcastConfig::internal())
            .await
            .unwrap();
        answering.await.unwrap();
        assert_eq!(
            copies(&tap),
            1,
            "an internal request and its answer stay here"
        );
        // The same request to everyone (answered here too): both are copied.
        let (tx, mut rx) = crate::bus::queue::queue(4);
        bus.add_subscriber::<Ask>(crate::bus::topics::Subscriber {
            id: bus.topics.next_id(),
            sink: crate::bus::topics::Sink::Queue {
                tx,
                wants_requests: true,
                overflowed: Default::default(),
            },
        });
        let answering = tokio::spawn(async move {
            let delivery = rx.recv().await.unwrap();
            delivery.reply.unwrap().respond(Tick(3)).unwrap();
        });
        bus.request(Ask, &BroadcastConfig::default()).await.unwrap();
        answering.await.unwrap();
        assert_eq!(copies(&tap), 3, "the request and its answer");
    }

    #[tokio::test]
    async fn no_copies_when_observers_are_refused_or_speak_another_copy() {
        let quiet = BroadcastConfig::default().require_subscriber(false);
        let (bus, tap) = core(
            EndpointOptions::default().allow_observers(false),
            copy_fingerprint(),
        );
        bus.broadcast(Tick(1), &quiet).await.unwrap();
        assert_eq!(copies(&tap), 0);
        // A tap of another build: sent nothing, and still not one that must subscribe.
        let (bus, tap) = core(EndpointOptions::default(), Fingerprint(1));
        bus.broadcast(Tick(1), &quiet).await.unwrap();
        assert_eq!(copies(&tap), 0);
        assert!(bus.remotes.get("tap").unwrap().is_observer_only());
    }

    #[tokio::test]
    async fn a_forged_count_saturates() {
        let bus = Bus::new(
            Arc::from("tap"),
            EndpointOptions::default().queue_capacity(1),
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        bus.add_observation(None, tx).unwrap();
        let link = Arc::new(FakeLink::default());
        let remote = bus
            .add_remote("a", HashMap::new(), link, |_| Ok(()))
            .unwrap();
        let copy = |missed| Copy {
            kind: ObservedKind::Broadcast,
            target: None,
            name: "x".into(),
            body: Default::default(),
            missed,
        };
        let body = |missed| crate::codec::body(&copy(missed)).unwrap();
        bus.receive_copy(&remote, &body(0));
        // The queue (of one) is full: this one is missed, with its forged count.
        bus.receive_copy(&remote, &body(u64::MAX));
        assert_eq!(rx.recv().await.unwrap().missed, 0);
        bus.receive_copy(&remote, &body(u64::MAX));
        assert_eq!(rx.recv().await.unwrap().missed, u64::MAX);
    }
}

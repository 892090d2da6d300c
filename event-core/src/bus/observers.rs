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
use std::sync::atomic::{AtomicU64, Ordering};
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
            missed: AtomicU64::new(0),
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
        let copy: Copy = match crate::codec::decode(body) {
            Ok(copy) => copy,
            Err(error) => {
                tracing::warn!(endpoint = %self.name, remote = %remote.name, %error, "cannot decode an observed copy; dropped");
                return;
            }
        };
        let filtered_by = match &copy.kind {
            ObservedKind::Answer { request, .. } => request.as_str(),
            _ => copy.name.as_str(),
        };
        for sink in self.observers.snapshot() {
            if sink
                .filter
                .as_ref()
                .is_some_and(|names| !names.contains(filtered_by))
            {
                continue;
            }
            let missed = copy.missed + sink.missed.swap(0, Ordering::Relaxed);
            let observed = Observed {
                origin: remote.name.to_string(),
                target: copy.target.clone(),
                name: copy.name.clone(),
                kind: copy.kind.clone(),
                body: copy.body.clone(),
                missed,
            };
            if sink.tx.try_send(observed).is_err() {
                sink.missed.fetch_add(missed + 1, Ordering::Relaxed);
            }
        }
    }

    // -- sending copies ------------------------------------------------------------------

    /// Whether a copy of a message filtered by `name` would go anywhere: the one check a
    /// sender pays when nobody observes.
    pub(crate) fn is_observed(&self, name: &str) -> bool {
        self.remotes.has_observers() && !self.remotes.observers_of(name).is_empty()
    }

    /// Copies an event about to be broadcast (or a request, with its id) to the
    /// observers of its name, encoding it for them.
    pub(crate) fn copy_event<E: Event>(
        &self,
        event: &E,
        target: Option<&str>,
        request_id: Option<u64>,
    ) {
        if !self.is_observed(E::NAME) {
            return;
        }
        if let Ok(body) = crate::codec::body(event) {
            self.copy_encoded(E::NAME, target, request_id, body);
        }
    }

    /// [`copy_event`](Self::copy_event) for an event already encoded as `body`.
    pub(crate) fn copy_encoded(
        &self,
        name: &str,
        target: Option<&str>,
        request_id: Option<u64>,
        body: Vec<u8>,
    ) {
        let observers = self.remotes.observers_of(name);
        if observers.is_empty() {
            return;
        }
        let kind = match request_id {
            Some(id) => ObservedKind::Request { id },
            None => ObservedKind::Broadcast,
        };
        self.send_copies(&observers, kind, target, name, body);
    }

    /// Copies an answer, encoded as `body`, to request `request_id` (named `request`)
    /// from `requester`.
    pub(crate) fn copy_answer(
        &self,
        request: &str,
        request_id: u64,
        requester: &str,
        name: &str,
        body: Vec<u8>,
    ) {
        let observers = self.remotes.observers_of(request);
        let kind = ObservedKind::Answer {
            request_id,
            request: request.to_owned(),
        };
        self.send_copies(&observers, kind, Some(requester), name, body);
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
                Some(Ok(())) | Some(Err(Refused::Closed)) => {}
                // No room, or too large to copy: missed, and said with the next copy.
                _ => {
                    observer
                        .copies_missed
                        .fetch_add(copy.missed + 1, Ordering::Relaxed);
                }
            }
        }
    }
}

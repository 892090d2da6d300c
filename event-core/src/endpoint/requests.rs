//! Requests in flight: the requester's pending table and the responder's reply handle.
//!
//! # Guarantees
//!
//! * A request is sent to every endpoint subscribed to it (or the one named by the
//!   config); each of them is a *recipient*. The first response from a recipient
//!   completes the request; later ones are discarded. A response from an endpoint that
//!   was not sent the request is ignored.
//! * A request never hangs because its recipients are gone: a recipient that disconnects
//!   or stops, or whose every [`InboundRequest`] is dropped unanswered, is struck off; when
//!   none is left the requester gets [`Error::RemoteDisconnected`] or
//!   [`Error::NoResponse`].
//! * Dropping the requester's future removes its entry; an answer arriving after that is
//!   discarded.

use super::shared::{Peer, Shared};
use super::topics::AnyEvent;
use crate::error::Error;
use crate::event::{Event, Request};
use crate::wire;
use bytes::Bytes;
use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::oneshot;

/// An answer on its way to the requester.
pub(crate) enum Reply {
    /// From this endpoint: the value itself, never serialized.
    Local(Box<dyn Any + Send>),
    /// From another endpoint: who answered, the response's name and encoded body.
    Remote {
        from: Arc<str>,
        name: String,
        body: Bytes,
    },
}

/// Who was sent a request: a connection (by its id, unique within this endpoint, so a
/// later connection of the same name is another recipient) or this endpoint itself.
pub(crate) type RecipientId = u64;

/// The recipient id of this endpoint itself (connection ids start at 1).
pub(crate) const LOCAL: RecipientId = 0;

struct Pending {
    event: &'static str,
    tx: oneshot::Sender<Result<Reply, Error>>,
    /// Recipients that may still answer, with their names for error messages.
    recipients: HashMap<RecipientId, Arc<str>>,
}

/// The requester's side: requests awaiting an answer, by id.
#[derive(Default)]
pub(crate) struct PendingRequests {
    map: Mutex<HashMap<u64, Pending>>,
}

/// How a recipient went away.
#[derive(Clone, Copy)]
pub(crate) enum Gone {
    Dropped,
    Disconnected,
}

impl PendingRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn insert(
        &self,
        id: u64,
        event: &'static str,
        recipients: HashMap<RecipientId, Arc<str>>,
    ) -> oneshot::Receiver<Result<Reply, Error>> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            id,
            Pending {
                event,
                tx,
                recipients,
            },
        );
        rx
    }

    pub(crate) fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// An answer from `from`; ignored unless `from` was sent the request.
    pub(crate) fn complete(&self, id: u64, from: RecipientId, reply: Reply) -> bool {
        let mut map = self.lock();
        let is_recipient = map
            .get(&id)
            .is_some_and(|pending| pending.recipients.contains_key(&from));
        if !is_recipient {
            return false;
        }
        if let Some(pending) = map.remove(&id) {
            let _ = pending.tx.send(Ok(reply));
        }
        true
    }

    /// Strikes `recipient` off request `id`; fails the request when nobody is left.
    pub(crate) fn recipient_gone(
        &self,
        endpoint: &str,
        id: u64,
        recipient: RecipientId,
        how: Gone,
    ) {
        let mut map = self.lock();
        let Some(pending) = map.get_mut(&id) else {
            return;
        };
        let Some(name) = pending.recipients.remove(&recipient) else {
            return;
        };
        if !pending.recipients.is_empty() {
            return;
        }
        if let Some(pending) = map.remove(&id) {
            let _ = pending
                .tx
                .send(Err(gone_error(endpoint, &name, pending.event, how)));
        }
    }

    /// Strikes a disconnected connection off every request it was sent.
    pub(crate) fn peer_gone(&self, endpoint: &str, peer: RecipientId) {
        let ids: Vec<u64> = self
            .lock()
            .iter()
            .filter(|(_, pending)| pending.recipients.contains_key(&peer))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.recipient_gone(endpoint, id, peer, Gone::Disconnected);
        }
    }

    /// Fails every request: the endpoint stopped.
    pub(crate) fn fail_all(&self, endpoint: &str) {
        for (_, pending) in self.lock().drain() {
            let _ = pending.tx.send(Err(Error::Stopped {
                endpoint: endpoint.to_owned(),
            }));
        }
    }
}

fn gone_error(endpoint: &str, recipient: &str, event: &'static str, how: Gone) -> Error {
    match how {
        Gone::Dropped => Error::NoResponse {
            endpoint: endpoint.to_owned(),
            event,
        },
        Gone::Disconnected => Error::RemoteDisconnected {
            endpoint: endpoint.to_owned(),
            remote: recipient.to_owned(),
            event,
        },
    }
}

/// Removes a request's entry when the requester's future completes or is dropped.
pub(crate) struct PendingGuard<'a> {
    pub shared: &'a Shared,
    pub id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.pending.remove(self.id);
    }
}

/// Who asked.
pub(crate) enum Origin {
    /// This endpoint itself.
    Local,
    /// Another endpoint, through this connection (not its name: a reconnected endpoint
    /// of the same name must not receive answers meant for its predecessor).
    Remote(Weak<Peer>),
}

/// The responder's side of one request in one endpoint, shared by every local
/// [`InboundRequest`] for it. Its last clone going away unanswered tells the requester.
pub(crate) struct ReplyGuard {
    responder: Arc<Shared>,
    request_id: u64,
    event: &'static str,
    origin: Origin,
    origin_name: Arc<str>,
    answered: AtomicBool,
}

impl ReplyGuard {
    pub(crate) fn new(
        responder: Arc<Shared>,
        request_id: u64,
        event: &'static str,
        origin: Origin,
        origin_name: Arc<str>,
    ) -> ReplyGuard {
        ReplyGuard {
            responder,
            request_id,
            event,
            origin,
            origin_name,
            answered: AtomicBool::new(false),
        }
    }

    fn respond<T: Event>(&self, response: T) -> Result<(), Error> {
        self.responder.check_running()?;
        match &self.origin {
            Origin::Local => {
                if !self.answered.swap(true, Ordering::AcqRel) {
                    self.responder.pending.complete(
                        self.request_id,
                        LOCAL,
                        Reply::Local(Box::new(response)),
                    );
                }
                // Otherwise another local subscriber answered first: discarded.
                Ok(())
            }
            Origin::Remote(peer) => {
                let disconnected = || Error::RemoteDisconnected {
                    endpoint: self.responder.name.to_string(),
                    remote: self.origin_name.to_string(),
                    event: self.event,
                };
                let peer = peer.upgrade().ok_or_else(disconnected)?;
                // Encoded before the request counts as answered: an answer that cannot be
                // sent (too large, unserializable) leaves it unanswered, so dropping it
                // tells the requester instead of leaving it waiting.
                let frame = wire::response(
                    self.request_id,
                    T::NAME,
                    &response,
                    self.responder.options.max_frame_size,
                )
                .map_err(|error| self.responder.wire_error(T::NAME, error))?;
                if self.answered.swap(true, Ordering::AcqRel) {
                    return Ok(());
                }
                if peer.send_control(&frame) {
                    Ok(())
                } else {
                    Err(disconnected())
                }
            }
        }
    }
}

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        if self.answered.load(Ordering::Acquire) {
            return;
        }
        tracing::debug!(
            endpoint = %self.responder.name,
            event = self.event,
            origin = %self.origin_name,
            "request dropped unanswered"
        );
        match &self.origin {
            Origin::Local => self.responder.pending.recipient_gone(
                &self.responder.name,
                self.request_id,
                LOCAL,
                Gone::Dropped,
            ),
            Origin::Remote(peer) => {
                if let Some(peer) = peer.upgrade() {
                    let max = self.responder.options.max_frame_size;
                    if let Ok(frame) = wire::request_dropped(self.request_id, max) {
                        peer.send_control(&frame);
                    }
                }
            }
        }
    }
}

/// A request received by this endpoint, to be answered with [`respond`](Self::respond).
///
/// It derefs to the request. Dropping it unanswered (and every other local
/// `InboundRequest` for the same request) tells the requester, which then fails with
/// [`Error::NoResponse`] instead of waiting.
pub struct InboundRequest<R: Request> {
    request: Arc<R>,
    guard: Arc<ReplyGuard>,
    _marker: PhantomData<fn() -> R>,
}

impl<R: Request> InboundRequest<R> {
    pub(crate) fn new(event: AnyEvent, guard: Arc<ReplyGuard>) -> Option<InboundRequest<R>> {
        let request = event.downcast::<R>().ok()?;
        Some(InboundRequest {
            request,
            guard,
            _marker: PhantomData,
        })
    }

    /// The name of the endpoint that sent the request.
    pub fn origin(&self) -> &str {
        &self.guard.origin_name
    }

    /// The request, shared with any other local subscriber.
    pub fn request(&self) -> &Arc<R> {
        &self.request
    }

    /// Answers the request. The type is `R::Response`, checked by the compiler.
    ///
    /// The first answer wins; an answer after another subscriber's is discarded (and
    /// `Ok`). Fails with [`Error::RemoteDisconnected`] if the requester is gone and
    /// [`Error::Stopped`] if this endpoint stopped.
    pub async fn respond(self, response: R::Response) -> Result<(), Error> {
        self.guard.respond(response)
    }
}

impl<R: Request> Deref for InboundRequest<R> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.request
    }
}

impl<R: Request + std::fmt::Debug> std::fmt::Debug for InboundRequest<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundRequest")
            .field("origin", &self.origin())
            .field("request", &self.request)
            .finish()
    }
}

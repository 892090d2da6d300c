//! Requests in flight: the requester's pending table and the responder's reply handle.
//!
//! # Guarantees
//!
//! * A request is sent to every endpoint subscribed to it (or the one named by the
//!   config); each of them is a *recipient*. The first response from a recipient
//!   completes the request; later ones are discarded. A response from an endpoint that
//!   was not sent the request is ignored.
//! * A request never hangs because its recipients are gone: a recipient that disconnects
//!   or stops, or whose every `InboundRequest` is dropped unanswered, is struck off; when
//!   none is left the requester gets [`Error::RemoteDisconnected`] or
//!   [`Error::NoResponse`].
//! * Dropping the requester's future removes its entry ([`PendingGuard`]); an answer
//!   arriving after that is discarded.

use super::remotes::Remote;
use crate::error::Error;
use crate::event::Event;
use crate::sync;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::any::Any;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::oneshot;

/// An answer on its way to the requester.
pub(crate) enum Reply {
    /// From this endpoint: the value itself, never serialized.
    Local(Box<dyn Any + Send>),
    /// From another endpoint: who answered, the response's name (borrowed when it is
    /// the name the requester expects, as it is but for a faulty peer) and encoded body.
    Remote {
        from: Arc<str>,
        name: Cow<'static, str>,
        body: bytes::Bytes,
    },
}

/// Who was sent a request: a remote (by its id, unique within this endpoint, so a later
/// remote of the same name is another recipient) or this endpoint itself.
pub(crate) type RecipientId = u64;

/// The recipient id of this endpoint itself (remote ids start at 1).
pub(crate) const LOCAL: RecipientId = 0;

/// Who was sent a request, with their names for error messages: mostly one or two, so
/// kept inline (a request allocates no table of its own).
pub(crate) type Recipients = SmallVec<[(RecipientId, Arc<str>); 2]>;

struct Pending {
    event: &'static str,
    /// The name of the answer a typed request expects (`None`: any, for tools).
    response: Option<&'static str>,
    tx: oneshot::Sender<Result<Reply, Error>>,
    /// Recipients that may still answer.
    recipients: Recipients,
}

impl Pending {
    fn was_sent_to(&self, recipient: RecipientId) -> bool {
        self.recipients.iter().any(|(id, _)| *id == recipient)
    }
}

/// The requester's side: requests awaiting an answer, by id. The ids are this endpoint's
/// own counter, never a peer's choice, so a fast hasher is safe here.
#[derive(Default)]
pub(crate) struct PendingRequests {
    map: Mutex<FxHashMap<u64, Pending>>,
}

/// How a recipient went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gone {
    Dropped,
    Disconnected,
}

impl PendingRequests {
    /// Registers request `id` of `event`, sent to `recipients`; `response` is the name of
    /// the answer it expects, if it expects one type.
    pub(crate) fn insert(
        &self,
        id: u64,
        event: &'static str,
        response: Option<&'static str>,
        recipients: Recipients,
    ) -> oneshot::Receiver<Result<Reply, Error>> {
        // Striking a recipient off removes one entry: each must be listed once.
        debug_assert!(recipients
            .iter()
            .enumerate()
            .all(|(at, (id, _))| recipients[..at].iter().all(|(other, _)| other != id)));
        let (tx, rx) = oneshot::channel();
        sync::lock(&self.map).insert(
            id,
            Pending {
                event,
                response,
                tx,
                recipients,
            },
        );
        rx
    }

    pub(crate) fn remove(&self, id: u64) {
        sync::lock(&self.map).remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        sync::lock(&self.map).len()
    }

    /// An answer from `from`; ignored (`false`) unless `from` was sent the request.
    pub(crate) fn complete(&self, id: u64, from: RecipientId, reply: Reply) -> bool {
        self.complete_with(id, from, |_| reply)
    }

    /// An answer named `name` from the remote `from` (`from_name`), encoded as `body`;
    /// ignored (`false`) unless `from` was sent the request.
    pub(crate) fn complete_remote(
        &self,
        id: u64,
        from: RecipientId,
        from_name: &Arc<str>,
        name: &str,
        body: bytes::Bytes,
    ) -> bool {
        self.complete_with(id, from, |pending| Reply::Remote {
            from: from_name.clone(),
            name: match pending.response {
                Some(expected) if expected == name => Cow::Borrowed(expected),
                _ => Cow::Owned(name.to_owned()),
            },
            body,
        })
    }

    fn complete_with(
        &self,
        id: u64,
        from: RecipientId,
        reply: impl FnOnce(&Pending) -> Reply,
    ) -> bool {
        let mut map = sync::lock(&self.map);
        if !map
            .get(&id)
            .is_some_and(|pending| pending.was_sent_to(from))
        {
            return false;
        }
        if let Some(pending) = map.remove(&id) {
            let reply = reply(&pending);
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
        let mut map = sync::lock(&self.map);
        let Some(pending) = map.get_mut(&id) else {
            return;
        };
        let Some(index) = pending
            .recipients
            .iter()
            .position(|(id, _)| *id == recipient)
        else {
            return;
        };
        let (_, name) = pending.recipients.swap_remove(index);
        if !pending.recipients.is_empty() {
            return;
        }
        if let Some(pending) = map.remove(&id) {
            let _ = pending
                .tx
                .send(Err(gone_error(endpoint, &name, pending.event, how)));
        }
    }

    /// Strikes a departed remote off every request it was sent.
    pub(crate) fn remote_gone(&self, endpoint: &str, remote: RecipientId) {
        let ids: Vec<u64> = sync::lock(&self.map)
            .iter()
            .filter(|(_, pending)| pending.was_sent_to(remote))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.recipient_gone(endpoint, id, remote, Gone::Disconnected);
        }
    }

    /// Fails every request: the endpoint stopped.
    pub(crate) fn fail_all(&self, endpoint: &str) {
        for (_, pending) in sync::lock(&self.map).drain() {
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
    pub pending: &'a PendingRequests,
    pub id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending.remove(self.id);
    }
}

/// Who asked.
pub(crate) enum Origin {
    /// This endpoint itself.
    Local,
    /// Another endpoint, as this remote (not its name: a reconnected endpoint of the same
    /// name is another remote and must not receive answers meant for its predecessor).
    Remote(Weak<Remote>),
}

/// What a reply handle needs of the endpoint that received the request. The core
/// implements it; the tests below use a stand-in.
pub(crate) trait Responder: Send + Sync + 'static {
    fn endpoint_name(&self) -> &str;
    /// `Err(Stopped)` once the endpoint stopped.
    fn check_running(&self) -> Result<(), Error>;
    /// `Err(FrameTooLarge)` for an answer too large to send over `link`.
    fn check_size(
        &self,
        event: &'static str,
        body: usize,
        link: &dyn crate::backend::link::RemoteLink,
    ) -> Result<(), Error>;
    /// The endpoint's own pending requests (a local request's requester).
    fn pending(&self) -> &PendingRequests;
    /// Copies the answer `name` to request `request_id` (a `request`, from `requester`)
    /// to its observers, if there are any: only then is `body` called.
    fn copy_answer(
        &self,
        request: &'static str,
        request_id: u64,
        requester: &str,
        name: &'static str,
        body: &mut dyn FnMut() -> Option<Vec<u8>>,
    ) {
        let _ = (request, request_id, requester, name, body);
    }
}

/// The responder's side of one request in one endpoint, shared by every local
/// `InboundRequest` for it. Its last clone going away unanswered tells the requester.
pub(crate) struct ReplyGuard {
    responder: Arc<dyn Responder>,
    request_id: u64,
    event: &'static str,
    origin: Origin,
    origin_name: Arc<str>,
    answered: AtomicBool,
    /// Whether the answer is copied to observers (not for a request that stayed in its
    /// process, whose request was not copied either).
    observed: bool,
}

impl ReplyGuard {
    pub(crate) fn new(
        responder: Arc<dyn Responder>,
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
            observed: true,
        }
    }

    /// The same, for a request that stayed in its process: its answer is not copied.
    pub(crate) fn unobserved(mut self) -> ReplyGuard {
        self.observed = false;
        self
    }

    /// The name of the endpoint that asked.
    pub(crate) fn origin_name(&self) -> &str {
        &self.origin_name
    }

    pub(crate) fn respond<T: Event>(&self, response: T) -> Result<(), Error> {
        let responder = &self.responder;
        responder.check_running()?;
        match &self.origin {
            Origin::Local => {
                if !self.answered.swap(true, Ordering::AcqRel) {
                    if self.observed {
                        responder.copy_answer(
                            self.event,
                            self.request_id,
                            &self.origin_name,
                            T::NAME,
                            &mut || crate::codec::body(&response).ok(),
                        );
                    }
                    responder.pending().complete(
                        self.request_id,
                        LOCAL,
                        Reply::Local(Box::new(response)),
                    );
                }
                // Otherwise another local subscriber answered first: discarded.
                Ok(())
            }
            Origin::Remote(remote) => {
                let disconnected = || Error::RemoteDisconnected {
                    endpoint: responder.endpoint_name().to_owned(),
                    remote: self.origin_name.to_string(),
                    event: self.event,
                };
                let remote = remote.upgrade().ok_or_else(disconnected)?;
                // Encoded into the thread's reused buffer, as a broadcast is.
                crate::codec::with_body(&response, |body| {
                    self.send_answer(&remote, T::NAME, body, disconnected)
                })
                .map_err(|source| Error::Encode {
                    endpoint: responder.endpoint_name().to_owned(),
                    event: T::NAME,
                    source,
                })?
            }
        }
    }

    /// Sends the answer `name`, encoded as `body`, to the remote that asked.
    fn send_answer(
        &self,
        remote: &Remote,
        name: &'static str,
        body: &[u8],
        disconnected: impl Fn() -> Error,
    ) -> Result<(), Error> {
        // Checked before the request counts as answered: an answer that cannot be sent
        // (too large, or unserializable above) leaves it unanswered, so dropping it tells
        // the requester instead of leaving it waiting.
        self.responder.check_size(name, body.len(), &*remote.link)?;
        if self.answered.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if remote.is_closed() {
            return Err(disconnected());
        }
        self.responder.copy_answer(
            self.event,
            self.request_id,
            &self.origin_name,
            name,
            &mut || Some(body.to_vec()),
        );
        remote
            .link
            .respond(self.request_id, name, body)
            .map_err(|_| disconnected())
    }
}

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        if self.answered.load(Ordering::Acquire) {
            return;
        }
        tracing::debug!(
            endpoint = self.responder.endpoint_name(),
            event = self.event,
            origin = %self.origin_name,
            "request dropped unanswered"
        );
        match &self.origin {
            Origin::Local => self.responder.pending().recipient_gone(
                self.responder.endpoint_name(),
                self.request_id,
                LOCAL,
                Gone::Dropped,
            ),
            Origin::Remote(remote) => {
                if let Some(remote) = remote.upgrade() {
                    remote.link.drop_request(self.request_id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipients(ids: &[(RecipientId, &str)]) -> Recipients {
        ids.iter()
            .map(|(id, name)| (*id, Arc::from(*name)))
            .collect()
    }

    fn remote_reply(from: &str) -> Reply {
        Reply::Remote {
            from: Arc::from(from),
            name: Cow::Borrowed("R"),
            body: bytes::Bytes::new(),
        }
    }

    #[test]
    fn the_first_answer_from_a_recipient_wins_and_strangers_are_ignored() {
        let pending = PendingRequests::default();
        let mut rx = pending.insert(1, "Q", None, recipients(&[(3, "b"), (4, "c")]));
        assert!(
            !pending.complete(1, 9, remote_reply("x")),
            "not a recipient"
        );
        assert!(rx.try_recv().is_err());
        assert!(pending.complete(1, 4, remote_reply("c")));
        assert!(
            !pending.complete(1, 3, remote_reply("b")),
            "already answered"
        );
        match rx.try_recv().unwrap() {
            Ok(Reply::Remote { from, .. }) => assert_eq!(&*from, "c"),
            _ => panic!("expected c's answer"),
        }
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn a_remote_answer_borrows_the_expected_name_and_keeps_any_other() {
        let pending = PendingRequests::default();
        let them: Arc<str> = Arc::from("b");
        let mut expected = pending.insert(1, "Q", Some("R"), recipients(&[(3, "b")]));
        let mut other = pending.insert(2, "Q", Some("R"), recipients(&[(3, "b")]));
        assert!(!pending.complete_remote(1, 4, &them, "R", bytes::Bytes::new()));
        assert!(pending.complete_remote(1, 3, &them, "R", bytes::Bytes::new()));
        assert!(pending.complete_remote(2, 3, &them, "S", bytes::Bytes::new()));
        match expected.try_recv().unwrap() {
            Ok(Reply::Remote { from, name, .. }) => {
                assert_eq!(&*from, "b");
                assert!(matches!(name, Cow::Borrowed("R")));
            }
            _ => panic!("expected b's answer"),
        }
        match other.try_recv().unwrap() {
            Ok(Reply::Remote { name, .. }) => assert!(matches!(name, Cow::Owned(n) if n == "S")),
            _ => panic!("expected b's answer"),
        }
    }

    #[test]
    fn a_request_fails_only_when_its_last_recipient_is_gone() {
        let pending = PendingRequests::default();
        let mut rx = pending.insert(1, "Q", None, recipients(&[(LOCAL, "a"), (3, "b")]));
        pending.recipient_gone("a", 1, LOCAL, Gone::Dropped);
        assert!(rx.try_recv().is_err(), "b may still answer");
        pending.remote_gone("a", 3);
        match rx.try_recv().unwrap() {
            Err(Error::RemoteDisconnected { remote, event, .. }) => {
                assert_eq!((remote.as_str(), event), ("b", "Q"))
            }
            other => panic!("{:?}", other.err()),
        }
        let mut dropped = pending.insert(2, "Q", None, recipients(&[(3, "b")]));
        pending.recipient_gone("a", 2, 3, Gone::Dropped);
        assert!(matches!(
            dropped.try_recv(),
            Ok(Err(Error::NoResponse { .. }))
        ));
    }

    /// An endpoint stand-in for reply handles.
    #[derive(Default)]
    struct FakeResponder {
        pending: PendingRequests,
        stopped: AtomicBool,
    }

    impl Responder for FakeResponder {
        fn endpoint_name(&self) -> &str {
            "me"
        }
        fn check_running(&self) -> Result<(), Error> {
            if self.stopped.load(Ordering::SeqCst) {
                Err(Error::Stopped {
                    endpoint: "me".into(),
                })
            } else {
                Ok(())
            }
        }
        fn check_size(
            &self,
            event: &'static str,
            body: usize,
            _: &dyn link::RemoteLink,
        ) -> Result<(), Error> {
            if body > 8 {
                return Err(Error::FrameTooLarge {
                    endpoint: "me".into(),
                    event,
                    size: body,
                    max: 8,
                });
            }
            Ok(())
        }
        fn pending(&self) -> &PendingRequests {
            &self.pending
        }
    }

    use crate::backend::link;
    use crate::bus::fake_link::FakeLink;

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "requests.Answer")]
    struct Answer(u8);

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "requests.Long")]
    struct Long(Vec<u8>);

    fn remote_guard(
        responder: &Arc<FakeResponder>,
        link: &Arc<FakeLink>,
        id: u64,
    ) -> (ReplyGuard, Arc<Remote>) {
        let remote = Remote::new(Arc::from("them"), 3, Default::default(), link.clone());
        let guard = ReplyGuard::new(
            responder.clone(),
            id,
            "requests.Ask",
            Origin::Remote(Arc::downgrade(&remote)),
            Arc::from("them"),
        );
        (guard, remote)
    }

    #[test]
    fn a_local_answer_completes_the_request_and_a_second_is_discarded() {
        let responder = Arc::new(FakeResponder::default());
        let mut rx =
            responder
                .pending
                .insert(1, "requests.Ask", None, recipients(&[(LOCAL, "me")]));
        let guard = ReplyGuard::new(
            responder.clone(),
            1,
            "requests.Ask",
            Origin::Local,
            Arc::from("me"),
        );
        guard.respond(Answer(1)).unwrap();
        guard.respond(Answer(2)).unwrap();
        drop(guard);
        match rx.try_recv().unwrap() {
            Ok(Reply::Local(value)) => assert_eq!(value.downcast::<Answer>().unwrap().0, 1),
            _ => panic!("expected the first local answer"),
        }
    }

    #[test]
    fn a_guard_dropped_unanswered_tells_the_requester() {
        let responder = Arc::new(FakeResponder::default());
        let mut rx =
            responder
                .pending
                .insert(1, "requests.Ask", None, recipients(&[(LOCAL, "me")]));
        drop(ReplyGuard::new(
            responder.clone(),
            1,
            "requests.Ask",
            Origin::Local,
            Arc::from("me"),
        ));
        assert!(matches!(rx.try_recv(), Ok(Err(Error::NoResponse { .. }))));
        // From a remote, the drop goes back over its link.
        let link = Arc::new(FakeLink::default());
        let (guard, _remote) = remote_guard(&responder, &link, 7);
        drop(guard);
        assert_eq!(*sync::lock(&link.control), vec!["dropped 7".to_owned()]);
    }

    #[test]
    fn a_remote_answer_goes_over_the_link_once_and_a_failed_one_leaves_it_unanswered() {
        let responder = Arc::new(FakeResponder::default());
        let link = Arc::new(FakeLink::default());
        let (guard, _remote) = remote_guard(&responder, &link, 7);
        // Too large to send: an error, and the request is still unanswered...
        assert!(matches!(
            guard.respond(Long(vec![0; 20])),
            Err(Error::FrameTooLarge { .. })
        ));
        guard.respond(Answer(5)).unwrap();
        guard.respond(Answer(6)).unwrap();
        drop(guard);
        // ...so the good answer went, once, and the drop was not reported.
        assert_eq!(
            *sync::lock(&link.control),
            vec!["respond 7 requests.Answer [5]".to_owned()]
        );
    }

    #[test]
    fn answers_fail_once_the_responder_stopped_or_the_requester_is_gone() {
        let responder = Arc::new(FakeResponder::default());
        let link = Arc::new(FakeLink::default());
        let (guard, remote) = remote_guard(&responder, &link, 7);
        responder.stopped.store(true, Ordering::SeqCst);
        assert!(matches!(
            guard.respond(Answer(1)),
            Err(Error::Stopped { .. })
        ));
        responder.stopped.store(false, Ordering::SeqCst);
        drop(remote);
        assert!(matches!(
            guard.respond(Answer(1)),
            Err(Error::RemoteDisconnected { .. })
        ));
    }

    #[test]
    fn a_dropped_guard_removes_the_entry_and_stop_fails_the_rest() {
        let pending = PendingRequests::default();
        let _rx = pending.insert(1, "Q", None, recipients(&[(3, "b")]));
        drop(PendingGuard {
            pending: &pending,
            id: 1,
        });
        assert_eq!(pending.len(), 0);
        let mut rx = pending.insert(2, "Q", None, recipients(&[(3, "b")]));
        pending.fail_all("a");
        assert!(matches!(rx.try_recv(), Ok(Err(Error::Stopped { .. }))));
        assert!(!pending.complete(2, 3, remote_reply("b")));
    }
}

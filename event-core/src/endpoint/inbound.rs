//! [`InboundRequest`]: a request received by this endpoint, to be answered.

use crate::bus::requests::ReplyGuard;
use crate::bus::topics::AnyEvent;
use crate::error::Error;
use crate::event::Request;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

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
        self.guard.origin_name()
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
    ///
    /// `Ok` means the answer is queued for the requester (ahead of any events), or
    /// handed over in-process; like an accepted broadcast, it is still written if this
    /// endpoint stops right after.
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

//! The two traits a backend implements, and what passes through them. Nothing here
//! knows the core: the core calls these.

use crate::schema::EventSchema;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed, `Send` future, as the object-safe traits here return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The most a backend may add to a body to make its message, beyond the event name's
/// length (see [`RemoteLink::header_len`]). A body that fits the maximum frame size with
/// this much to spare is sent without asking the links.
pub const MESSAGE_OVERHEAD: usize = 16;

/// What a message carries, for [`RemoteLink::header_len`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// A broadcast event.
    Broadcast,
    /// A request.
    Request,
    /// An answer to a request.
    Answer,
}

/// A backend attached to one endpoint: told of the endpoint's own changes.
pub trait Backend: Send + Sync + 'static {
    /// This endpoint's subscriptions changed: it now subscribes to exactly these events
    /// (sorted by name), each with its type's schema, whose fingerprint remotes compare
    /// with their own. Called in the order of the changes, under the core's subscription
    /// lock: queue, do not block.
    fn subscriptions_changed(&self, subscribed: &[Arc<EventSchema>]);

    /// The endpoint is stopping: accept no new remotes (close listeners, leave the bus).
    /// The core then drains and closes every remote through its [`RemoteLink`].
    fn stop(&self);
}

/// Why a [`RemoteLink`] did not take a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// No room now (back-pressure): try again after waiting.
    Full,
    /// The remote is gone or going; nothing more will be taken.
    Closed,
}

/// An encoded event or request, lent to [`RemoteLink::try_send`] and
/// [`RemoteLink::send`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Outgoing<'a> {
    /// The event's `NAME`.
    pub name: &'static str,
    /// A number this endpoint gives `name`, the same for every remote and for the
    /// endpoint's lifetime.
    pub name_id: u32,
    /// Set for a request: answer it with this id.
    pub request_id: Option<u64>,
    /// The encoded event (postcard).
    pub body: &'a [u8],
}

impl<'a> Outgoing<'a> {
    /// An outgoing event (`request_id` unset) or request, as the core makes them; for
    /// a backend's own tests.
    pub fn new(
        name: &'static str,
        name_id: u32,
        request_id: Option<u64>,
        body: &'a [u8],
    ) -> Outgoing<'a> {
        Outgoing {
            name,
            name_id,
            request_id,
            body,
        }
    }
}

/// How the core sends to one remote endpoint; implemented by the backend that reported it.
pub trait RemoteLink: Send + Sync + 'static {
    /// How many bytes this link adds to a body to carry a message of `kind` named `name`,
    /// so that the core can refuse, exactly and before sending anything, a message larger
    /// than [`EndpointOptions::max_frame_size`](crate::EndpointOptions::max_frame_size)
    /// ([`Error::FrameTooLarge`](crate::Error::FrameTooLarge)). At most
    /// [`MESSAGE_OVERHEAD`] plus the name's length. The default, 0, is for a link that
    /// sends the body alone.
    fn header_len(&self, name: &'static str, kind: MessageKind) -> usize {
        let _ = (name, kind);
        0
    }

    /// The largest message the remote accepts, if it is smaller than this endpoint's own
    /// [`max_frame_size`](crate::EndpointOptions::max_frame_size) (the socket mesh learns
    /// it in the handshake). The core refuses a larger one with
    /// [`Error::FrameTooLarge`](crate::Error::FrameTooLarge) rather than send it. Asked
    /// once, when the remote is added.
    fn frame_limit(&self) -> Option<usize> {
        None
    }

    /// Queues `event` if there is room now. A message larger than the room is taken when
    /// nothing else waits, so that no message is refused forever.
    fn try_send(&self, event: &Outgoing<'_>) -> Result<(), Refused>;

    /// Queues `event`, waiting up to `timeout` for room; [`Refused::Full`] when the time
    /// is up.
    fn send<'a>(
        &'a self,
        event: &'a Outgoing<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), Refused>>;

    /// Queues the answer `body` (the encoded `name`) to request `request_id`, which this
    /// remote sent. Not subject to back-pressure: answers never wait behind events.
    fn respond(&self, request_id: u64, name: &'static str, body: &[u8]) -> Result<(), Refused>;

    /// Tells the remote that every recipient here dropped its request `request_id`.
    fn drop_request(&self, request_id: u64);

    /// The endpoint is stopping gracefully: take nothing new, but deliver what is queued.
    fn finish(&self);

    /// Resolves when what was queued before [`finish`](Self::finish) is delivered (or the
    /// remote is gone). The core bounds the wait by the stall timeout.
    fn drained(&self) -> BoxFuture<'_, ()>;

    /// Gives the remote up now: drop what is queued and release its resources. Called
    /// once, when the remote is removed for any reason (including the backend's own
    /// [`RemoteHandle::disconnected`](super::RemoteHandle::disconnected)).
    fn close(&self);
}

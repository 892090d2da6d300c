//! The handles a backend drives the core through: [`Attached`] for the endpoint, and a
//! [`RemoteHandle`] for each remote it reported.

use super::link::{Backend, RemoteLink};
pub(crate) use crate::bus::inbound::WaitingDelivery;
use crate::bus::remotes::Remote;
pub use crate::bus::topics::TopicCache;
use crate::bus::Bus;
use crate::config::EndpointOptions;
use crate::error::Error;
use crate::schema::{EventSchema, Fingerprint};
use std::collections::HashMap;
use std::sync::Arc;

/// A backend's handle on the core of the endpoint it is attached to.
#[derive(Clone)]
pub struct Attached {
    bus: Arc<Bus>,
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("endpoint", &self.endpoint_name())
            .finish()
    }
}

impl Attached {
    /// The handle on `bus`, for the crate's own backends (the mesh) and `attach`.
    pub(crate) fn new(bus: Arc<Bus>) -> Attached {
        Attached { bus }
    }

    /// The endpoint's limits and timeouts.
    pub fn options(&self) -> &EndpointOptions {
        &self.bus.options
    }

    /// Resolves once a remote of this name is connected (through any backend) or the
    /// endpoint stops.
    pub async fn wait_until_connected(&self, name: &str) {
        self.bus.wait_until(|bus| bus.remotes.contains(name)).await;
    }

    /// Resolves once the remote `name` is connected and subscribes to `event` with this
    /// fingerprint (through any backend), or the endpoint stops.
    pub async fn wait_until_remote_subscribes(
        &self,
        name: &str,
        event: &str,
        fingerprint: Fingerprint,
    ) {
        self.bus
            .wait_until(|bus| {
                bus.remotes
                    .get(name)
                    .is_some_and(|remote| remote.is_subscribed(event, fingerprint))
            })
            .await;
    }

    /// Resolves once no remote of this name is connected (through any backend) or the
    /// endpoint stops.
    pub async fn wait_until_disconnected(&self, name: &str) {
        self.bus.wait_until(|bus| !bus.remotes.contains(name)).await;
    }

    /// How long a subscriber's queue may stay full before it is cut off
    /// ([`EndpointOptions::stall_timeout`]). A backend whose engine closes a congested
    /// link on its own must allow more than twice this.
    pub fn stall_timeout(&self) -> std::time::Duration {
        self.bus.options.stall_timeout
    }

    /// The largest message sent or accepted, in bytes
    /// ([`EndpointOptions::max_frame_size`]): a backend drops a larger one that arrives.
    pub fn max_frame_size(&self) -> usize {
        self.bus.options.max_frame_size
    }

    /// How many bytes of events may wait per remote before senders wait
    /// ([`EndpointOptions::connection_buffer`]).
    pub fn connection_buffer(&self) -> usize {
        self.bus.options.connection_buffer
    }

    /// How many events a stream holds ([`EndpointOptions::queue_capacity`]): a fair
    /// size for a backend's own per-remote queues.
    pub fn queue_capacity(&self) -> usize {
        self.bus.options.queue_capacity
    }

    /// Every schema this endpoint publishes (of its registered event types and its
    /// subscriptions): send them to a remote when it connects.
    pub fn known_schemas(&self) -> Vec<Arc<EventSchema>> {
        self.bus.known_schemas()
    }

    /// Takes `backend` off the endpoint (it failed to start, say): the core no longer
    /// tells it anything. Its remotes are not touched.
    pub fn detach(&self, backend: &Arc<dyn Backend>) {
        self.bus.detach(backend);
    }

    /// The endpoint's name.
    pub fn endpoint_name(&self) -> &str {
        &self.bus.name
    }

    /// Whether the endpoint stopped (or is stopping).
    pub fn is_stopped(&self) -> bool {
        self.bus.is_stopped()
    }

    /// Resolves once the endpoint stops.
    pub async fn stopped(&self) {
        self.bus.wait_until(|bus| bus.is_stopped()).await;
    }

    /// The error for an operation attempted on the stopped endpoint.
    pub fn stopped_error(&self) -> Error {
        self.bus.stopped_error()
    }

    /// Whether a remote of this name is connected, through any backend.
    pub fn is_connected_to(&self, name: &str) -> bool {
        self.bus.remotes.contains(name)
    }

    /// Reports a remote endpoint `name` that subscribes to `subscriptions`, reached
    /// through `link`. From now on it counts as connected: broadcasts it subscribes to
    /// are sent to it, and `wait_until_*` see it.
    ///
    /// `subscriptions` maps each event the remote subscribes to to the fingerprint of its
    /// schema there (see [`crate::schema`]): it is sent only the events whose fingerprint
    /// is this endpoint's. `greet` is called with this endpoint's current subscriptions,
    /// before any later
    /// [`Backend::subscriptions_changed`](super::Backend::subscriptions_changed): announce them to the remote there. Names are
    /// unique across every backend: this fails with [`Error::ConnectionAttemptRejected`]
    /// for this endpoint's own name, a name already connected, an endpoint that is
    /// stopping, or when `greet` fails (its reason is the error's).
    pub fn add_remote(
        &self,
        name: &str,
        subscriptions: HashMap<String, Fingerprint>,
        link: Arc<dyn RemoteLink>,
        greet: impl FnOnce(&[Arc<EventSchema>]) -> Result<(), String>,
    ) -> Result<RemoteHandle, Error> {
        let remote = self.bus.add_remote(name, subscriptions, link, greet)?;
        Ok(RemoteHandle {
            bus: self.bus.clone(),
            remote,
        })
    }
}

/// A backend's handle on one remote it reported: what arrives from it goes in here.
#[derive(Clone)]
pub struct RemoteHandle {
    bus: Arc<Bus>,
    remote: Arc<Remote>,
}

impl std::fmt::Debug for RemoteHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteHandle")
            .field("endpoint", &&*self.bus.name)
            .field("remote", &self.name())
            .finish()
    }
}

impl RemoteHandle {
    /// The remote's name.
    pub fn name(&self) -> &str {
        &self.remote.name
    }

    /// Whether it is still connected (not yet removed, by either side).
    pub fn is_connected(&self) -> bool {
        !self.remote.is_closed()
    }

    /// The remote now subscribes to exactly these events, each with the fingerprint of
    /// its schema there.
    pub fn set_subscriptions(
        &self,
        subscriptions: impl IntoIterator<Item = (String, Fingerprint)>,
    ) {
        self.bus
            .set_remote_subscriptions(&self.remote, subscriptions.into_iter().collect());
    }

    /// The remote published these schemas (of the event types it knows): kept for
    /// [`Endpoint::schemas_of`](crate::Endpoint::schemas_of), and compared with this
    /// endpoint's subscriptions (a disagreement is logged once). A schema whose
    /// fingerprint does not match its content is ignored.
    pub fn describe(&self, schemas: Vec<EventSchema>) {
        self.bus.describe(&self.remote, schemas);
    }

    /// An event (`request_id` unset) or a request arrived from the remote: decodes `body`
    /// as the subscribed type and delivers it to this endpoint's subscribers, waiting for
    /// queue room (back-pressure) under the delivery policy. An event nobody here
    /// subscribes to, or whose body does not decode, is dropped with a log line; a request
    /// so dropped is reported back ([`RemoteLink::drop_request`]). `cache` speeds up the
    /// lookup of `name` (see [`TopicCache`]).
    pub async fn deliver(
        &self,
        cache: &mut TopicCache,
        name: &str,
        request_id: Option<u64>,
        body: &[u8],
    ) {
        if let Some(waiting) = self.start_delivery(cache, name, request_id, body) {
            self.finish_delivery(waiting).await;
        }
    }

    /// [`deliver`](Self::deliver) in two steps, for a backend that reads on while a
    /// delivery waits for queue room: this one never waits, and returns what is left to
    /// wait for, which borrows nothing of `body`. (Crate-private while the socket mesh is
    /// its only user; a backend outside the crate uses `deliver`.)
    pub(crate) fn start_delivery(
        &self,
        cache: &mut TopicCache,
        name: &str,
        request_id: Option<u64>,
        body: &[u8],
    ) -> Option<WaitingDelivery> {
        self.bus
            .start_receive_event(&self.remote, cache, name, request_id, body)
    }

    /// Waits for what [`start_delivery`](Self::start_delivery) left.
    pub(crate) async fn finish_delivery(&self, waiting: WaitingDelivery) {
        self.bus.finish_receive_event(waiting).await;
    }

    /// The remote answered request `request_id` with `body`, an encoded `name`. Ignored
    /// unless this remote was sent that request and it is still pending.
    pub fn answer(&self, request_id: u64, name: &str, body: bytes::Bytes) {
        self.bus
            .receive_answer(&self.remote, request_id, name, body);
    }

    /// Every recipient in the remote dropped request `request_id` unanswered.
    pub fn request_dropped(&self, request_id: u64) {
        self.bus.receive_request_dropped(&self.remote, request_id);
    }

    /// Request `request_id` can no longer be answered by the remote, though the remote
    /// may still be connected (the engine below gave the request up: a router on its way
    /// failed, say). The remote is struck off the request as if it had disconnected; the
    /// requester gets [`Error::RemoteDisconnected`] when no other recipient is left.
    pub fn request_lost(&self, request_id: u64) {
        self.bus.receive_request_lost(&self.remote, request_id);
    }

    /// `missed` events named `event` from this remote were lost on the way (a gap in its
    /// sequence numbers, say): logged, counted in
    /// [`ConnectionStats`](crate::ConnectionStats), and told to every
    /// [`ConnectionEvents`](crate::ConnectionEvents) stream as
    /// [`ConnectionEvent::EventsLost`](crate::ConnectionEvent::EventsLost).
    pub fn report_gap(&self, event: &str, missed: u64) {
        self.bus.report_gap(&self.remote, event, missed);
    }

    /// The remote is gone (`reason` is logged). Its pending requests fail with
    /// [`Error::RemoteDisconnected`], and its [`RemoteLink::close`] is called.
    pub fn disconnected(&self, reason: &str) {
        self.bus.disconnect(&self.remote, reason);
    }
}

//! The [`Endpoint`]: one participant on the bus.
//!
//! Files: `shared` (the state behind every handle), `topics` (local subscriptions and the
//! delivery / slow-subscriber policy), `streams` (what subscribers hold), `requests`
//! (requests in flight and their guarantees). Connections to other processes live in
//! [`crate::connection`].

mod outbox;
mod requests;
mod shared;
mod streams;
mod topics;

pub use requests::InboundRequest;
pub use streams::{EventStream, RequestStream, Subscription};

pub(crate) use outbox::{Define, Refused};
pub(crate) use requests::{Gone, Origin, Reply, ReplyGuard, LOCAL};
pub(crate) use shared::{Listening, Peer, Shared};
pub(crate) use topics::{AnyEvent, LookupCache};

use crate::config::{BroadcastConfig, ConnectionConfig, EndpointOptions, Target};
use crate::connection::Sent;
use crate::error::Error;
use crate::event::{Event, Request};
use crate::wire::{self, NameRef};
use requests::PendingGuard;
use shared::Route;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use streams::SubscriptionGuard;
use tokio::sync::mpsc;
use topics::{Delivered, Sink, Subscriber};

/// Counters of one connection, from [`Endpoint::connection_stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// The connected endpoint's name.
    pub remote: String,
    /// EVENT frames (broadcasts and requests) queued for it.
    pub events_sent: u64,
    /// EVENT frames received from it.
    pub events_received: u64,
}

/// One participant on the bus: a cheap, cloneable handle (`Send + Sync`).
///
/// ```
/// use event_core::{Endpoint, Event};
/// use futures_util::StreamExt;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// struct Answer(u64);
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[request(response = Answer)]
/// struct Question;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let bus = Endpoint::new("doc")?;
/// let mut questions = bus.stream_requests::<Question>();
/// tokio::spawn(async move {
///     while let Some(question) = questions.next().await {
///         question.respond(Answer(42)).await.ok();
///     }
/// });
/// let answer: Answer = bus.request(Question).await?;
/// assert_eq!(answer.0, 42);
/// # Ok::<(), event_core::Error>(()) }).unwrap();
/// ```
///
/// Dropping the last handle stops the endpoint, as [`stop`](Self::stop) does.
#[derive(Clone)]
pub struct Endpoint {
    pub(crate) shared: Arc<Shared>,
    _handle: Arc<HandleToken>,
}

/// The remotes a broadcast found full, with what to send them once they have room.
struct Backlog<'r> {
    full: Vec<&'r Arc<Peer>>,
    frame: Vec<u8>,
    define_id: u32,
    define_frame: bytes::Bytes,
}

impl Backlog<'_> {
    fn define(&self) -> Define<'_> {
        Define {
            id: self.define_id,
            frame: &self.define_frame,
        }
    }
}

/// Stops the endpoint when the last [`Endpoint`] handle is dropped. Streams and tasks
/// hold the shared state, not this token, so they do not keep the endpoint alive.
struct HandleToken(Arc<Shared>);

impl Drop for HandleToken {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name())
            .field("stopped", &self.shared.is_stopped())
            .finish()
    }
}

impl Endpoint {
    /// An endpoint that does not listen; it can connect out (connections are
    /// bidirectional). Fails if two registered event types share a `NAME`.
    pub fn new(name: impl Into<String>) -> Result<Endpoint, Error> {
        Endpoint::with_options(name, EndpointOptions::default())
    }

    /// [`new`](Self::new) with explicit limits.
    pub fn with_options(
        name: impl Into<String>,
        options: EndpointOptions,
    ) -> Result<Endpoint, Error> {
        crate::registry::check_unique_names()?;
        let shared = Arc::new(Shared::new(Arc::from(name.into()), options));
        Ok(Endpoint {
            _handle: Arc::new(HandleToken(shared.clone())),
            shared,
        })
    }

    /// An endpoint that also listens on `config.path`, so that others can connect to it.
    ///
    /// The socket is created owner-only (0600) and only processes of the same user are
    /// accepted. A socket file left by a crashed process is replaced; one that a live
    /// endpoint serves is not ([`Error::AddressInUse`]).
    pub async fn serve(config: ConnectionConfig) -> Result<Endpoint, Error> {
        Endpoint::serve_with(config, EndpointOptions::default()).await
    }

    /// [`serve`](Self::serve) with explicit limits.
    pub async fn serve_with(
        config: ConnectionConfig,
        options: EndpointOptions,
    ) -> Result<Endpoint, Error> {
        let endpoint = Endpoint::with_options(config.name.clone(), options)?;
        crate::connection::listen(&endpoint.shared, &config.path).await?;
        Ok(endpoint)
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Stops the endpoint: refuses new operations at once, lets every connection write
    /// what was already accepted (events `broadcast` returned `Ok` for, answers; up to the
    /// stall timeout), then closes every connection and the listening socket (removing
    /// its file), ends every stream, and fails pending requests with [`Error::Stopped`].
    /// Idempotent. Afterwards every operation returns [`Error::Stopped`].
    ///
    /// Dropping the last handle stops the endpoint too, but at once, without writing what
    /// is still queued.
    pub async fn stop(&self) {
        self.shared.stop_gracefully().await;
    }

    /// Whether [`stop`](Self::stop) was called (or the endpoint was otherwise shut down).
    pub fn is_stopped(&self) -> bool {
        self.shared.is_stopped()
    }

    // -- connections -------------------------------------------------------------------------

    /// Connects to each endpoint, in order, waiting (up to the connect timeout) for a
    /// socket that does not exist yet. Fails with [`Error::ConnectionAttemptRejected`] for
    /// oneself, a name already connected, or a refusal by the other side.
    pub async fn connect_to_endpoints(&self, configs: &[ConnectionConfig]) -> Result<(), Error> {
        for config in configs {
            crate::connection::connect(&self.shared, config).await?;
        }
        Ok(())
    }

    /// Whether an endpoint of this name is connected.
    pub fn is_connected_to(&self, name: &str) -> bool {
        self.shared.peer(name).is_some()
    }

    /// Waits until an endpoint of this name is connected (or this endpoint stops).
    pub async fn wait_until_connected_to(&self, name: &str) {
        self.shared
            .wait_until(|shared| shared.peer(name).is_some())
            .await;
    }

    /// Every connected endpoint, this one first, with the event names it subscribes to.
    pub fn connected_endpoints_and_subscriptions(&self) -> Vec<(String, BTreeSet<String>)> {
        let mut all = vec![(
            self.name().to_owned(),
            self.shared.local_names().into_iter().collect(),
        )];
        let mut peers: Vec<(String, BTreeSet<String>)> = self
            .shared
            .peers_snapshot()
            .into_iter()
            .map(|peer| {
                (
                    peer.name.to_string(),
                    peer.subscriptions().into_iter().collect(),
                )
            })
            .collect();
        peers.sort();
        all.extend(peers);
        all
    }

    // -- events --------------------------------------------------------------------------------

    /// Sends `event` to every subscriber, here and in every connected endpoint; waits for
    /// queue space (back-pressure). Fails with [`Error::NoSubscribers`] when nobody
    /// subscribes.
    pub async fn broadcast<E: Event>(&self, event: E) -> Result<(), Error> {
        self.broadcast_with(event, BroadcastConfig::default()).await
    }

    /// [`broadcast`](Self::broadcast) with a routing config.
    pub async fn broadcast_with<E: Event>(
        &self,
        event: E,
        config: BroadcastConfig,
    ) -> Result<(), Error> {
        self.shared.check_running()?;
        let route = self.route::<E>(&config)?;
        let mut stalled = None;
        if let Some(backlog) = self.queue_to_remotes(&route.remotes, &event)? {
            for peer in &backlog.full {
                let sent = crate::connection::send_data(
                    &self.shared,
                    peer,
                    &backlog.frame,
                    Some(backlog.define()),
                )
                .await;
                if let Sent::Stalled = sent {
                    stalled = Some(peer.name.to_string());
                }
            }
        }
        if let Some(subscribers) = &route.local {
            let event: AnyEvent = Arc::new(event);
            deliver_local(&self.shared, E::NAME, subscribers, event, None).await;
        }
        match stalled {
            None => Ok(()),
            Some(remote) => Err(Error::Stalled {
                endpoint: self.name().to_owned(),
                remote,
                event: E::NAME,
                waited: self.shared.options.connection_stall_timeout(),
            }),
        }
    }

    /// Like [`broadcast_with`](Self::broadcast_with) but never waits: a full queue makes
    /// that subscriber (or endpoint) miss the event, and the call returns
    /// [`Error::QueueFull`] after delivering to everyone else.
    pub fn broadcast_nowait<E: Event>(
        &self,
        event: E,
        config: BroadcastConfig,
    ) -> Result<(), Error> {
        self.shared.check_running()?;
        let route = self.route::<E>(&config)?;
        let mut full = self
            .queue_to_remotes(&route.remotes, &event)?
            .and_then(|backlog| backlog.full.last().map(|peer| peer.name.to_string()));
        if let Some(subscribers) = &route.local {
            let event: AnyEvent = Arc::new(event);
            for subscriber in subscribers.iter() {
                if !subscriber.try_deliver(E::NAME, &event, None) {
                    full = Some(self.name().to_owned());
                }
            }
        }
        match full {
            None => Ok(()),
            Some(subscriber) => {
                tracing::warn!(endpoint = %self.shared.name, event = E::NAME, %subscriber, "queue full: event not delivered to it");
                Err(Error::QueueFull {
                    endpoint: self.name().to_owned(),
                    event: E::NAME,
                    subscriber,
                })
            }
        }
    }

    /// The events of type `E` that reach this endpoint from now on. Dropping the stream
    /// unsubscribes.
    pub fn stream<E: Event>(&self) -> EventStream<E> {
        self.queue_subscriber::<E>(false)
    }

    /// Calls `handler` for every event of type `E` that reaches this endpoint, in the task
    /// that delivers it: keep it short and non-blocking (use [`stream`](Self::stream) for
    /// async work). A panic in the handler is caught and logged.
    pub fn subscribe<E: Event, F: Fn(Arc<E>) + Send + Sync + 'static>(
        &self,
        handler: F,
    ) -> Subscription {
        if self.shared.is_stopped() {
            return Subscription::new(None);
        }
        let handler = move |event: AnyEvent| {
            if let Ok(event) = event.downcast::<E>() {
                handler(event);
            }
        };
        let id = self.shared.topics.next_id();
        self.shared.add_subscriber::<E>(Subscriber {
            id,
            sink: Sink::Handler(Arc::new(handler)),
        });
        Subscription::new(Some(self.guard::<E>(id)))
    }

    /// Waits for the next event of type `E`.
    pub async fn wait_for<E: Event>(&self) -> Result<Arc<E>, Error> {
        use futures_util_next::next;
        let mut stream = self.stream::<E>();
        next(&mut stream)
            .await
            .ok_or_else(|| self.shared.stopped_error())
    }

    // -- requests ------------------------------------------------------------------------------

    /// Sends a request to every endpoint subscribed to it and returns the first answer,
    /// whose type is bound to `R` at compile time.
    pub async fn request<R: Request>(&self, request: R) -> Result<R::Response, Error> {
        self.request_with(request, BroadcastConfig::default()).await
    }

    /// [`request`](Self::request) with a routing config.
    pub async fn request_with<R: Request>(
        &self,
        request: R,
        config: BroadcastConfig,
    ) -> Result<R::Response, Error> {
        let shared = &*self.shared;
        shared.check_running()?;
        // A request nobody can answer would wait forever: it always needs a subscriber.
        let route = self.route::<R>(&config.require_subscriber(true))?;
        let id = shared.next_request_id();
        let mut recipients: HashMap<u64, Arc<str>> = route
            .remotes
            .iter()
            .map(|peer| (peer.id, peer.name.clone()))
            .collect();
        if route.local.is_some() {
            recipients.insert(LOCAL, shared.name.clone());
        }
        let reply = shared.pending.insert(id, R::NAME, recipients);
        let _cleanup = PendingGuard { shared, id };
        // A stop between the check above and the registration would not fail this
        // request: check again now that it is registered.
        shared.check_running()?;
        if !route.remotes.is_empty() {
            let frame = wire::event(R::NAME, Some(id), &request, shared.options.max_frame_size)
                .map_err(|error| shared.wire_error(R::NAME, error))?;
            for peer in route.remotes.iter() {
                // A peer that went away before the request was registered would never be
                // struck off by its disconnect: check after registering.
                if peer.is_closed()
                    || !matches!(
                        crate::connection::send_data(&self.shared, peer, &frame, None).await,
                        Sent::Queued
                    )
                {
                    shared
                        .pending
                        .recipient_gone(&shared.name, id, peer.id, Gone::Disconnected);
                }
            }
        }
        if let Some(subscribers) = &route.local {
            let guard = Arc::new(ReplyGuard::new(
                self.shared.clone(),
                id,
                R::NAME,
                Origin::Local,
                shared.name.clone(),
            ));
            let request: AnyEvent = Arc::new(request);
            deliver_local(&self.shared, R::NAME, subscribers, request, Some(&guard)).await;
        }
        let reply = reply.await.map_err(|_| shared.stopped_error())??;
        self.decode_reply::<R>(reply)
    }

    /// [`request`](Self::request) that fails with [`Error::Timeout`] after `timeout`.
    pub async fn request_timeout<R: Request>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::Response, Error> {
        match tokio::time::timeout(timeout, self.request(request)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                endpoint: self.name().to_owned(),
                event: R::NAME,
                timeout,
            }),
        }
    }

    /// The requests of type `R` that reach this endpoint from now on, to be answered.
    pub fn stream_requests<R: Request>(&self) -> RequestStream<R> {
        RequestStream::new(self.queue_subscriber::<R>(true))
    }

    // -- subscription awareness ----------------------------------------------------------------

    /// Whether the endpoint called `remote` (this one included) subscribes to `E`.
    pub fn is_endpoint_subscribed_to<E: Event>(&self, remote: &str) -> bool {
        if remote == self.name() {
            return self.shared.is_locally_subscribed(E::NAME);
        }
        self.shared
            .peer(remote)
            .is_some_and(|peer| peer.is_subscribed(E::NAME))
    }

    /// Whether any endpoint (this one included) subscribes to `E`.
    pub fn is_any_endpoint_subscribed_to<E: Event>(&self) -> bool {
        any_subscribed(&self.shared, E::NAME)
    }

    /// Whether every connected endpoint, and this one, subscribes to `E`.
    pub fn are_all_endpoints_subscribed_to<E: Event>(&self) -> bool {
        all_subscribed(&self.shared, E::NAME)
    }

    /// Waits until the endpoint called `remote` subscribes to `E` (or this one stops).
    pub async fn wait_until_endpoint_subscribed_to<E: Event>(&self, remote: &str) {
        self.shared
            .wait_until(|shared| {
                if remote == &*shared.name {
                    shared.is_locally_subscribed(E::NAME)
                } else {
                    shared
                        .peer(remote)
                        .is_some_and(|peer| peer.is_subscribed(E::NAME))
                }
            })
            .await;
    }

    /// Waits until some endpoint (this one included) subscribes to `E`.
    pub async fn wait_until_any_endpoint_subscribed_to<E: Event>(&self) {
        self.shared
            .wait_until(|shared| any_subscribed(shared, E::NAME))
            .await;
    }

    /// Waits until every connected endpoint, and this one, subscribes to `E`.
    pub async fn wait_until_all_endpoints_subscribed_to<E: Event>(&self) {
        self.shared
            .wait_until(|shared| all_subscribed(shared, E::NAME))
            .await;
    }

    /// Counters of every current connection, sorted by remote name.
    pub fn connection_stats(&self) -> Vec<ConnectionStats> {
        let mut stats: Vec<ConnectionStats> = self
            .shared
            .peers_snapshot()
            .into_iter()
            .map(|peer| ConnectionStats {
                remote: peer.name.to_string(),
                events_sent: peer.events_sent.load(std::sync::atomic::Ordering::Relaxed),
                events_received: peer
                    .events_received
                    .load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect();
        stats.sort_by(|a, b| a.remote.cmp(&b.remote));
        stats
    }

    /// How many requests of this endpoint await an answer (0 once every request
    /// completed, failed or was cancelled).
    pub fn pending_requests(&self) -> usize {
        self.shared.pending.len()
    }

    // -- internals -----------------------------------------------------------------------------

    /// Encodes `event` once (its name interned, into a reused buffer) and queues it to
    /// every remote that has room now. The remotes that were full come back with an owned
    /// copy of the frame, for the caller to wait on or to report.
    fn queue_to_remotes<'r, E: Event>(
        &self,
        remotes: &'r [Arc<Peer>],
        event: &E,
    ) -> Result<Option<Backlog<'r>>, Error> {
        if remotes.is_empty() {
            return Ok(None);
        }
        let wire_error = |error| self.shared.wire_error(E::NAME, error);
        let (id, define_frame) = self.shared.intern(E::NAME).map_err(wire_error)?;
        let define = Some(Define {
            id,
            frame: &define_frame,
        });
        let max = self.shared.options.max_frame_size;
        let full = wire::with_event_frame(NameRef::Id(id), None, event, max, |frame| {
            let full: Vec<&Arc<Peer>> = remotes
                .iter()
                .filter(|peer| matches!(peer.try_send_data(frame, define), Err(Refused::Full)))
                .collect();
            (!full.is_empty()).then(|| (full, frame.to_vec()))
        })
        .map_err(wire_error)?;
        Ok(full.map(|(full, frame)| Backlog {
            full,
            frame,
            define_id: id,
            define_frame,
        }))
    }

    fn route<E: Event>(&self, config: &BroadcastConfig) -> Result<Route, Error> {
        let route = self.shared.route(E::NAME, &config.target);
        if route.is_empty() && config.require_subscriber {
            if let Target::Endpoint(name) = &config.target {
                tracing::debug!(endpoint = %self.shared.name, target = %name, event = E::NAME, "target does not subscribe");
            }
            return Err(Error::NoSubscribers {
                endpoint: self.name().to_owned(),
                event: E::NAME,
            });
        }
        Ok(route)
    }

    fn guard<E: Event>(&self, id: u64) -> SubscriptionGuard {
        SubscriptionGuard {
            shared: self.shared.clone(),
            name: E::NAME,
            id,
        }
    }

    fn queue_subscriber<E: Event>(&self, wants_requests: bool) -> EventStream<E> {
        let (tx, rx) = mpsc::channel(self.shared.options.queue_capacity);
        let overflowed = Arc::new(AtomicBool::new(false));
        if self.shared.is_stopped() {
            return EventStream::new(rx, overflowed, None);
        }
        let id = self.shared.topics.next_id();
        self.shared.add_subscriber::<E>(Subscriber {
            id,
            sink: Sink::Queue {
                tx,
                wants_requests,
                overflowed: overflowed.clone(),
            },
        });
        EventStream::new(rx, overflowed, Some(self.guard::<E>(id)))
    }

    fn decode_reply<R: Request>(&self, reply: Reply) -> Result<R::Response, Error> {
        let wrong = |found: &str| Error::Protocol {
            endpoint: self.name().to_owned(),
            remote: self.name().to_owned(),
            reason: format!(
                "`{}` expects `{}` in response, got `{found}`",
                R::NAME,
                <R::Response as Event>::NAME
            ),
        };
        match reply {
            Reply::Local(value) => value
                .downcast::<R::Response>()
                .map(|value| *value)
                .map_err(|_| wrong("a value of another type")),
            Reply::Remote { from, name, body } => {
                if name != <R::Response as Event>::NAME {
                    return Err(Error::Protocol {
                        endpoint: self.name().to_owned(),
                        remote: from.to_string(),
                        reason: format!(
                            "`{}` expects `{}` in response, got `{name}`",
                            R::NAME,
                            <R::Response as Event>::NAME
                        ),
                    });
                }
                postcard::from_bytes(&body).map_err(|source| Error::Decode {
                    endpoint: self.name().to_owned(),
                    remote: from.to_string(),
                    event: name,
                    source,
                })
            }
        }
    }
}

fn any_subscribed(shared: &Shared, name: &str) -> bool {
    shared.is_locally_subscribed(name)
        || shared
            .peers_snapshot()
            .iter()
            .any(|peer| peer.is_subscribed(name))
}

fn all_subscribed(shared: &Shared, name: &str) -> bool {
    shared.is_locally_subscribed(name)
        && shared
            .peers_snapshot()
            .iter()
            .all(|peer| peer.is_subscribed(name))
}

/// Delivers to local subscribers, in order, with back-pressure; cuts off a subscriber
/// that stalls (see the policy in `topics`).
pub(crate) async fn deliver_local(
    shared: &Arc<Shared>,
    name: &'static str,
    subscribers: &[Subscriber],
    event: AnyEvent,
    reply: Option<&Arc<ReplyGuard>>,
) {
    let stall = shared.options.stall_timeout;
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
            return;
        };
        if let Delivered::Stalled(id) = subscriber.deliver(name, shared_event, reply, stall).await {
            tracing::error!(
                endpoint = %shared.name,
                event = name,
                ?stall,
                "subscriber stalled (queue full): cut off; its stream ends after what it holds"
            );
            shared.remove_subscriber(name, id);
        }
    }
}

/// `StreamExt::next` without depending on futures-util in the library.
mod futures_util_next {
    use futures_core::Stream;
    use std::future::poll_fn;
    use std::pin::Pin;

    pub(super) async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
        poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
    }
}

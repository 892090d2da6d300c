//! The public handles: [`Endpoint`], and what subscribers hold (`streams`) and answer
//! (`inbound`). Each method is a thin call into the core ([`crate::bus`]), where the state
//! and the rules live, or into the socket mesh ([`crate::mesh`]) for `serve` and
//! `connect_to_endpoints`.

mod inbound;
mod streams;

pub use inbound::InboundRequest;
pub use streams::{ConnectionEvents, EventStream, RequestStream, Subscription};

use crate::backend::handles::Attached;
use crate::bus::topics::{AnyEvent, Sink, Subscriber};
use crate::bus::Bus;
use crate::config::{BroadcastConfig, ConnectionConfig, EndpointOptions};
use crate::error::Error;
use crate::event::{Event, Request};
use crate::mesh::Mesh;
use crate::observe::Observation;
use crate::schema::{schema_of, EventSchema, Fingerprint};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use streams::SubscriptionGuard;
use tokio::sync::mpsc;

/// The answer to [`Endpoint::request_encoded`], still encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodedReply {
    /// The endpoint that answered.
    pub from: String,
    /// The answer's `NAME`.
    pub name: String,
    /// The encoded answer (postcard): decode it with the schema `from` published.
    pub body: bytes::Bytes,
}

/// Ends an observation when its stream is dropped.
struct ObservationGuard {
    bus: Arc<Bus>,
    id: u64,
}

impl Drop for ObservationGuard {
    fn drop(&mut self) {
        self.bus.remove_observation(self.id);
    }
}

/// Counters of one connection, from [`Endpoint::connection_stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// The connected endpoint's name.
    pub remote: String,
    /// Events (broadcasts and requests) queued for it.
    pub events_sent: u64,
    /// Events received from it.
    pub events_received: u64,
    /// Events from it that its backend reported lost on the way (always 0 over sockets,
    /// which lose nothing while connected).
    pub events_missed: u64,
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
    bus: Arc<Bus>,
    mesh: Arc<Mesh>,
    _handle: Arc<HandleToken>,
}

/// Stops the endpoint when the last [`Endpoint`] handle is dropped. Streams and tasks
/// hold the core, not this token, so they do not keep the endpoint alive.
struct HandleToken {
    bus: Arc<Bus>,
    /// The runtime the endpoint was made in, to drain on when the last handle is dropped
    /// on a thread outside any runtime.
    runtime: Option<tokio::runtime::Handle>,
}

impl Drop for HandleToken {
    /// Stops as [`Endpoint::stop`] does, waiting (up to the stall timeout) until what
    /// was accepted is written, wherever this thread may block for it: a multi-threaded
    /// runtime (the other threads write meanwhile), or no runtime. A current-thread
    /// runtime cannot write while its one thread waits here, so there the drain goes on in
    /// a task, which finishes if the runtime goes on running.
    fn drop(&mut self) {
        use tokio::runtime::{Handle, RuntimeFlavor};
        // Refused and unlistened at once, in every case.
        let Some(remotes) = self.bus.begin_stop() else {
            return;
        };
        let bus = self.bus.clone();
        match Handle::try_current() {
            Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
                let drain = std::panic::AssertUnwindSafe(|| {
                    tokio::task::block_in_place(|| {
                        runtime.block_on(bus.drain_and_finish(remotes));
                    })
                });
                // Where this thread may not block after all (inside a `Handle::block_on`
                // of a foreign thread), stop at once rather than fail the drop.
                if std::panic::catch_unwind(drain).is_err() {
                    self.bus.finish_stop();
                }
            }
            Ok(runtime) => {
                runtime.spawn(async move { bus.drain_and_finish(remotes).await });
            }
            // On a thread outside any runtime: drain on the endpoint's own runtime, whose
            // threads write meanwhile (a runtime already gone cannot, and ends it at once).
            Err(_) => {
                let drained = self.runtime.as_ref().is_some_and(|runtime| {
                    let drain = std::panic::AssertUnwindSafe(|| {
                        runtime.block_on(bus.drain_and_finish(remotes));
                    });
                    std::panic::catch_unwind(drain).is_ok()
                });
                if !drained {
                    self.bus.finish_stop();
                }
            }
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name())
            .field("stopped", &self.bus.is_stopped())
            .finish()
    }
}

impl Endpoint {
    /// An endpoint that does not listen; it can connect out (connections are
    /// bidirectional). Fails with [`Error::InvalidName`] for a name that is empty, longer
    /// than 200 bytes, starts with `.`, or contains `/`, `\\`, whitespace or control
    /// characters, and with [`Error::DuplicateEventName`] if two registered event types
    /// share a `NAME`.
    pub fn new(name: impl Into<String>) -> Result<Endpoint, Error> {
        Endpoint::with_options(name, EndpointOptions::default())
    }

    /// [`new`](Self::new) with explicit limits.
    pub fn with_options(
        name: impl Into<String>,
        options: EndpointOptions,
    ) -> Result<Endpoint, Error> {
        let name = name.into();
        crate::config::check_endpoint_name(&name).map_err(|reason| Error::InvalidName {
            name: name.clone(),
            reason,
        })?;
        crate::registry::check_unique_names()?;
        let bus = Arc::new(Bus::new(Arc::from(name), options));
        let mesh = Mesh::new(Attached::new(bus.clone()));
        bus.attach(mesh.clone())?;
        Ok(Endpoint {
            _handle: Arc::new(HandleToken {
                bus: bus.clone(),
                runtime: tokio::runtime::Handle::try_current().ok(),
            }),
            bus,
            mesh,
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
        endpoint.mesh.listen(&config.path)?;
        Ok(endpoint)
    }

    /// The core behind this handle, for `backend::attach`.
    pub(crate) fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.bus.name
    }

    /// Stops the endpoint: refuses new operations at once, lets every connection write
    /// what was already accepted (events `broadcast` returned `Ok` for, answers; up to the
    /// stall timeout), then closes every connection and the listening socket (removing
    /// its file), ends every stream, and fails pending requests with [`Error::Stopped`].
    /// Idempotent. Afterwards every operation returns [`Error::Stopped`].
    ///
    /// Dropping the last handle stops the endpoint too, and in a multi-threaded runtime
    /// (`#[tokio::main]`'s default) it waits the same way, so a program that returns
    /// from `main` without calling `stop` loses nothing it sent. See the crate docs,
    /// "Shutting down".
    pub async fn stop(&self) {
        self.bus.stop_gracefully().await;
    }

    /// Whether [`stop`](Self::stop) was called (or the endpoint was otherwise shut down).
    pub fn is_stopped(&self) -> bool {
        self.bus.is_stopped()
    }

    // -- connections -------------------------------------------------------------------------

    /// Connects to each endpoint, in order, waiting (up to the connect timeout) for a
    /// socket that does not exist yet. Fails with [`Error::ConnectionAttemptRejected`] for
    /// oneself, a name already connected, or a refusal by the other side.
    pub async fn connect_to_endpoints(&self, configs: &[ConnectionConfig]) -> Result<(), Error> {
        for config in configs {
            self.mesh.connect(config).await?;
        }
        Ok(())
    }

    /// Whether an endpoint of this name is connected.
    pub fn is_connected_to(&self, name: &str) -> bool {
        self.bus.remotes.contains(name)
    }

    /// Waits until an endpoint of this name is connected (or this endpoint stops).
    ///
    /// Like every `wait_until_*`, it waits as long as it takes, and logs a warning when it
    /// has waited [`EndpointOptions::wait_warning`] (naming what it waits for and who is
    /// connected instead). Bound it where it must end:
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let bus = event_core::Endpoint::new("sync")?;
    /// let waited = tokio::time::timeout(
    ///     Duration::from_millis(10),
    ///     bus.wait_until_connected_to("networking"),
    /// )
    /// .await;
    /// assert!(waited.is_err(), "nobody connected");
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub async fn wait_until_connected_to(&self, name: &str) {
        self.bus
            .wait_until_logged(
                || format!("`{name}` to connect"),
                |bus| bus.remotes.contains(name),
            )
            .await;
    }

    /// Waits until no endpoint of this name is connected (or this endpoint stops):
    /// returns at once if none is.
    pub async fn wait_until_disconnected_from(&self, name: &str) {
        self.bus
            .wait_until_logged(
                || format!("`{name}` to disconnect"),
                |bus| !bus.remotes.contains(name),
            )
            .await;
    }

    /// Every change of the connected endpoints from now on: who connected, who left and
    /// why, in the order they happened. The stream ends when this endpoint stops (after a
    /// `Disconnected` for each endpoint still connected then).
    ///
    /// ```
    /// use event_core::{ConnectionEvent, Endpoint};
    /// use futures_util::StreamExt;
    /// # async fn watch(bus: Endpoint) {
    /// let mut changes = bus.connection_events();
    /// while let Some(change) = changes.next().await {
    ///     match change {
    ///         ConnectionEvent::Connected { remote } => println!("{remote} is here"),
    ///         ConnectionEvent::Disconnected { remote, reason } => println!("{remote} left: {reason}"),
    ///         _ => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn connection_events(&self) -> ConnectionEvents {
        ConnectionEvents::new(self.bus.watchers.watch())
    }

    /// Every connected endpoint, this one first, with the event names it subscribes to.
    pub fn connected_endpoints_and_subscriptions(&self) -> Vec<(String, BTreeSet<String>)> {
        let mut all = vec![(
            self.name().to_owned(),
            self.bus.local_names().into_iter().collect(),
        )];
        let mut remotes: Vec<(String, BTreeSet<String>)> = self
            .bus
            .remotes
            .snapshot()
            .into_iter()
            .map(|remote| {
                (
                    remote.name.to_string(),
                    remote.subscriptions().into_iter().collect(),
                )
            })
            .collect();
        remotes.sort();
        all.extend(remotes);
        all
    }

    // -- events --------------------------------------------------------------------------------

    /// Sends `event` to every subscriber, here and in every connected endpoint; waits for
    /// queue space (back-pressure). Fails with [`Error::NoSubscribers`] when nobody
    /// subscribes.
    ///
    /// `Ok` means *accepted*: every local subscriber has the event in its queue (or its
    /// handler ran), and it is queued, in order, for every remote subscriber that was
    /// connected. It is then written even if this endpoint stops or its last handle is
    /// dropped right after (see the crate docs, "Shutting down"); what `Ok` cannot promise
    /// is that a remote process reads it before it crashes or disconnects.
    pub async fn broadcast<E: Event>(&self, event: E) -> Result<(), Error> {
        self.broadcast_with(event, BroadcastConfig::default()).await
    }

    /// [`broadcast`](Self::broadcast) with a routing config.
    pub async fn broadcast_with<E: Event>(
        &self,
        event: E,
        config: BroadcastConfig,
    ) -> Result<(), Error> {
        self.bus.broadcast(event, &config).await
    }

    /// Like [`broadcast_with`](Self::broadcast_with) but never waits: a full queue makes
    /// that subscriber (or endpoint) miss the event, and the call returns
    /// [`Error::QueueFull`] after delivering to everyone else.
    pub fn broadcast_nowait<E: Event>(
        &self,
        event: E,
        config: BroadcastConfig,
    ) -> Result<(), Error> {
        self.bus.broadcast_nowait(event, &config)
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
        if self.bus.is_stopped() {
            return Subscription::new(None);
        }
        let handler = move |event: AnyEvent| {
            if let Ok(event) = event.downcast::<E>() {
                handler(event);
            }
        };
        let id = self.bus.topics.next_id();
        self.bus.add_subscriber::<E>(Subscriber {
            id,
            sink: Sink::Handler(Arc::new(handler)),
        });
        Subscription::new(Some(self.guard::<E>(id)))
    }

    /// Waits for the next event of type `E`.
    pub async fn wait_for<E: Event>(&self) -> Result<Arc<E>, Error> {
        use futures_core::Stream;
        let mut stream = self.stream::<E>();
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx))
            .await
            .ok_or_else(|| self.bus.stopped_error())
    }

    // -- requests ------------------------------------------------------------------------------

    /// Sends a request to every endpoint subscribed to it and returns the first answer,
    /// whose type is bound to `R` at compile time.
    ///
    /// `Ok` carries the answer itself: a recipient answered. It never hangs on recipients
    /// that are gone: their departure, stop or drop of the request fails it
    /// ([`Error::RemoteDisconnected`], [`Error::NoResponse`]); bound a wait for a slow
    /// one with [`request_timeout`](Self::request_timeout).
    pub async fn request<R: Request>(&self, request: R) -> Result<R::Response, Error> {
        self.request_with(request, BroadcastConfig::default()).await
    }

    /// [`request`](Self::request) with a routing config.
    pub async fn request_with<R: Request>(
        &self,
        request: R,
        config: BroadcastConfig,
    ) -> Result<R::Response, Error> {
        self.bus.request(request, &config).await
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

    /// Sends a request known only by its name, its type's schema fingerprint and its
    /// encoded body (postcard), and returns the answer's name and encoded body: for tools
    /// that know events by their published schemas ([`schemas_of`](Self::schemas_of)),
    /// such as `evb request`. Typed code uses [`request`](Self::request).
    ///
    /// It goes to the other endpoints subscribed to `name` with `fingerprint` (never to
    /// this endpoint's own subscribers, which take typed values), and fails as
    /// [`request`](Self::request) does; with [`Error::Timeout`] after `timeout`.
    pub async fn request_encoded(
        &self,
        name: &str,
        fingerprint: Fingerprint,
        body: &[u8],
        config: BroadcastConfig,
        timeout: Duration,
    ) -> Result<EncodedReply, Error> {
        let name = crate::bus::names::intern(name);
        match tokio::time::timeout(
            timeout,
            self.bus.request_encoded(name, fingerprint, body, &config),
        )
        .await
        {
            Ok(result) => result.map(|(from, name, body)| EncodedReply { from, name, body }),
            Err(_) => Err(Error::Timeout {
                endpoint: self.name().to_owned(),
                event: name,
                timeout,
            }),
        }
    }

    /// The requests of type `R` that reach this endpoint from now on, to be answered.
    pub fn stream_requests<R: Request>(&self) -> RequestStream<R> {
        RequestStream::new(self.queue_subscriber::<R>(true))
    }

    // -- observing -----------------------------------------------------------------------------

    /// Observes what the endpoints connected to this one send: a copy of every broadcast,
    /// request and answer of the named events (of every event, when `events` is empty),
    /// for tools that watch a bus. An observer is not a subscriber and never slows the
    /// bus; see [`observe`](crate::observe) for the guarantees.
    ///
    /// ```
    /// use event_core::observe::ObservedKind;
    /// use event_core::{BroadcastConfig, ConnectionConfig, Endpoint, Event};
    /// use futures_util::StreamExt;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// #[event(name = "doc.Tick")]
    /// struct Tick(u32);
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let app = Endpoint::serve(ConnectionConfig::from_name("app", dir.path())).await?;
    /// let tap = Endpoint::new("tap")?;
    /// let mut seen = tap.observe(["doc.Tick"]);
    /// tap.connect_to_endpoints(&[ConnectionConfig::from_name("app", dir.path())]).await?;
    ///
    /// // The tap is no subscriber: a tick nobody subscribes to still fails.
    /// assert!(app.broadcast(Tick(1)).await.is_err());
    /// // Sent with no subscriber required, the tick is copied to the tap.
    /// app.wait_until_connected_to("tap").await;
    /// let quiet = BroadcastConfig::default().require_subscriber(false);
    /// loop {
    ///     app.broadcast_with(Tick(2), quiet.clone()).await?;
    ///     let copy = tokio::time::timeout(std::time::Duration::from_millis(50), seen.next()).await;
    ///     if let Ok(Some(copy)) = copy {
    ///         assert_eq!((copy.origin.as_str(), copy.name.as_str()), ("app", "doc.Tick"));
    ///         assert_eq!(copy.kind, ObservedKind::Broadcast);
    ///         break;
    ///     }
    /// }
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn observe<I, S>(&self, events: I) -> Observation
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: BTreeSet<String> = events.into_iter().map(Into::into).collect();
        let filter = (!names.is_empty()).then_some(names);
        let (tx, rx) = mpsc::channel(self.bus.options.queue_capacity.max(1));
        let guard = self.bus.add_observation(filter, tx).map(|id| {
            Arc::new(ObservationGuard {
                bus: self.bus.clone(),
                id,
            }) as Arc<dyn Send + Sync>
        });
        Observation { rx, _guard: guard }
    }

    /// Whether the connected endpoint called `observer` observes messages of `event`
    /// (an [`Endpoint::observe`] of it there, or of everything), as this endpoint last
    /// heard: from then on this endpoint copies them to it.
    pub fn is_observed_by(&self, observer: &str, event: &str) -> bool {
        self.bus
            .remotes
            .get(observer)
            .is_some_and(|remote| remote.observes(event))
    }

    /// Waits until [`is_observed_by`](Self::is_observed_by) holds (or this endpoint
    /// stops).
    pub async fn wait_until_observed_by(&self, observer: &str, event: &str) {
        self.bus
            .wait_until_logged(
                || format!("`{observer}` to observe `{event}`"),
                |bus| {
                    bus.remotes
                        .get(observer)
                        .is_some_and(|remote| remote.observes(event))
                },
            )
            .await
    }

    // -- subscription awareness ----------------------------------------------------------------

    /// Whether the endpoint called `remote` (this one included) subscribes to `E`.
    pub fn is_endpoint_subscribed_to<E: Event>(&self, remote: &str) -> bool {
        endpoint_subscribed(&self.bus, remote, E::NAME, fingerprint::<E>())
    }

    /// Whether any endpoint (this one included) subscribes to `E`.
    pub fn is_any_endpoint_subscribed_to<E: Event>(&self) -> bool {
        any_subscribed(&self.bus, E::NAME, fingerprint::<E>())
    }

    /// Whether every connected endpoint, and this one, subscribes to `E`. An endpoint
    /// that only observes ([`observe`](Self::observe)) is not counted.
    pub fn are_all_endpoints_subscribed_to<E: Event>(&self) -> bool {
        all_subscribed(&self.bus, E::NAME, fingerprint::<E>())
    }

    /// Waits until the endpoint called `remote` subscribes to `E` (or this one stops).
    pub async fn wait_until_endpoint_subscribed_to<E: Event>(&self, remote: &str) {
        let fingerprint = fingerprint::<E>();
        self.bus
            .wait_until_logged(
                || {
                    let seen = subscription_seen(&self.bus, remote, E::NAME, fingerprint);
                    format!("`{remote}` to subscribe to `{}` ({seen})", E::NAME)
                },
                |bus| endpoint_subscribed(bus, remote, E::NAME, fingerprint),
            )
            .await;
    }

    /// Waits until some endpoint (this one included) subscribes to `E`.
    pub async fn wait_until_any_endpoint_subscribed_to<E: Event>(&self) {
        let fingerprint = fingerprint::<E>();
        self.bus
            .wait_until_logged(
                || format!("any endpoint to subscribe to `{}`", E::NAME),
                |bus| any_subscribed(bus, E::NAME, fingerprint),
            )
            .await;
    }

    /// Waits until every connected endpoint, and this one, subscribes to `E` (not
    /// counting endpoints that only observe).
    pub async fn wait_until_all_endpoints_subscribed_to<E: Event>(&self) {
        let fingerprint = fingerprint::<E>();
        self.bus
            .wait_until_logged(
                || format!("every endpoint to subscribe to `{}`", E::NAME),
                |bus| all_subscribed(bus, E::NAME, fingerprint),
            )
            .await;
    }

    /// The schemas the endpoint called `endpoint` (this one included) publishes: those of
    /// every event type it knows (registered, or subscribed to), each with its
    /// fingerprint. A remote's come with its connection; empty for an endpoint not
    /// connected. See [`crate::schema`].
    ///
    /// ```
    /// use event_core::{Endpoint, Event};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// #[event(name = "doc.Tick")]
    /// struct Tick { n: u64 }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("doc")?;
    /// let schemas = bus.schemas_of("doc");
    /// let tick = schemas.iter().find(|schema| schema.name() == "doc.Tick").unwrap();
    /// assert!(tick.is_traced());
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn schemas_of(&self, endpoint: &str) -> Vec<Arc<EventSchema>> {
        if endpoint == self.name() {
            return self.bus.known_schemas();
        }
        self.bus
            .remotes
            .get(endpoint)
            .map(|remote| remote.schemas())
            .unwrap_or_default()
    }

    /// Counters of every current connection, sorted by remote name.
    pub fn connection_stats(&self) -> Vec<ConnectionStats> {
        let mut stats: Vec<ConnectionStats> = self
            .bus
            .remotes
            .snapshot()
            .into_iter()
            .map(|remote| ConnectionStats {
                remote: remote.name.to_string(),
                events_sent: remote.events_sent.load(Ordering::Relaxed),
                events_received: remote.events_received.load(Ordering::Relaxed),
                events_missed: remote.events_missed.load(Ordering::Relaxed),
            })
            .collect();
        stats.sort_by(|a, b| a.remote.cmp(&b.remote));
        stats
    }

    /// How many requests of this endpoint await an answer (0 once every request
    /// completed, failed or was cancelled).
    pub fn pending_requests(&self) -> usize {
        self.bus.pending.len()
    }

    // -- internals -----------------------------------------------------------------------------

    fn guard<E: Event>(&self, id: u64) -> SubscriptionGuard {
        SubscriptionGuard {
            bus: self.bus.clone(),
            name: E::NAME,
            id,
        }
    }

    fn queue_subscriber<E: Event>(&self, wants_requests: bool) -> EventStream<E> {
        let (tx, rx) = mpsc::channel(self.bus.options.queue_capacity);
        let overflowed = Arc::new(AtomicBool::new(false));
        if self.bus.is_stopped() {
            return EventStream::new(rx, overflowed, None);
        }
        let id = self.bus.topics.next_id();
        self.bus.add_subscriber::<E>(Subscriber {
            id,
            sink: Sink::Queue {
                tx,
                wants_requests,
                overflowed: overflowed.clone(),
            },
        });
        EventStream::new(rx, overflowed, Some(self.guard::<E>(id)))
    }
}

fn endpoint_subscribed(bus: &Bus, remote: &str, name: &str, fingerprint: Fingerprint) -> bool {
    if remote == &*bus.name {
        return bus.is_locally_subscribed(name);
    }
    bus.remotes
        .get(remote)
        .is_some_and(|remote| remote.is_subscribed(name, fingerprint))
}

fn any_subscribed(bus: &Bus, name: &str, fingerprint: Fingerprint) -> bool {
    bus.is_locally_subscribed(name)
        || bus
            .remotes
            .snapshot()
            .iter()
            .any(|remote| remote.is_subscribed(name, fingerprint))
}

fn all_subscribed(bus: &Bus, name: &str, fingerprint: Fingerprint) -> bool {
    bus.is_locally_subscribed(name)
        && bus
            .remotes
            .snapshot()
            .iter()
            .all(|remote| remote.is_observer_only() || remote.is_subscribed(name, fingerprint))
}

/// What a wait for `remote`'s subscription to `name` sees instead, for its warning.
fn subscription_seen(bus: &Bus, remote: &str, name: &str, fingerprint: Fingerprint) -> String {
    match bus.remotes.get(remote) {
        None => format!("`{remote}` is not connected"),
        Some(remote) => match remote.subscribed_with(name) {
            None => format!("`{}` does not subscribe to it", remote.name),
            Some(theirs) => format!(
                "`{}` subscribes with another schema ({theirs}; this endpoint's is {fingerprint})",
                remote.name
            ),
        },
    }
}

fn fingerprint<E: Event>() -> Fingerprint {
    schema_of::<E>().fingerprint()
}

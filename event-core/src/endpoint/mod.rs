//! The public handles: [`Endpoint`], and what subscribers hold (`streams`) and answer
//! (`inbound`). Each method is a thin call into the core ([`crate::bus`]), where the state
//! and the rules live, or into the socket mesh ([`crate::mesh`]) for `serve` and
//! `connect_to_endpoints`.

mod futures;
mod inbound;
mod streams;

pub use futures::{BroadcastFuture, RequestFuture};
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
    /// Copies queued for it because it observes ([`Endpoint::observe`]); not in
    /// `events_sent`.
    pub copies_sent: u64,
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
    ///
    /// ```
    /// use event_core::Endpoint;
    ///
    /// let bus = Endpoint::new("sync")?;
    /// assert_eq!(bus.name(), "sync");
    /// assert!(Endpoint::new("no spaces").is_err());
    /// # Ok::<(), event_core::Error>(())
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Endpoint, Error> {
        Endpoint::with_options(name, EndpointOptions::default())
    }

    /// [`new`](Self::new) with explicit limits.
    ///
    /// ```
    /// use event_core::{Endpoint, EndpointOptions};
    /// use std::time::Duration;
    ///
    /// let options = EndpointOptions::default()
    ///     .queue_capacity(256)
    ///     .stall_timeout(Duration::from_secs(2));
    /// let bus = Endpoint::with_options("sync", options)?;
    /// # Ok::<(), event_core::Error>(())
    /// ```
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
    ///
    /// ```
    /// use event_core::{ConnectionConfig, Endpoint};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path())).await?;
    /// assert!(dir.path().join("networking.ipc").exists());
    ///
    /// let sync = Endpoint::new("sync")?;
    /// sync.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())])
    ///     .await?;
    /// assert!(sync.is_connected_to("networking"));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub async fn serve(config: ConnectionConfig) -> Result<Endpoint, Error> {
        Endpoint::serve_with(config, EndpointOptions::default()).await
    }

    /// [`serve`](Self::serve) with explicit limits.
    ///
    /// ```
    /// use event_core::{ConnectionConfig, Endpoint, EndpointOptions};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let config = ConnectionConfig::from_name("networking", dir.path());
    /// let options = EndpointOptions::default().max_frame_size(64 * 1024);
    /// let networking = Endpoint::serve_with(config, options).await?;
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// let bus = event_core::Endpoint::new("sync")?;
    /// assert_eq!(bus.name(), "sync");
    /// # Ok::<(), event_core::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("sync")?;
    /// let _ticks = bus.stream::<Tick>();
    /// bus.stop().await;
    /// assert!(bus.is_stopped());
    /// let refused = bus.broadcast(Tick(1)).await.unwrap_err();
    /// assert!(matches!(refused, event_core::Error::Stopped { .. }));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub async fn stop(&self) {
        self.bus.stop_gracefully().await;
    }

    /// Whether [`stop`](Self::stop) was called (or the endpoint was otherwise shut down).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = event_core::Endpoint::new("sync")?;
    /// assert!(!bus.is_stopped());
    /// bus.stop().await;
    /// assert!(bus.is_stopped());
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.bus.is_stopped()
    }

    // -- connections -------------------------------------------------------------------------

    /// Connects to each endpoint, in order, waiting (up to the connect timeout) for a
    /// socket that does not exist yet. Fails with [`Error::ConnectionAttemptRejected`] for
    /// oneself, a name already connected, or a refusal by the other side.
    ///
    /// ```
    /// use event_core::{ConnectionConfig, Endpoint, Error};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = ConnectionConfig::from_name("networking", dir.path());
    /// let _server = Endpoint::serve(networking.clone()).await?;
    /// let sync = Endpoint::new("sync")?;
    /// sync.connect_to_endpoints(&[networking.clone()]).await?;
    /// // Names are unique among connected endpoints.
    /// let again = sync.connect_to_endpoints(&[networking]).await.unwrap_err();
    /// assert!(matches!(again, Error::ConnectionAttemptRejected { .. }));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub async fn connect_to_endpoints(&self, configs: &[ConnectionConfig]) -> Result<(), Error> {
        for config in configs {
            self.mesh.connect(config).await?;
        }
        Ok(())
    }

    /// Whether an endpoint of this name is connected.
    ///
    /// ```
    /// use event_core::{ConnectionConfig, Endpoint};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path())).await?;
    /// let sync = Endpoint::new("sync")?;
    /// assert!(!sync.is_connected_to("networking"));
    /// sync.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())])
    ///     .await?;
    /// assert!(sync.is_connected_to("networking"));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// use event_core::{ConnectionConfig, Endpoint};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path())).await?;
    /// let sync = Endpoint::new("sync")?;
    /// sync.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())])
    ///     .await?;
    /// networking.wait_until_connected_to("sync").await;
    /// sync.stop().await;
    /// networking.wait_until_disconnected_from("sync").await;
    /// assert!(!networking.is_connected_to("sync"));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// let bus = Endpoint::new("sync")?;
    /// let _ticks = bus.stream::<Tick>();
    /// let all = bus.connected_endpoints_and_subscriptions();
    /// assert_eq!(all[0].0, "sync");
    /// assert!(all[0].1.contains(Tick::NAME));
    /// # Ok::<(), event_core::Error>(())
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use futures_util::StreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// // Nobody subscribes yet: an error, not a silent loss.
    /// assert!(bus.broadcast(Tick(0)).await.is_err());
    /// let mut ticks = bus.stream::<Tick>();
    /// bus.broadcast(Tick(1)).await?;
    /// assert_eq!(ticks.next().await.unwrap().0, 1);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn broadcast<E: Event>(&self, event: E) -> BroadcastFuture<'_, E> {
        self.broadcast_with(event, BroadcastConfig::default())
    }

    /// [`broadcast`](Self::broadcast) with a routing config.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use event_core::BroadcastConfig;
    /// use futures_util::StreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// // Fire and forget: no subscriber required.
    /// bus.broadcast_with(Tick(1), BroadcastConfig::default().require_subscriber(false))
    ///     .await?;
    /// // To this endpoint's own subscribers only.
    /// let mut ticks = bus.stream::<Tick>();
    /// bus.broadcast_with(Tick(2), BroadcastConfig::internal()).await?;
    /// assert_eq!(ticks.next().await.unwrap().0, 2);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn broadcast_with<E: Event>(
        &self,
        event: E,
        config: BroadcastConfig,
    ) -> BroadcastFuture<'_, E> {
        BroadcastFuture::new(&self.bus, event, config, futures::start_broadcast::<E>)
    }

    /// Like [`broadcast_with`](Self::broadcast_with) but never waits: a full queue makes
    /// that subscriber (or endpoint) miss the event, and the call returns
    /// [`Error::QueueFull`] after delivering to everyone else.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use event_core::{BroadcastConfig, EndpointOptions, Error};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::with_options("app", EndpointOptions::default().queue_capacity(1))?;
    /// let _ticks = bus.stream::<Tick>(); // never read
    /// bus.broadcast_nowait(Tick(1), BroadcastConfig::default())?;
    /// let full = bus.broadcast_nowait(Tick(2), BroadcastConfig::default());
    /// assert!(matches!(full, Err(Error::QueueFull { .. })));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn broadcast_nowait<E: Event>(
        &self,
        event: E,
        config: BroadcastConfig,
    ) -> Result<(), Error> {
        self.bus.broadcast_nowait(event, &config)
    }

    /// The events of type `E` that reach this endpoint from now on. Dropping the stream
    /// unsubscribes.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use futures_util::StreamExt;
    /// use std::sync::Arc;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let mut ticks = bus.stream::<Tick>();
    /// bus.broadcast(Tick(7)).await?;
    /// let tick: Arc<Tick> = ticks.next().await.unwrap();
    /// assert_eq!(tick.0, 7);
    /// drop(ticks); // unsubscribes
    /// assert!(bus.broadcast(Tick(8)).await.is_err());
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn stream<E: Event>(&self) -> EventStream<E> {
        self.queue_subscriber::<E>(false)
    }

    /// Calls `handler` for every event of type `E` that reaches this endpoint, in the task
    /// that delivers it: keep it short and non-blocking (use [`stream`](Self::stream) for
    /// async work). A panic in the handler is caught and logged.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let total = Arc::new(AtomicU32::new(0));
    /// let subscription = bus.subscribe::<Tick, _>({
    ///     let total = total.clone();
    ///     move |tick| {
    ///         total.fetch_add(tick.0, Ordering::Relaxed);
    ///     }
    /// });
    /// bus.broadcast(Tick(2)).await?; // the handler ran before this returned
    /// assert_eq!(total.load(Ordering::Relaxed), 2);
    /// subscription.unsubscribe();
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let next = tokio::spawn({
    ///     let bus = bus.clone();
    ///     async move { bus.wait_for::<Tick>().await }
    /// });
    /// bus.wait_until_any_endpoint_subscribed_to::<Tick>().await;
    /// bus.broadcast(Tick(5)).await?;
    /// assert_eq!(next.await.unwrap()?.0, 5);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Count(u64);
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # #[request(response = Count)]
    /// # struct HowMany;
    /// use futures_util::StreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let mut questions = bus.stream_requests::<HowMany>();
    /// tokio::spawn(async move {
    ///     while let Some(question) = questions.next().await {
    ///         question.respond(Count(3)).await.ok();
    ///     }
    /// });
    /// let count: Count = bus.request(HowMany).await?; // the type is bound by #[request]
    /// assert_eq!(count.0, 3);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn request<R: Request>(&self, request: R) -> RequestFuture<'_, R, R::Response> {
        self.request_with(request, BroadcastConfig::default())
    }

    /// [`request`](Self::request) with a routing config.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Count(u64);
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # #[request(response = Count)]
    /// # struct HowMany;
    /// use event_core::BroadcastConfig;
    /// use futures_util::StreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let mut questions = bus.stream_requests::<HowMany>();
    /// tokio::spawn(async move {
    ///     while let Some(question) = questions.next().await {
    ///         question.respond(Count(3)).await.ok();
    ///     }
    /// });
    /// // Only the endpoint named `app` (this one) is asked.
    /// let count = bus.request_with(HowMany, BroadcastConfig::to_endpoint("app")).await?;
    /// assert_eq!(count.0, 3);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn request_with<R: Request>(
        &self,
        request: R,
        config: BroadcastConfig,
    ) -> RequestFuture<'_, R, R::Response> {
        RequestFuture::new(
            &self.bus,
            request,
            config,
            None,
            futures::start_request::<R>,
        )
    }

    /// [`request`](Self::request) that fails with [`Error::Timeout`] after `timeout`.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Count(u64);
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # #[request(response = Count)]
    /// # struct HowMany;
    /// use event_core::Error;
    /// use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let _never_answered = bus.stream_requests::<HowMany>();
    /// let late = bus.request_timeout(HowMany, Duration::from_millis(10)).await;
    /// assert!(matches!(late, Err(Error::Timeout { .. })));
    /// assert_eq!(bus.pending_requests(), 0);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn request_timeout<R: Request>(
        &self,
        request: R,
        timeout: Duration,
    ) -> RequestFuture<'_, R, R::Response> {
        RequestFuture::new(
            &self.bus,
            request,
            BroadcastConfig::default(),
            Some(timeout),
            futures::start_request::<R>,
        )
    }

    /// Sends a request known only by its name, its type's schema fingerprint and its
    /// encoded body (postcard), and returns the answer's name and encoded body: for tools
    /// that know events by their published schemas ([`schemas_of`](Self::schemas_of)),
    /// such as `evb request`. Typed code uses [`request`](Self::request).
    ///
    /// It goes to the other endpoints subscribed to `name` with `fingerprint` (never to
    /// this endpoint's own subscribers, which take typed values), and fails as
    /// [`request`](Self::request) does; with [`Error::Timeout`] after `timeout`.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Count(u64);
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # #[request(response = Count)]
    /// # struct HowMany;
    /// use event_core::{BroadcastConfig, ConnectionConfig};
    /// use futures_util::StreamExt;
    /// use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path())).await?;
    /// let mut questions = networking.stream_requests::<HowMany>();
    /// tokio::spawn(async move {
    ///     while let Some(question) = questions.next().await {
    ///         question.respond(Count(3)).await.ok();
    ///     }
    /// });
    /// let tool = Endpoint::new("tool")?;
    /// tool.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())])
    ///     .await?;
    /// // A tool takes the fingerprint from the schema the responder published.
    /// let fingerprint = event_core::schema::schema_of::<HowMany>().fingerprint();
    /// let body: &[u8] = &[]; // `HowMany` encodes to nothing
    /// let reply = tool
    ///     .request_encoded(HowMany::NAME, fingerprint, body, BroadcastConfig::default(), Duration::from_secs(5))
    ///     .await?;
    /// assert_eq!((reply.from.as_str(), reply.name.as_str()), ("networking", Count::NAME));
    /// assert_eq!(&reply.body[..], [3]); // `Count(3)`
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Count(u64);
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # #[request(response = Count)]
    /// # struct HowMany;
    /// use futures_util::StreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let mut questions = bus.stream_requests::<HowMany>();
    /// tokio::spawn(async move {
    ///     while let Some(question) = questions.next().await {
    ///         println!("{} asks", question.origin());
    ///         // Only a `Count` compiles here.
    ///         question.respond(Count(3)).await.ok();
    ///     }
    /// });
    /// assert_eq!(bus.request(HowMany).await?.0, 3);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    /// // The app learns of the observation as of a subscription, a moment later.
    /// app.wait_until_observed_by("tap", "doc.Tick").await;
    /// // The tap is no subscriber: a tick nobody subscribes to still fails.
    /// assert!(app.broadcast(Tick(1)).await.is_err());
    /// // Sent with no subscriber required, the tick is copied to the tap.
    /// let quiet = BroadcastConfig::default().require_subscriber(false);
    /// app.broadcast_with(Tick(2), quiet).await?;
    /// let copy = seen.next().await.unwrap();
    /// assert_eq!((copy.origin.as_str(), copy.name.as_str()), ("app", "doc.Tick"));
    /// assert_eq!(copy.kind, ObservedKind::Broadcast);
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
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = event_core::Endpoint::new("app")?;
    /// // Nobody observes: nothing is copied, and a broadcast costs one atomic load more.
    /// assert!(!bus.is_observed_by("tap", "doc.Tick"));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub fn is_observed_by(&self, observer: &str, event: &str) -> bool {
        self.bus
            .remotes
            .get(observer)
            .is_some_and(|remote| remote.observes(event))
    }

    /// Waits until [`is_observed_by`](Self::is_observed_by) holds (or this endpoint
    /// stops).
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = event_core::Endpoint::new("app")?;
    /// let waited = tokio::time::timeout(
    ///     Duration::from_millis(10),
    ///     bus.wait_until_observed_by("tap", "doc.Tick"),
    /// )
    /// .await;
    /// assert!(waited.is_err(), "no tap connected");
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// let bus = Endpoint::new("app")?;
    /// assert!(!bus.is_endpoint_subscribed_to::<Tick>("app"));
    /// let _ticks = bus.stream::<Tick>();
    /// assert!(bus.is_endpoint_subscribed_to::<Tick>("app"));
    /// assert!(!bus.is_endpoint_subscribed_to::<Tick>("not-connected"));
    /// # Ok::<(), event_core::Error>(())
    /// ```
    pub fn is_endpoint_subscribed_to<E: Event>(&self, remote: &str) -> bool {
        endpoint_subscribed(&self.bus, remote, E::NAME, fingerprint::<E>())
    }

    /// Whether any endpoint (this one included) subscribes to `E`.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// let bus = Endpoint::new("app")?;
    /// assert!(!bus.is_any_endpoint_subscribed_to::<Tick>());
    /// let _ticks = bus.stream::<Tick>();
    /// assert!(bus.is_any_endpoint_subscribed_to::<Tick>());
    /// # Ok::<(), event_core::Error>(())
    /// ```
    pub fn is_any_endpoint_subscribed_to<E: Event>(&self) -> bool {
        any_subscribed(&self.bus, E::NAME, fingerprint::<E>())
    }

    /// Whether every connected endpoint, and this one, subscribes to `E`. An endpoint
    /// that only observes ([`observe`](Self::observe)) is not counted.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// let bus = Endpoint::new("app")?;
    /// let _ticks = bus.stream::<Tick>();
    /// // Alone, this endpoint is all of them.
    /// assert!(bus.are_all_endpoints_subscribed_to::<Tick>());
    /// # Ok::<(), event_core::Error>(())
    /// ```
    pub fn are_all_endpoints_subscribed_to<E: Event>(&self) -> bool {
        all_subscribed(&self.bus, E::NAME, fingerprint::<E>())
    }

    /// Waits until the endpoint called `remote` subscribes to `E` (or this one stops).
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use event_core::ConnectionConfig;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path())).await?;
    /// let sync = Endpoint::new("sync")?;
    /// let _ticks = sync.stream::<Tick>();
    /// sync.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())])
    ///     .await?;
    /// // The accepting side learns the newcomer's subscriptions a moment later.
    /// networking.wait_until_endpoint_subscribed_to::<Tick>("sync").await;
    /// networking.broadcast(Tick(1)).await?;
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let _ticks = bus.stream::<Tick>();
    /// bus.wait_until_any_endpoint_subscribed_to::<Tick>().await; // at once: this one does
    /// bus.broadcast(Tick(1)).await?;
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use event_core::ConnectionConfig;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path())).await?;
    /// let _mine = networking.stream::<Tick>();
    /// let sync = Endpoint::new("sync")?;
    /// let _theirs = sync.stream::<Tick>();
    /// sync.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())])
    ///     .await?;
    /// networking.wait_until_all_endpoints_subscribed_to::<Tick>().await;
    /// assert!(networking.are_all_endpoints_subscribed_to::<Tick>());
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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

    /// Waits until the endpoint called `endpoint` has published a schema of the event
    /// named `event`, or this endpoint stops (a return does not say which: look with
    /// [`schemas_of`](Self::schemas_of)).
    ///
    /// A remote's schemas arrive just after its subscriptions, on the same connection: a
    /// tool that builds or shows a message from a remote's schema waits for it first. A
    /// schema that fails its consistency check is not kept, so it does not end the wait.
    /// For this endpoint's own name it looks where `schemas_of` does (every event type
    /// registered in the process, and this endpoint's subscriptions), so for those it
    /// returns at once.
    ///
    /// It waits as long as it takes, for a remote that never connects or has left too:
    /// bound it with [`tokio::time::timeout`] (as `evb request` does, with the request's
    /// own deadline). A wait that runs long is logged, as the other `wait_until_*` are.
    ///
    /// ```
    /// use event_core::{Endpoint, Event};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// #[event(name = "doc.Tock")]
    /// struct Tock { n: u64 }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("doc")?;
    /// bus.wait_until_schema_published("doc", "doc.Tock").await;
    /// assert!(bus.schemas_of("doc").iter().any(|schema| schema.name() == "doc.Tock"));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
    pub async fn wait_until_schema_published(&self, endpoint: &str, event: &str) {
        let own = endpoint == self.name();
        self.bus
            .wait_until_logged(
                || format!("`{endpoint}` to publish the schema of `{event}`"),
                |bus| {
                    if own {
                        bus.known_schemas()
                            .iter()
                            .any(|schema| schema.name() == event)
                    } else {
                        bus.remotes
                            .get(endpoint)
                            .is_some_and(|remote| remote.schema(event).is_some())
                    }
                },
            )
            .await;
    }

    /// Counters of every current connection, sorted by remote name.
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Tick(u32);
    /// use event_core::ConnectionConfig;
    /// use futures_util::StreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let networking = Endpoint::serve(ConnectionConfig::from_name("networking", dir.path())).await?;
    /// let sync = Endpoint::new("sync")?;
    /// let mut ticks = sync.stream::<Tick>();
    /// sync.connect_to_endpoints(&[ConnectionConfig::from_name("networking", dir.path())])
    ///     .await?;
    /// networking.wait_until_endpoint_subscribed_to::<Tick>("sync").await;
    /// networking.broadcast(Tick(1)).await?;
    /// ticks.next().await;
    /// let stats = networking.connection_stats();
    /// assert_eq!((stats[0].remote.as_str(), stats[0].events_sent), ("sync", 1));
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
                copies_sent: remote.copies_sent.load(Ordering::Relaxed),
            })
            .collect();
        stats.sort_by(|a, b| a.remote.cmp(&b.remote));
        stats
    }

    /// How many requests of this endpoint await an answer (0 once every request
    /// completed, failed or was cancelled).
    ///
    /// ```
    /// # use event_core::{Endpoint, Event};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # struct Count(u64);
    /// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
    /// # #[request(response = Count)]
    /// # struct HowMany;
    /// use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let bus = Endpoint::new("app")?;
    /// let _held = bus.stream_requests::<HowMany>();
    /// let asking = tokio::spawn({
    ///     let bus = bus.clone();
    ///     async move { bus.request_timeout(HowMany, Duration::from_secs(5)).await }
    /// });
    /// while bus.pending_requests() == 0 {
    ///     tokio::task::yield_now().await;
    /// }
    /// asking.abort(); // a cancelled request leaves nothing behind
    /// let _ = asking.await;
    /// assert_eq!(bus.pending_requests(), 0);
    /// # Ok::<(), event_core::Error>(()) }).unwrap();
    /// ```
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
        let (tx, rx) = crate::bus::queue::queue(self.bus.options.queue_capacity);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::fake_link::FakeLink;
    use futures_util::FutureExt;
    use std::collections::HashMap;

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "endpoint.Probe")]
    struct Probe(u8);

    #[tokio::test]
    async fn a_wait_for_a_remote_schema_ends_when_the_remote_publishes_it() {
        // A long wait looks again when it logs: later than this test's bound, so only
        // the schema's arrival can end it in time.
        let options = EndpointOptions::default().wait_warning(Duration::from_secs(600));
        let bus = Endpoint::with_options("a", options).unwrap();
        let link = Arc::new(FakeLink::default());
        let remote = bus
            .bus
            .add_remote("b", HashMap::new(), link, |_| Ok(()))
            .unwrap();
        let mut wait = std::pin::pin!(bus.wait_until_schema_published("b", "endpoint.Probe"));
        assert!((&mut wait).now_or_never().is_none(), "b published nothing");
        // Another event's schema does not end it...
        let other = (*crate::schema::schema_of::<Unrelated>()).clone();
        bus.bus.describe(&remote, vec![other]);
        assert!(
            (&mut wait).now_or_never().is_none(),
            "not the schema waited for"
        );
        // ...the one waited for does, from another task's point of view too.
        let probe = (*crate::schema::schema_of::<Probe>()).clone();
        bus.bus.describe(&remote, vec![probe]);
        tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .expect("the wait did not end when the schema arrived");
        assert!(bus
            .schemas_of("b")
            .iter()
            .any(|schema| schema.name() == "endpoint.Probe"));
    }

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "endpoint.Unrelated")]
    struct Unrelated(u16);

    #[tokio::test]
    async fn a_wait_for_a_remote_schema_ends_when_the_endpoint_stops() {
        let bus = Endpoint::new("a").unwrap();
        let mut wait = std::pin::pin!(bus.wait_until_schema_published("gone", "endpoint.Probe"));
        assert!((&mut wait).now_or_never().is_none());
        bus.stop().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .expect("the wait outlived the endpoint");
    }
}

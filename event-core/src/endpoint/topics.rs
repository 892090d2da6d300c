//! Local subscriptions, by event name, and delivery to them.
//!
//! # Delivery and the slow-subscriber policy
//!
//! Every stream ([`EventStream`](crate::EventStream),
//! [`RequestStream`](crate::RequestStream)) owns a bounded queue
//! ([`EndpointOptions::queue_capacity`](crate::EndpointOptions::queue_capacity)). A
//! handler registered with [`subscribe`](crate::Endpoint::subscribe) is called in place,
//! by the task that delivers the event; it must be quick and must not block.
//!
//! * `broadcast().await` (and the connection task that delivers events received from
//!   another process) **waits** when a queue is full: back-pressure, lossless.
//! * A queue that stays full for
//!   [`stall_timeout`](crate::EndpointOptions::stall_timeout) marks its consumer as
//!   **stalled**: the subscription is cut off (logged with `tracing::error!`, naming the
//!   event and endpoint), its stream yields what it already holds, then ends, and
//!   [`EventStream::overflowed`](crate::EventStream::overflowed) says why. Memory stays
//!   bounded, and a wait cycle (a consumer that awaits a request whose answer is queued
//!   behind events it has not read) becomes a delay, not a deadlock.
//! * `broadcast_nowait` never waits: a full queue makes that subscriber miss the event and
//!   the call returns [`Error::QueueFull`](crate::Error::QueueFull).
//!
//! No event is ever dropped silently: it is delivered, or the sender gets an error, or the
//! consumer's stream ends with `overflowed() == true`.
//!
//! All subscribers of one event share one `Arc` of it; nothing is serialized in-process.

use crate::event::Event;
use rustc_hash::FxHasher;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::mpsc;

use super::requests::ReplyGuard;

/// An event of any type, shared by all its local subscribers.
pub(crate) type AnyEvent = Arc<dyn Any + Send + Sync>;

/// Decodes the body of an EVENT frame into the subscribed type.
pub(crate) type DecodeFn = fn(&[u8]) -> Result<AnyEvent, postcard::Error>;

fn decode_as<E: Event>(bytes: &[u8]) -> Result<AnyEvent, postcard::Error> {
    Ok(Arc::new(postcard::from_bytes::<E>(bytes)?))
}

/// One item in a stream's queue.
pub(crate) struct Delivery {
    pub event: AnyEvent,
    /// Set for a request delivered to a request stream.
    pub reply: Option<Arc<ReplyGuard>>,
}

/// Where a subscriber's events go.
#[derive(Clone)]
pub(crate) enum Sink {
    Queue {
        tx: mpsc::Sender<Delivery>,
        /// Request streams get the reply handle; plain streams only the event.
        wants_requests: bool,
        /// Set when the subscriber was cut off for stalling.
        overflowed: Arc<AtomicBool>,
    },
    Handler(Arc<dyn Fn(AnyEvent) + Send + Sync>),
}

#[derive(Clone)]
pub(crate) struct Subscriber {
    pub id: u64,
    pub sink: Sink,
}

/// The subscribers of one event name.
pub(crate) struct Topic {
    pub type_id: TypeId,
    pub type_name: &'static str,
    pub decode: DecodeFn,
    /// Copy-on-write, so a delivery takes a snapshot with one reference count.
    pub subscribers: Arc<[Subscriber]>,
}

/// Topics by event name (FxHash: names are short and hashed on every event).
pub(crate) type TopicMap = HashMap<&'static str, Topic, BuildHasherDefault<FxHasher>>;

/// The table of local subscriptions.
#[derive(Default)]
pub(crate) struct Topics {
    map: RwLock<TopicMap>,
    next_id: AtomicU64,
    /// Bumped on every change of the table, so lookups can be cached.
    generation: AtomicU64,
}

/// The last topic a connection looked up: consecutive frames mostly carry one event
/// name, and a hit costs one atomic load and a byte comparison instead of a lock and a
/// hash.
#[derive(Default)]
pub(crate) struct LookupCache {
    generation: u64,
    name: Vec<u8>,
    found: Option<(&'static str, DecodeFn, Arc<[Subscriber]>)>,
}

/// What `Topics::add` and `Topics::remove` changed.
pub(crate) enum Change {
    /// The set of subscribed names is unchanged.
    Same,
    /// A name appeared or disappeared.
    NamesChanged,
}

impl Topics {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, TopicMap> {
        self.map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The table, for a change: the generation moves on (also for changes that turn
    /// out to change nothing, which is harmless).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, TopicMap> {
        let guard = self
            .map
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        guard
    }

    /// [`lookup`](Self::lookup) through a connection's cache.
    pub(crate) fn lookup_cached(
        &self,
        cache: &mut LookupCache,
        name: &[u8],
        name_str: impl FnOnce() -> String,
    ) -> Option<(&'static str, DecodeFn, Arc<[Subscriber]>)> {
        let generation = self.generation.load(Ordering::SeqCst);
        if cache.generation == generation && cache.name == name {
            return cache.found.clone();
        }
        // The generation is read before the table: a change in between makes the next
        // lookup miss, never hit a stale entry.
        let found = self.lookup(&name_str());
        cache.generation = generation;
        cache.name.clear();
        cache.name.extend_from_slice(name);
        cache.found = found.clone();
        found
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a subscriber to `E`'s topic, in a table the caller has locked.
    pub(crate) fn add<E: Event>(map: &mut TopicMap, subscriber: Subscriber) -> Change {
        match map.get_mut(E::NAME) {
            Some(topic) => {
                if topic.type_id != TypeId::of::<E>() {
                    tracing::error!(
                        event = E::NAME,
                        subscribed = topic.type_name,
                        new = std::any::type_name::<E>(),
                        "two types share the event name; deliveries of one will not reach the other"
                    );
                }
                let mut subscribers = topic.subscribers.to_vec();
                subscribers.push(subscriber);
                topic.subscribers = subscribers.into();
                Change::Same
            }
            None => {
                map.insert(
                    E::NAME,
                    Topic {
                        type_id: TypeId::of::<E>(),
                        type_name: std::any::type_name::<E>(),
                        decode: decode_as::<E>,
                        subscribers: Arc::from(vec![subscriber]),
                    },
                );
                Change::NamesChanged
            }
        }
    }

    /// Removes subscriber `id` from topic `name`, in a table the caller has locked. The
    /// removed subscribers come back to the caller, to be dropped after the lock is
    /// released: a handler may own the last `Endpoint` handle, whose drop stops the
    /// endpoint, which takes this lock.
    pub(crate) fn remove(
        map: &mut TopicMap,
        name: &str,
        id: u64,
    ) -> (Change, Option<Arc<[Subscriber]>>) {
        let Some(topic) = map.get_mut(name) else {
            return (Change::Same, None);
        };
        if !topic
            .subscribers
            .iter()
            .any(|subscriber| subscriber.id == id)
        {
            return (Change::Same, None);
        }
        let remaining: Vec<Subscriber> = topic
            .subscribers
            .iter()
            .filter(|subscriber| subscriber.id != id)
            .cloned()
            .collect();
        if remaining.is_empty() {
            let removed = map.remove(name).map(|topic| topic.subscribers);
            (Change::NamesChanged, removed)
        } else {
            let removed = std::mem::replace(&mut topic.subscribers, remaining.into());
            (Change::Same, Some(removed))
        }
    }

    /// The names with at least one subscriber, sorted.
    pub(crate) fn names(map: &TopicMap) -> Vec<String> {
        let mut names: Vec<String> = map.keys().map(|name| (*name).to_owned()).collect();
        names.sort_unstable();
        names
    }

    /// The static name, decoder and subscribers of topic `name`.
    pub(crate) fn lookup(&self, name: &str) -> Option<(&'static str, DecodeFn, Arc<[Subscriber]>)> {
        self.read()
            .get_key_value(name)
            .map(|(key, topic)| (*key, topic.decode, topic.subscribers.clone()))
    }

    /// The subscribers of `name`, as a snapshot.
    pub(crate) fn snapshot(&self, name: &str) -> Option<Arc<[Subscriber]>> {
        self.read().get(name).map(|topic| topic.subscribers.clone())
    }
}

/// The outcome of delivering to one subscriber.
pub(crate) enum Delivered {
    Ok,
    /// The subscriber's queue stayed full for the stall timeout.
    Stalled(u64),
}

impl Subscriber {
    fn delivery(&self, event: AnyEvent, reply: Option<&Arc<ReplyGuard>>) -> Delivery {
        let wants_requests = matches!(
            self.sink,
            Sink::Queue {
                wants_requests: true,
                ..
            }
        );
        Delivery {
            event,
            reply: if wants_requests { reply.cloned() } else { None },
        }
    }

    /// Delivers, waiting up to `stall` for queue space.
    ///
    /// A subscriber cut off for stalling gets nothing more, not even from a delivery that
    /// was already waiting when it was cut off: its stream ends with what it held, never
    /// with a gap in the middle.
    pub(crate) async fn deliver(
        &self,
        event_name: &str,
        event: AnyEvent,
        reply: Option<&Arc<ReplyGuard>>,
        stall: Duration,
    ) -> Delivered {
        match &self.sink {
            Sink::Handler(handler) => {
                call_handler(event_name, handler, event);
                Delivered::Ok
            }
            Sink::Queue { tx, overflowed, .. } => {
                if overflowed.load(Ordering::Acquire) {
                    return Delivered::Ok;
                }
                match tx.try_send(self.delivery(event, reply)) {
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Delivered::Ok,
                    Err(mpsc::error::TrySendError::Full(delivery)) => {
                        match tokio::time::timeout(stall, tx.reserve()).await {
                            Ok(Ok(permit)) => {
                                if !overflowed.load(Ordering::Acquire) {
                                    permit.send(delivery);
                                }
                                Delivered::Ok
                            }
                            Ok(Err(_closed)) => Delivered::Ok,
                            Err(_elapsed) => {
                                overflowed.store(true, Ordering::Release);
                                Delivered::Stalled(self.id)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Delivers without waiting; `false` when the queue was full.
    pub(crate) fn try_deliver(
        &self,
        event_name: &str,
        event: &AnyEvent,
        reply: Option<&Arc<ReplyGuard>>,
    ) -> bool {
        match &self.sink {
            Sink::Handler(handler) => {
                call_handler(event_name, handler, event.clone());
                true
            }
            Sink::Queue { overflowed, .. } if overflowed.load(Ordering::Acquire) => true,
            Sink::Queue { tx, .. } => !matches!(
                tx.try_send(self.delivery(event.clone(), reply)),
                Err(mpsc::error::TrySendError::Full(_))
            ),
        }
    }
}

/// A panicking handler must not take the delivering task (possibly a connection) down.
fn call_handler(event_name: &str, handler: &Arc<dyn Fn(AnyEvent) + Send + Sync>, event: AnyEvent) {
    if catch_unwind(AssertUnwindSafe(|| handler(event))).is_err() {
        tracing::error!(
            event = event_name,
            "a subscribe() handler panicked; the event was dropped for it"
        );
    }
}

//! Local subscriptions: the subscribers of each event name in this endpoint.
//!
//! The table is read on every delivery and changed rarely (a stream made or dropped), so
//! each topic's subscriber list is copy-on-write: a delivery takes a snapshot with one
//! reference count and holds no lock while it delivers. Every change moves the table's
//! generation on, which lets a backend cache a lookup ([`TopicCache`]) and check it with
//! one atomic load.
//!
//! What a delivery does with the subscribers it found (waiting, cutting off) is the
//! delivery policy, in `bus::delivery`.

use super::requests::ReplyGuard;
use crate::event::Event;
use crate::schema::{EventSchema, Fingerprint};
use crate::sync;
use rustc_hash::FxHasher;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

/// An event of any type, shared by all its local subscribers.
pub(crate) type AnyEvent = Arc<dyn Any + Send + Sync>;

/// Decodes an encoded body into the subscribed type.
pub(crate) type DecodeFn = fn(&[u8]) -> Result<AnyEvent, postcard::Error>;

fn decode_as<E: Event>(bytes: &[u8]) -> Result<AnyEvent, postcard::Error> {
    Ok(Arc::new(crate::codec::decode::<E>(bytes)?))
}

/// One item in a stream's queue.
pub(crate) struct Delivery {
    pub event: AnyEvent,
    /// Set for a request delivered to a request stream.
    pub reply: Option<Arc<ReplyGuard>>,
}

/// A `subscribe()` handler.
pub(crate) type Handler = Arc<dyn Fn(AnyEvent) + Send + Sync>;

/// Where a subscriber's events go.
#[derive(Clone)]
pub(crate) enum Sink {
    Queue {
        tx: super::queue::QueueSender<Delivery>,
        /// Request streams get the reply handle; plain streams only the event.
        wants_requests: bool,
        /// Set when the subscriber was cut off for stalling.
        overflowed: Arc<AtomicBool>,
    },
    Handler(Handler),
}

/// One local subscriber: a stream's queue or a handler.
#[derive(Clone)]
pub(crate) struct Subscriber {
    pub id: u64,
    pub sink: Sink,
}

/// The subscribers of one event name.
struct Topic {
    type_id: TypeId,
    type_name: &'static str,
    /// The subscribed type's schema: its fingerprint goes with every announcement.
    schema: Arc<EventSchema>,
    decode: DecodeFn,
    /// Copy-on-write, so a delivery takes a snapshot with one reference count.
    subscribers: Arc<[Subscriber]>,
}

/// What a lookup of an event name finds: everything needed to deliver a received body.
#[derive(Clone)]
pub(crate) struct Found {
    pub name: &'static str,
    pub decode: DecodeFn,
    pub subscribers: Arc<[Subscriber]>,
}

/// What [`TopicMap::add`] and [`TopicMap::remove`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// The set of subscribed names is unchanged.
    Same,
    /// A name appeared or disappeared.
    NamesChanged,
}

/// Topics by event name (FxHash: names are short and hashed on every event).
#[derive(Default)]
pub(crate) struct TopicMap {
    topics: HashMap<&'static str, Topic, BuildHasherDefault<FxHasher>>,
    /// The observation markers announced with the subscriptions (see `observers.rs`),
    /// each with the number of observations that want it.
    markers: std::collections::BTreeMap<String, (usize, Arc<EventSchema>)>,
}

impl TopicMap {
    /// Adds a subscriber to `E`'s topic; `schema` is `E`'s (computed by the caller before
    /// it took the lock: tracing runs the type's `Deserialize`).
    pub(crate) fn add<E: Event>(
        &mut self,
        subscriber: Subscriber,
        schema: &Arc<EventSchema>,
    ) -> Change {
        match self.topics.get_mut(E::NAME) {
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
                self.topics.insert(
                    E::NAME,
                    Topic {
                        type_id: TypeId::of::<E>(),
                        type_name: std::any::type_name::<E>(),
                        schema: schema.clone(),
                        decode: decode_as::<E>,
                        subscribers: Arc::from(vec![subscriber]),
                    },
                );
                Change::NamesChanged
            }
        }
    }

    /// Removes subscriber `id` from topic `name`. The removed subscribers come back to
    /// the caller, to be dropped after the lock is released: a handler may own the last
    /// `Endpoint` handle, whose drop stops the endpoint, which takes this lock.
    pub(crate) fn remove(&mut self, name: &str, id: u64) -> (Change, Option<Arc<[Subscriber]>>) {
        let Some(topic) = self.topics.get_mut(name) else {
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
            let removed = self.topics.remove(name).map(|topic| topic.subscribers);
            (Change::NamesChanged, removed)
        } else {
            let removed = std::mem::replace(&mut topic.subscribers, remaining.into());
            (Change::Same, Some(removed))
        }
    }

    /// Empties the table; the subscribers come back to be dropped outside the lock.
    pub(crate) fn take_all(&mut self) -> TopicMap {
        std::mem::take(self)
    }

    /// Adds one observation's markers, each announced with `fingerprint`; `true` if the
    /// announced set changed.
    pub(crate) fn add_markers(&mut self, markers: &[String], fingerprint: Fingerprint) -> bool {
        let mut changed = false;
        for marker in markers {
            let entry = self.markers.entry(marker.clone()).or_insert_with(|| {
                changed = true;
                (0, Arc::new(EventSchema::marker(marker, fingerprint)))
            });
            entry.0 += 1;
        }
        changed
    }

    /// Removes one observation's markers; `true` if the announced set changed.
    pub(crate) fn remove_markers(&mut self, markers: &[String]) -> bool {
        let mut changed = false;
        for marker in markers {
            if let Some(entry) = self.markers.get_mut(marker) {
                entry.0 -= 1;
                if entry.0 == 0 {
                    self.markers.remove(marker);
                    changed = true;
                }
            }
        }
        changed
    }

    /// The names with at least one subscriber, and the observation markers, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.topics.keys().map(|name| (*name).to_owned()).collect();
        names.extend(self.markers.keys().cloned());
        names.sort_unstable();
        names
    }

    /// The schemas of the subscribed events and the observation markers, sorted by
    /// name: what this endpoint announces.
    pub(crate) fn subscribed(&self) -> Vec<Arc<EventSchema>> {
        let mut schemas: Vec<Arc<EventSchema>> = self
            .topics
            .values()
            .map(|topic| topic.schema.clone())
            .chain(self.markers.values().map(|(_, schema)| schema.clone()))
            .collect();
        schemas.sort_unstable_by(|a, b| a.name().cmp(b.name()));
        schemas
    }

    /// The fingerprint this endpoint subscribes to `name` with.
    pub(crate) fn fingerprint(&self, name: &str) -> Option<Fingerprint> {
        self.topics
            .get(name)
            .map(|topic| topic.schema.fingerprint())
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.topics.contains_key(name)
    }

    /// The static name, decoder and subscribers of topic `name`.
    pub(crate) fn find(&self, name: &str) -> Option<Found> {
        self.topics.get_key_value(name).map(|(key, topic)| Found {
            name: key,
            decode: topic.decode,
            subscribers: topic.subscribers.clone(),
        })
    }

    /// The subscribers of `name`, as a snapshot.
    pub(crate) fn subscribers(&self, name: &str) -> Option<Arc<[Subscriber]>> {
        self.topics.get(name).map(|topic| topic.subscribers.clone())
    }
}

/// The table of local subscriptions, its lock, and its generation.
pub(crate) struct Topics {
    map: RwLock<TopicMap>,
    next_id: AtomicU64,
    /// Moved on by every change of the table, so lookups can be cached.
    generation: AtomicU64,
    /// Unique among all tables of the process: a cache filled from another endpoint's
    /// table never hits here.
    table_id: u64,
}

impl Default for Topics {
    fn default() -> Self {
        static NEXT_TABLE: AtomicU64 = AtomicU64::new(1);
        Topics {
            map: RwLock::default(),
            next_id: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            table_id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Topics {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, TopicMap> {
        sync::read(&self.map)
    }

    /// The table, for a change: the generation moves on (also for changes that turn out
    /// to change nothing, which is harmless).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, TopicMap> {
        let guard = sync::write(&self.map);
        self.generation.fetch_add(1, Ordering::SeqCst);
        guard
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Unique among the tables of the process.
    pub(crate) fn table_id(&self) -> u64 {
        self.table_id
    }

    /// Moved on by every change of the table: a lookup made after reading it is valid
    /// for as long as it reads the same.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// [`TopicMap::find`] through a backend's cache.
    pub(crate) fn find_cached(&self, cache: &mut TopicCache, name: &str) -> Option<Found> {
        let generation = self.generation.load(Ordering::SeqCst);
        if cache.table_id == self.table_id
            && cache.generation == generation
            && cache.name == name.as_bytes()
        {
            match &cache.found {
                None => return None,
                Some(weak) => {
                    // Gone only if the table replaced the list since: then the
                    // generation moved too, and this is a miss.
                    if let Some(subscribers) = weak.subscribers.upgrade() {
                        return Some(Found {
                            name: weak.name,
                            decode: weak.decode,
                            subscribers,
                        });
                    }
                }
            }
        }
        // The generation is read before the table: a change in between makes the next
        // lookup miss, never hit a stale entry.
        let found = self.read().find(name);
        cache.table_id = self.table_id;
        cache.generation = generation;
        cache.name.clear();
        cache.name.extend_from_slice(name.as_bytes());
        cache.found = found.as_ref().map(|found| WeakFound {
            name: found.name,
            decode: found.decode,
            subscribers: Arc::downgrade(&found.subscribers),
        });
        found
    }
}

/// A backend's cache of one event-name lookup, for
/// [`RemoteHandle::deliver`](crate::backend::RemoteHandle::deliver).
///
/// Consecutive events from one remote mostly carry one name: a hit costs one atomic load
/// and a byte comparison instead of a lock and a hash. Keep one per name you see often (a
/// socket connection keeps one per name the sender numbered) or one for everything.
///
/// It holds its subscribers weakly: a subscriber removed from the table (dropped, cut
/// off, or the endpoint stopped) is released at once, even if no event ever comes to
/// refresh the cache, so its stream ends and whatever its handler owned is dropped.
#[derive(Default)]
pub struct TopicCache {
    /// The table it was filled from (0: none yet).
    table_id: u64,
    generation: u64,
    name: Vec<u8>,
    found: Option<WeakFound>,
}

/// A [`Found`] that does not keep its subscribers alive.
struct WeakFound {
    name: &'static str,
    decode: DecodeFn,
    subscribers: Weak<[Subscriber]>,
}

impl std::fmt::Debug for TopicCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicCache")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("hit", &self.found.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::schema_of;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Serialize, Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "topics.Ping")]
    struct Ping(u32);

    fn handler(id: u64) -> Subscriber {
        Subscriber {
            id,
            sink: Sink::Handler(Arc::new(|_| {})),
        }
    }

    #[test]
    fn names_appear_with_the_first_subscriber_and_go_with_the_last() {
        let mut map = TopicMap::default();
        assert_eq!(
            map.add::<Ping>(handler(1), &schema_of::<Ping>()),
            Change::NamesChanged
        );
        assert_eq!(
            map.add::<Ping>(handler(2), &schema_of::<Ping>()),
            Change::Same
        );
        assert_eq!(map.names(), vec!["topics.Ping".to_owned()]);
        let (change, removed) = map.remove("topics.Ping", 1);
        assert_eq!(
            (change, removed.map(|old| old.len())),
            (Change::Same, Some(2))
        );
        assert_eq!(map.remove("topics.Ping", 1).0, Change::Same, "already gone");
        assert_eq!(map.remove("topics.Ping", 2).0, Change::NamesChanged);
        assert!(map.names().is_empty() && !map.contains("topics.Ping"));
    }

    #[test]
    fn a_found_topic_decodes_bodies_as_the_subscribed_type() {
        let mut map = TopicMap::default();
        map.add::<Ping>(handler(1), &schema_of::<Ping>());
        let found = map.find("topics.Ping").unwrap();
        let event = (found.decode)(&crate::codec::body(&Ping(7)).unwrap()).unwrap();
        assert_eq!(event.downcast::<Ping>().unwrap().0, 7);
        assert!((found.decode)(&[]).is_err());
        assert!(map.find("topics.Pong").is_none());
    }

    #[test]
    fn a_cached_lookup_is_dropped_by_any_change_of_the_table() {
        let topics = Topics::default();
        let mut cache = TopicCache::default();
        assert!(topics.find_cached(&mut cache, "topics.Ping").is_none());
        topics.write().add::<Ping>(handler(1), &schema_of::<Ping>());
        let found = topics.find_cached(&mut cache, "topics.Ping").unwrap();
        assert_eq!(found.subscribers.len(), 1);
        topics.write().add::<Ping>(handler(2), &schema_of::<Ping>());
        let found = topics.find_cached(&mut cache, "topics.Ping").unwrap();
        assert_eq!(found.subscribers.len(), 2, "a stale entry was served");
        // A cache hit for one name does not answer for another.
        assert!(topics.find_cached(&mut cache, "topics.Pong").is_none());
    }

    #[test]
    fn a_cache_filled_from_one_table_never_hits_in_another() {
        let (here, there) = (Topics::default(), Topics::default());
        here.write().add::<Ping>(handler(1), &schema_of::<Ping>());
        there.write().add::<Ping>(handler(2), &schema_of::<Ping>());
        // Same generation, same name: only the table tells them apart.
        let mut cache = TopicCache::default();
        let found = here.find_cached(&mut cache, "topics.Ping").unwrap();
        assert_eq!(found.subscribers[0].id, 1);
        let found = there.find_cached(&mut cache, "topics.Ping").unwrap();
        assert_eq!(
            found.subscribers[0].id, 2,
            "served another endpoint's subscribers"
        );
    }

    #[test]
    fn a_cache_does_not_keep_removed_subscribers_alive() {
        let topics = Topics::default();
        let owned = Arc::new(());
        let held = owned.clone();
        topics.write().add::<Ping>(
            Subscriber {
                id: 1,
                sink: Sink::Handler(Arc::new(move |_| {
                    let _ = &held;
                })),
            },
            &schema_of::<Ping>(),
        );
        let mut cache = TopicCache::default();
        drop(topics.find_cached(&mut cache, "topics.Ping").unwrap());
        let (_, removed) = topics.write().remove("topics.Ping", 1);
        drop(removed);
        assert_eq!(
            Arc::strong_count(&owned),
            1,
            "the cache kept the handler alive"
        );
        assert!(topics.find_cached(&mut cache, "topics.Ping").is_none());
    }
}

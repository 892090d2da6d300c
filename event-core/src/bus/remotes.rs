//! The remote endpoints a backend connected this one to, what each subscribes to, and the
//! cached routes built from them.
//!
//! A remote is whatever a backend reported with
//! [`Attached::add_remote`](crate::backend::Attached::add_remote): a socket connection, or
//! an endpoint seen on a broker. Its [`RemoteLink`] is how the core sends to it; its
//! subscription set is what the backend last reported, and decides whether a broadcast is
//! sent to it at all (subscription-aware routing).
//!
//! Routes (the remotes subscribed to one event name) are cached by name and dropped
//! whenever a remote or a remote's subscriptions change, so a broadcast costs one lookup,
//! not one per remote.

use super::observation::Observing;
use crate::backend::link::RemoteLink;
use crate::schema::{EventSchema, Fingerprint};
use crate::sync;
use rustc_hash::FxHasher;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard};

/// A connected endpoint, as seen from this one.
pub(crate) struct Remote {
    pub name: Arc<str>,
    /// Unique per remote within this endpoint (never [`LOCAL`](super::requests::LOCAL)).
    pub id: u64,
    /// What it subscribes to, each with the fingerprint of its type's schema.
    subscriptions: RwLock<HashMap<String, Fingerprint>>,
    /// What it observes, as its subscriptions' markers say (see `observers.rs`).
    observing: RwLock<Option<Observing>>,
    /// Copies meant for it that found no room since the last one sent.
    pub copies_missed: AtomicU64,
    /// Copies queued for it (it observes).
    pub copies_sent: AtomicU64,
    /// The schemas it published (every event type it knows), by name.
    schemas: RwLock<HashMap<String, Arc<EventSchema>>>,
    /// The schema disagreements already logged, so each is logged once.
    warned: Mutex<HashSet<(String, Side)>>,
    /// How the core sends to it.
    pub link: Arc<dyn RemoteLink>,
    /// The largest message it accepts, if its link said.
    pub frame_limit: Option<usize>,
    closed: AtomicBool,
    /// Events (broadcasts and requests) queued for it, received from it, and reported
    /// missing by its backend.
    pub events_sent: AtomicU64,
    pub events_received: AtomicU64,
    pub events_missed: AtomicU64,
}

impl Remote {
    pub(crate) fn new(
        name: Arc<str>,
        id: u64,
        subscriptions: HashMap<String, Fingerprint>,
        link: Arc<dyn RemoteLink>,
    ) -> Arc<Remote> {
        Arc::new(Remote {
            name,
            id,
            frame_limit: link.frame_limit(),
            observing: RwLock::new(Observing::parse(&subscriptions)),
            copies_missed: AtomicU64::new(0),
            copies_sent: AtomicU64::new(0),
            subscriptions: RwLock::new(subscriptions),
            schemas: RwLock::default(),
            warned: Mutex::default(),
            link,
            closed: AtomicBool::new(false),
            events_sent: AtomicU64::new(0),
            events_received: AtomicU64::new(0),
            events_missed: AtomicU64::new(0),
        })
    }

    /// Whether it subscribes to `name` with this fingerprint.
    pub(crate) fn is_subscribed(&self, name: &str, fingerprint: Fingerprint) -> bool {
        self.subscribed_with(name) == Some(fingerprint)
    }

    /// The fingerprint it subscribes to `name` with, if it does.
    pub(crate) fn subscribed_with(&self, name: &str) -> Option<Fingerprint> {
        sync::read(&self.subscriptions).get(name).copied()
    }

    /// The names it subscribes to, whatever their schemas.
    pub(crate) fn subscriptions(&self) -> Vec<String> {
        sync::read(&self.subscriptions).keys().cloned().collect()
    }

    /// Replaces its subscriptions (through [`RemoteTable::set_subscriptions`], which
    /// counts observers).
    fn set_subscriptions(&self, subscriptions: HashMap<String, Fingerprint>) {
        *sync::write(&self.observing) = Observing::parse(&subscriptions);
        *sync::write(&self.subscriptions) = subscriptions;
    }

    /// Whether it observes anything.
    pub(crate) fn is_observer(&self) -> bool {
        sync::read(&self.observing).is_some()
    }

    /// Whether it observes and subscribes to nothing else.
    pub(crate) fn is_observer_only(&self) -> bool {
        sync::read(&self.observing)
            .as_ref()
            .is_some_and(|observing| observing.only)
    }

    /// Whether it observes messages of `name`.
    pub(crate) fn observes(&self, name: &str) -> bool {
        sync::read(&self.observing)
            .as_ref()
            .is_some_and(|observing| observing.takes(name))
    }

    /// Keeps the schemas it published (a later one of a name replaces the earlier).
    pub(crate) fn add_schemas(&self, schemas: impl IntoIterator<Item = Arc<EventSchema>>) {
        let mut known = sync::write(&self.schemas);
        for schema in schemas {
            known.insert(schema.name().to_owned(), schema);
        }
    }

    /// The schema it published for `name`.
    pub(crate) fn schema(&self, name: &str) -> Option<Arc<EventSchema>> {
        sync::read(&self.schemas).get(name).cloned()
    }

    /// Every schema it published, by name.
    pub(crate) fn schemas(&self) -> Vec<Arc<EventSchema>> {
        let mut schemas: Vec<_> = sync::read(&self.schemas).values().cloned().collect();
        schemas.sort_unstable_by(|a, b| a.name().cmp(b.name()));
        schemas
    }

    /// `true` the first time a disagreement about `name` is seen from `side`.
    pub(crate) fn first_warning(&self, name: &str, side: Side) -> bool {
        sync::lock(&self.warned).insert((name.to_owned(), side))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Marks it closed; `true` the first time only.
    pub(crate) fn mark_closed(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }
}

/// Which side of a schema disagreement this endpoint is on, for logging each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// This endpoint would send; the remote subscribes with another schema.
    Sending,
    /// This endpoint subscribes; the remote publishes another schema.
    Receiving,
}

/// The remotes by name: names are unique among connected endpoints.
#[derive(Default)]
pub(crate) struct RemoteTable {
    by_name: HashMap<Arc<str>, Arc<Remote>>,
    /// The smallest frame limit among them (`usize::MAX`: none said), readable without
    /// the table's lock.
    min_frame_limit: Arc<AtomicUsize>,
    /// How many of them observe, readable without the table's lock.
    observers: Arc<AtomicUsize>,
    /// How many there are, readable without the table's lock.
    len: Arc<AtomicUsize>,
}

impl RemoteTable {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub(crate) fn insert(&mut self, remote: Arc<Remote>) {
        if let Some(replaced) = self.by_name.insert(remote.name.clone(), remote.clone()) {
            self.count_observer(&replaced, false);
        }
        self.count_observer(&remote, true);
        self.update_summaries();
    }

    fn count_observer(&self, remote: &Remote, added: bool) {
        if remote.is_observer() {
            if added {
                self.observers.fetch_add(1, Ordering::SeqCst);
            } else {
                self.observers.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Replaces `remote`'s subscriptions, keeping the count of observers.
    pub(crate) fn set_subscriptions(
        &mut self,
        remote: &Remote,
        subscriptions: HashMap<String, Fingerprint>,
    ) {
        let listed = self
            .by_name
            .get(&remote.name)
            .is_some_and(|current| current.id == remote.id);
        if listed {
            self.count_observer(remote, false);
        }
        remote.set_subscriptions(subscriptions);
        if listed {
            self.count_observer(remote, true);
        }
    }

    /// Updates what is readable without the lock: the count, the smallest frame limit.
    fn update_summaries(&self) {
        self.len.store(self.by_name.len(), Ordering::SeqCst);
        let min = self
            .by_name
            .values()
            .filter_map(|remote| remote.frame_limit)
            .min()
            .unwrap_or(usize::MAX);
        self.min_frame_limit.store(min, Ordering::Relaxed);
    }

    /// Removes `remote` if it is still the one registered under its name.
    pub(crate) fn remove(&mut self, remote: &Remote) {
        if self
            .by_name
            .get(&remote.name)
            .is_some_and(|current| current.id == remote.id)
        {
            if let Some(removed) = self.by_name.remove(&remote.name) {
                self.count_observer(&removed, false);
            }
            self.update_summaries();
        }
    }

    pub(crate) fn take_all(&mut self) -> Vec<Arc<Remote>> {
        let all = self.by_name.drain().map(|(_, remote)| remote).collect();
        self.observers.store(0, Ordering::SeqCst);
        self.update_summaries();
        all
    }
}

/// The remote table, its lock, and the routes cached from it.
pub(crate) struct Remotes {
    table: RwLock<RemoteTable>,
    /// The table's smallest frame limit (shared with it).
    min_frame_limit: Arc<AtomicUsize>,
    /// The table's count of observers (shared with it).
    observers: Arc<AtomicUsize>,
    /// The table's count of remotes (shared with it).
    len: Arc<AtomicUsize>,
    routes: RwLock<RouteCache>,
    /// Moved on by every change of a remote or its subscriptions: cached routes are stale.
    generation: AtomicU64,
    next_id: AtomicU64,
}

/// The remotes subscribed to each event name, valid for one generation.
#[derive(Default)]
struct RouteCache {
    generation: u64,
    by_name: HashMap<Box<str>, Arc<RemoteRoute>, BuildHasherDefault<FxHasher>>,
}

/// The remotes subscribed to one event name: those whose schema is this endpoint's, and
/// those whose schema differs (never sent to). Shared behind one `Arc`: a broadcast takes
/// it with one reference count.
#[derive(Default)]
pub(crate) struct RemoteRoute {
    pub compatible: Vec<Arc<Remote>>,
    pub incompatible: Vec<(Arc<Remote>, Fingerprint)>,
}

/// The route to no remote, for [`RoutedRemotes::Nobody`].
static NOBODY: RemoteRoute = RemoteRoute {
    compatible: Vec::new(),
    incompatible: Vec::new(),
};

/// The remotes a message goes to: nobody (an endpoint with no remote, or a message that
/// stays in this process), without a reference count to take and give back, or a route
/// shared with the route cache.
#[derive(Clone)]
pub(crate) enum RoutedRemotes {
    Nobody,
    Shared(Arc<RemoteRoute>),
}

impl std::ops::Deref for RoutedRemotes {
    type Target = RemoteRoute;

    fn deref(&self) -> &RemoteRoute {
        match self {
            RoutedRemotes::Nobody => &NOBODY,
            RoutedRemotes::Shared(route) => route,
        }
    }
}

impl RemoteRoute {
    /// `remote` alone, if it subscribes to `name`.
    pub(crate) fn of(
        remote: Option<Arc<Remote>>,
        name: &str,
        fingerprint: Fingerprint,
    ) -> RoutedRemotes {
        let mut route = RemoteRoute::default();
        if let Some(remote) = remote.filter(|remote| !remote.is_closed()) {
            match remote.subscribed_with(name) {
                Some(theirs) if theirs == fingerprint => route.compatible.push(remote),
                Some(theirs) => route.incompatible.push((remote, theirs)),
                None => {}
            }
        }
        RoutedRemotes::Shared(Arc::new(route))
    }
}

impl Default for Remotes {
    fn default() -> Self {
        let table = RemoteTable::default();
        table.min_frame_limit.store(usize::MAX, Ordering::Relaxed);
        Remotes {
            min_frame_limit: table.min_frame_limit.clone(),
            observers: table.observers.clone(),
            len: table.len.clone(),
            table: RwLock::new(table),
            routes: RwLock::default(),
            generation: AtomicU64::new(0),
            // 0 is `LOCAL`, this endpoint as a request recipient.
            next_id: AtomicU64::new(1),
        }
    }
}

impl Remotes {
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The smallest frame limit any connected remote said it has.
    pub(crate) fn min_frame_limit(&self) -> usize {
        self.min_frame_limit.load(Ordering::Relaxed)
    }

    /// Whether any connected remote observes: one atomic load, on every broadcast.
    pub(crate) fn has_observers(&self) -> bool {
        self.observers.load(Ordering::Relaxed) > 0
    }

    /// The remotes that observe messages of `name` (none, without a lock, when no remote
    /// observes anything).
    #[inline]
    pub(crate) fn observers_of(&self, name: &str) -> Vec<Arc<Remote>> {
        if !self.has_observers() {
            return Vec::new();
        }
        self.observers_in_table(name)
    }

    fn observers_in_table(&self, name: &str) -> Vec<Arc<Remote>> {
        sync::read(&self.table)
            .by_name
            .values()
            .filter(|remote| !remote.is_closed() && remote.observes(name))
            .cloned()
            .collect()
    }

    /// What [`subscribed_to`](Self::subscribed_to)'s answers are valid for: it moves
    /// on with every change of a remote or its subscriptions.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The table, for a change; the caller calls [`invalidate`](Self::invalidate) after.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, RemoteTable> {
        sync::write(&self.table)
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Remote>> {
        sync::read(&self.table).by_name.get(name).cloned()
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        sync::read(&self.table).contains(name)
    }

    pub(crate) fn snapshot(&self) -> Vec<Arc<Remote>> {
        sync::read(&self.table).by_name.values().cloned().collect()
    }

    /// A remote or a remote's subscriptions changed. The cached routes go at once, so
    /// that none keeps a departed remote (and its link's buffers) alive.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let stale = std::mem::take(&mut sync::write(&self.routes).by_name);
        drop(stale);
    }

    /// The remotes subscribed to `name`, split by `fingerprint`, computed now and not
    /// cached (for a caller whose fingerprint is not the process's type of `name`).
    pub(crate) fn subscribed_with_uncached(
        &self,
        name: &str,
        fingerprint: Fingerprint,
    ) -> RoutedRemotes {
        RoutedRemotes::Shared(Arc::new(self.split(name, fingerprint)))
    }

    fn split(&self, name: &str, fingerprint: Fingerprint) -> RemoteRoute {
        let mut route = RemoteRoute::default();
        for remote in sync::read(&self.table).by_name.values() {
            if remote.is_closed() {
                continue;
            }
            match remote.subscribed_with(name) {
                Some(theirs) if theirs == fingerprint => route.compatible.push(remote.clone()),
                Some(theirs) => route.incompatible.push((remote.clone(), theirs)),
                None => {}
            }
        }
        route
    }

    /// The remotes subscribed to `name`, split by whether their schema is the one
    /// `fingerprint` names (asked only when the route is not cached: a name stands for
    /// one type in a process).
    pub(crate) fn subscribed_to(
        &self,
        name: &str,
        fingerprint: impl FnOnce() -> Fingerprint,
    ) -> RoutedRemotes {
        // An endpoint with no remote at all (one process's bus) takes no lock here.
        if self.len.load(Ordering::SeqCst) == 0 {
            return RoutedRemotes::Nobody;
        }
        let generation = self.generation.load(Ordering::SeqCst);
        {
            let cache = sync::read(&self.routes);
            if cache.generation == generation {
                if let Some(route) = cache.by_name.get(name) {
                    return RoutedRemotes::Shared(route.clone());
                }
            }
        }
        let route = Arc::new(self.split(name, fingerprint()));
        let mut cache = sync::write(&self.routes);
        // Only a route computed in the current generation may be cached: one computed
        // across a change could miss a new subscriber for good.
        if self.generation.load(Ordering::SeqCst) == generation {
            if cache.generation != generation {
                cache.by_name.clear();
                cache.generation = generation;
            }
            cache.by_name.insert(name.into(), route.clone());
        }
        RoutedRemotes::Shared(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::fake_link::FakeLink;

    const FINGERPRINT: Fingerprint = Fingerprint(1);

    /// A table with one remote, `b`, subscribed to `E`.
    fn one_remote() -> (Remotes, Arc<Remote>) {
        let remotes = Remotes::default();
        let subscribes: HashMap<String, Fingerprint> = [("E".to_owned(), FINGERPRINT)].into();
        let remote = Remote::new(
            Arc::from("b"),
            remotes.next_id(),
            subscribes,
            Arc::new(FakeLink::default()),
        );
        remotes.write().insert(remote.clone());
        remotes.invalidate();
        (remotes, remote)
    }

    #[test]
    fn a_closed_remote_is_never_routed_to_even_before_it_leaves_the_table() {
        let (remotes, remote) = one_remote();
        assert_eq!(
            remotes.subscribed_to("E", || FINGERPRINT).compatible.len(),
            1
        );
        // Closed, but (for a moment) still registered: a route built now leaves it out.
        assert!(remote.mark_closed());
        remotes.invalidate();
        assert!(remotes
            .subscribed_to("E", || FINGERPRINT)
            .compatible
            .is_empty());
    }

    #[test]
    fn a_change_drops_every_cached_route_at_once() {
        let (remotes, remote) = one_remote();
        drop(remotes.subscribed_to("E", || FINGERPRINT));
        let before = Arc::strong_count(&remote);
        remotes.write().remove(&remote);
        remotes.invalidate();
        assert_eq!(
            Arc::strong_count(&remote),
            before - 2,
            "the table's and the cache's"
        );
    }
}

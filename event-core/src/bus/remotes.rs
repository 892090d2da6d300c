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

use crate::backend::link::RemoteLink;
use crate::sync;
use rustc_hash::FxHasher;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};

/// A connected endpoint, as seen from this one.
pub(crate) struct Remote {
    pub name: Arc<str>,
    /// Unique per remote within this endpoint (never [`LOCAL`](super::requests::LOCAL)).
    pub id: u64,
    subscriptions: RwLock<HashSet<String>>,
    /// How the core sends to it.
    pub link: Arc<dyn RemoteLink>,
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
        subscriptions: HashSet<String>,
        link: Arc<dyn RemoteLink>,
    ) -> Arc<Remote> {
        Arc::new(Remote {
            name,
            id,
            subscriptions: RwLock::new(subscriptions),
            link,
            closed: AtomicBool::new(false),
            events_sent: AtomicU64::new(0),
            events_received: AtomicU64::new(0),
            events_missed: AtomicU64::new(0),
        })
    }

    pub(crate) fn is_subscribed(&self, name: &str) -> bool {
        sync::read(&self.subscriptions).contains(name)
    }

    pub(crate) fn subscriptions(&self) -> HashSet<String> {
        sync::read(&self.subscriptions).clone()
    }

    pub(crate) fn set_subscriptions(&self, names: HashSet<String>) {
        *sync::write(&self.subscriptions) = names;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Marks it closed; `true` the first time only.
    pub(crate) fn mark_closed(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }
}

/// The remotes by name: names are unique among connected endpoints.
#[derive(Default)]
pub(crate) struct RemoteTable {
    by_name: HashMap<Arc<str>, Arc<Remote>>,
}

impl RemoteTable {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub(crate) fn insert(&mut self, remote: Arc<Remote>) {
        self.by_name.insert(remote.name.clone(), remote);
    }

    /// Removes `remote` if it is still the one registered under its name.
    pub(crate) fn remove(&mut self, remote: &Remote) {
        if self
            .by_name
            .get(&remote.name)
            .is_some_and(|current| current.id == remote.id)
        {
            self.by_name.remove(&remote.name);
        }
    }

    pub(crate) fn take_all(&mut self) -> Vec<Arc<Remote>> {
        self.by_name.drain().map(|(_, remote)| remote).collect()
    }
}

/// The remote table, its lock, and the routes cached from it.
pub(crate) struct Remotes {
    table: RwLock<RemoteTable>,
    routes: RwLock<RouteCache>,
    /// Moved on by every change of a remote or its subscriptions: cached routes are stale.
    generation: AtomicU64,
    next_id: AtomicU64,
}

/// The remotes subscribed to each event name, valid for one generation.
#[derive(Default)]
struct RouteCache {
    generation: u64,
    by_name: HashMap<Box<str>, Arc<[Arc<Remote>]>, BuildHasherDefault<FxHasher>>,
}

impl Default for Remotes {
    fn default() -> Self {
        Remotes {
            table: RwLock::default(),
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

    /// The remotes subscribed to `name`.
    pub(crate) fn subscribed_to(&self, name: &str) -> Arc<[Arc<Remote>]> {
        let generation = self.generation.load(Ordering::SeqCst);
        {
            let cache = sync::read(&self.routes);
            if cache.generation == generation {
                if let Some(route) = cache.by_name.get(name) {
                    return route.clone();
                }
            }
        }
        let route: Arc<[Arc<Remote>]> = sync::read(&self.table)
            .by_name
            .values()
            .filter(|remote| !remote.is_closed() && remote.is_subscribed(name))
            .cloned()
            .collect();
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
        route
    }
}

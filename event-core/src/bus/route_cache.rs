//! Broadcast routes, cached per thread and per event type.
//!
//! A broadcast to everyone goes to the local subscribers and the subscribed remotes of
//! its event. Looked up afresh, that is a read lock on the topic table, a hash and
//! compare of the event's name, a look in the remotes' route cache and the number of the
//! name: a third of what a local delivery costs. The route changes only when a
//! subscription or a remote does, and each of those tables moves its generation on at
//! every change (`Topics::generation`, `Remotes::generation`).
//!
//! So the route is kept here, in a slot chosen by the endpoint and the event's type,
//! with the two generations it was computed at. A hit costs two atomic loads, a compare
//! and a reference count for each non-empty half of the route; a miss computes the route
//! as before and fills the slot. The generations are read *before* the route is
//! computed: a change in between makes the next lookup miss, never hit a stale route.
//!
//! # Why per thread
//!
//! The slots are no shared state: threads that broadcast at once never contend on them,
//! and the hit path takes no lock. A thread that broadcasts many event types on many
//! endpoints shares a few slots among them; a collision costs a miss, never a wrong
//! route, since the slot's key is compared in full.
//!
//! # Nothing kept alive
//!
//! A slot holds its route weakly, as a backend's `TopicCache` does: a subscriber or a
//! remote removed from the tables is released at once (its stream ends, its link's
//! buffers go), even if this thread never broadcasts again. A route whose lists were
//! released is a miss. (The weak handles themselves keep the lists' small allocations
//! until the slot is overwritten; never what they listed.)

use super::remotes::{RemoteRoute, RoutedRemotes};
use super::topics::Subscriber;
use rustc_hash::FxHasher;
use std::any::TypeId;
use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

/// Slots per thread: a power of two.
const SLOTS: usize = 16;

/// What a route is cached for: one endpoint's tables, one event type.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RouteKey {
    /// The endpoint's topic table (`Topics::table_id`: unique in the process).
    pub table: u64,
    pub type_id: TypeId,
}

/// A route as the cache gives it back (the routing code's `Route`, which this file does
/// not name: routing depends on the cache, not the other way round).
pub(crate) struct CachedRoute {
    pub local: Option<Arc<[Subscriber]>>,
    pub remote: RoutedRemotes,
    /// The number of the event's name, kept when the route has remotes.
    pub name_id: Option<u32>,
}

/// The generations of the two tables a route is computed from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generations {
    pub topics: u64,
    pub remotes: u64,
}

struct Slot {
    key: RouteKey,
    generations: Generations,
    local: Option<Weak<[Subscriber]>>,
    remote: CachedRemotes,
    name_id: Option<u32>,
}

enum CachedRemotes {
    Nobody,
    Shared(Weak<RemoteRoute>),
}

thread_local! {
    static CACHE: RefCell<[Option<Slot>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

fn index(key: &RouteKey) -> usize {
    let mut hasher = FxHasher::default();
    key.hash(&mut hasher);
    // The top bits: FxHash mixes its last input into them best.
    (hasher.finish() >> (64 - SLOTS.trailing_zeros())) as usize
}

/// The route cached for `key` at `generations`, if it is still whole.
pub(crate) fn lookup(key: RouteKey, generations: Generations) -> Option<CachedRoute> {
    CACHE
        .try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            let slot = cache[index(&key)].as_ref()?;
            if slot.key != key || slot.generations != generations {
                return None;
            }
            let local = match &slot.local {
                None => None,
                Some(weak) => Some(weak.upgrade()?),
            };
            let remote = match &slot.remote {
                CachedRemotes::Nobody => RoutedRemotes::Nobody,
                CachedRemotes::Shared(weak) => RoutedRemotes::Shared(weak.upgrade()?),
            };
            Some(CachedRoute {
                local,
                remote,
                name_id: slot.name_id,
            })
        })
        .ok()
        .flatten()
}

/// Keeps `route`, computed for `key` after `generations` were read.
pub(crate) fn store(key: RouteKey, generations: Generations, route: &CachedRoute) {
    let slot = Slot {
        key,
        generations,
        local: route.local.as_ref().map(Arc::downgrade),
        remote: match &route.remote {
            RoutedRemotes::Nobody => CachedRemotes::Nobody,
            RoutedRemotes::Shared(shared) => CachedRemotes::Shared(Arc::downgrade(shared)),
        },
        name_id: route.name_id,
    };
    // Dropping the slot it replaces drops only weak counts: no subscriber's code runs.
    let _ = CACHE.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            cache[index(&key)] = Some(slot);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::topics::Sink;

    struct A;
    struct B;

    fn key<T: 'static>(table: u64) -> RouteKey {
        RouteKey {
            table,
            type_id: TypeId::of::<T>(),
        }
    }

    const AT_0: Generations = Generations {
        topics: 0,
        remotes: 0,
    };

    fn local_route(id: u64) -> CachedRoute {
        CachedRoute {
            local: Some(Arc::from(vec![Subscriber {
                id,
                sink: Sink::Handler(Arc::new(|_| {})),
            }])),
            remote: RoutedRemotes::Nobody,
            name_id: None,
        }
    }

    fn local_id(route: &CachedRoute) -> Option<u64> {
        route.local.as_ref().map(|local| local[0].id)
    }

    #[test]
    fn a_route_is_served_for_its_own_key_and_generations_only() {
        let route = local_route(7);
        store(key::<A>(1), AT_0, &route);
        assert_eq!(
            lookup(key::<A>(1), AT_0).as_ref().and_then(local_id),
            Some(7)
        );
        assert!(lookup(key::<B>(1), AT_0).is_none(), "another event type");
        assert!(lookup(key::<A>(2), AT_0).is_none(), "another endpoint");
        let moved = [
            Generations {
                topics: 1,
                remotes: 0,
            },
            Generations {
                topics: 0,
                remotes: 1,
            },
        ];
        for generations in moved {
            assert!(lookup(key::<A>(1), generations).is_none(), "a stale route");
        }
    }

    #[test]
    fn a_cached_route_keeps_nothing_alive() {
        let owned = Arc::new(());
        let held = owned.clone();
        let route = CachedRoute {
            local: Some(Arc::from(vec![Subscriber {
                id: 1,
                sink: Sink::Handler(Arc::new(move |_| {
                    let _ = &held;
                })),
            }])),
            remote: RoutedRemotes::Shared(Arc::default()),
            name_id: Some(3),
        };
        store(key::<A>(3), AT_0, &route);
        assert_eq!(
            lookup(key::<A>(3), AT_0).and_then(|route| route.name_id),
            Some(3)
        );
        drop(route);
        assert_eq!(
            Arc::strong_count(&owned),
            1,
            "the cache kept a handler alive"
        );
        assert!(
            lookup(key::<A>(3), AT_0).is_none(),
            "a released route was served"
        );
    }

    #[test]
    fn each_thread_has_its_own_routes() {
        let route = local_route(1);
        store(key::<A>(4), AT_0, &route);
        std::thread::spawn(|| assert!(lookup(key::<A>(4), AT_0).is_none()))
            .join()
            .unwrap();
        assert!(lookup(key::<A>(4), AT_0).is_some());
    }
}

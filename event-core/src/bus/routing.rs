//! Where a broadcast or request goes, and sending it there.
//!
//! # Routing rules
//!
//! * [`Target::Everyone`] (the default): every local subscriber and every remote that
//!   subscribes. A remote that does not subscribe is not sent the bytes at all.
//! * [`Target::Internal`]: this endpoint's own subscribers only.
//! * [`Target::Endpoint`]: the named endpoint only (possibly this one), if it subscribes.
//! * An empty route is [`Error::NoSubscribers`] unless the config says a subscriber is
//!   not required; a request always requires one, since nobody could answer it.
//!
//! An event is encoded once per broadcast, into a reused buffer lent to every remote's
//! link; remotes that are full get it after the others, each waited for under the
//! delivery policy (`delivery.rs`). Remote sends come before local delivery, so a local
//! subscriber that is slow does not hold up other processes.

use super::delivery::Sent;
use super::remotes::{Remote, RemoteRoute, RoutedRemotes, Side};
use super::requests::{Gone, Origin, PendingGuard, Recipients, Reply, ReplyGuard, LOCAL};
use super::route_cache::{self, CachedRoute, Generations, RouteKey};
use super::topics::{AnyEvent, Delivery, Subscriber};
use super::Bus;
use crate::backend::link::{MessageKind, Outgoing, Refused};
use crate::config::{BroadcastConfig, Target};
use crate::error::Error;
use crate::event::{Event, Request};
use crate::schema::{schema_of, Fingerprint};
use std::sync::Arc;

/// Where one broadcast goes.
pub(crate) struct Route {
    pub local: Option<Arc<[Subscriber]>>,
    /// The remotes it goes to, and those with another schema of it (never sent to).
    pub remote: RoutedRemotes,
    /// The number of the event's name, when the route came from the route cache and
    /// goes to a remote.
    pub name_id: Option<u32>,
}

impl Route {
    pub(crate) fn is_empty(&self) -> bool {
        self.local.is_none() && self.remote.compatible.is_empty()
    }

    /// The remotes it goes to.
    pub(crate) fn remotes(&self) -> &[Arc<Remote>] {
        &self.remote.compatible
    }
}

/// The remotes a broadcast found full, with an owned copy of the body to send them once
/// they have room.
/// A broadcast that found a remote or a local subscriber without room: what is left to
/// do, owned and without the event's type.
pub(crate) struct UnfinishedBroadcast {
    name: &'static str,
    route: Route,
    /// The remotes that were full (indices into the route's remotes), the name's
    /// number and the encoded body.
    full_remotes: Option<(Vec<usize>, u32, Vec<u8>)>,
    local: LocalPart,
}

/// The local subscribers' part of an [`UnfinishedBroadcast`].
enum LocalPart {
    /// None subscribes.
    None,
    /// Not offered yet: it goes to them after the full remotes.
    ToDeliver(AnyEvent),
    /// Offered; these (indices into the route's subscribers) had no room.
    Full(Vec<(usize, Delivery)>),
}

struct Backlog {
    /// The remotes that were full: indices into the remotes given.
    full: Vec<usize>,
    name_id: u32,
    body: Vec<u8>,
}

impl Bus {
    /// Where an event named `name`, of the type whose fingerprint `fingerprint` gives,
    /// goes under `target`.
    pub(crate) fn route(
        &self,
        name: &str,
        target: &Target,
        fingerprint: impl FnOnce() -> Fingerprint,
    ) -> Route {
        let local_wanted = match target {
            Target::Everyone | Target::Internal => true,
            Target::Endpoint(endpoint) => **endpoint == *self.name,
        };
        let local = if local_wanted {
            self.topics.read().subscribers(name)
        } else {
            None
        };
        let remote = match target {
            Target::Internal => RoutedRemotes::Nobody,
            Target::Everyone => self.remotes.subscribed_to(name, fingerprint),
            Target::Endpoint(endpoint) => {
                RemoteRoute::of(self.remotes.get(endpoint), name, fingerprint())
            }
        };
        Route {
            local,
            remote,
            name_id: None,
        }
    }

    /// [`route`](Self::route) to everyone for `E`, through this thread's route cache
    /// (`route_cache.rs`).
    fn route_to_everyone<E: Event>(&self) -> Route {
        let key = RouteKey {
            table: self.topics.table_id(),
            type_id: std::any::TypeId::of::<E>(),
        };
        // Read before the route is computed: see `route_cache.rs`.
        let generations = Generations {
            topics: self.topics.generation(),
            remotes: self.remotes.generation(),
        };
        if let Some(cached) = route_cache::lookup(key, generations) {
            return Route {
                local: cached.local,
                remote: cached.remote,
                name_id: cached.name_id,
            };
        }
        let Route { local, remote, .. } = self.route(E::NAME, &Target::Everyone, || {
            schema_of::<E>().fingerprint()
        });
        let name_id = if remote.compatible.is_empty() {
            None
        } else {
            self.names.id(E::NAME)
        };
        let cached = CachedRoute {
            local,
            remote,
            name_id,
        };
        route_cache::store(key, generations, &cached);
        Route {
            local: cached.local,
            remote: cached.remote,
            name_id: cached.name_id,
        }
    }

    /// [`route`](Self::route), failing with `NoSubscribers` (or `IncompatibleSchema`,
    /// when the only subscribers have another schema) where the config requires one.
    fn route_required<E: Event>(&self, config: &BroadcastConfig) -> Result<Route, Error> {
        let route = match config.target {
            Target::Everyone => self.route_to_everyone::<E>(),
            _ => self.route(E::NAME, &config.target, || schema_of::<E>().fingerprint()),
        };
        if !route.remote.incompatible.is_empty() {
            self.warn_incompatible::<E>(&route.remote.incompatible);
        }
        if route.is_empty() && config.require_subscriber {
            if let Some((remote, theirs)) = route.remote.incompatible.first() {
                return Err(Error::IncompatibleSchema {
                    endpoint: self.name.to_string(),
                    remote: remote.name.to_string(),
                    event: E::NAME,
                    fingerprint: schema_of::<E>().fingerprint(),
                    remote_fingerprint: *theirs,
                });
            }
            if let Target::Endpoint(name) = &config.target {
                tracing::debug!(endpoint = %self.name, target = %name, event = E::NAME, "target does not subscribe");
            }
            return Err(Error::NoSubscribers {
                endpoint: self.name.to_string(),
                event: E::NAME,
            });
        }
        Ok(route)
    }

    /// Logs, once per remote, that `E` is not sent to a subscriber with another schema.
    fn warn_incompatible<E: Event>(&self, incompatible: &[(Arc<Remote>, Fingerprint)]) {
        for (remote, theirs) in incompatible {
            if remote.first_warning(E::NAME, Side::Sending) {
                tracing::warn!(
                    endpoint = %self.name,
                    remote = %remote.name,
                    event = E::NAME,
                    ours = %schema_of::<E>().fingerprint(),
                    theirs = %theirs,
                    "not sending this event to a subscriber built with another definition of it (schema fingerprints differ)"
                );
            }
        }
    }

    /// Copies `event` (or request `request_id`) to the observers of its name, unless it
    /// stays in this process.
    fn copy_for_observers<E: Event>(&self, event: &E, target: &Target, request_id: Option<u64>) {
        let target = match target {
            Target::Internal => return,
            Target::Everyone => None,
            Target::Endpoint(name) => Some(&**name),
        };
        self.copy_event(event, target, request_id);
    }

    fn name_id(&self, name: &'static str) -> Result<u32, Error> {
        self.names.id(name).ok_or_else(|| Error::Protocol {
            endpoint: self.name.to_string(),
            remote: self.name.to_string(),
            reason: format!("cannot send `{name}`: too many event names"),
        })
    }

    /// Encodes `event` once and hands it to every remote that has room now. The remotes
    /// that were full come back with an owned copy of the body, for the caller to wait on
    /// or to report.
    fn queue_to_remotes<E: Event>(
        &self,
        route: &Route,
        event: &E,
    ) -> Result<Option<Backlog>, Error> {
        let remotes = route.remotes();
        if remotes.is_empty() {
            return Ok(None);
        }
        let name_id = match route.name_id {
            Some(id) => id,
            None => self.name_id(E::NAME)?,
        };
        let full = crate::codec::with_body(event, |body| {
            let links = remotes
                .iter()
                .map(|remote| (&*remote.link, remote.frame_limit));
            self.check_size(E::NAME, MessageKind::Broadcast, body.len(), links)?;
            let outgoing = Outgoing {
                name: E::NAME,
                name_id,
                request_id: None,
                body,
            };
            let mut full = Vec::new();
            for (index, remote) in remotes.iter().enumerate() {
                if let Err(Refused::Full) = self.try_send(remote, &outgoing) {
                    full.push(index);
                }
            }
            Ok((!full.is_empty()).then(|| (full, body.to_vec())))
        })
        .map_err(|source| self.encode_error(E::NAME, source))??;
        Ok(full.map(|(full, body)| Backlog {
            full,
            name_id,
            body,
        }))
    }

    /// Sends `event` to every subscriber under `config`, waiting for room (the
    /// endpoint's `BroadcastFuture` does the same in two steps).
    #[cfg(test)]
    pub(crate) async fn broadcast<E: Event>(
        &self,
        event: E,
        config: &BroadcastConfig,
    ) -> Result<(), Error> {
        match self.start_broadcast(event, config)? {
            None => Ok(()),
            Some(waiting) => self.finish_broadcast(waiting).await,
        }
    }

    /// The part of a broadcast that never waits: routes and encodes `event` and hands
    /// it to every remote and local subscriber with room. `None` when that was all of
    /// them; otherwise what [`finish_broadcast`](Self::finish_broadcast) must wait for,
    /// type-erased, so that the wait is one future for every event type.
    pub(crate) fn start_broadcast<E: Event>(
        &self,
        event: E,
        config: &BroadcastConfig,
    ) -> Result<Option<UnfinishedBroadcast>, Error> {
        self.check_running()?;
        let route = self.route_required::<E>(config)?;
        self.copy_for_observers(&event, &config.target, None);
        let full_remotes = self
            .queue_to_remotes(&route, &event)?
            .map(|backlog| (backlog.full, backlog.name_id, backlog.body));
        if route.local.is_none() {
            return Ok(full_remotes.map(|full| UnfinishedBroadcast {
                name: E::NAME,
                route,
                full_remotes: Some(full),
                local: LocalPart::None,
            }));
        }
        let event: AnyEvent = Arc::new(event);
        if full_remotes.is_some() {
            // The remotes are waited for first, and the local subscribers get the event
            // after them (a stop that cuts the wait short means it was never accepted).
            return Ok(Some(UnfinishedBroadcast {
                name: E::NAME,
                route,
                full_remotes,
                local: LocalPart::ToDeliver(event),
            }));
        }
        // Borrowed from the route, not cloned: one reference count less per event.
        let subscribers = route.local.as_deref().unwrap_or(&[]);
        let full = self.offer_local(E::NAME, subscribers, event, None);
        Ok((!full.is_empty()).then(|| UnfinishedBroadcast {
            name: E::NAME,
            route,
            full_remotes: None,
            local: LocalPart::Full(full),
        }))
    }

    /// Waits for the remotes and local subscribers that had no room when the broadcast
    /// started (see [`start_broadcast`](Self::start_broadcast)).
    pub(crate) async fn finish_broadcast(&self, waiting: UnfinishedBroadcast) -> Result<(), Error> {
        let UnfinishedBroadcast {
            name,
            route,
            full_remotes,
            local,
        } = waiting;
        let mut stalled = None;
        if let Some((full, name_id, body)) = full_remotes {
            let outgoing = Outgoing {
                name,
                name_id,
                request_id: None,
                body: &body,
            };
            let deadline = self.remote_deadline();
            let mut refused = false;
            for remote in full.iter().map(|&index| &route.remotes()[index]) {
                match self.send_or_stall(remote, &outgoing, deadline).await {
                    Sent::Queued => {}
                    Sent::Closed => refused = true,
                    Sent::Stalled => stalled = Some(remote.name.to_string()),
                }
            }
            // A wait for room that a stop cut short: the event was never accepted.
            if refused {
                self.check_running()?;
            }
        }
        if let Some(subscribers) = &route.local {
            match local {
                LocalPart::None => {}
                LocalPart::ToDeliver(event) => {
                    self.deliver_local(name, subscribers, event, None).await
                }
                LocalPart::Full(full) => self.wait_local(name, subscribers, full).await,
            }
        }
        match stalled {
            None => Ok(()),
            Some(remote) => Err(Error::Stalled {
                endpoint: self.name.to_string(),
                remote,
                event: name,
                waited: self.options.connection_stall_timeout(),
            }),
        }
    }

    /// Sends `event` to every subscriber under `config` that has room now; the others
    /// miss it and the call reports [`Error::QueueFull`].
    pub(crate) fn broadcast_nowait<E: Event>(
        &self,
        event: E,
        config: &BroadcastConfig,
    ) -> Result<(), Error> {
        self.check_running()?;
        let route = self.route_required::<E>(config)?;
        self.copy_for_observers(&event, &config.target, None);
        let mut full = self.queue_to_remotes(&route, &event)?.and_then(|backlog| {
            let last = *backlog.full.last()?;
            Some(route.remotes()[last].name.to_string())
        });
        if let Some(subscribers) = &route.local {
            let event: AnyEvent = Arc::new(event);
            for subscriber in subscribers.iter() {
                if !subscriber.try_deliver(E::NAME, &event, None) {
                    full = Some(self.name.to_string());
                }
            }
        }
        match full {
            None => Ok(()),
            Some(subscriber) => {
                tracing::warn!(endpoint = %self.name, event = E::NAME, %subscriber, "queue full: event not delivered to it");
                Err(Error::QueueFull {
                    endpoint: self.name.to_string(),
                    event: E::NAME,
                    subscriber,
                })
            }
        }
    }

    /// Sends `request` to every subscriber under `config` and waits for the first answer.
    pub(crate) async fn request<R: Request>(
        self: &Arc<Self>,
        request: R,
        config: &BroadcastConfig,
    ) -> Result<R::Response, Error> {
        self.check_running()?;
        // A request nobody can answer would wait forever: it always needs a subscriber.
        let route = self.route_required::<R>(&config.clone().require_subscriber(true))?;
        let id = self.next_request_id();
        let mut recipients: Recipients = route
            .remotes()
            .iter()
            .map(|remote| (remote.id, remote.name.clone()))
            .collect();
        if route.local.is_some() {
            recipients.push((LOCAL, self.name.clone()));
        }
        let response = Some(<R::Response as Event>::NAME);
        let reply = self.pending.insert(id, R::NAME, response, recipients);
        let _cleanup = PendingGuard {
            pending: &self.pending,
            id,
        };
        // A stop between the check above and the registration would not fail this
        // request: check again now that it is registered.
        self.check_running()?;
        self.copy_for_observers(&request, &config.target, Some(id));
        if !route.remotes().is_empty() {
            // Encoded into the thread's reused buffer, as a broadcast is; only remotes
            // without room make it copy the body, to wait with.
            let backlog = crate::codec::with_body(&request, |body| {
                self.offer_request(&route, id, R::NAME, body)
            })
            .map_err(|source| self.encode_error(R::NAME, source))??;
            if let Some(backlog) = backlog {
                self.wait_request(&route, id, R::NAME, backlog).await;
            }
        }
        if let Some(subscribers) = &route.local {
            let guard =
                ReplyGuard::new(self.clone(), id, R::NAME, Origin::Local, self.name.clone());
            let guard = Arc::new(match config.target {
                Target::Internal => guard.unobserved(),
                _ => guard,
            });
            let request: AnyEvent = Arc::new(request);
            self.deliver_local(R::NAME, subscribers, request, Some(&guard))
                .await;
        }
        let reply = reply.await.map_err(|_| self.stopped_error())??;
        self.decode_reply::<R>(reply)
    }

    /// Sends request `id`, named `name` and encoded as `body`, to the remotes of `route`:
    /// those with room first, the full ones then against one deadline. A recipient that
    /// is gone or stalls is struck off the request.
    async fn send_request(
        &self,
        route: &Route,
        id: u64,
        name: &'static str,
        body: &[u8],
    ) -> Result<(), Error> {
        if let Some(backlog) = self.offer_request(route, id, name, body)? {
            self.wait_request(route, id, name, backlog).await;
        }
        Ok(())
    }

    /// The part of [`send_request`](Self::send_request) that never waits: hands the
    /// request to every remote of `route` with room now, and strikes off those that are
    /// gone. The full ones come back with an owned copy of the body.
    fn offer_request(
        &self,
        route: &Route,
        id: u64,
        name: &'static str,
        body: &[u8],
    ) -> Result<Option<Backlog>, Error> {
        let links = route
            .remotes()
            .iter()
            .map(|remote| (&*remote.link, remote.frame_limit));
        self.check_size(name, MessageKind::Request, body.len(), links)?;
        let name_id = match route.name_id {
            Some(id) => id,
            None => self.name_id(name)?,
        };
        let outgoing = Outgoing {
            name,
            name_id,
            request_id: Some(id),
            body,
        };
        let mut full = Vec::new();
        for (index, remote) in route.remotes().iter().enumerate() {
            // A remote that went away before the request was registered would never be
            // struck off by its departure: check after registering.
            let sent = if remote.is_closed() {
                Err(Refused::Closed)
            } else {
                self.try_send(remote, &outgoing)
            };
            match sent {
                Ok(()) => {}
                Err(Refused::Full) => full.push(index),
                Err(_) => {
                    self.pending
                        .recipient_gone(&self.name, id, remote.id, Gone::Disconnected)
                }
            }
        }
        Ok((!full.is_empty()).then(|| Backlog {
            full,
            name_id,
            body: body.to_vec(),
        }))
    }

    /// Waits for room in the remotes that were full when request `id` was offered,
    /// against one deadline; one that is gone or stalls is struck off the request.
    async fn wait_request(&self, route: &Route, id: u64, name: &'static str, backlog: Backlog) {
        let outgoing = Outgoing {
            name,
            name_id: backlog.name_id,
            request_id: Some(id),
            body: &backlog.body,
        };
        let deadline = self.remote_deadline();
        for remote in backlog.full.iter().map(|&index| &route.remotes()[index]) {
            if !matches!(
                self.send_or_stall(remote, &outgoing, deadline).await,
                Sent::Queued
            ) {
                self.pending
                    .recipient_gone(&self.name, id, remote.id, Gone::Disconnected);
            }
        }
    }

    /// A request known by its name, its type's fingerprint and its encoded body (for
    /// tools: see `Endpoint::request_encoded`), to the remotes subscribed to it with
    /// that fingerprint; the answer comes back encoded, with its name.
    pub(crate) async fn request_encoded(
        &self,
        name: &'static str,
        fingerprint: Fingerprint,
        body: &[u8],
        config: &BroadcastConfig,
    ) -> Result<(String, String, bytes::Bytes), Error> {
        self.check_running()?;
        let target = match &config.target {
            Target::Internal => Target::Endpoint(self.name.clone()),
            other => other.clone(),
        };
        // Through neither route cache: the remotes' is keyed by name alone ("a name stands
        // for one type in a process") and the per-thread one by type, while an encoded
        // request's fingerprint is the caller's.
        // Local subscribers take typed values; an encoded request is for other endpoints.
        let route = Route {
            local: None,
            name_id: None,
            remote: match &target {
                Target::Endpoint(endpoint) => {
                    RemoteRoute::of(self.remotes.get(endpoint), name, fingerprint)
                }
                _ => self.remotes.subscribed_with_uncached(name, fingerprint),
            },
        };
        if route.is_empty() {
            if let Some((remote, theirs)) = route.remote.incompatible.first() {
                return Err(Error::IncompatibleSchema {
                    endpoint: self.name.to_string(),
                    remote: remote.name.to_string(),
                    event: name,
                    fingerprint,
                    remote_fingerprint: *theirs,
                });
            }
            return Err(Error::NoSubscribers {
                endpoint: self.name.to_string(),
                event: name,
            });
        }
        let id = self.next_request_id();
        let recipients = route
            .remotes()
            .iter()
            .map(|remote| (remote.id, remote.name.clone()))
            .collect();
        let reply = self.pending.insert(id, name, None, recipients);
        let _cleanup = PendingGuard {
            pending: &self.pending,
            id,
        };
        self.check_running()?;
        let observers = self.observers_for(name);
        if !observers.is_empty() {
            let target = match &target {
                Target::Endpoint(endpoint) => Some(&**endpoint),
                _ => None,
            };
            self.copy_encoded(&observers, name, target, Some(id), body.to_vec());
        }
        self.send_request(&route, id, name, body).await?;
        match reply.await.map_err(|_| self.stopped_error())?? {
            Reply::Remote { from, name, body } => Ok((from.to_string(), name.into_owned(), body)),
            Reply::Local(_) => Err(Error::Protocol {
                endpoint: self.name.to_string(),
                remote: self.name.to_string(),
                reason: "an encoded request was answered in-process".into(),
            }),
        }
    }

    fn decode_reply<R: Request>(&self, reply: Reply) -> Result<R::Response, Error> {
        let wrong = |from: &str, found: &str| Error::Protocol {
            endpoint: self.name.to_string(),
            remote: from.to_owned(),
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
                .map_err(|_| wrong(&self.name, "a value of another type")),
            Reply::Remote { from, name, body } => {
                if name != <R::Response as Event>::NAME {
                    return Err(wrong(&from, &name));
                }
                crate::codec::decode(&body).map_err(|source| Error::Decode {
                    endpoint: self.name.to_string(),
                    remote: from.to_string(),
                    event: name.into_owned(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::fake_link::FakeLink;
    use crate::config::EndpointOptions;
    use crate::error::Error;
    use crate::sync;
    use std::collections::HashMap;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "routing.Tick")]
    struct Tick(u64);

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "routing.Ask")]
    #[request(response = Tick)]
    struct Ask;

    fn subscribing<E: Event>() -> (String, Fingerprint) {
        (E::NAME.to_owned(), schema_of::<E>().fingerprint())
    }

    /// A core named `a` with remotes `b` (subscribed to `Tick` and `Ask`) and `c` (to
    /// nothing).
    fn core() -> (Arc<Bus>, Arc<FakeLink>, Arc<FakeLink>, Arc<Remote>) {
        let bus = Arc::new(Bus::new(Arc::from("a"), EndpointOptions::default()));
        let (b, c) = (Arc::new(FakeLink::default()), Arc::new(FakeLink::default()));
        let ticks = [subscribing::<Tick>(), subscribing::<Ask>()].into();
        let remote_b = bus.add_remote("b", ticks, b.clone(), |_| Ok(())).unwrap();
        bus.add_remote("c", HashMap::new(), c.clone(), |_| Ok(()))
            .unwrap();
        (bus, b, c, remote_b)
    }

    fn route(bus: &Bus, name: &str, target: &Target) -> Route {
        bus.route(name, target, || schema_of::<Tick>().fingerprint())
    }

    fn names(route: &Route) -> Vec<&str> {
        route.remotes().iter().map(|remote| &*remote.name).collect()
    }

    #[test]
    fn each_target_selects_its_subscribers() {
        let (bus, ..) = core();
        let everyone = route(&bus, Tick::NAME, &Target::Everyone);
        assert_eq!(
            (names(&everyone), everyone.local.is_some()),
            (vec!["b"], false)
        );
        assert!(route(&bus, Tick::NAME, &Target::Internal).is_empty());
        assert!(route(&bus, Tick::NAME, &Target::Endpoint("c".into())).is_empty());
        assert_eq!(
            names(&route(&bus, Tick::NAME, &Target::Endpoint("b".into()))),
            ["b"]
        );
        assert!(route(&bus, "routing.Other", &Target::Everyone).is_empty());
    }

    #[tokio::test]
    async fn a_broadcast_is_handed_to_subscribed_remotes_only() {
        let (bus, b, c, _) = core();
        bus.broadcast(Tick(1), &BroadcastConfig::default())
            .await
            .unwrap();
        assert_eq!(*sync::lock(&b.sent), vec![(Tick::NAME, None)]);
        assert!(sync::lock(&c.sent).is_empty());
        let internal = bus.broadcast(Tick(2), &BroadcastConfig::internal()).await;
        assert!(
            matches!(internal, Err(Error::NoSubscribers { .. })),
            "{internal:?}"
        );
        bus.broadcast(
            Tick(3),
            &BroadcastConfig::internal().require_subscriber(false),
        )
        .await
        .unwrap();
        assert_eq!(sync::lock(&b.sent).len(), 1);
    }

    #[test]
    fn broadcast_nowait_names_the_remote_that_was_full() {
        let (bus, b, ..) = core();
        b.full.store(true, Ordering::SeqCst);
        let result = bus.broadcast_nowait(Tick(1), &BroadcastConfig::default());
        assert!(
            matches!(&result, Err(Error::QueueFull { subscriber, .. }) if subscriber == "b"),
            "{result:?}"
        );
    }

    #[test]
    fn a_change_of_subscriptions_or_a_departure_is_routed_at_once() {
        let (bus, _, _, remote_b) = core();
        assert_eq!(names(&route(&bus, Tick::NAME, &Target::Everyone)), ["b"]);
        bus.set_remote_subscriptions(&remote_b, HashMap::new());
        assert!(route(&bus, Tick::NAME, &Target::Everyone).is_empty());
        bus.set_remote_subscriptions(&remote_b, [subscribing::<Tick>()].into());
        assert_eq!(names(&route(&bus, Tick::NAME, &Target::Everyone)), ["b"]);
        bus.disconnect(&remote_b, "test");
        assert!(route(&bus, Tick::NAME, &Target::Everyone).is_empty());
        assert!(!bus.remotes.contains("b"));
    }

    #[tokio::test]
    async fn a_broadcast_follows_a_change_of_subscriptions_through_the_route_cache() {
        let (bus, b, _, remote_b) = core();
        let config = BroadcastConfig::default();
        let sent = || sync::lock(&b.sent).len();
        bus.broadcast(Tick(1), &config).await.unwrap();
        assert_eq!(sent(), 1);
        // The typed path caches the route per thread: a change must still be seen at once.
        bus.set_remote_subscriptions(&remote_b, HashMap::new());
        let nobody = bus.broadcast(Tick(2), &config).await;
        assert!(
            matches!(nobody, Err(Error::NoSubscribers { .. })),
            "{nobody:?}"
        );
        assert_eq!(sent(), 1);
        bus.set_remote_subscriptions(&remote_b, [subscribing::<Tick>()].into());
        bus.broadcast(Tick(3), &config).await.unwrap();
        assert_eq!(sent(), 2);
        bus.disconnect(&remote_b, "test");
        let gone = bus.broadcast(Tick(4), &config).await;
        assert!(matches!(gone, Err(Error::NoSubscribers { .. })), "{gone:?}");
        assert_eq!(sent(), 2);
    }

    #[tokio::test]
    async fn a_subscriber_with_another_schema_is_never_sent_to() {
        let (bus, b, _, remote_b) = core();
        let d = Arc::new(FakeLink::default());
        let other = Fingerprint(schema_of::<Tick>().fingerprint().0 ^ 1);
        let subscriptions = [(Tick::NAME.to_owned(), other)].into();
        bus.add_remote("d", subscriptions, d.clone(), |_| Ok(()))
            .unwrap();
        let everyone = route(&bus, Tick::NAME, &Target::Everyone);
        assert_eq!(names(&everyone), ["b"]);
        assert_eq!(everyone.remote.incompatible.len(), 1);
        bus.broadcast(Tick(1), &BroadcastConfig::default())
            .await
            .unwrap();
        assert!(sync::lock(&d.sent).is_empty(), "d would misdecode it");
        assert_eq!(sync::lock(&b.sent).len(), 1);
        // With `b` gone, `d` is the only subscriber: the error says why nothing was sent.
        bus.disconnect(&remote_b, "test");
        let alone = bus.broadcast(Tick(2), &BroadcastConfig::default()).await;
        assert!(
            matches!(&alone, Err(Error::IncompatibleSchema { remote, remote_fingerprint, .. })
                if remote == "d" && *remote_fingerprint == other),
            "{alone:?}"
        );
        let named = bus
            .broadcast(Tick(3), &BroadcastConfig::to_endpoint("d"))
            .await;
        assert!(
            matches!(named, Err(Error::IncompatibleSchema { .. })),
            "{named:?}"
        );
        assert!(sync::lock(&d.sent).is_empty());
    }

    #[tokio::test]
    async fn a_request_fails_when_its_only_recipient_departs() {
        let (bus, _, _, remote_b) = core();
        let asking = ask_in_background(&bus);
        // Wait (without a clock) until the request is registered, then take b away.
        while bus.pending.len() == 0 {
            tokio::task::yield_now().await;
        }
        bus.disconnect(&remote_b, "test");
        let result = asking.await.unwrap();
        assert!(
            matches!(&result, Err(Error::RemoteDisconnected { remote, .. }) if remote == "b"),
            "{result:?}"
        );
        assert_eq!(bus.pending.len(), 0);
    }

    /// A core like [`core`]'s `a`, with two remotes subscribed to `Ask`: `b` full, `d` not.
    fn core_with_a_full_remote() -> (Arc<Bus>, Arc<FakeLink>, Arc<FakeLink>, Arc<Remote>) {
        let bus = Arc::new(Bus::new(Arc::from("a"), EndpointOptions::default()));
        let (b, d) = (Arc::new(FakeLink::default()), Arc::new(FakeLink::default()));
        b.full.store(true, Ordering::SeqCst);
        let asks = || [subscribing::<Ask>()].into();
        bus.add_remote("b", asks(), b.clone(), |_| Ok(())).unwrap();
        let remote_d = bus.add_remote("d", asks(), d.clone(), |_| Ok(())).unwrap();
        (bus, b, d, remote_d)
    }

    /// `bus` asks `Ask` in a task of its own.
    fn ask_in_background(bus: &Arc<Bus>) -> tokio::task::JoinHandle<Result<Tick, Error>> {
        let bus = bus.clone();
        tokio::spawn(async move { bus.request(Ask, &BroadcastConfig::default()).await })
    }

    /// The id of the request `link` was sent, once it was (failing the test after 10 s).
    async fn sent_request(link: &FakeLink) -> u64 {
        let sent = async {
            loop {
                if let Some((_, Some(id))) = sync::lock(&link.sent).first().copied() {
                    return id;
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), sent)
            .await
            .expect("the remote was never sent the request")
    }

    #[tokio::test]
    async fn a_request_reaches_the_remotes_with_room_and_strikes_off_one_that_stalls() {
        let (bus, b, d, remote_d) = core_with_a_full_remote();
        let asking = ask_in_background(&bus);
        let id = sent_request(&d).await;
        // b took nothing (its link refuses, and waiting for it gives up at once): it is
        // disconnected and struck off, and d may still answer.
        tokio::time::timeout(Duration::from_secs(10), async {
            while bus.remotes.contains("b") {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("b was never given up on");
        assert!(sync::lock(&b.sent).is_empty());
        assert_eq!(bus.pending.len(), 1, "d's answer is still awaited");
        let body = crate::codec::body(&Tick(7)).unwrap();
        bus.receive_answer(&remote_d, id, Tick::NAME, body.into());
        let answer = asking.await.unwrap().unwrap();
        assert_eq!(answer.0, 7);
        assert_eq!(bus.pending.len(), 0);
    }

    #[tokio::test]
    async fn an_answer_of_another_type_fails_the_request() {
        let (bus, d, _, remote_d) = core();
        let asking = ask_in_background(&bus);
        let id = sent_request(&d).await;
        let body = crate::codec::body(&Ask).unwrap();
        bus.receive_answer(&remote_d, id, Ask::NAME, body.into());
        let result = asking.await.unwrap();
        assert!(
            matches!(&result, Err(Error::Protocol { remote, reason, .. })
                if remote == "b" && reason.contains("`routing.Tick`") && reason.contains("`routing.Ask`")),
            "{result:?}"
        );
    }
}

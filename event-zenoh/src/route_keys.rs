//! The keys an endpoint receives events and requests on, declared to its own zenoh
//! session so that the session keeps their routes.
//!
//! # Why
//!
//! zenoh caches the route of a message (which subscribers or queryables of this process
//! it goes to) only on a *resource*: a key expression that some declaration put in the
//! session's tables. An endpoint's inbox is one subscriber and one queryable on a
//! wildcard (`to/<me>/**`, see [`crate::keys`]), and nothing in the receiving session
//! declares its senders' keys (`to/<me>/ev/<event>/<origin>`, `to/<me>/rq/...`; a sender
//! declares its publisher in its own session). So every incoming event and request had
//! its route computed afresh, by intersecting its key with every declaration the session
//! knows, liveliness tokens of the whole bus included. Measured (`zenoh-broadcast`, 16 B,
//! one consumer, one router), declaring the event keys took the consumer's CPU per
//! event from about 10 µs to 3 µs, and more than doubled the events per second.
//!
//! So an origin's task declares each key the first time it is to deliver a message on it
//! (whether or not the core then takes the message). A key-expression declaration is
//! local to the process (zenoh does not pass it on to the router) and is not a
//! subscription: it changes no matching and no routing decision. (A requester does the
//! same for the keys it queries, in [`crate::link`]: a query on an undeclared key has
//! its route computed in the requester's session too.)
//!
//! # Bounds and lifetime
//!
//! At most [`MAX_KEYS`] keys of incoming messages are declared per endpoint (an origin
//! that names many events, or many origins, cannot make it declare without bound; zenoh
//! looks a new declaration up among the others): messages on further keys are delivered
//! as before, only without the cache. A key is declared from the origin's task, never
//! from a zenoh callback, which is kept short and never waits for a lock that every
//! incoming message takes.
//!
//! These declarations live as long as the [`Inbox`](crate::inbox::Inbox) that holds
//! them, that is until the endpoint leaves the bus, even for origins that left before.
//! zenoh forgets the number of a key when it is undeclared and drops a message already
//! addressed with that number, and no moment is safe to undeclare a key its origin may
//! come back and send on. The cost is the bound: an endpoint that meets more than
//! [`MAX_KEYS`] keys in its life (many short-lived origins with fresh names, as `evb`
//! runs are) receives on the later ones without the cache.
//!
//! A requester's own keys go with its writer, which is safe: a query is routed on the
//! writer's thread before the writer can end, and its answers come back by the query's
//! id, not by its key. Those are bounded by the request names this program has, times
//! the remotes it asks.

use std::collections::HashMap;
use zenoh::key_expr::KeyExpr;
use zenoh::Wait;

/// The most keys of incoming messages one endpoint declares.
pub(crate) const MAX_KEYS: usize = 4096;

/// The keys declared for an endpoint.
#[derive(Default)]
pub(crate) struct RouteKeys {
    /// `None` where zenoh refused the declaration (not asked again).
    declared: HashMap<String, Option<KeyExpr<'static>>>,
}

impl RouteKeys {
    /// Declares `key`, unless it was declared (or refused) before, or [`MAX_KEYS`] are.
    pub(crate) fn declare(&mut self, session: &zenoh::Session, key: String) {
        if self.declared.contains_key(&key) || self.declared.len() >= MAX_KEYS {
            return;
        }
        let declared = match session.declare_keyexpr(key.clone()).wait() {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::debug!(key, %error, "zenoh: cannot declare a key; its route is computed per message");
                None
            }
        };
        self.declared.insert(key, declared);
    }

    /// Whether `key` was declared: `None` if it was not asked for, `Some(false)` if zenoh
    /// refused it.
    #[cfg(test)]
    fn get(&self, key: &str) -> Option<bool> {
        Some(
            self.declared
                .get(key)?
                .as_ref()
                .is_some_and(|declared| declared.as_str() == key),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session of its own, reaching nothing.
    fn session() -> zenoh::Session {
        let mut config = zenoh::Config::default();
        config.insert_json5("mode", "\"peer\"").unwrap();
        config.insert_json5("listen/endpoints", "[]").unwrap();
        config
            .insert_json5("scouting/multicast/enabled", "false")
            .unwrap();
        zenoh::open(config).wait().unwrap()
    }

    #[test]
    fn a_key_is_declared_once() {
        let session = session();
        let mut keys = RouteKeys::default();
        for key in [
            "evb/t/to/me/ev/Ping/them",
            "evb/t/to/me/ev/Ping/them",
            "evb/t/to/me/rq/Ping/them",
        ] {
            keys.declare(&session, key.to_owned());
        }
        assert_eq!(keys.declared.len(), 2);
        assert_eq!(keys.get("evb/t/to/me/ev/Ping/them"), Some(true));
        assert_eq!(keys.get("evb/t/to/me/rq/Ping/them"), Some(true));
        assert_eq!(keys.get("evb/t/to/me/ev/Pong/them"), None);
    }

    #[test]
    fn no_more_than_the_bound_are_declared() {
        let session = session();
        let mut keys = RouteKeys::default();
        for n in 0..MAX_KEYS + 10 {
            keys.declare(&session, format!("evb/t/to/me/ev/E{n}/o{}", n % 7));
        }
        assert_eq!(keys.declared.len(), MAX_KEYS);
        let last = MAX_KEYS - 1;
        assert_eq!(
            keys.get(&format!("evb/t/to/me/ev/E{last}/o{}", last % 7)),
            Some(true)
        );
        assert_eq!(
            keys.get(&format!("evb/t/to/me/ev/E{MAX_KEYS}/o{}", MAX_KEYS % 7)),
            None
        );
    }

    #[test]
    fn a_refused_declaration_is_not_asked_again() {
        let session = session();
        session.close().wait().unwrap();
        let mut keys = RouteKeys::default();
        keys.declare(&session, "evb/t/to/me/ev/Ping/them".to_owned());
        assert_eq!(keys.get("evb/t/to/me/ev/Ping/them"), Some(false));
        let opened = self::session();
        keys.declare(&opened, "evb/t/to/me/ev/Ping/them".to_owned());
        assert_eq!(keys.get("evb/t/to/me/ev/Ping/them"), Some(false));
    }
}

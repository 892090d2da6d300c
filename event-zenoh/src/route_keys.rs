//! The keys an endpoint receives events on, declared to zenoh so that zenoh keeps their
//! routes.
//!
//! # Why
//!
//! zenoh caches the route of a message (which faces it goes to) only on a *resource*: a
//! key expression that some declaration put in its tables. An endpoint's inbox is one
//! subscriber on a wildcard (`to/<me>/**`, see [`crate::keys`]), and its senders' keys
//! (`to/<me>/ev/<event>/<origin>`) are declared by nobody, so every message that came in
//! had its route computed afresh, by intersecting its key with every declaration of the
//! bus, liveliness tokens included: in this session for each event, and in the router on
//! the way. Measured (`zenoh-broadcast`, 16 B, one consumer, one router), declaring the
//! keys took the consumer's CPU per event from about 10 µs to 3 µs, and more than
//! doubled the events per second.
//!
//! So an origin's task declares each event key once it delivered an event on it (a key
//! expression declaration, not a subscription: it changes no matching and no routing
//! decision). From then on its route is cached here, and the router, which learns the
//! declaration, caches it too and sends this endpoint the key's number instead of its
//! text.
//!
//! # Bounds and lifetime
//!
//! At most [`MAX_KEYS`] keys per origin are declared: events on any further name are
//! delivered as before, only without the cache. A key is declared from the origin's task,
//! never from a zenoh callback (zenoh calls those under its routing tables' lock, which a
//! declaration takes). The declarations go with the [`RouteKeys`] that made them (zenoh
//! undeclares a key expression when its last handle is dropped), that is when the origin
//! task ends.

use std::collections::HashMap;
use zenoh::key_expr::KeyExpr;
use zenoh::Wait;

/// The most event keys declared for one origin.
pub(crate) const MAX_KEYS: usize = 256;

/// The event keys declared for one origin, by event name.
#[derive(Default)]
pub(crate) struct RouteKeys {
    /// `None` where zenoh refused the declaration (not asked again).
    declared: HashMap<String, Option<KeyExpr<'static>>>,
}

impl RouteKeys {
    /// Declares the key that events named `event` come in on (made by `key`), unless it
    /// was declared (or refused) before, or [`MAX_KEYS`] are.
    pub(crate) fn declare(
        &mut self,
        session: &zenoh::Session,
        event: &str,
        key: impl FnOnce() -> String,
    ) {
        if self.declared.contains_key(event) || self.declared.len() >= MAX_KEYS {
            return;
        }
        let declared = match session.declare_keyexpr(key()).wait() {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::debug!(event, %error, "zenoh: cannot declare an event key; its route is computed per message");
                None
            }
        };
        self.declared.insert(event.to_owned(), declared);
    }

    /// The key declared for `event`: `None` if none was, `Some(None)` if it was refused.
    #[cfg(test)]
    fn get(&self, event: &str) -> Option<Option<&str>> {
        let declared = self.declared.get(event)?;
        Some(declared.as_ref().map(|key| key.as_str()))
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
    fn a_key_is_declared_once_per_event() {
        let session = session();
        let mut keys = RouteKeys::default();
        let mut made = 0;
        for _ in 0..3 {
            keys.declare(&session, "Ping", || {
                made += 1;
                "evb/t/to/me/ev/Ping/them".to_owned()
            });
        }
        assert_eq!(made, 1);
        assert_eq!(keys.get("Ping"), Some(Some("evb/t/to/me/ev/Ping/them")));
        assert_eq!(keys.get("Pong"), None);
    }

    #[test]
    fn no_more_than_the_bound_are_declared() {
        let session = session();
        let mut keys = RouteKeys::default();
        for n in 0..MAX_KEYS + 10 {
            keys.declare(&session, &format!("E{n}"), || {
                format!("evb/t/to/me/ev/E{n}/them")
            });
        }
        assert_eq!(keys.declared.len(), MAX_KEYS);
        assert!(keys.get(&format!("E{}", MAX_KEYS - 1)).is_some());
        assert_eq!(keys.get(&format!("E{MAX_KEYS}")), None);
    }

    #[test]
    fn a_refused_declaration_is_not_asked_again() {
        let session = session();
        session.close().wait().unwrap();
        let mut keys = RouteKeys::default();
        let mut made = 0;
        for _ in 0..2 {
            keys.declare(&session, "Ping", || {
                made += 1;
                "evb/t/to/me/ev/Ping/them".to_owned()
            });
        }
        assert_eq!(made, 1);
        assert_eq!(keys.get("Ping"), Some(None));
    }
}

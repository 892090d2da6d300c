//! The keys an endpoint receives events on, declared to its own zenoh session so that
//! the session keeps their routes.
//!
//! # Why
//!
//! zenoh caches the route of a message (which subscribers of this process it goes to)
//! only on a *resource*: a key expression that some declaration put in the session's
//! tables. An endpoint's inbox is one subscriber on a wildcard (`to/<me>/**`, see
//! [`crate::keys`]), and nothing in the receiving session declares its senders' keys
//! (`to/<me>/ev/<event>/<origin>`; a sender declares its publisher in its own session).
//! So every incoming event had its route computed afresh, by intersecting its key with
//! every declaration the session knows, liveliness tokens of the whole bus included.
//! Measured (`zenoh-broadcast`, 16 B, one consumer, one router), declaring the keys took
//! the consumer's CPU per event from about 10 µs to 3 µs, and more than doubled the
//! events per second.
//!
//! So an origin's task declares each event key once it delivered an event on it. A key
//! expression declaration is local to the process (zenoh does not pass it on to the
//! router) and is not a subscription: it changes no matching and no routing decision.
//!
//! # Bounds and lifetime
//!
//! At most [`MAX_KEYS`] keys are declared per endpoint (an origin that names many
//! events, or many origins, cannot make it declare without bound; zenoh looks a new
//! declaration up among the others): events on further keys are delivered as before,
//! only without the cache. A key is declared from the origin's task, never from a zenoh
//! callback, which is kept short and never waits for a lock that every incoming message
//! takes. Declarations live as long as the [`Inbox`](crate::inbox::Inbox) that holds
//! them, that is until the endpoint leaves the bus: zenoh forgets the number of a key
//! when it is undeclared and drops a message already addressed with that number, so a
//! key is never undeclared while its origin may still be sending on it.

use std::collections::HashMap;
use zenoh::key_expr::KeyExpr;
use zenoh::Wait;

/// The most event keys one endpoint declares.
pub(crate) const MAX_KEYS: usize = 4096;

/// The event keys declared for an endpoint, by origin and event name.
#[derive(Default)]
pub(crate) struct RouteKeys {
    /// `None` where zenoh refused the declaration (not asked again).
    declared: HashMap<(String, String), Option<KeyExpr<'static>>>,
}

impl RouteKeys {
    /// Declares the key that events named `event` from `origin` come in on (made by
    /// `key`), unless it was declared (or refused) before, or [`MAX_KEYS`] are.
    pub(crate) fn declare(
        &mut self,
        session: &zenoh::Session,
        origin: &str,
        event: &str,
        key: impl FnOnce() -> String,
    ) {
        let entry = (origin.to_owned(), event.to_owned());
        if self.declared.contains_key(&entry) || self.declared.len() >= MAX_KEYS {
            return;
        }
        let declared = match session.declare_keyexpr(key()).wait() {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::debug!(origin, event, %error, "zenoh: cannot declare an event key; its route is computed per message");
                None
            }
        };
        self.declared.insert(entry, declared);
    }

    /// The key declared for `event` from `origin`: `None` if none was, `Some(None)` if
    /// it was refused.
    #[cfg(test)]
    fn get(&self, origin: &str, event: &str) -> Option<Option<&str>> {
        let declared = self.declared.get(&(origin.to_owned(), event.to_owned()))?;
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
    fn a_key_is_declared_once_per_origin_and_event() {
        let session = session();
        let mut keys = RouteKeys::default();
        let mut made = 0;
        for origin in ["them", "them", "others"] {
            keys.declare(&session, origin, "Ping", || {
                made += 1;
                format!("evb/t/to/me/ev/Ping/{origin}")
            });
        }
        assert_eq!(made, 2);
        assert_eq!(
            keys.get("them", "Ping"),
            Some(Some("evb/t/to/me/ev/Ping/them"))
        );
        assert_eq!(
            keys.get("others", "Ping"),
            Some(Some("evb/t/to/me/ev/Ping/others"))
        );
        assert_eq!(keys.get("them", "Pong"), None);
    }

    #[test]
    fn no_more_than_the_bound_are_declared() {
        let session = session();
        let mut keys = RouteKeys::default();
        for n in 0..MAX_KEYS + 10 {
            let origin = format!("o{}", n % 7);
            keys.declare(&session, &origin, &format!("E{n}"), || {
                format!("evb/t/to/me/ev/E{n}/{origin}")
            });
        }
        assert_eq!(keys.declared.len(), MAX_KEYS);
        let last = MAX_KEYS - 1;
        assert!(keys
            .get(&format!("o{}", last % 7), &format!("E{last}"))
            .is_some());
        assert_eq!(
            keys.get(&format!("o{}", MAX_KEYS % 7), &format!("E{MAX_KEYS}")),
            None
        );
    }

    #[test]
    fn a_refused_declaration_is_not_asked_again() {
        let session = session();
        session.close().wait().unwrap();
        let mut keys = RouteKeys::default();
        let mut made = 0;
        for _ in 0..2 {
            keys.declare(&session, "them", "Ping", || {
                made += 1;
                "evb/t/to/me/ev/Ping/them".to_owned()
            });
        }
        assert_eq!(made, 1);
        assert_eq!(keys.get("them", "Ping"), Some(None));
    }
}

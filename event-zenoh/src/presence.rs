//! Who is on the bus and what each subscribes to, from liveliness tokens: a deterministic
//! state machine (tokens in, changes out; no I/O), driven by the session's liveliness
//! subscriber.
//!
//! Every endpoint declares `live/<name>/<incarnation>/<max frame>` once it can receive, and
//! `sub/<name>/<incarnation>/<event>/<fingerprint>` for each event it subscribes to. zenoh
//! removes the tokens of a session that closes, crashes or loses its lease, so a
//! departure is seen without a protocol of our own. Tokens may arrive in any order (a
//! subscription before the endpoint's presence, a departure before a late arrival of the
//! history): the state is the set of tokens present, and the changes are the difference
//! between what it says and what was last reported.
//!
//! Names are unique on a bus: [`join`](crate::join) refuses a name that has a live token.
//! Two endpoints that claim one name at the same moment both pass that check; then the
//! earlier incarnation keeps it and the later one yields ([`Change::Yield`]): it leaves
//! the bus. Every other endpoint sees only the earlier one.

use event_core::schema::Fingerprint;
use std::collections::{BTreeMap, HashMap};

use crate::keys::Token;

/// The subscriptions of one endpoint: event name to schema fingerprint.
pub(crate) type Subscriptions = HashMap<String, Fingerprint>;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A remote endpoint is on the bus, with these subscriptions.
    Joined {
        name: String,
        incarnation: u64,
        /// The largest message body it accepts.
        max_frame: u64,
        subscriptions: Subscriptions,
    },
    /// Its subscriptions are now these.
    Subscriptions {
        name: String,
        subscriptions: Subscriptions,
    },
    /// It is gone.
    Left { name: String },
    /// An earlier incarnation of this endpoint's own name is on the bus: leave it.
    Yield { holder: u64 },
}

#[derive(Debug, Default)]
struct Incarnation {
    live: bool,
    max_frame: u64,
    subscriptions: Subscriptions,
}

/// The tokens present, and what was reported of them.
#[derive(Debug)]
pub(crate) struct Presence {
    me: String,
    my_incarnation: u64,
    tokens: HashMap<String, BTreeMap<u64, Incarnation>>,
    reported: HashMap<String, (u64, Subscriptions)>,
    yielded: bool,
}

impl Presence {
    pub(crate) fn new(me: &str, my_incarnation: u64) -> Presence {
        Presence {
            me: me.to_owned(),
            my_incarnation,
            tokens: HashMap::new(),
            reported: HashMap::new(),
            yielded: false,
        }
    }

    /// A token appeared (`present`) or went away.
    pub(crate) fn on_token(&mut self, token: Token, present: bool) -> Vec<Change> {
        let name = match &token {
            Token::Live { name, .. } | Token::Sub { name, .. } => name.clone(),
        };
        let incarnations = self.tokens.entry(name.clone()).or_default();
        match token {
            Token::Live {
                incarnation,
                max_frame,
                ..
            } => {
                let record = incarnations.entry(incarnation).or_default();
                record.live = present;
                record.max_frame = max_frame;
            }
            Token::Sub {
                incarnation,
                event,
                fingerprint,
                ..
            } => {
                let record = incarnations.entry(incarnation).or_default();
                if present {
                    record.subscriptions.insert(event, fingerprint);
                } else {
                    record.subscriptions.remove(&event);
                }
            }
        }
        incarnations.retain(|_, record| record.live || !record.subscriptions.is_empty());
        if incarnations.is_empty() {
            self.tokens.remove(&name);
        }
        if name == self.me {
            return self.check_own_name();
        }
        self.report(&name)
    }

    fn check_own_name(&mut self) -> Vec<Change> {
        if self.yielded {
            return Vec::new();
        }
        let holder = self.tokens.get(&self.me).and_then(|incarnations| {
            incarnations
                .iter()
                .find(|(incarnation, record)| record.live && **incarnation < self.my_incarnation)
                .map(|(incarnation, _)| *incarnation)
        });
        match holder {
            Some(holder) => {
                self.yielded = true;
                vec![Change::Yield { holder }]
            }
            None => Vec::new(),
        }
    }

    /// The earliest live incarnation of `name`: the holder of the name.
    fn holder(&self, name: &str) -> Option<(u64, &Incarnation)> {
        self.tokens
            .get(name)?
            .iter()
            .find_map(|(incarnation, record)| record.live.then_some((*incarnation, record)))
    }

    fn report(&mut self, name: &str) -> Vec<Change> {
        let max_frame = self.holder(name).map_or(0, |(_, record)| record.max_frame);
        let now = self
            .holder(name)
            .map(|(incarnation, record)| (incarnation, record.subscriptions.clone()));
        let before = self.reported.get(name);
        let changes = match (before, &now) {
            (None, None) => Vec::new(),
            (Some(_), None) => vec![Change::Left { name: name.into() }],
            (None, Some((incarnation, subscriptions))) => vec![Change::Joined {
                name: name.into(),
                incarnation: *incarnation,
                max_frame,
                subscriptions: subscriptions.clone(),
            }],
            (Some((was, old)), Some((incarnation, subscriptions))) => {
                if was != incarnation {
                    vec![
                        Change::Left { name: name.into() },
                        Change::Joined {
                            name: name.into(),
                            incarnation: *incarnation,
                            max_frame,
                            subscriptions: subscriptions.clone(),
                        },
                    ]
                } else if old != subscriptions {
                    vec![Change::Subscriptions {
                        name: name.into(),
                        subscriptions: subscriptions.clone(),
                    }]
                } else {
                    Vec::new()
                }
            }
        };
        match now {
            Some(now) => self.reported.insert(name.to_owned(), now),
            None => self.reported.remove(name),
        };
        changes
    }

    /// The endpoint is on the bus now, as far as the tokens say.
    #[cfg(test)]
    pub(crate) fn is_present(&self, name: &str) -> bool {
        self.reported.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(name: &str, incarnation: u64) -> Token {
        Token::Live {
            name: name.into(),
            incarnation,
            max_frame: 1024,
        }
    }

    fn sub(name: &str, incarnation: u64, event: &str, fingerprint: u64) -> Token {
        Token::Sub {
            name: name.into(),
            incarnation,
            event: event.into(),
            fingerprint: Fingerprint(fingerprint),
        }
    }

    fn subs(pairs: &[(&str, u64)]) -> Subscriptions {
        pairs
            .iter()
            .map(|(event, fingerprint)| ((*event).to_owned(), Fingerprint(*fingerprint)))
            .collect()
    }

    #[test]
    fn join_subscribe_leave() {
        let mut presence = Presence::new("me", 5);
        assert_eq!(
            presence.on_token(live("a", 1), true),
            vec![Change::Joined {
                name: "a".into(),
                incarnation: 1,
                max_frame: 1024,
                subscriptions: subs(&[])
            }]
        );
        assert_eq!(
            presence.on_token(sub("a", 1, "E", 9), true),
            vec![Change::Subscriptions {
                name: "a".into(),
                subscriptions: subs(&[("E", 9)])
            }]
        );
        assert_eq!(
            presence.on_token(sub("a", 1, "E", 9), true),
            vec![],
            "idempotent"
        );
        assert_eq!(
            presence.on_token(live("a", 1), false),
            vec![Change::Left { name: "a".into() }]
        );
        assert_eq!(presence.on_token(sub("a", 1, "E", 9), false), vec![]);
        assert!(presence.tokens.is_empty(), "nothing left behind");
    }

    #[test]
    fn subscriptions_seen_before_presence_arrive_with_it() {
        let mut presence = Presence::new("me", 5);
        assert_eq!(presence.on_token(sub("a", 1, "E", 9), true), vec![]);
        assert_eq!(
            presence.on_token(live("a", 1), true),
            vec![Change::Joined {
                name: "a".into(),
                incarnation: 1,
                max_frame: 1024,
                subscriptions: subs(&[("E", 9)])
            }]
        );
    }

    #[test]
    fn a_restart_is_a_departure_then_an_arrival() {
        let mut presence = Presence::new("me", 5);
        presence.on_token(live("a", 1), true);
        // The new process announces itself before the old one's tokens are gone.
        assert_eq!(
            presence.on_token(live("a", 2), true),
            vec![],
            "the earlier holds"
        );
        assert_eq!(
            presence.on_token(live("a", 1), false),
            vec![
                Change::Left { name: "a".into() },
                Change::Joined {
                    name: "a".into(),
                    incarnation: 2,
                    max_frame: 1024,
                    subscriptions: subs(&[])
                }
            ]
        );
    }

    #[test]
    fn a_late_claimant_of_my_name_is_ignored_an_earlier_one_makes_me_yield() {
        let mut presence = Presence::new("me", 5);
        assert_eq!(
            presence.on_token(live("me", 5), true),
            vec![],
            "my own token"
        );
        assert_eq!(
            presence.on_token(live("me", 9), true),
            vec![],
            "a later one yields"
        );
        assert_eq!(
            presence.on_token(live("me", 3), true),
            vec![Change::Yield { holder: 3 }]
        );
        assert_eq!(presence.on_token(live("me", 2), true), vec![], "once");
        assert!(!presence.is_present("me"), "never a remote of itself");
    }

    #[test]
    fn a_failover_flap_reports_leave_and_join_again() {
        let mut presence = Presence::new("me", 5);
        presence.on_token(live("a", 1), true);
        presence.on_token(sub("a", 1, "E", 9), true);
        assert_eq!(
            presence.on_token(live("a", 1), false),
            vec![Change::Left { name: "a".into() }]
        );
        presence.on_token(sub("a", 1, "E", 9), false);
        presence.on_token(sub("a", 1, "E", 9), true);
        assert_eq!(
            presence.on_token(live("a", 1), true),
            vec![Change::Joined {
                name: "a".into(),
                incarnation: 1,
                max_frame: 1024,
                subscriptions: subs(&[("E", 9)])
            }]
        );
    }
}

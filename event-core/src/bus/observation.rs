//! What observation means in the core's state: what a remote observes (parsed from its
//! markers), and this endpoint's own observations. What the core does with them is in
//! `observers.rs`; the semantics in [`crate::observe`].

use crate::observe::{Copy, Observed, OBSERVE_PREFIX};
use crate::schema::{schema_of, Fingerprint};
use crate::sync;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What a remote observes, parsed from its markers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Observing {
    all: bool,
    names: HashSet<String>,
    /// It subscribes to nothing but markers: an observer alone, left out of "every
    /// endpoint subscribes" (`are_all_endpoints_subscribed_to`).
    pub only: bool,
}

impl Observing {
    /// The observation `subscriptions` announce, if they have any marker. Only markers
    /// with this build's fingerprint of [`Copy`] say what to copy (a sender that would
    /// encode copies another way sends none); any marker makes an endpoint that
    /// subscribes to nothing else an observer alone.
    pub(crate) fn parse(subscriptions: &HashMap<String, Fingerprint>) -> Option<Observing> {
        let mut observing = Observing {
            only: true,
            ..Observing::default()
        };
        let mut any = false;
        for (name, fingerprint) in subscriptions {
            let Some(event) = name.strip_prefix(OBSERVE_PREFIX) else {
                observing.only = false;
                continue;
            };
            any = true;
            if *fingerprint != copy_fingerprint() {
                continue;
            }
            if event == "*" {
                observing.all = true;
            } else {
                observing.names.insert(event.to_owned());
            }
        }
        any.then_some(observing)
    }

    pub(crate) fn takes(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }
}

pub(crate) fn copy_fingerprint() -> Fingerprint {
    schema_of::<Copy>().fingerprint()
}

/// One [`Observation`](crate::observe::Observation)'s end here.
pub(crate) struct Sink {
    pub id: u64,
    /// The names it takes; `None`: all.
    pub filter: Option<BTreeSet<String>>,
    pub tx: mpsc::Sender<Observed>,
    /// Copies from each origin dropped here because the queue was full, since the last
    /// one from that origin it took.
    pub missed: Mutex<HashMap<Arc<str>, u64>>,
}

/// This endpoint's observations.
#[derive(Default)]
pub(crate) struct Sinks {
    pub sinks: Mutex<Vec<Arc<Sink>>>,
}

impl Sinks {
    pub(crate) fn snapshot(&self) -> Vec<Arc<Sink>> {
        sync::lock(&self.sinks).clone()
    }

    /// Ends every observation (their streams end once drained).
    pub(crate) fn close(&self) {
        sync::lock(&self.sinks).clear();
    }
}

/// The markers an observation of `filter` announces.
pub(crate) fn markers(filter: &Option<BTreeSet<String>>) -> Vec<String> {
    match filter {
        None => vec![crate::observe::marker(None)],
        Some(names) => names
            .iter()
            .map(|name| crate::observe::marker(Some(name)))
            .collect(),
    }
}

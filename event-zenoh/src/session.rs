//! Joining a bus: the zenoh session of one endpoint, what it declares, and the tasks that
//! keep its tokens and its view of the bus current.
//!
//! # Joining, in order
//!
//! 1. Open the session. Ask the bus for a live token of this endpoint's name: if there is
//!    one, the name is taken (`ConnectionAttemptRejected`) and nothing was declared.
//! 2. Declare the inbox (a subscriber for events, a queryable for requests, both on
//!    `to/<me>/**`) and the schemas queryable, *then* the presence token: a sender that
//!    sees the token can reach the inbox.
//! 3. Declare a subscription token for each subscription, after the core registered
//!    the subscriber: once a remote has seen the token, what it sends is routed and
//!    delivered (DESIGN 6.3.1).
//! 4. Watch every token of the bus (with history): remotes come and go as their tokens
//!    do ([`crate::presence`]).
//! 5. Return once every endpoint that was on the bus when it was asked is connected.
//!
//! # Leaving
//!
//! [`Backend::stop`] (the endpoint stops) first lets the core drain what it accepted
//! and close every remote, then undeclares the tokens (the others see the endpoint leave
//! at once) and closes the session.

use crate::announced::Announced;
use crate::config::ZenohConfig;
use crate::error::Error;
use crate::inbox::{self, Control, Inbox};
use crate::keys::{Keys, Token};
use crate::link::Route;
use crate::off_runtime::{off_runtime, SharedSession};
use crate::presence::{Change, Presence};
use event_core::backend::{self, Attached, Backend};
use event_core::schema::{EventSchema, Fingerprint};
use event_core::Endpoint;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use zenoh::liveliness::LivelinessToken;
use zenoh::sample::SampleKind;
use zenoh::Wait;

/// The backend the core holds: it only passes the endpoint's changes to the tasks.
struct ZenohBackend {
    /// Each change with its number (see [`crate::announced`]).
    subscriptions: watch::Sender<(u64, Vec<Arc<EventSchema>>)>,
    announced: Arc<Announced>,
    leave: Arc<watch::Sender<bool>>,
}

impl Backend for ZenohBackend {
    fn subscriptions_changed(&self, subscribed: &[Arc<EventSchema>]) {
        let generation = self.announced.want();
        self.subscriptions
            .send_replace((generation, subscribed.to_vec()));
    }

    fn stop(&self) {
        self.leave.send_replace(true);
    }
}

/// What the backend the core holds shares with the tasks `join` starts.
struct Wiring {
    leave: Arc<watch::Sender<bool>>,
    leave_rx: watch::Receiver<bool>,
    subscriptions: watch::Receiver<(u64, Vec<Arc<EventSchema>>)>,
    announced: Arc<Announced>,
}

/// Puts `endpoint` on the zenoh bus of `config`; see the crate docs.
pub(crate) async fn join(
    endpoint: &Endpoint,
    config: ZenohConfig,
) -> Result<(), event_core::Error> {
    let me = endpoint.name().to_owned();
    let fail = |context: &str| {
        let me = me.clone();
        let context = context.to_owned();
        move |error: Error| error.into_core(&me, &context)
    };
    if config.bus.is_empty() {
        return Err(fail("joining")(Error::BusName {
            bus: String::new(),
            reason: "it is empty".into(),
        }));
    }
    if endpoint.is_stopped() {
        return Err(event_core::Error::Stopped { endpoint: me });
    }
    let (subscriptions, subscriptions_rx) = watch::channel((0, Vec::new()));
    let announced = Arc::new(Announced::default());
    let (leave, leave_rx) = watch::channel(false);
    let leave = Arc::new(leave);
    let backend: Arc<dyn Backend> = Arc::new(ZenohBackend {
        subscriptions,
        announced: announced.clone(),
        leave: leave.clone(),
    });
    let attached = backend::attach(endpoint, backend.clone())?;
    let wiring = Wiring {
        leave,
        leave_rx,
        subscriptions: subscriptions_rx,
        announced,
    };
    // Taken off again if the join fails or its future is dropped before it ends.
    let mut detach = DetachUnlessJoined {
        attached: &attached,
        backend,
        joined: false,
    };
    open_and_declare(&attached, &config, wiring).await?;
    detach.joined = true;
    Ok(())
}

/// Detaches the backend from the endpoint when dropped, unless the join succeeded.
struct DetachUnlessJoined<'a> {
    attached: &'a Attached,
    backend: Arc<dyn Backend>,
    joined: bool,
}

impl Drop for DetachUnlessJoined<'_> {
    fn drop(&mut self) {
        if !self.joined {
            self.attached.detach(&self.backend);
        }
    }
}

async fn open_and_declare(
    attached: &Attached,
    config: &ZenohConfig,
    wiring: Wiring,
) -> Result<(), event_core::Error> {
    let Wiring {
        leave,
        leave_rx,
        subscriptions: subscriptions_rx,
        announced,
    } = wiring;
    let me = attached.endpoint_name().to_owned();
    let fail = |context: &'static str| {
        let me = me.clone();
        move |error: Error| error.into_core(&me, context)
    };
    let zenoh_config = config
        .to_zenoh(attached.stall_timeout(), attached.max_frame_size())
        .map_err(fail("configuring zenoh"))?;
    let session = off_runtime(move || zenoh::open(zenoh_config).wait())
        .await
        .map_err(|error| fail("opening the zenoh session")(Error::zenoh(error)))?;
    let session = Arc::new(SharedSession::new(session));
    let keys = Keys::new(&config.bus);
    let taken = live_tokens(&session, &keys, Some(&me), config.connect_timeout)
        .await
        .map_err(fail("asking the bus who holds this name"))?;
    if !taken.is_empty() {
        session.close().await;
        return Err(event_core::Error::ConnectionAttemptRejected {
            endpoint: me.clone(),
            remote: me.clone(),
            reason: format!(
                "an endpoint of this name is already on the zenoh bus `{}`",
                config.bus
            ),
        });
    }
    let incarnation = new_incarnation();
    let route = Route {
        session: session.clone(),
        keys: keys.clone(),
        me: me.clone(),
        incarnation,
        request_timeout: config.request_timeout,
        flush_timeout: attached.stall_timeout().saturating_mul(2),
        credit_timeout: (attached.stall_timeout() / 2)
            .clamp(Duration::from_millis(250), Duration::from_secs(10)),
        announced,
    };
    let inbox = Arc::new(Inbox::new(
        route,
        attached.clone(),
        tokio::runtime::Handle::current(),
    ));
    let watcher = PresenceWatcher {
        inbox: inbox.clone(),
        presence: std::sync::Mutex::new(Presence::new(&me, incarnation)),
        leave,
    };
    let declared = declare(&session, &keys, &me, incarnation, &inbox, attached, watcher)
        .await
        .map_err(fail("declaring on zenoh"))?;
    tokio::spawn(keep_tokens(
        inbox.clone(),
        declared,
        subscriptions_rx,
        leave_rx,
    ));
    // Return with the endpoints already there connected, with their subscriptions (all
    // waited for against one deadline).
    let tokens = live_tokens(&session, &keys, None, config.connect_timeout).await;
    if let Err(error) = &tokens {
        tracing::warn!(endpoint = %me, %error, "zenoh: joined, but could not ask who is on the bus");
    }
    if let Ok(tokens) = tokens {
        let everyone = async {
            for token in tokens {
                match token {
                    Token::Live { name, .. } if name != me => {
                        attached.wait_until_connected(&name).await;
                    }
                    Token::Sub {
                        name,
                        event,
                        fingerprint,
                        ..
                    } if name != me => {
                        attached
                            .wait_until_remote_subscribes(&name, &event, fingerprint)
                            .await;
                    }
                    _ => {}
                }
            }
        };
        if tokio::time::timeout(config.connect_timeout, everyone)
            .await
            .is_err()
        {
            tracing::warn!(endpoint = %me, "zenoh: joined, but not every endpoint on the bus is connected yet");
        }
    }
    Ok(())
}

/// What the session declared for this endpoint; dropping it undeclares all.
struct Declarations {
    _events: zenoh::pubsub::Subscriber<()>,
    _requests: zenoh::query::Queryable<()>,
    _schemas: zenoh::query::Queryable<()>,
    _live: LivelinessToken,
    _presence: zenoh::pubsub::Subscriber<()>,
}

async fn declare(
    session: &zenoh::Session,
    keys: &Keys,
    me: &str,
    incarnation: u64,
    inbox: &Arc<Inbox>,
    attached: &Attached,
    watcher: PresenceWatcher,
) -> Result<Declarations, Error> {
    let events_inbox = inbox.clone();
    let events = session
        .declare_subscriber(keys.inbox(me))
        .callback(move |sample| events_inbox.on_sample(sample))
        .await
        .map_err(Error::zenoh)?;
    let requests_inbox = inbox.clone();
    let requests = session
        .declare_queryable(keys.inbox(me))
        .callback(move |query| requests_inbox.on_query(query))
        .await
        .map_err(Error::zenoh)?;
    let schemas_of = attached.clone();
    let schemas = session
        .declare_queryable(keys.schemas(me))
        .callback(move |query| inbox::answer_schemas(&schemas_of, query))
        .await
        .map_err(Error::zenoh)?;
    let live = session
        .liveliness()
        .declare_token(keys.live(me, incarnation, attached.max_frame_size() as u64))
        .await
        .map_err(Error::zenoh)?;
    // The view of the bus: every token, with history.
    let token_keys = keys.clone();
    let presence = session
        .liveliness()
        .declare_subscriber(keys.all_tokens())
        .history(true)
        .callback(move |sample| {
            let present = sample.kind() == SampleKind::Put;
            tracing::trace!(key = %sample.key_expr(), present, "zenoh: token");
            match token_keys.parse_token(sample.key_expr().as_str()) {
                Some(token) => watcher.on_token(token, present),
                None => tracing::debug!(key = %sample.key_expr(), "zenoh: a foreign liveliness token; ignored"),
            }
        })
        .await
        .map_err(Error::zenoh)?;
    Ok(Declarations {
        _events: events,
        _requests: requests,
        _schemas: schemas,
        _live: live,
        _presence: presence,
    })
}

/// The tokens on the bus (the live tokens of `only` alone, if given), as the bus answers
/// within `timeout`.
async fn live_tokens(
    session: &zenoh::Session,
    keys: &Keys,
    only: Option<&str>,
    timeout: Duration,
) -> Result<Vec<Token>, Error> {
    let key_exprs = match only {
        Some(name) => vec![keys.live_any(name)],
        None => keys.every_token().to_vec(),
    };
    let mut tokens = Vec::new();
    for key in key_exprs {
        let replies = session
            .liveliness()
            .get(key)
            .timeout(timeout)
            .await
            .map_err(Error::zenoh)?;
        while let Ok(reply) = replies.recv_async().await {
            if let Ok(sample) = reply.result() {
                tokens.extend(keys.parse_token(sample.key_expr().as_str()));
            }
        }
    }
    // Live tokens first: a remote is connected before its subscriptions are waited for.
    tokens.sort_by_key(|token| !matches!(token, Token::Live { .. }));
    Ok(tokens)
}

/// A number that orders two incarnations of one name by when they joined.
fn new_incarnation() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    // Two joins in one nanosecond still differ.
    nanos ^ u64::from(std::process::id() & 0xff)
}

/// Applies the bus's tokens to the presence state machine, and its changes to the
/// origins, in the zenoh callback that delivers them: so a change is on its origin's
/// control lane before anything zenoh delivers after it reaches the data lane (and the
/// origin task takes control first), and a request is never handed to the core before
/// the subscription its sender made before sending it.
struct PresenceWatcher {
    inbox: Arc<Inbox>,
    presence: std::sync::Mutex<Presence>,
    leave: Arc<watch::Sender<bool>>,
}

impl PresenceWatcher {
    fn on_token(&self, token: Token, present: bool) {
        let changes = self
            .presence
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .on_token(token, present);
        for change in changes {
            self.apply(change);
        }
    }

    fn apply(&self, change: Change) {
        let inbox = &self.inbox;
        match change {
            Change::Joined {
                name,
                incarnation,
                max_frame,
                subscriptions,
            } => inbox.tell(
                &name,
                Control::Joined {
                    incarnation,
                    max_frame,
                    subscriptions,
                },
            ),
            Change::Subscriptions {
                name,
                subscriptions,
            } => inbox.tell(&name, Control::Subscriptions(subscriptions)),
            Change::Left { name } => inbox.tell(
                &name,
                Control::Left {
                    reason: "it left the zenoh bus (its session closed or was lost)".into(),
                },
            ),
            Change::Yield { holder } => {
                tracing::error!(
                    endpoint = %inbox.route.me,
                    holder = format_args!("{holder:016x}"),
                    "zenoh: another endpoint of this name joined the bus first; leaving the bus"
                );
                self.leave.send_replace(true);
            }
        }
    }
}

/// Keeps a subscription token per subscription; on leaving, waits for the core to close
/// the remotes, then undeclares everything and closes the session.
async fn keep_tokens(
    inbox: Arc<Inbox>,
    declarations: Declarations,
    mut subscriptions: watch::Receiver<(u64, Vec<Arc<EventSchema>>)>,
    mut leave: watch::Receiver<bool>,
) {
    let session = inbox.route.session.clone();
    let mut tokens: HashMap<(String, Fingerprint), LivelinessToken> = HashMap::new();
    subscriptions.mark_changed();
    loop {
        tokio::select! {
            changed = subscriptions.changed() => {
                if changed.is_err() {
                    break;
                }
                let mut failed = false;
                let (generation, wanted): (u64, Vec<(String, Fingerprint)>) = {
                    let change = subscriptions.borrow_and_update();
                    let wanted = change
                        .1
                        .iter()
                        .map(|schema| (schema.name().to_owned(), schema.fingerprint()))
                        .collect();
                    (change.0, wanted)
                };
                tokens.retain(|key, _| wanted.contains(key));
                for (name, fingerprint) in wanted {
                    if tokens.contains_key(&(name.clone(), fingerprint)) {
                        continue;
                    }
                    let key = inbox.route.keys.sub(&inbox.route.me, inbox.route.incarnation, &name, fingerprint);
                    match session.liveliness().declare_token(key).await {
                        Ok(token) => {
                            tokens.insert((name, fingerprint), token);
                        }
                        Err(error) => {
                            tracing::error!(endpoint = %inbox.route.me, event = %name, %error, "zenoh: cannot announce a subscription; trying again");
                            failed = true;
                        }
                    }
                }
                if failed {
                    // Not declared: writers keep waiting (bounded), and this tries again.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    subscriptions.mark_changed();
                } else {
                    inbox.route.announced.declared(generation);
                }
            }
            changed = leave.changed() => {
                if changed.is_err() || *leave.borrow() {
                    break;
                }
            }
        }
    }
    // No more tokens are declared: writers must not wait for them (the core's last
    // subscription changes, as it stops, would hold every flush back).
    inbox.route.announced.release();
    if inbox.attached.is_stopped() {
        // The core drains and closes every remote: wait for that before leaving, so that
        // what it accepted still goes out.
        let deadline = tokio::time::Instant::now()
            + inbox.attached.stall_timeout().saturating_mul(2)
            + Duration::from_secs(1);
        while inbox.open_links() > 0 {
            let changed = inbox.links_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if inbox.open_links() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
    } else {
        // Leaving the bus alone (the name was taken): every zenoh remote goes.
        for origin in inbox.origins() {
            let left = Control::Left {
                reason: "this endpoint left the zenoh bus".into(),
            };
            inbox.tell(&origin, left);
        }
    }
    drop(tokens);
    drop(declarations);
    inbox.close_all();
    session.close().await;
}

impl Drop for ZenohBackend {
    fn drop(&mut self) {
        self.leave.send_replace(true);
    }
}

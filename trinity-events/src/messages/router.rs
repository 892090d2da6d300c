//! Relays a peer's command as the event of its command.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use event_core::{BroadcastConfig, Endpoint, Error, Event};
use futures_util::future::BoxFuture;

use super::peer_message::PeerMessage;
use crate::events::PeerPoolMessageEvent;
use crate::p2p::{Command, Session};

/// Broadcasts one event type, built from a session and a command.
type Relay =
    for<'a> fn(&'a Endpoint, Session, Command, BroadcastConfig) -> BoxFuture<'a, Result<(), Error>>;

fn relay<M: PeerMessage>(
    endpoint: &Endpoint,
    session: Session,
    command: Command,
    config: BroadcastConfig,
) -> BoxFuture<'_, Result<(), Error>> {
    Box::pin(endpoint.broadcast_with(M::from_parts(session, command), config))
}

#[derive(Clone, Copy)]
struct Route {
    relay: Relay,
    event: &'static str,
}

/// Protocol name → command name → route.
type Routes = HashMap<&'static str, HashMap<&'static str, Route>>;

/// Maps protocol commands to their [`PeerMessage`] event types, so that the networking
/// process relays each command as the event of its command.
///
/// A command is matched by its protocol name and command name (any protocol version).
/// A command with no registered event is relayed as a plain [`PeerPoolMessageEvent`].
/// Cheap to clone.
///
/// ```
/// use trinity_events::{peer_message_events, PeerMessageRouter};
///
/// peer_message_events! {
///     /// A peer asks for block headers.
///     pub struct GetBlockHeadersEvent = "eth" / "GetBlockHeaders";
///     /// A peer announces transactions.
///     pub struct TransactionsEvent = "eth" / "Transactions";
/// }
///
/// let router = PeerMessageRouter::new()
///     .route::<GetBlockHeadersEvent>()
///     .route::<TransactionsEvent>();
/// assert_eq!(router.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct PeerMessageRouter {
    routes: Arc<Routes>,
}

impl PeerMessageRouter {
    /// A router with no routes: every command is relayed as a [`PeerPoolMessageEvent`].
    pub fn new() -> Self {
        PeerMessageRouter::default()
    }

    /// Relays the commands that `M` carries (`M::PROTOCOL` / `M::COMMAND`) as `M`.
    ///
    /// A later route for the same command replaces an earlier one (with a warning in the
    /// log).
    pub fn route<M: PeerMessage>(mut self) -> Self {
        let route = Route {
            relay: relay::<M>,
            event: M::NAME,
        };
        if let Some(old) = Arc::make_mut(&mut self.routes)
            .entry(M::PROTOCOL)
            .or_default()
            .insert(M::COMMAND, route)
        {
            if old.event != M::NAME {
                tracing::warn!(
                    protocol = M::PROTOCOL,
                    command = M::COMMAND,
                    replaced = old.event,
                    by = M::NAME,
                    "peer message route replaced"
                );
            }
        }
        self
    }

    /// The `NAME` of the event that `command` is relayed as.
    pub fn event_name(&self, command: &Command) -> &'static str {
        self.find(command)
            .map_or(PeerPoolMessageEvent::NAME, |route| route.event)
    }

    /// How many commands have an event of their own.
    pub fn len(&self) -> usize {
        self.routes.values().map(HashMap::len).sum()
    }

    /// Whether no command has an event of its own.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Broadcasts `command`, received on `session`, as the event of its command (or as a
    /// [`PeerPoolMessageEvent`]), with `config`.
    pub async fn relay(
        &self,
        endpoint: &Endpoint,
        session: Session,
        command: Command,
        config: BroadcastConfig,
    ) -> Result<(), Error> {
        match self.find(&command) {
            Some(route) => (route.relay)(endpoint, session, command, config).await,
            None => {
                endpoint
                    .broadcast_with(PeerPoolMessageEvent::new(session, command), config)
                    .await
            }
        }
    }

    fn find(&self, command: &Command) -> Option<&Route> {
        self.routes
            .get(command.protocol.name.as_str())?
            .get(command.name.as_str())
    }
}

impl fmt::Debug for PeerMessageRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<_> = self
            .routes
            .iter()
            .flat_map(|(protocol, commands)| {
                commands
                    .iter()
                    .map(move |(command, route)| (*protocol, *command, route.event))
            })
            .collect();
        routes.sort();
        f.debug_struct("PeerMessageRouter")
            .field("routes", &routes)
            .finish()
    }
}

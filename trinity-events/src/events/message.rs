//! A peer message relayed on the bus.

use event_core::Event;
use serde::{Deserialize, Serialize};

use crate::p2p::{Command, Session};

/// A message received from a peer, relayed on the event bus by the peer pool.
///
/// Broadcast (fire-and-forget) by the [`PeerPoolEventServer`](crate::PeerPoolEventServer)
/// for every peer message the networking process relays and has no dedicated event for;
/// listened to by the components that process peer messages.
///
/// In Trinity this is the base class of one event class per protocol command, so that a
/// component subscribes to the commands it handles and is never sent the others. Here the
/// per-command events are separate types that implement [`PeerMessage`], declared with
/// [`peer_message_events!`](crate::peer_message_events); they convert to and from this
/// event. A command that has a dedicated event is relayed as that event only: a
/// subscriber to `PeerPoolMessageEvent` does not receive it (as in Trinity, where
/// subscriptions match the exact event class).
///
/// [`PeerMessage`]: crate::PeerMessage
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(name = "trinity.protocol.common.events.PeerPoolMessageEvent")]
pub struct PeerPoolMessageEvent {
    /// The session the message arrived on.
    pub session: Session,
    /// The message.
    pub command: Command,
}

impl PeerPoolMessageEvent {
    /// A message `command` received on `session`.
    pub fn new(session: Session, command: Command) -> Self {
        PeerPoolMessageEvent { session, command }
    }
}

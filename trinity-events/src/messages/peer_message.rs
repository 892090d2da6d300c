//! The trait of per-command peer message events.

use event_core::Event;

use crate::events::PeerPoolMessageEvent;
use crate::p2p::{Command, Session};

/// An event that carries the messages of one protocol command, e.g. `eth`
/// `GetBlockHeaders`, received from a peer.
///
/// Each implementor is its own event type with its own `NAME`, so a subscriber to one
/// command never receives, and is never sent, the others. Implement it with
/// [`peer_message_events!`](crate::peer_message_events), which also derives `Event`,
/// serde and the conversions to and from [`PeerPoolMessageEvent`].
///
/// ```
/// use trinity_events::{peer_message_events, PeerMessage};
///
/// peer_message_events! {
///     /// A peer asks for block headers.
///     pub struct GetBlockHeadersEvent = "eth" / "GetBlockHeaders";
/// }
///
/// assert_eq!(GetBlockHeadersEvent::PROTOCOL, "eth");
/// assert_eq!(GetBlockHeadersEvent::COMMAND, "GetBlockHeaders");
/// ```
pub trait PeerMessage: Event + Into<PeerPoolMessageEvent> {
    /// The name of the subprotocol of the command, e.g. `eth` (any version).
    const PROTOCOL: &'static str;
    /// The name of the command, e.g. `GetBlockHeaders`.
    const COMMAND: &'static str;

    /// The event for `command`, received on `session`.
    ///
    /// Does not check that `command` is this event's command (see
    /// [`matches`](Self::matches)); a [`PeerMessageRouter`](crate::PeerMessageRouter) only
    /// builds events for commands that match.
    fn from_parts(session: Session, command: Command) -> Self;

    /// The session the message arrived on.
    fn session(&self) -> &Session;

    /// The message.
    fn command(&self) -> &Command;

    /// The session and the message.
    fn into_parts(self) -> (Session, Command);

    /// Whether `command` is this event's command: its protocol name is
    /// [`PROTOCOL`](Self::PROTOCOL) and its name is [`COMMAND`](Self::COMMAND), whatever
    /// the protocol version.
    fn matches(command: &Command) -> bool {
        command.protocol.name == Self::PROTOCOL && command.name == Self::COMMAND
    }
}

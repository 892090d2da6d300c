//! Per-command peer messages: one event type per protocol command.
//!
//! [`PeerPoolMessageEvent`](crate::PeerPoolMessageEvent) carries any command. A component
//! that handles only some commands (say, a header server answering `GetBlockHeaders`)
//! should neither receive nor be sent the others, and the bus routes by event type. So
//! each command gets an event type of its own, with its own `NAME`:
//!
//! * [`PeerMessage`] is the trait of those types: which protocol command it carries, and
//!   access to the session and the command.
//! * [`peer_message_events!`](crate::peer_message_events) declares them, one line each,
//!   from a crate that depends on `trinity-events` only.
//! * [`PeerMessageRouter`] is how the networking side relays a command as the event of
//!   its type (or as a plain `PeerPoolMessageEvent` when it has none);
//!   [`PeerPoolEventServer::peer_message`](crate::PeerPoolEventServer::peer_message) uses it.

mod macros;
mod peer_message;
mod router;

#[cfg(test)]
mod tests;

pub use peer_message::PeerMessage;
pub use router::PeerMessageRouter;

//! `peer_message_events!`: declares per-command peer message events.

/// Declares one event type per protocol command, each carrying the messages of that
/// command only (see [`PeerMessage`](crate::PeerMessage)).
///
/// Each line `pub struct Name = "protocol" / "Command";` declares
///
/// ```text
/// #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
/// pub struct Name {
///     pub session: Session,   // the session the message arrived on
///     pub command: Command,   // the message, a `protocol` `Command` command
/// }
/// ```
///
/// with `PeerMessage` implemented (`PROTOCOL = "protocol"`, `COMMAND = "Command"`,
/// matching any version of the protocol), `From<Name> for PeerPoolMessageEvent`, and
/// `TryFrom<PeerPoolMessageEvent> for Name`, which gives the event back when its command
/// is another one.
///
/// Attributes written before `pub struct` (doc comments, `#[event(name = "...")]`, more
/// derives) are kept. The event's `NAME` is the derive's default, the module path and
/// the type name (`my_crate::eth::GetBlockHeadersEvent`), unless pinned with
/// `#[event(name = "...")]`: a program and the processes it talks to must agree on it.
///
/// The generated code names its dependencies through `::trinity_events`, so the calling
/// crate needs neither `event-core` nor `serde` as a dependency, but it must depend on
/// `trinity-events` under that name (not renamed).
///
/// ```
/// use trinity_events::{peer_message_events, Command, PeerMessage, PeerPoolMessageEvent};
///
/// peer_message_events! {
///     /// `eth` `GetBlockHeaders`: a peer asks for block headers.
///     pub struct GetBlockHeadersEvent = "eth" / "GetBlockHeaders";
///
///     /// `eth` `Transactions`: a peer announces transactions.
///     #[event(name = "trinity.protocol.eth.events.TransactionsEvent")]
///     pub struct TransactionsEvent = "eth" / "Transactions";
/// }
///
/// use event_core::Event;
/// assert_eq!(TransactionsEvent::NAME, "trinity.protocol.eth.events.TransactionsEvent");
/// assert_ne!(GetBlockHeadersEvent::NAME, TransactionsEvent::NAME);
///
/// # let node = "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630\
/// #             b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de\
/// #             @3.209.45.79:30303".parse().unwrap();
/// # let session = trinity_events::Session::new(node);
/// let command = Command::new("eth/68".parse().unwrap(), "Transactions", 0x02, vec![0xc0]);
/// let message = PeerPoolMessageEvent::new(session, command);
/// assert!(GetBlockHeadersEvent::try_from(message.clone()).is_err());
/// let transactions = TransactionsEvent::try_from(message).unwrap();
/// assert_eq!(transactions.command().name, "Transactions");
/// ```
#[macro_export]
macro_rules! peer_message_events {
    ($(
        $(#[$attr:meta])*
        $vis:vis struct $name:ident = $protocol:literal / $command:literal;
    )*) => {$(
        // Derive first: `#[event(...)]` among the caller's attributes is a helper of
        // `#[derive(Event)]` and must come after it.
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            $crate::__private::serde::Serialize,
            $crate::__private::serde::Deserialize,
            $crate::__private::event_core::Event,
        )]
        #[serde(crate = "::trinity_events::__private::serde")]
        #[event(crate = "::trinity_events::__private::event_core")]
        $(#[$attr])*
        $vis struct $name {
            /// The session the message arrived on.
            pub session: $crate::Session,
            #[doc = ::core::concat!("The message: a `", $protocol, "` `", $command, "` command.")]
            pub command: $crate::Command,
        }

        impl $crate::PeerMessage for $name {
            const PROTOCOL: &'static str = $protocol;
            const COMMAND: &'static str = $command;

            fn from_parts(session: $crate::Session, command: $crate::Command) -> Self {
                $name { session, command }
            }

            fn session(&self) -> &$crate::Session {
                &self.session
            }

            fn command(&self) -> &$crate::Command {
                &self.command
            }

            fn into_parts(self) -> ($crate::Session, $crate::Command) {
                (self.session, self.command)
            }
        }

        impl ::core::convert::From<$name> for $crate::PeerPoolMessageEvent {
            fn from(event: $name) -> Self {
                $crate::PeerPoolMessageEvent {
                    session: event.session,
                    command: event.command,
                }
            }
        }

        impl ::core::convert::TryFrom<$crate::PeerPoolMessageEvent> for $name {
            type Error = $crate::PeerPoolMessageEvent;

            /// The event for `message` if its command is this event's command; otherwise
            /// `message` back.
            fn try_from(
                message: $crate::PeerPoolMessageEvent,
            ) -> ::core::result::Result<Self, Self::Error> {
                if <$name as $crate::PeerMessage>::matches(&message.command) {
                    ::core::result::Result::Ok($name {
                        session: message.session,
                        command: message.command,
                    })
                } else {
                    ::core::result::Result::Err(message)
                }
            }
        }
    )*};
}

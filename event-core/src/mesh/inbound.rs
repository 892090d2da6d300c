//! What a connection does with each message after the handshake, as plain code: a
//! message in, an [`Action`] for the connection's reader task to carry out, or a
//! [`Violation`] that closes the connection.
//!
//! The state is the connection's name table: the numbers the sender gave its event names
//! (DEFINE_NAME), each with its own lookup cache, since consecutive events mostly carry
//! one name. A peer may number at most [`MAX_NAMES_PER_CONNECTION`] names, each at most
//! [`MAX_NAME_LEN`] bytes and [`MAX_NAME_BYTES_PER_CONNECTION`] bytes in all, so what one
//! peer can make an endpoint hold is bounded.

use crate::backend::handles::TopicCache;
use crate::schema::{EventSchema, Fingerprint};
use crate::wire::{EventName, EventNameRef, EventRef, Message};
use bytes::Bytes;
use rustc_hash::FxHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// The most event names one peer may number (DEFINE_NAME) on a connection.
pub(crate) const MAX_NAMES_PER_CONNECTION: usize = 65536;
/// The longest name a peer may number (an inline name's length is a `u16` too).
pub(crate) const MAX_NAME_LEN: usize = u16::MAX as usize;
/// The most bytes of names one peer may make a connection hold.
pub(crate) const MAX_NAME_BYTES_PER_CONNECTION: usize = 4 * 1024 * 1024;
/// The most schemas, and bytes of SCHEMAS frames, one peer may publish on a connection
/// (the endpoint keeps what is published).
pub(crate) const MAX_SCHEMAS_PER_CONNECTION: usize = 65536;
pub(crate) const MAX_SCHEMA_BYTES_PER_CONNECTION: usize = 16 * 1024 * 1024;

/// The receiving state of one connection.
#[derive(Default)]
pub(crate) struct Inbound {
    /// The lookup cache of events that carry their name inline.
    inline: TopicCache,
    /// The names this peer numbered, with their lookup caches.
    numbered: HashMap<u32, (Box<str>, TopicCache), BuildHasherDefault<FxHasher>>,
    /// The bytes of those names.
    name_bytes: usize,
    /// The schemas, and the bytes of SCHEMAS frames, published so far.
    schemas: usize,
    schema_bytes: usize,
}

/// What the reader task does next.
#[derive(Debug)]
pub(crate) enum Action<'a> {
    /// The peer's subscription set is now this (names with schema fingerprints).
    Subscriptions(&'a [(String, Fingerprint)]),
    /// The peer published these schemas.
    Schemas(&'a [EventSchema]),
    /// Deliver an event (or a request, with its id) to this endpoint's subscribers.
    Deliver {
        name: &'a str,
        cache: &'a mut TopicCache,
        request_id: Option<u64>,
        body: &'a [u8],
    },
    /// An answer to one of this endpoint's requests.
    Answer {
        request_id: u64,
        name: &'a str,
        body: Bytes,
    },
    /// Every recipient in the peer dropped one of this endpoint's requests.
    Dropped(u64),
    /// Nothing to do (a name was defined).
    Nothing,
}

/// A message that breaks the protocol: the connection is closed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Violation {
    #[error("EVENT names the undefined name id {0}")]
    UndefinedName(u32),
    #[error("more than {MAX_NAMES_PER_CONNECTION} event names")]
    TooManyNames,
    #[error("an event name of {0} bytes (at most {MAX_NAME_LEN})")]
    NameTooLong(usize),
    #[error("more than {MAX_NAME_BYTES_PER_CONNECTION} bytes of event names")]
    TooManyNameBytes,
    #[error("more than {MAX_SCHEMAS_PER_CONNECTION} schemas or {MAX_SCHEMA_BYTES_PER_CONNECTION} bytes of them")]
    TooManySchemas,
    #[error("{0} after the handshake")]
    HandshakeMessage(&'static str),
}

impl Violation {
    /// The disconnect reason, for the log.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Violation::TooManyNames | Violation::NameTooLong(_) | Violation::TooManyNameBytes => {
                "too many names"
            }
            Violation::TooManySchemas => "too many schemas",
            Violation::UndefinedName(_) | Violation::HandshakeMessage(_) => "protocol violation",
        }
    }
}

impl Inbound {
    /// [`on_message`](Self::on_message) for a message read from a frame of `frame_len`
    /// bytes (what published schemas are counted in).
    pub(crate) fn on_frame<'a>(
        &'a mut self,
        message: &'a Message,
        frame_len: usize,
    ) -> Result<Action<'a>, Violation> {
        if let Message::Schemas(schemas) = message {
            self.schemas = self.schemas.saturating_add(schemas.len());
            self.schema_bytes = self.schema_bytes.saturating_add(frame_len);
            if self.schemas > MAX_SCHEMAS_PER_CONNECTION
                || self.schema_bytes > MAX_SCHEMA_BYTES_PER_CONNECTION
            {
                return Err(Violation::TooManySchemas);
            }
        }
        self.on_message(message)
    }

    /// An EVENT read where it lies ([`wire::decode_event`](crate::wire::decode_event)):
    /// the same as the [`Message::Event`] it stands for.
    pub(crate) fn on_event<'a>(&'a mut self, event: EventRef<'a>) -> Result<Action<'a>, Violation> {
        let (name, cache) = match event.name {
            EventNameRef::Inline(name) => (name, &mut self.inline),
            EventNameRef::Id(id) => match self.numbered.get_mut(&id) {
                Some((name, cache)) => (&**name, cache),
                None => return Err(Violation::UndefinedName(id)),
            },
        };
        Ok(Action::Deliver {
            name,
            cache,
            request_id: event.request_id,
            body: event.body,
        })
    }

    pub(crate) fn on_message<'a>(
        &'a mut self,
        message: &'a Message,
    ) -> Result<Action<'a>, Violation> {
        match message {
            Message::Subscriptions(names) => Ok(Action::Subscriptions(names)),
            Message::Schemas(schemas) => Ok(Action::Schemas(schemas)),
            Message::Event {
                name,
                request_id,
                body,
            } => self.on_event(EventRef {
                name: match name {
                    EventName::Inline(name) => EventNameRef::Inline(name.as_str()),
                    EventName::Id(id) => EventNameRef::Id(*id),
                },
                request_id: *request_id,
                body,
            }),
            Message::DefineName { id, name } => {
                let len = name.as_str().len();
                if len > MAX_NAME_LEN {
                    return Err(Violation::NameTooLong(len));
                }
                let replaced = self.numbered.get(id).map_or(0, |(old, _)| old.len());
                if replaced == 0 && self.numbered.len() >= MAX_NAMES_PER_CONNECTION {
                    return Err(Violation::TooManyNames);
                }
                let bytes = self.name_bytes - replaced + len;
                if bytes > MAX_NAME_BYTES_PER_CONNECTION {
                    return Err(Violation::TooManyNameBytes);
                }
                self.name_bytes = bytes;
                self.numbered
                    .insert(*id, (name.as_str().into(), TopicCache::default()));
                Ok(Action::Nothing)
            }
            Message::Response {
                request_id,
                name,
                body,
            } => Ok(Action::Answer {
                request_id: *request_id,
                name: name.as_str(),
                body: body.clone(),
            }),
            Message::RequestDropped(request_id) => Ok(Action::Dropped(*request_id)),
            other @ (Message::Hello(_) | Message::Welcome(_) | Message::Reject(_)) => {
                Err(Violation::HandshakeMessage(other.kind()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    fn message(frame: Bytes) -> Message {
        wire::decode(frame.slice(4..)).unwrap()
    }

    fn numbered_event(id: u32, body: &[u8]) -> Message {
        let mut frame = bytes::BytesMut::new();
        wire::put_event(&mut frame, wire::NameRef::Id(id), Some(9), body);
        message(frame.freeze())
    }

    #[test]
    fn a_numbered_name_is_usable_once_defined() {
        let mut inbound = Inbound::default();
        let event = numbered_event(3, b"body");
        assert_eq!(
            inbound.on_message(&event).unwrap_err(),
            Violation::UndefinedName(3)
        );
        let define = message(wire::define_name(3, "app.Tick", 1024).unwrap());
        assert!(matches!(inbound.on_message(&define), Ok(Action::Nothing)));
        match inbound.on_message(&event).unwrap() {
            Action::Deliver {
                name,
                request_id,
                body,
                ..
            } => assert_eq!(
                (name, request_id, body),
                ("app.Tick", Some(9), &b"body"[..])
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inline_names_answers_and_drops_pass_through() {
        let mut inbound = Inbound::default();
        let event = message(wire::event("app.Tick", None, &5u8, 1024).unwrap());
        assert!(matches!(
            inbound.on_message(&event),
            Ok(Action::Deliver {
                name: "app.Tick",
                request_id: None,
                ..
            })
        ));
        let answer = message(wire::response(4, "app.Answer", &[1], 1024).unwrap());
        assert!(matches!(
            inbound.on_message(&answer),
            Ok(Action::Answer {
                request_id: 4,
                name: "app.Answer",
                ..
            })
        ));
        let dropped = message(wire::request_dropped(4, 1024).unwrap());
        assert!(matches!(
            inbound.on_message(&dropped),
            Ok(Action::Dropped(4))
        ));
        let names = message(
            wire::subscriptions(&[("a".into(), crate::schema::Fingerprint(7))], 1024).unwrap(),
        );
        assert!(matches!(
            inbound.on_message(&names),
            Ok(Action::Subscriptions([_]))
        ));
    }

    #[test]
    fn a_handshake_message_after_the_handshake_is_a_violation() {
        let mut inbound = Inbound::default();
        let hello = message(wire::hello("x", 1024).unwrap());
        assert_eq!(
            inbound.on_message(&hello).unwrap_err(),
            Violation::HandshakeMessage("HELLO")
        );
    }

    #[test]
    fn the_bytes_of_numbered_names_are_bounded_too() {
        let mut inbound = Inbound::default();
        let long = "n".repeat(MAX_NAME_LEN + 1);
        let define = message(wire::define_name(0, &long, 1 << 20).unwrap());
        assert_eq!(
            inbound.on_message(&define).unwrap_err(),
            Violation::NameTooLong(MAX_NAME_LEN + 1)
        );
        // Names of the longest length, until their bytes reach the bound.
        let name = "n".repeat(MAX_NAME_LEN);
        let fit = MAX_NAME_BYTES_PER_CONNECTION / MAX_NAME_LEN;
        for id in 0..fit as u32 {
            let define = message(wire::define_name(id, &name, 1 << 20).unwrap());
            inbound.on_message(&define).unwrap();
        }
        // Redefining one with a name of the same size fits; one more name does not.
        let again = message(wire::define_name(0, &name, 1 << 20).unwrap());
        assert!(inbound.on_message(&again).is_ok());
        let one_more = message(wire::define_name(fit as u32, &name, 1 << 20).unwrap());
        assert_eq!(
            inbound.on_message(&one_more).unwrap_err(),
            Violation::TooManyNameBytes
        );
    }

    #[test]
    fn what_a_peer_publishes_is_bounded() {
        let mut inbound = Inbound::default();
        let frame = message(wire::schemas(&[], 1024).unwrap());
        let big = MAX_SCHEMA_BYTES_PER_CONNECTION / 4;
        for _ in 0..4 {
            assert!(inbound.on_frame(&frame, big).is_ok());
        }
        assert_eq!(
            inbound.on_frame(&frame, 1).unwrap_err(),
            Violation::TooManySchemas
        );
    }

    #[test]
    fn a_peer_may_number_only_so_many_names() {
        let mut inbound = Inbound::default();
        for id in 0..MAX_NAMES_PER_CONNECTION as u32 {
            let define = message(wire::define_name(id, "n", 1024).unwrap());
            inbound.on_message(&define).unwrap();
        }
        // Redefining a number is not a new name; a new number is one too many.
        let again = message(wire::define_name(0, "m", 1024).unwrap());
        assert!(inbound.on_message(&again).is_ok());
        let one_more = message(wire::define_name(u32::MAX, "n", 1024).unwrap());
        assert_eq!(
            inbound.on_message(&one_more).unwrap_err(),
            Violation::TooManyNames
        );
    }
}

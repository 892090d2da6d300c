//! The handshake rules, as plain functions: a message in, a decision out.
//!
//! A connection starts with HELLO from the connecting side, answered by WELCOME (with the
//! acceptor's subscriptions) or REJECT (with a reason), after which the acceptor closes.
//! The accepting side checks, in order: that the first frame is a HELLO, the magic, the
//! protocol version, and the tie-break below. Name rules (not one's own, not one already
//! connected) are the core's, checked when the connection is registered.
//!
//! **Simultaneous connections.** When two endpoints connect to each other at once, both
//! must keep the same one: the connection opened by the endpoint whose name sorts first.
//! The acceptor refuses a HELLO from an endpoint it is itself connecting to when its own
//! name sorts first; the refused side recognises the reason and waits for the other
//! connection instead of failing.

use crate::wire::{self, Hello, Message, Welcome, WireError};

/// The start of the REJECT reason for the losing side of a simultaneous connection.
pub(crate) const SIMULTANEOUS: &str = "simultaneous connection";

/// A refused HELLO: whom (`"?"` before the name is known) and why, for the REJECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub remote: String,
    pub reason: String,
}

/// Checks the first frame a connecting peer sent. `me` is this endpoint's name;
/// `connecting_to` says whether this endpoint is itself connecting to a name right now.
pub(crate) fn check_hello(
    first: Result<Message, WireError>,
    me: &str,
    connecting_to: impl FnOnce(&str) -> bool,
) -> Result<Hello, Refusal> {
    let refuse = |remote: &str, reason: String| Refusal {
        remote: remote.to_owned(),
        reason,
    };
    let hello = match first {
        Ok(Message::Hello(hello)) => hello,
        Ok(other) => return Err(refuse("?", format!("expected HELLO, got {}", other.kind()))),
        Err(error) => return Err(refuse("?", format!("bad HELLO: {error}"))),
    };
    if hello.magic != wire::MAGIC {
        return Err(refuse(
            &hello.name,
            "not an event-bus peer (bad magic)".into(),
        ));
    }
    if hello.protocol != wire::PROTOCOL_VERSION {
        let reason = format!(
            "protocol version {} is not supported (this endpoint speaks {})",
            hello.protocol,
            wire::PROTOCOL_VERSION
        );
        return Err(refuse(&hello.name, reason));
    }
    if me < hello.name.as_str() && connecting_to(&hello.name) {
        let reason = format!("{SIMULTANEOUS}: keeping the one `{me}` opened");
        return Err(refuse(&hello.name, reason));
    }
    Ok(hello)
}

/// How the accepting side answered our HELLO.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Accepted: the acceptor's name and subscriptions.
    Welcomed(Welcome),
    /// Refused because the acceptor's own connection to us wins the tie-break: that one
    /// is (or is about to be) registered, and is the connection we wanted.
    LostTieBreak(String),
}

/// Why the handshake failed on the connecting side.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AnswerError {
    /// The other side said no, or is not who we wanted.
    Rejected(String),
    /// The answer is not a handshake answer.
    Protocol(String),
}

/// Checks the answer to our HELLO from the endpoint we expected to be `expected`
/// (`where_` names its address for the error).
pub(crate) fn check_answer(
    answer: Result<Message, WireError>,
    expected: &str,
    where_: &str,
) -> Result<Answer, AnswerError> {
    match answer {
        Ok(Message::Welcome(welcome)) if welcome.name == expected => Ok(Answer::Welcomed(welcome)),
        Ok(Message::Welcome(welcome)) => Err(AnswerError::Rejected(format!(
            "expected `{expected}` at {where_}, but `{}` answered",
            welcome.name
        ))),
        Ok(Message::Reject(reason)) if reason.starts_with(SIMULTANEOUS) => {
            Ok(Answer::LostTieBreak(reason))
        }
        Ok(Message::Reject(reason)) => Err(AnswerError::Rejected(reason)),
        Ok(other) => Err(AnswerError::Protocol(format!(
            "expected WELCOME, got {}",
            other.kind()
        ))),
        Err(error) => Err(AnswerError::Protocol(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(name: &str) -> Hello {
        Hello {
            magic: wire::MAGIC,
            protocol: wire::PROTOCOL_VERSION,
            name: name.into(),
            max_frame_size: 1024,
        }
    }

    fn nobody(_: &str) -> bool {
        false
    }

    #[test]
    fn a_good_hello_is_accepted() {
        let checked = check_hello(Ok(Message::Hello(hello("b"))), "a", nobody);
        assert_eq!(checked, Ok(hello("b")));
    }

    #[test]
    fn a_bad_first_frame_is_refused_with_a_reason() {
        let cases = [
            (
                Ok(Message::Subscriptions(vec![])),
                "?",
                "expected HELLO, got SUBSCRIPTIONS",
            ),
            (
                Err(WireError::Malformed("x".into())),
                "?",
                "bad HELLO: malformed frame: x",
            ),
            (
                Ok(Message::Hello(Hello {
                    magic: *b"NOPE",
                    ..hello("b")
                })),
                "b",
                "bad magic",
            ),
            (
                Ok(Message::Hello(Hello {
                    protocol: 99,
                    ..hello("b")
                })),
                "b",
                "protocol version 99 is not supported",
            ),
        ];
        for (first, remote, reason) in cases {
            let refusal = check_hello(first, "a", nobody).unwrap_err();
            assert_eq!(refusal.remote, remote);
            assert!(refusal.reason.contains(reason), "{refusal:?}");
        }
    }

    #[test]
    fn of_two_simultaneous_connections_the_smaller_name_keeps_its_own() {
        // `a` is connecting to `b` and receives `b`'s HELLO: `a` sorts first, so `a`'s
        // own connection is the one kept and `b`'s is refused.
        let refusal =
            check_hello(Ok(Message::Hello(hello("b"))), "a", |name| name == "b").unwrap_err();
        assert!(refusal.reason.starts_with(SIMULTANEOUS));
        // `b`, connecting to `a`, accepts `a`'s HELLO.
        assert!(check_hello(Ok(Message::Hello(hello("a"))), "b", |name| name == "a").is_ok());
        // ...and `b` recognises its own refusal as a lost tie-break, not a failure.
        let answer = check_answer(Ok(Message::Reject(refusal.reason)), "a", "a.ipc");
        assert!(matches!(answer, Ok(Answer::LostTieBreak(_))));
    }

    #[test]
    fn the_answer_must_come_from_the_endpoint_expected() {
        let welcome = |name: &str| Welcome {
            name: name.into(),
            subscriptions: vec![("E".into(), crate::schema::Fingerprint(7))],
            max_frame_size: 1024,
        };
        assert_eq!(
            check_answer(Ok(Message::Welcome(welcome("b"))), "b", "b.ipc"),
            Ok(Answer::Welcomed(welcome("b")))
        );
        assert_eq!(
            check_answer(Ok(Message::Welcome(welcome("c"))), "b", "b.ipc"),
            Err(AnswerError::Rejected(
                "expected `b` at b.ipc, but `c` answered".into()
            ))
        );
        assert_eq!(
            check_answer(Ok(Message::Reject("name taken".into())), "b", "b.ipc"),
            Err(AnswerError::Rejected("name taken".into()))
        );
        assert!(matches!(
            check_answer(Ok(Message::RequestDropped(1)), "b", "b.ipc"),
            Err(AnswerError::Protocol(reason)) if reason.contains("REQUEST_DROPPED")
        ));
    }
}

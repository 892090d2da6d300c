//! The key layout of a bus on zenoh, and the escaping that makes any name a key chunk.
//!
//! Everything of bus `B` lives under `evb/B/`:
//!
//! | key | what |
//! |---|---|
//! | `evb/B/live/<endpoint>/<incarnation>/<max frame>` | liveliness token: the endpoint is on the bus, and the largest message it accepts |
//! | `evb/B/sub/<endpoint>/<incarnation>/<event>/<fingerprint>` | liveliness token: it subscribes to `event`, with that schema |
//! | `evb/B/to/<dst>/ev/<event>/<origin>` | an event from `origin` to `dst` (a put) |
//! | `evb/B/to/<dst>/rq/<event>/<origin>` | a request from `origin` to `dst` (a query) |
//! | `evb/B/to/<dst>/fl/<origin>` | a flush from a stopping `origin` (a query, answered once `dst` took all before it) |
//! | `evb/B/to/<dst>/hb/<origin>` | how many events of each name `origin` has sent `dst` (a put, when idle) |
//! | `evb/B/to/<dst>/cr/<origin>` | `origin` asks `dst` for more room (a query, answered once `dst` took all before it; see [`crate::credit`]) |
//! | `evb/B/schemas/<endpoint>` | queryable: the endpoint's published schemas |
//!
//! The origin is the last chunk of every key a sender writes, so that zenoh's access
//! control can allow an authenticated user to publish only as itself
//! (`evb/*/to/*/*/*/alice`); the destination is in the key so that a message reaches its
//! destination alone.
//!
//! Names (endpoints, events, the bus) may hold characters that zenoh keys reserve (`/`,
//! `*`, `$`, `?`, `#`) or that read badly in one: each name is escaped into one chunk,
//! keeping `[A-Za-z0-9._:<>,()-]` and writing every other byte as `%XX`.

use event_core::schema::Fingerprint;
use std::borrow::Cow;

/// Whether `byte` stands for itself in an escaped chunk.
fn is_plain(byte: u8) -> bool {
    PLAIN[usize::from(byte)]
}

/// [`is_plain`] for every byte: a table, since every chunk of every incoming message's
/// key is checked byte by byte.
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        plain[byte] = (byte as u8).is_ascii_alphanumeric()
            || matches!(
                byte as u8,
                b'.' | b'_' | b':' | b'<' | b'>' | b',' | b'(' | b')' | b'-'
            );
        byte += 1;
    }
    plain
};

/// `name` as one key chunk (never empty: an empty name is `%`).
pub(crate) fn escape(name: &str) -> String {
    if name.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for &byte in name.as_bytes() {
        if is_plain(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The name an [`escape`]d chunk stands for; `None` for a chunk `escape` never makes.
/// Borrowed when the chunk escapes nothing (the usual case, and the one on every
/// message's path).
pub(crate) fn unescape(chunk: &str) -> Option<Cow<'_, str>> {
    match chunk {
        "" => return None,
        "%" => return Some(Cow::Borrowed("")),
        _ => {}
    }
    let bytes = chunk.as_bytes();
    if bytes.iter().all(|&byte| is_plain(byte)) {
        return Some(Cow::Borrowed(chunk));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let hex = chunk.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            // Only the canonical form: one name, one key.
            if is_plain(value) || hex != format!("{value:02X}") {
                return None;
            }
            out.push(value);
            i += 3;
        } else if is_plain(byte) {
            out.push(byte);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// A liveliness token of the bus, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Endpoint `name` (this incarnation of it) is on the bus.
    Live {
        name: String,
        incarnation: u64,
        /// The largest message body it accepts (its `max_frame_size`).
        max_frame: u64,
    },
    /// That incarnation subscribes to `event` with this schema fingerprint.
    Sub {
        name: String,
        incarnation: u64,
        event: String,
        fingerprint: Fingerprint,
    },
}

/// The keys of one bus.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `evb/<bus>`.
    root: String,
}

impl Keys {
    pub(crate) fn new(bus: &str) -> Keys {
        Keys {
            root: format!("evb/{}", escape(bus)),
        }
    }

    /// Every liveliness token of the bus.
    pub(crate) fn all_tokens(&self) -> String {
        format!("{}/**", self.root)
    }

    pub(crate) fn live(&self, name: &str, incarnation: u64, max_frame: u64) -> String {
        format!(
            "{}/live/{}/{incarnation:016x}/{max_frame:016x}",
            self.root,
            escape(name)
        )
    }

    /// Every presence token of the bus, and every subscription token (as two key
    /// expressions with a fixed number of chunks: a liveliness query with `**` was seen to
    /// return only the querier's own tokens).
    pub(crate) fn every_token(&self) -> [String; 2] {
        [
            format!("{}/live/*/*/*", self.root),
            format!("{}/sub/*/*/*/*", self.root),
        ]
    }

    /// Every incarnation of `name`.
    pub(crate) fn live_any(&self, name: &str) -> String {
        format!("{}/live/{}/*/*", self.root, escape(name))
    }

    pub(crate) fn sub(
        &self,
        name: &str,
        incarnation: u64,
        event: &str,
        fingerprint: Fingerprint,
    ) -> String {
        format!(
            "{}/sub/{}/{incarnation:016x}/{}/{:016x}",
            self.root,
            escape(name),
            escape(event),
            fingerprint.0
        )
    }

    pub(crate) fn event_to(&self, dst: &str, event: &str, origin: &str) -> String {
        format!(
            "{}/to/{}/ev/{}/{}",
            self.root,
            escape(dst),
            escape(event),
            escape(origin)
        )
    }

    pub(crate) fn request_to(&self, dst: &str, event: &str, origin: &str) -> String {
        format!(
            "{}/to/{}/rq/{}/{}",
            self.root,
            escape(dst),
            escape(event),
            escape(origin)
        )
    }

    pub(crate) fn heartbeat_to(&self, dst: &str, origin: &str) -> String {
        format!("{}/to/{}/hb/{}", self.root, escape(dst), escape(origin))
    }

    pub(crate) fn flush_to(&self, dst: &str, origin: &str) -> String {
        format!("{}/to/{}/fl/{}", self.root, escape(dst), escape(origin))
    }

    pub(crate) fn credit_to(&self, dst: &str, origin: &str) -> String {
        format!("{}/to/{}/cr/{}", self.root, escape(dst), escape(origin))
    }

    /// What `me` subscribes to on zenoh: every event and request sent to it.
    pub(crate) fn inbox(&self, me: &str) -> String {
        format!("{}/to/{}/**", self.root, escape(me))
    }

    pub(crate) fn schemas(&self, name: &str) -> String {
        format!("{}/schemas/{}", self.root, escape(name))
    }

    /// A liveliness token key, parsed; `None` for anything else.
    pub(crate) fn parse_token(&self, key: &str) -> Option<Token> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix('/')?;
        let chunks: Vec<&str> = rest.split('/').collect();
        match chunks.as_slice() {
            ["live", name, incarnation, max_frame] => Some(Token::Live {
                name: unescape(name)?.into_owned(),
                incarnation: parse_hex(incarnation)?,
                // No endpoint accepts less than 64 bytes: anything smaller is forged.
                max_frame: parse_hex(max_frame).filter(|max| *max >= MIN_FRAME)?,
            }),
            ["sub", name, incarnation, event, fingerprint] => Some(Token::Sub {
                name: unescape(name)?.into_owned(),
                incarnation: parse_hex(incarnation)?,
                event: unescape(event)?.into_owned(),
                fingerprint: Fingerprint(parse_hex(fingerprint)?),
            }),
            _ => None,
        }
    }

    /// How the keys of `me`'s inbox are recognised (see [`InboxKeys`]).
    pub(crate) fn inbox_keys(&self, me: &str) -> InboxKeys {
        InboxKeys {
            prefix: format!("{}/to/{}/", self.root, escape(me)),
        }
    }
}

/// The keys under one endpoint's inbox, recognised by their prefix: every incoming
/// event's key is parsed, so the part that is the same for all of them (the bus, the
/// endpoint) is compared as one string, made once.
#[derive(Debug, Clone)]
pub(crate) struct InboxKeys {
    /// `evb/<bus>/to/<me>/`, escaped.
    prefix: String,
}

impl InboxKeys {
    /// A key under the inbox, parsed into what it is, the event (empty but for events
    /// and requests) and the origin; `None` for anything else. Allocates nothing unless a
    /// name is escaped.
    pub(crate) fn parse<'k>(&self, key: &'k str) -> Option<(Kind, Cow<'k, str>, Cow<'k, str>)> {
        // Names escape one way only, so comparing the escaped prefix is comparing the
        // names.
        let rest = key.strip_prefix(self.prefix.as_str())?;
        let (kind, rest) = (rest.get(..2)?, rest.get(2..)?.strip_prefix('/')?);
        let kind = Kind::from_chunk(kind)?;
        let (event, origin) = match kind {
            Kind::Event | Kind::Request => {
                let (event, origin) = rest.split_once('/')?;
                (unescape(event)?, origin)
            }
            _ => (Cow::Borrowed(""), rest),
        };
        // `unescape` refuses a `/`: the origin is the last chunk.
        Some((kind, event, unescape(origin)?))
    }
}

/// What a key of an inbox carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Event,
    Request,
    Heartbeat,
    Flush,
    Credit,
}

impl Kind {
    /// The kind a key's chunk after the destination names (`ev`, `rq`, ...).
    fn from_chunk(chunk: &str) -> Option<Kind> {
        Some(match chunk {
            "ev" => Kind::Event,
            "rq" => Kind::Request,
            "hb" => Kind::Heartbeat,
            "fl" => Kind::Flush,
            "cr" => Kind::Credit,
            _ => return None,
        })
    }
}

/// The smallest `max_frame_size` an endpoint can have (`EndpointOptions` clamps to it).
const MIN_FRAME: u64 = 64;

fn parse_hex(chunk: &str) -> Option<u64> {
    if chunk.len() != 16 {
        return None;
    }
    u64::from_str_radix(chunk, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // A pure function of short strings: many cases are cheap.
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn inbox_keys_parse_as_their_chunks_say((bus, me, key) in near_inbox_key()) {
            let keys = Keys::new(&bus);
            prop_assert_eq!(parse(&keys, &me, &key), parse_by_chunks(&keys, &me, &key), "{}", key);
        }
    }

    proptest! {
        #[test]
        fn escaping_round_trips_and_makes_one_valid_chunk(name in "\\PC{0,40}") {
            let chunk = escape(&name);
            prop_assert!(!chunk.is_empty());
            prop_assert!(!chunk.contains(['/', '*', '$', '?', '#']));
            let unescaped = unescape(&chunk);
            prop_assert_eq!(unescaped.as_deref(), Some(name.as_str()));
            let key = format!("evb/{chunk}/x");
            prop_assert!(zenoh::key_expr::KeyExpr::try_from(key.as_str()).is_ok(), "{}", key);
        }

        #[test]
        fn unescape_never_panics_and_accepts_only_canonical_chunks(chunk in "[%A-Za-z0-9/*$?# .]{0,12}") {
            if let Some(name) = unescape(&chunk) {
                prop_assert_eq!(escape(&name), chunk.clone());
            }
        }

        #[test]
        fn tokens_and_inbox_keys_parse_back(
            bus in "\\PC{1,12}", name in "\\PC{1,12}", event in "\\PC{1,20}", origin in "\\PC{1,12}",
            incarnation: u64, fingerprint: u64, max_frame in MIN_FRAME..,
        ) {
            let keys = Keys::new(&bus);
            prop_assert_eq!(
                keys.parse_token(&keys.live(&name, incarnation, max_frame)),
                Some(Token::Live { name: name.clone(), incarnation, max_frame })
            );
            prop_assert_eq!(
                keys.parse_token(&keys.sub(&name, incarnation, &event, Fingerprint(fingerprint))),
                Some(Token::Sub {
                    name: name.clone(),
                    incarnation,
                    event: event.clone(),
                    fingerprint: Fingerprint(fingerprint),
                })
            );
            prop_assert_eq!(
                parse(&keys, &name, &keys.event_to(&name, &event, &origin)),
                Some((Kind::Event, event.clone(), origin.clone()))
            );
            prop_assert_eq!(
                parse(&keys, &name, &keys.request_to(&name, &event, &origin)),
                Some((Kind::Request, event.clone(), origin.clone()))
            );
            prop_assert_eq!(
                parse(&keys, &name, &keys.heartbeat_to(&name, &origin)),
                Some((Kind::Heartbeat, String::new(), origin.clone()))
            );
            prop_assert_eq!(
                parse(&keys, &name, &keys.flush_to(&name, &origin)),
                Some((Kind::Flush, String::new(), origin.clone()))
            );
            prop_assert_eq!(
                parse(&keys, &name, &keys.credit_to(&name, &origin)),
                Some((Kind::Credit, String::new(), origin.clone()))
            );
        }
    }

    /// [`InboxKeys::parse`], owning what it parsed.
    fn parse(keys: &Keys, me: &str, key: &str) -> Option<(Kind, String, String)> {
        let (kind, event, origin) = keys.inbox_keys(me).parse(key)?;
        Some((kind, event.into_owned(), origin.into_owned()))
    }

    /// What [`InboxKeys::parse`] must say, written the slow and obvious way: the key
    /// split into chunks, each unescaped, the endpoint's compared as a name. (The kind's
    /// chunk is read as the parser reads it: `tokens_and_inbox_keys_parse_back` checks
    /// that each kind's key parses back to that kind.)
    fn parse_by_chunks(keys: &Keys, me: &str, key: &str) -> Option<(Kind, String, String)> {
        let mut chunks = key
            .strip_prefix(&keys.root)?
            .strip_prefix("/to/")?
            .split('/');
        if unescape(chunks.next()?)? != me {
            return None;
        }
        let kind = Kind::from_chunk(chunks.next()?)?;
        let event = match kind {
            Kind::Event | Kind::Request => unescape(chunks.next()?)?.into_owned(),
            _ => String::new(),
        };
        let origin = unescape(chunks.next()?)?.into_owned();
        if chunks.next().is_some() {
            return None;
        }
        Some((kind, event, origin))
    }

    /// Names as endpoints, events and buses have them: plain, empty, and ones that
    /// escape (a reserved character, a space, a `%`, a multi-byte character).
    const NAMES: &[&str] = &["me", "", "E", "a/b", "o", "x y", "a%b", "é", "m%65"];

    /// A bus, an endpoint `me` on it, and a key near `me`'s inbox: a well-formed one
    /// (mostly to `me`, so that an edit is what makes it wrong) with a few characters
    /// inserted, removed or replaced.
    fn near_inbox_key() -> impl Strategy<Value = (String, String, String)> {
        let name = || prop::sample::select(NAMES);
        let bus = prop::sample::select(&["b", "a/b", "é"][..]);
        let other = prop_oneof![4 => Just(None), 1 => name().prop_map(Some)];
        let key = (bus, name(), other, 0..5usize, name(), name()).prop_map(
            |(bus, me, other, kind, event, origin)| {
                let keys = Keys::new(bus);
                let dst = other.unwrap_or(me);
                let key = match kind {
                    0 => keys.event_to(dst, event, origin),
                    1 => keys.request_to(dst, event, origin),
                    2 => keys.heartbeat_to(dst, origin),
                    3 => keys.flush_to(dst, origin),
                    _ => keys.credit_to(dst, origin),
                };
                (bus.to_owned(), me.to_owned(), key)
            },
        );
        let edit = (
            0..3u8,
            any::<prop::sample::Index>(),
            prop::sample::select(&['/', '%', '*', '.', 'e', 'E', '0', 'x', '2', 'F', 'é'][..]),
        );
        (key, proptest::collection::vec(edit, 0..4)).prop_map(|((bus, me, key), edits)| {
            let mut key: Vec<char> = key.chars().collect();
            for (how, at, char) in edits {
                match how {
                    0 => key.insert(at.index(key.len() + 1), char),
                    1 if !key.is_empty() => {
                        key.remove(at.index(key.len()));
                    }
                    _ if !key.is_empty() => {
                        let at = at.index(key.len());
                        key[at] = char;
                    }
                    _ => {}
                }
            }
            (bus, me, key.into_iter().collect())
        })
    }

    #[test]
    fn forged_or_foreign_keys_are_refused() {
        let keys = Keys::new("b");
        for key in [
            "evb/b/to/me/ev/E",
            "evb/b/to/me/ev/E/o/extra",
            "evb/b/to/me/xx/E/o",
            "evb/b/to/other/ev/E/o",
            "evb/c/to/me/ev/E/o",
            "evb/b/to/me/ev/E%2/o",
            "evb/b/to/me/ev/%41/o",
            // `me` escaped in a form `escape` never makes.
            "evb/b/to/m%65/ev/E/o",
            "evb/b/to//ev/E/o",
            "evb/b/to/me",
            "evb/b/to/me/",
            "evb/b/to/me/ev/E/o/",
            "evb/b/to/me/rq/E/o/x",
            "evb/b/to/me/hb/",
            "evb/b/to/me/hb/o/",
            "evb/b/to/me/hb/o/x",
            "evb/b/to/me/fl/o/x",
            "evb/b/to/me/cr/o/x",
        ] {
            assert_eq!(keys.inbox_keys("me").parse(key), None, "{key}");
        }
        for key in [
            "evb/b/live/me",
            "evb/b/live/me/12",
            "evb/b/live/me/0000000000000001",
            "evb/b/live/me/0000000000000001/0000000000000001",
            "evb/b/sub/me/0000000000000001/E",
            "evb/b/other/me/0000000000000001",
        ] {
            assert_eq!(keys.parse_token(key), None, "{key}");
        }
    }

    #[test]
    fn a_plain_key_parses_without_copies() {
        let keys = Keys::new("b");
        let key = keys.event_to("me", "trinity.PeerJoinedEvent", "networking");
        let Some((Kind::Event, Cow::Borrowed(event), Cow::Borrowed(origin))) =
            keys.inbox_keys("me").parse(&key)
        else {
            panic!("{key} parsed into copies, or not at all");
        };
        assert_eq!((event, origin), ("trinity.PeerJoinedEvent", "networking"));
        assert!(matches!(unescape("a%2Fb"), Some(Cow::Owned(name)) if name == "a/b"));
    }

    #[test]
    fn the_layout_reads_as_documented() {
        let keys = Keys::new("trinity");
        assert_eq!(
            keys.event_to("proxy", "trinity.PeerJoinedEvent", "networking"),
            "evb/trinity/to/proxy/ev/trinity.PeerJoinedEvent/networking"
        );
        assert_eq!(Keys::new("a/b").root, "evb/a%2Fb");
    }
}

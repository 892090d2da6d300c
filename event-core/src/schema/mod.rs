//! Schemas: an event type's structure as serde sees it, and a fingerprint of it.
//!
//! The wire codec is not self-describing, so two programs built at different times that
//! disagree about an event's shape would misdecode each other without a word. Every event
//! type therefore has a schema (containers, field and variant names, types, recursively,
//! traced through its `Deserialize`, as [`Shape`]s and [`Container`]s) and a
//! [`Fingerprint`] of it.
//! Endpoints tell each other the fingerprints of what they subscribe to, and publish the
//! schemas of every event type they know; a sender never sends an event to a subscriber
//! whose fingerprint differs (see [`crate::Error::IncompatibleSchema`]).
//!
//! * Any change serde can see changes the fingerprint: a field added, removed, renamed,
//!   reordered or retyped, a variant added, a container renamed. So does
//!   [`Event::VERSION`] (`#[event(version = N)]`).
//! * A type that cannot be traced has a fingerprint made of its version alone: bump
//!   `#[event(version = N)]` by hand whenever its shape changes. [`EventSchema::format`]
//!   is `None` for it. That is a type whose `Deserialize` rejects every placeholder value
//!   tracing offers (a parsed string, a key checked against a curve), needs a
//!   self-describing format (`#[serde(flatten)]`, untagged enums, `deserialize_any`),
//!   contains itself, or holds two different containers of one name.
//! * A schema is computed once per type in a process and cached: for every registered type
//!   when the first endpoint is made, for others when first used; sending and receiving
//!   never compute one.
//! * A request's fingerprint covers its response's (for registered requests: a generic
//!   request's does not), so two builds that disagree about the answer never exchange the
//!   request.
//! * Tracing follows one path through a hand-written `Deserialize` that branches on the
//!   values it reads (a tag byte, then one of several layouts): the other branches are not
//!   seen. Give such a type a version, and bump it.

mod trace;

use crate::event::Event;
use crate::sync;
use serde::{Deserialize, Serialize};
use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

pub use trace::{Container, Field, Shape, Variant, VariantContent, MAX_SHAPE_DEPTH};

/// A fingerprint of an event type's schema: equal fingerprints, same traced shape (see the
/// module docs for what tracing cannot see).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint(pub u64);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The traced structure of an event type: its own shape and every container it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaFormat {
    /// The event type's shape (usually the name of its container in `containers`).
    pub root: Shape,
    /// Every container (struct, enum) reachable from it, by name.
    pub containers: BTreeMap<String, Container>,
}

/// The schema of one event type, as an endpoint publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSchema {
    name: String,
    version: u32,
    fingerprint: Fingerprint,
    format: Option<SchemaFormat>,
    /// For a request: its response's name and fingerprint, part of this fingerprint, so
    /// that two builds that disagree about the answer never exchange the request.
    response: Option<(String, Fingerprint)>,
}

impl EventSchema {
    /// The schema of `E`, traced now (see [`schema_of`] for the cached one).
    fn trace<E: Event>() -> EventSchema {
        // A `Deserialize` is user code: one that panics on a placeholder must not take the
        // caller (`Endpoint::new` traces every registered type) down with it.
        let traced = std::panic::catch_unwind(trace::trace::<E>);
        let format = match traced {
            Ok(Ok((root, containers))) => Some(SchemaFormat { root, containers }),
            Ok(Err(error)) => {
                warn_untraced(E::NAME, &error.to_string());
                None
            }
            Err(_panic) => {
                warn_untraced(E::NAME, "its Deserialize panicked on a placeholder");
                None
            }
        };
        let response = response_of::<E>();
        EventSchema {
            name: E::NAME.to_owned(),
            version: E::VERSION,
            fingerprint: fingerprint(E::VERSION, format.as_ref(), response.as_ref()),
            format,
            response,
        }
    }

    /// The stand-in an observation marker is announced with: a name and a fingerprint,
    /// nothing to decode.
    pub(crate) fn marker(name: &str, fingerprint: Fingerprint) -> EventSchema {
        EventSchema {
            name: name.to_owned(),
            version: 0,
            fingerprint,
            format: None,
            response: None,
        }
    }

    /// For a request, its response's `NAME` and fingerprint.
    pub fn response(&self) -> Option<(&str, Fingerprint)> {
        self.response
            .as_ref()
            .map(|(name, fingerprint)| (name.as_str(), *fingerprint))
    }

    /// The event's `NAME`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its [`Event::VERSION`].
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The fingerprint of the version and the traced structure.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Whether the structure was traced (see the module docs for types that cannot be).
    pub fn is_traced(&self) -> bool {
        self.format.is_some()
    }

    /// The traced structure, to decode an encoded event without its Rust type; `None`
    /// for a type that could not be traced.
    pub fn format(&self) -> Option<&SchemaFormat> {
        self.format.as_ref()
    }

    /// Whether the fingerprint is the one its version and structure make: a published
    /// schema that fails this was altered or corrupted on the way.
    pub fn is_consistent(&self) -> bool {
        fingerprint(self.version, self.format.as_ref(), self.response.as_ref()) == self.fingerprint
    }
}

/// Said once per type (schemas are computed once): such a type is protected by its
/// version alone.
fn warn_untraced(event: &str, why: &str) {
    tracing::warn!(
        event,
        why,
        "cannot trace this event's schema: processes built with other definitions of it are told apart only by #[event(version = N)]; bump it with every change of shape"
    );
}

thread_local! {
    /// Requests whose schemas are being computed on this thread: a request answered by a
    /// request answered by the first is not followed round forever.
    static COMPUTING: std::cell::RefCell<Vec<TypeId>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The schema of `E`, computed the first time it is asked for in this process.
pub fn schema_of<E: Event>() -> Arc<EventSchema> {
    static SCHEMAS: OnceLock<RwLock<HashMap<TypeId, Arc<EventSchema>>>> = OnceLock::new();
    // A request's schema covers its response's, traced with the round cut at each request
    // on the way (see `response_of`). Inside another request's response it is cut at
    // another place, so there it is neither taken from the cache nor put in it: the
    // cached schema is the one traced from the top, the same in every process whatever
    // order it asks in.
    let nested = COMPUTING.with(|computing| !computing.borrow().is_empty());
    if nested && response_entry::<E>().is_some() {
        return Arc::new(EventSchema::trace::<E>());
    }
    let schemas = SCHEMAS.get_or_init(RwLock::default);
    if let Some(schema) = sync::read(schemas).get(&TypeId::of::<E>()) {
        return schema.clone();
    }
    // Traced outside the lock: tracing runs the type's `Deserialize`.
    let schema = Arc::new(EventSchema::trace::<E>());
    sync::write(schemas)
        .entry(TypeId::of::<E>())
        .or_insert(schema)
        .clone()
}

/// FNV-1a, 64 bits: a stable hash (the same in every build and version of this crate),
/// which is all a fingerprint needs; it is not a defence against forgery.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The postcard of the version, the (BTreeMap-ordered) structure and, for a request, its
/// response's fingerprint: the same bytes for the same schema in every build.
fn fingerprint(
    version: u32,
    format: Option<&SchemaFormat>,
    response: Option<&(String, Fingerprint)>,
) -> Fingerprint {
    let canonical = postcard::to_stdvec(&("event-core schema 1", version, format, response))
        .unwrap_or_default();
    Fingerprint(fnv1a(&canonical))
}

/// Which response a derived, non-generic request type has: registered at link time by
/// `#[derive(Event)]` with `#[request(response = T)]`. (Not in `registry`, which this
/// module's types appear in: the registry names schemas, schemas name no registry.)
#[doc(hidden)]
pub struct ResponseOf {
    request: fn() -> TypeId,
    response: fn() -> Arc<EventSchema>,
}

impl ResponseOf {
    #[doc(hidden)]
    pub const fn __new(request: fn() -> TypeId, response: fn() -> Arc<EventSchema>) -> Self {
        ResponseOf { request, response }
    }
}

inventory::collect!(ResponseOf);

/// The response of `E`, if `E` is a registered request (a generic request is not
/// registered, and its fingerprint does not cover its response).
fn response_of<E: Event>() -> Option<(String, Fingerprint)> {
    let me = TypeId::of::<E>();
    let response = response_entry::<E>()?.response;
    let looping = COMPUTING.with(|computing| {
        let mut computing = computing.borrow_mut();
        if computing.contains(&me) {
            return true;
        }
        computing.push(me);
        false
    });
    if looping {
        return None;
    }
    let schema = response();
    COMPUTING.with(|computing| computing.borrow_mut().retain(|id| *id != me));
    Some((schema.name().to_owned(), schema.fingerprint()))
}

/// The registration of `E`'s response, if `E` is a registered request.
fn response_entry<E: Event>() -> Option<&'static ResponseOf> {
    let me = TypeId::of::<E>();
    inventory::iter::<ResponseOf>
        .into_iter()
        .find(|entry| (entry.request)() == me)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Declares a `Tick` with the given body in a module of its own (each its own NAME:
    /// the fingerprint does not depend on the name).
    macro_rules! shape {
        ($module:ident, $($body:tt)*) => {
            mod $module {
                #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
                #[event(crate = "crate")]
                pub $($body)*
            }
        };
    }

    shape!(
        original,
        struct Tick {
            pub n: u64,
            pub label: String,
        }
    );
    shape!(
        same,
        struct Tick {
            pub n: u64,
            pub label: String,
        }
    );
    shape!(
        field_added,
        struct Tick {
            pub n: u64,
            pub label: String,
            pub extra: bool,
        }
    );
    shape!(
        reordered,
        struct Tick {
            pub label: String,
            pub n: u64,
        }
    );
    shape!(
        retyped,
        struct Tick {
            pub n: u32,
            pub label: String,
        }
    );
    shape!(
        renamed_field,
        struct Tick {
            pub count: u64,
            pub label: String,
        }
    );

    #[derive(Debug, Clone, Serialize, Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "schema.Change")]
    enum Change {
        Joined(Peer),
        Left { reason: Reason },
        Quiet,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Peer {
        id: u64,
        side: Side,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    enum Side {
        Inbound,
        Outbound,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    enum Reason {
        Timeout,
        Useless(u8),
        Other { text: String },
    }

    mod versioned {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.versioned", version = 2)]
        pub struct Tick {
            pub n: u64,
            pub label: String,
        }
    }

    /// A type whose `Deserialize` refuses every placeholder tracing feeds it.
    #[derive(Debug, Clone, Serialize, event_derive::Event)]
    #[event(crate = "crate", name = "schema.Key", version = 3)]
    struct Key(u64);

    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            text.parse().map(Key).map_err(serde::de::Error::custom)
        }
    }

    /// Types that validate, but accept one of the placeholders offered: a non-zero id,
    /// a 64-byte key (as Trinity's public keys).
    #[derive(Debug, Clone, Serialize, Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "schema.Validated")]
    struct Validated {
        id: NonZero,
        key: Key64,
    }

    #[derive(Debug, Clone, Serialize)]
    struct NonZero(u64);

    impl<'de> Deserialize<'de> for NonZero {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match u64::deserialize(deserializer)? {
                0 => Err(serde::de::Error::custom("never 0")),
                id => Ok(NonZero(id)),
            }
        }
    }

    #[derive(Debug, Clone, Serialize)]
    struct Key64(Vec<u8>);

    impl<'de> Deserialize<'de> for Key64 {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Bytes;
            impl serde::de::Visitor<'_> for Bytes {
                type Value = Key64;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("64 bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Key64, E> {
                    if v.len() == 64 {
                        Ok(Key64(v.to_vec()))
                    } else {
                        Err(E::invalid_length(v.len(), &self))
                    }
                }
            }
            deserializer.deserialize_bytes(Bytes)
        }
    }

    #[derive(Debug, Clone, Serialize, Deserialize, event_derive::Event)]
    #[event(crate = "crate", name = "schema.Tree")]
    struct Tree {
        children: Vec<Tree>,
    }

    #[test]
    fn the_same_shape_has_the_same_fingerprint_and_any_change_another() {
        let original = schema_of::<original::Tick>().fingerprint;
        assert_eq!(schema_of::<same::Tick>().fingerprint, original);
        for (change, fingerprint) in [
            ("field added", schema_of::<field_added::Tick>().fingerprint),
            ("reordered", schema_of::<reordered::Tick>().fingerprint),
            ("retyped", schema_of::<retyped::Tick>().fingerprint),
            (
                "field renamed",
                schema_of::<renamed_field::Tick>().fingerprint,
            ),
            ("version", schema_of::<versioned::Tick>().fingerprint),
        ] {
            assert_ne!(fingerprint, original, "{change}");
        }
    }

    #[test]
    fn nested_enums_are_traced_to_their_last_variant() {
        let schema = schema_of::<Change>();
        let format = schema.format().expect("traceable");
        let variants = |name: &str| match &format.containers[name] {
            Container::Enum(variants) => {
                variants.iter().map(|v| v.name.clone()).collect::<Vec<_>>()
            }
            other => panic!("{name} is {other:?}"),
        };
        assert_eq!(variants("Change"), ["Joined", "Left", "Quiet"]);
        assert_eq!(variants("Side"), ["Inbound", "Outbound"]);
        assert_eq!(variants("Reason"), ["Timeout", "Useless", "Other"]);
        assert_eq!(
            format.containers["Peer"],
            Container::Struct(vec![
                Field {
                    name: "id".into(),
                    shape: Shape::U64
                },
                Field {
                    name: "side".into(),
                    shape: Shape::Named("Side".into())
                },
            ])
        );
        assert_eq!(format.root, Shape::Named("Change".into()));
    }

    #[test]
    fn an_untraceable_type_is_fingerprinted_by_its_version() {
        let schema = schema_of::<Key>();
        assert!(!schema.is_traced() && schema.format().is_none());
        assert_eq!(schema.fingerprint, fingerprint(3, None, None));
        assert_ne!(schema.fingerprint, fingerprint(4, None, None));
    }

    #[test]
    fn a_validating_type_is_traced_through_a_placeholder_it_accepts() {
        let schema = schema_of::<Validated>();
        let format = schema.format().expect("traced");
        assert_eq!(
            format.containers["Validated"],
            Container::Struct(vec![
                Field {
                    name: "id".into(),
                    shape: Shape::U64
                },
                Field {
                    name: "key".into(),
                    shape: Shape::Bytes
                },
            ])
        );
    }

    #[test]
    fn a_recursive_type_falls_back_to_its_version() {
        assert!(!schema_of::<Tree>().is_traced());
    }

    #[test]
    fn a_published_schema_checks_its_own_fingerprint() {
        let schema = schema_of::<Change>();
        assert!(schema.is_consistent());
        let wire = postcard::to_stdvec(&*schema).unwrap();
        let mut received: EventSchema = postcard::from_bytes(&wire).unwrap();
        assert_eq!(&received, &*schema);
        received.version += 1;
        assert!(!received.is_consistent());
    }

    mod twice_v1 {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
        pub struct User {
            pub id: u64,
        }
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate")]
        pub struct Twice {
            pub a: Result<u8, String>,
            pub b: Result<User, String>,
        }
    }

    mod twice_v2 {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
        pub struct User {
            pub id: u64,
            pub name: String,
        }
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate")]
        pub struct Twice {
            pub a: Result<u8, String>,
            pub b: Result<User, String>,
        }
    }

    mod kinds {
        pub mod x {
            #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
            pub enum Kind {
                A,
            }
        }
        pub mod y {
            #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
            pub enum Kind {
                X(u64),
            }
        }
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate")]
        pub struct Both {
            pub x: x::Kind,
            pub y: y::Kind,
        }
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate")]
        pub struct XOnly {
            pub x: x::Kind,
            pub y: x::Kind,
        }
    }

    #[test]
    fn containers_of_one_serde_name_are_told_apart_by_their_rust_type() {
        // `Result` twice with different contents: the second one's `Ok` is traced too.
        assert_ne!(
            schema_of::<twice_v1::Twice>().fingerprint(),
            schema_of::<twice_v2::Twice>().fingerprint()
        );
        let twice = schema_of::<twice_v2::Twice>();
        let containers = &twice.format().unwrap().containers;
        assert!(containers.contains_key("Result") && containers.contains_key("Result#2"));
        // Two `Kind` enums of different modules are two containers, not one merged.
        let both = schema_of::<kinds::Both>();
        let containers = &both.format().unwrap().containers;
        assert_eq!(
            containers["Kind#2"],
            Container::Enum(vec![Variant {
                name: "X".into(),
                content: VariantContent::Newtype(Shape::U64)
            }])
        );
        assert_ne!(
            both.fingerprint(),
            schema_of::<kinds::XOnly>().fingerprint()
        );
    }

    mod answer_v1 {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.answer_v1.Answer")]
        pub struct Answer {
            pub a: u64,
            pub b: u64,
        }
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.answer_v1.Ask")]
        #[request(response = Answer)]
        pub struct Ask;
    }

    mod answer_v2 {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.answer_v2.Answer")]
        pub struct Answer {
            pub b: u64,
            pub a: u64,
        }
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.answer_v2.Ask")]
        #[request(response = Answer)]
        pub struct Ask;
    }

    mod ping_pong {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.ping_pong.Ping")]
        #[request(response = Pong)]
        pub struct Ping;
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.ping_pong.Pong")]
        #[request(response = Ping)]
        pub struct Pong;
    }

    mod ping_pong_again {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.ping_pong_again.Ping")]
        #[request(response = Pong)]
        pub struct Ping;
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, event_derive::Event)]
        #[event(crate = "crate", name = "schema.ping_pong_again.Pong")]
        #[request(response = Ping)]
        pub struct Pong;
    }

    /// Two requests that answer each other: each one's schema is the same whichever a
    /// process asks for first (it was the one traced inside the other's, cut short).
    #[test]
    fn requests_that_answer_each_other_have_one_schema_whatever_the_order() {
        use ping_pong_again::{Ping, Pong};
        // Only this test asks for these two: Pong first.
        let pong = schema_of::<Pong>();
        let ping = schema_of::<Ping>();
        assert_eq!(
            ping.fingerprint(),
            EventSchema::trace::<Ping>().fingerprint()
        );
        assert_eq!(
            pong.fingerprint(),
            EventSchema::trace::<Pong>().fingerprint()
        );
        assert!(ping.response().is_some() && pong.response().is_some());
    }

    #[test]
    fn a_request_fingerprint_covers_its_response() {
        // The requests are identical; only the answers' fields are in another order.
        let (v1, v2) = (schema_of::<answer_v1::Ask>(), schema_of::<answer_v2::Ask>());
        assert_eq!(v1.format(), v2.format());
        assert_ne!(v1.fingerprint(), v2.fingerprint());
        assert_eq!(v1.response().unwrap().0, "schema.answer_v1.Answer");
        assert!(v1.is_consistent());
        // A request answered by a request answered by the first ends.
        assert!(schema_of::<ping_pong::Ping>().response().is_some());
    }

    #[test]
    fn a_received_shape_may_not_nest_without_bound() {
        let mut deep = Shape::Unit;
        for _ in 0..MAX_SHAPE_DEPTH + 1 {
            deep = Shape::Option(Box::new(deep));
        }
        let bytes = postcard::to_stdvec(&deep).unwrap();
        assert!(postcard::from_bytes::<Shape>(&bytes).is_err());
        // A hostile frame far deeper than that is refused, not a stack overflow.
        let mut hostile = vec![17u8; 1_000_000];
        hostile.push(0);
        assert!(postcard::from_bytes::<Shape>(&hostile).is_err());
        let mut fine = Shape::Unit;
        for _ in 0..MAX_SHAPE_DEPTH - 1 {
            fine = Shape::Option(Box::new(fine));
        }
        let bytes = postcard::to_stdvec(&fine).unwrap();
        assert_eq!(postcard::from_bytes::<Shape>(&bytes).unwrap(), fine);
    }

    /// A type whose `Deserialize` panics on any input.
    #[derive(Debug, Clone, Serialize, event_derive::Event)]
    #[event(crate = "crate", name = "schema.Explodes", version = 5)]
    struct Explodes;

    impl<'de> Deserialize<'de> for Explodes {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            panic!("explodes on any input")
        }
    }

    #[test]
    fn a_panicking_deserialize_is_untraced_not_fatal() {
        let schema = schema_of::<Explodes>();
        assert!(!schema.is_traced());
        assert_eq!(schema.fingerprint(), fingerprint(5, None, None));
    }

    #[test]
    fn a_schema_is_computed_once_per_type() {
        assert!(Arc::ptr_eq(&schema_of::<Change>(), &schema_of::<Change>()));
    }

    /// The fingerprint of `original::Tick` (`{ n: u64, label: String }`), as every build
    /// computes it.
    const PINNED: u64 = 0xf098_d3af_6cfd_daca;

    #[test]
    fn fingerprints_do_not_change_between_builds() {
        // Pinned: a change here means processes built before and after the change can
        // no longer talk (bump the schema format marker on purpose if so).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            schema_of::<original::Tick>().fingerprint(),
            Fingerprint(PINNED)
        );
        assert_eq!(
            schema_of::<original::Tick>().fingerprint,
            schema_of::<same::Tick>().fingerprint
        );
    }
}

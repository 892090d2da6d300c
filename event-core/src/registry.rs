//! The process-wide registry of event types.
//!
//! `#[derive(Event)]` registers every non-generic event type at link time (with the
//! `inventory` crate), so the registry lists the types of every crate linked into the
//! program, before `main` runs and without any call to register them.
//!
//! ```
//! use event_core::Event;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, Event)]
//! #[event(name = "doc.Pong")]
//! struct Pong;
//!
//! #[derive(Debug, Serialize, Deserialize, Event)]
//! #[event(name = "doc.Ping")]
//! #[request(response = Pong)]
//! struct Ping;
//!
//! let ping = event_core::registry::find("doc.Ping").unwrap();
//! assert_eq!(ping.response_name(), Some("doc.Pong"));
//! assert!(ping.type_name().ends_with("Ping"));
//! ```
//!
//! A generic event type is not listed: it has no single type to register, only the
//! instantiations a program happens to use. Its `NAME` embeds the `NAME`s of its type
//! parameters, so two instantiations never share a name.

use crate::error::Error;
use crate::schema::EventSchema;
use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::OnceLock;

/// One registered event type.
pub struct EventInfo {
    name: &'static str,
    type_name: fn() -> &'static str,
    type_id: fn() -> TypeId,
    response_name: Option<&'static str>,
    schema: fn() -> Arc<EventSchema>,
    /// Whether the name was given with `#[event(name = "...")]` (else it is the path).
    pinned: bool,
}

inventory::collect!(EventInfo);

impl EventInfo {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        type_name: fn() -> &'static str,
        type_id: fn() -> TypeId,
        response_name: Option<&'static str>,
        schema: fn() -> Arc<EventSchema>,
        pinned: bool,
    ) -> EventInfo {
        EventInfo {
            name,
            type_name,
            type_id,
            response_name,
            schema,
            pinned,
        }
    }

    /// The type's schema and its fingerprint (computed on first use, then cached).
    pub fn schema(&self) -> Arc<EventSchema> {
        (self.schema)()
    }

    /// The event's `NAME`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The Rust type's path, as `std::any::type_name` gives it.
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }

    /// The `TypeId` of the Rust type.
    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
    }

    /// For a request, the `NAME` of its response type.
    pub fn response_name(&self) -> Option<&'static str> {
        self.response_name
    }

    /// Whether the type is a request.
    pub fn is_request(&self) -> bool {
        self.response_name.is_some()
    }
}

impl fmt::Debug for EventInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("EventInfo");
        debug
            .field("name", &self.name)
            .field("type_name", &self.type_name());
        if let Some(response) = self.response_name {
            debug.field("response_name", &response);
        }
        debug.finish()
    }
}

/// Every registered event type, in no particular order.
pub fn all() -> impl Iterator<Item = &'static EventInfo> {
    inventory::iter::<EventInfo>.into_iter()
}

/// The registered event type with this `NAME`, if exactly one type has it.
pub fn find(name: &str) -> Option<&'static EventInfo> {
    let mut found = all().filter(|info| info.name == name);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Checks that no two different types share a `NAME`; the result is computed once.
///
/// [`Endpoint::new`](crate::Endpoint::new) and [`Endpoint::serve`](crate::Endpoint::serve)
/// call it and fail with [`Error::DuplicateEventName`] on a clash.
pub fn check_unique_names() -> Result<(), Error> {
    type Clash = (&'static str, &'static str, &'static str, String);
    static RESULT: OnceLock<Option<Clash>> = OnceLock::new();
    let clash = RESULT.get_or_init(|| {
        let mut seen: HashMap<&'static str, &'static EventInfo> = HashMap::new();
        for info in all() {
            if let Some(previous) = seen.insert(info.name, info) {
                // The same type can be listed twice when a crate is linked twice; that is
                // not a clash.
                if previous.type_id() != info.type_id() {
                    let (first, second) = if previous.type_name() <= info.type_name() {
                        (previous, info)
                    } else {
                        (info, previous)
                    };
                    let advice = advice(first, second);
                    return Some((info.name, first.type_name(), second.type_name(), advice));
                }
            }
        }
        None
    });
    match clash {
        None => Ok(()),
        Some((name, first, second, advice)) => Err(Error::DuplicateEventName {
            name,
            first_type: first,
            second_type: second,
            advice: advice.clone(),
        }),
    }
}

/// What to change when `first` and `second` share a name: what they declared decides.
fn advice(first: &EventInfo, second: &EventInfo) -> String {
    if first.type_name() == second.type_name() {
        return "the same type from two copies of its crate (two versions linked into one program?): make the program use one (`cargo tree -d` shows the duplicate)".to_owned();
    }
    match (first.pinned, second.pinned) {
        (true, true) => format!(
            "both declare `#[event(name = \"{}\")]`: change the name of one of them",
            first.name
        ),
        (true, false) => format!(
            "give `{}` a name of its own with `#[event(name = \"...\")]`",
            second.type_name()
        ),
        (false, true) => format!(
            "give `{}` a name of its own with `#[event(name = \"...\")]`",
            first.type_name()
        ),
        (false, false) => "both are named by their path (two copies of one crate?): give one of them `#[event(name = \"...\")]`".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(type_name: fn() -> &'static str, pinned: bool) -> EventInfo {
        EventInfo::__new(
            "app.Joined",
            type_name,
            TypeId::of::<()>,
            None,
            crate::__private::schema_of::<crate::observe::Copy>,
            pinned,
        )
    }

    #[test]
    fn the_advice_names_what_to_change() {
        let (a, b) = (|| "a::Joined", || "b::Joined");
        assert!(advice(&info(a, true), &info(b, true)).starts_with("both declare"));
        assert_eq!(
            advice(&info(a, true), &info(b, false)),
            "give `b::Joined` a name of its own with `#[event(name = \"...\")]`"
        );
        assert_eq!(
            advice(&info(a, false), &info(b, true)),
            "give `a::Joined` a name of its own with `#[event(name = \"...\")]`"
        );
        assert!(advice(&info(a, false), &info(b, false)).contains("by their path"));
        assert!(advice(&info(a, true), &info(a, true)).contains("two copies of its crate"));
    }
}

//! The numbers this endpoint gives the event names it sends
//! ([`Outgoing::name_id`](crate::backend::Outgoing::name_id)): one per name, the same for
//! every remote, for the endpoint's lifetime, so that a backend can send a name once and
//! its number afterwards.

use crate::sync;
use rustc_hash::FxHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::RwLock;

#[derive(Default)]
pub(crate) struct NameIds {
    ids: RwLock<HashMap<&'static str, u32, BuildHasherDefault<FxHasher>>>,
}

impl NameIds {
    /// The number of `name`; `None` once every `u32` is taken.
    pub(crate) fn id(&self, name: &'static str) -> Option<u32> {
        if let Some(id) = sync::read(&self.ids).get(name) {
            return Some(*id);
        }
        let mut ids = sync::write(&self.ids);
        if let Some(id) = ids.get(name) {
            return Some(*id);
        }
        let id = u32::try_from(ids.len()).ok()?;
        ids.insert(name, id);
        Some(id)
    }
}

/// `name` as a `&'static str`, for names known only at run time (a tool's requests by
/// name): each distinct name is leaked once.
pub(crate) fn intern(name: &str) -> &'static str {
    static INTERNED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<&'static str>>,
    > = std::sync::OnceLock::new();
    let mut interned = sync::lock(INTERNED.get_or_init(Default::default));
    if let Some(known) = interned.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    interned.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_name_keeps_its_own_number() {
        let names = super::NameIds::default();
        let a = names.id("a").unwrap();
        let b = names.id("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(names.id("a"), Some(a));
        assert_eq!(names.id("b"), Some(b));
    }
}

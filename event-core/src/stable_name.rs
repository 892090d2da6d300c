//! [`StableName`], and its implementations for plain serde types.

use crate::__private::NameBuf;

/// A name of the type that is the same in every build: what it contributes, as a type
/// parameter, to a generic event's `NAME`.
///
/// A generic event's `NAME` is `Prefix<P1,P2>`, each `P` the parameter's stable name, built
/// at compile time: instantiations never share a name (`Envelope<u32>` and
/// `Envelope<u64>` are two events). Every type that derives [`Event`](crate::Event) has one (its `NAME`); so have the
/// plain serde types, spelt as in Rust (`u32`, `String`, `Vec<app.Row>`,
/// `Option<u8>`, `(u8,String)`, `[u8;32]`); and a type of yours that is not an event can
/// opt in with one line:
///
/// ```
/// use event_core::{Event, StableName};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// pub struct Row { pub id: u64 }
///
/// impl StableName for Row {
///     const STABLE_NAME: &'static str = "app.Row";
/// }
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// #[event(name = "app.Page")]
/// pub struct Page<T> { pub items: T, pub next: Option<u64> }
///
/// assert_eq!(Page::<Vec<Row>>::NAME, "app.Page<Vec<app.Row>>");
/// assert_eq!(Page::<u32>::NAME, "app.Page<u32>");
/// ```
///
/// A stable name is part of the wire identity: keep it the same across builds, as a
/// pinned `#[event(name = ...)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither an event nor a plain type with a stable name",
    label = "`{Self}` cannot be a parameter of a generic event",
    note = "a parameter of a generic event is an `Event`, a plain serde type (primitives, `String`, `Vec<T>`, `Option<T>`, tuples, arrays), or a type that implements `event_core::StableName`"
)]
pub trait StableName {
    /// The name, as it appears between a generic event's `<` and `>`. (Not `NAME`: a
    /// type that is an event has both, and `T::NAME` stays unambiguous.)
    const STABLE_NAME: &'static str;
}

macro_rules! plain {
    ($($ty:ty => $name:literal),* $(,)?) => {
        $(impl StableName for $ty {
            const STABLE_NAME: &'static str = $name;
        })*
    };
}

plain!(
    bool => "bool", char => "char", String => "String", () => "()",
    u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128", usize => "usize",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128", isize => "isize",
    f32 => "f32", f64 => "f64",
);

/// The compile-time buffer a composite type's stable name borrows from.
trait Joined {
    const BUF: &'static NameBuf;
}

macro_rules! wrapper {
    ($($outer:ident),*) => {
        $(
            impl<T: StableName> Joined for $outer<T> {
                const BUF: &'static NameBuf =
                    &NameBuf::join(&[stringify!($outer), "<", T::STABLE_NAME, ">"]);
            }
            impl<T: StableName> StableName for $outer<T> {
                const STABLE_NAME: &'static str = <Self as Joined>::BUF.as_str();
            }
        )*
    };
}

wrapper!(Vec, Option);

macro_rules! tuple {
    ($(($($p:ident),+)),* $(,)?) => {
        $(
            impl<$($p: StableName),+> Joined for ($($p,)+) {
                const BUF: &'static NameBuf = &NameBuf::join(&tuple!(@parts $($p),+));
            }
            impl<$($p: StableName),+> StableName for ($($p,)+) {
                const STABLE_NAME: &'static str = <Self as Joined>::BUF.as_str();
            }
        )*
    };
    (@parts $first:ident $(, $rest:ident)*) => {
        ["(", $first::STABLE_NAME, $(",", $rest::STABLE_NAME,)* ")"]
    };
}

tuple!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F)
);

/// The decimal digits of `N`, at compile time.
struct Digits<const N: usize>;

impl<const N: usize> Digits<N> {
    const BUF: &'static NameBuf = &NameBuf::number(N);
}

impl<T: StableName, const N: usize> Joined for [T; N] {
    const BUF: &'static NameBuf =
        &NameBuf::join(&["[", T::STABLE_NAME, ";", Digits::<N>::BUF.as_str(), "]"]);
}

impl<T: StableName, const N: usize> StableName for [T; N] {
    const STABLE_NAME: &'static str = <Self as Joined>::BUF.as_str();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_types_are_spelt_as_in_rust() {
        assert_eq!(<u32 as StableName>::STABLE_NAME, "u32");
        assert_eq!(
            <Vec<Option<String>> as StableName>::STABLE_NAME,
            "Vec<Option<String>>"
        );
        assert_eq!(<(u8, String) as StableName>::STABLE_NAME, "(u8,String)");
        assert_eq!(<(u8,) as StableName>::STABLE_NAME, "(u8)");
        assert_eq!(<[u8; 32] as StableName>::STABLE_NAME, "[u8;32]");
        assert_eq!(<[u16; 0] as StableName>::STABLE_NAME, "[u16;0]");
        assert_eq!(
            <Vec<[i64; 1000]> as StableName>::STABLE_NAME,
            "Vec<[i64;1000]>"
        );
        assert_ne!(
            <(u8, u16) as StableName>::STABLE_NAME,
            <(u16, u8) as StableName>::STABLE_NAME
        );
    }
}

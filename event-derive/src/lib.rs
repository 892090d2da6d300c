//! Derive macros for the typed event bus. Use them through `event_core`, which re-exports
//! them; this crate is an implementation detail.
//!
//! `#[derive(Event)]` implements `event_core::Event` and registers the type in the
//! process-wide registry. Two helper attributes belong to the derive:
//!
//! * `#[event(name = "...", crate = "...")]` pins the wire name and overrides the path
//!   of the runtime crate (default `::event_core`).
//! * `#[request(response = T)]` also implements `event_core::Request` with
//!   `Response = T`.
//!
//! `#[request]` is a *helper attribute* of the derive (as `#[serde]` is of serde's), not
//! an attribute macro of its own: it has a meaning only on a type that derives `Event`.
//! Written without the derive, rustc reports ``cannot find attribute `request` in this
//! scope``. Written above `#[derive(Event)]`, rustc rejects it as a derive helper used
//! before it is introduced; put the derive first.
//!
//! The crate is split as serde_derive and thiserror are: `parse` turns the input into
//! a typed description with spans and collects every error it finds, `expand` only
//! quotes. A failed parse still emits a stub `Event` impl next to the errors, so the
//! user sees their mistake and not a cascade of "`Foo` is not an event" errors.
#![forbid(unsafe_code)]

mod expand;
mod parse;

use proc_macro::TokenStream;

/// Implements `event_core::Event` (and, with `#[request(response = T)]`,
/// `event_core::Request`). See the `event_core` crate documentation.
#[proc_macro_derive(Event, attributes(event, request))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match parse::EventInput::from_ast(&input) {
        Ok(event) => expand::expand(&event),
        Err(errors) => expand::expand_errors(&input, errors),
    }
    .into()
}

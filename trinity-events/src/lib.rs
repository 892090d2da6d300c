//! Trinity's p2p types and common protocol events, declared for the typed event bus.
#![deny(missing_docs)]

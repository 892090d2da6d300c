//! Derive macros for the typed event bus.

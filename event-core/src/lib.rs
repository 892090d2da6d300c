//! A typed, multi-process event bus.
#![deny(missing_docs)]

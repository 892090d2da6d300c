//! Transports: how bytes get between two endpoints.
//!
//! The seam is small on purpose. A transport provides a listener that accepts
//! connections, a way to connect, and a check of who is on the other side; each connection
//! is a pair of byte halves (`AsyncRead` + `AsyncWrite`). Everything above it (handshake,
//! framing, subscriptions, routing, requests) lives in [`crate::connection`] and is
//! generic over those halves, so a broker or TCP transport for several hosts can be added
//! beside [`unix`] without touching the `Endpoint` semantics.

pub(crate) mod unix;

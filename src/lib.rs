//! Placeholder library so the root package can own the integration tests in `tests/`.

//! The one error type of the crate; [`join`](crate::join) reports it inside
//! [`event_core::Error::Backend`].

/// What can go wrong joining a zenoh bus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting of the [`ZenohConfig`](crate::ZenohConfig) was refused.
    #[error("bad zenoh setting `{key}`: {reason}")]
    Config {
        /// The zenoh configuration key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The bus name cannot be used.
    #[error("bad bus name `{bus}`: {reason}")]
    BusName {
        /// The name given.
        bus: String,
        /// Why.
        reason: String,
    },
    /// zenoh itself failed (opening the session, declaring on it).
    #[error("{0}")]
    Zenoh(String),
}

impl Error {
    pub(crate) fn zenoh(error: impl std::fmt::Display) -> Error {
        Error::Zenoh(error.to_string())
    }

    /// As the bus's error, for `endpoint`, while doing `context`.
    pub(crate) fn into_core(self, endpoint: &str, context: &str) -> event_core::Error {
        event_core::Error::Backend {
            endpoint: endpoint.to_owned(),
            backend: "zenoh",
            context: context.to_owned(),
            source: Box::new(self),
        }
    }
}

//! The crate's error type.

/// Why the simulation or a controller could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{action}: {source}")]
    Api {
        /// What was being done, e.g. `creating pod default/web-0`.
        action: String,
        #[source]
        source: kube::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

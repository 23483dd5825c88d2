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
    /// An object could not be built from its parts (a template that does not
    /// fit the target type).
    #[error("building {what}: {source}")]
    Build {
        /// The object being built, e.g. `pod default/web-7d4b9c-x2k4p`.
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// An object's spec cannot be acted on (e.g. a Deployment without a
    /// selector); the controller reports it and waits for a change.
    #[error("{object}: {message}")]
    Invalid {
        /// `kind namespace/name` of the object.
        object: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

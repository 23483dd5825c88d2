//! The crate's one error type. The API types themselves cannot fail; only the helpers that
//! interpret their string fields (durations, inventory ids) and the YAML rendering can.

/// Errors from interpreting API fields and rendering CRDs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A duration field does not follow the `1h30m` format (units `ms`, `s`, `m`, `h`).
    #[error(
        "invalid duration {value:?}: {reason} (expected a sequence of numbers with units ms, s, m, h, e.g. \"30s\", \"5m\", \"1h30m\")"
    )]
    InvalidDuration {
        /// The string as written in the object.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An inventory entry id is not of the form `<namespace>_<name>_<group>_<kind>`.
    #[error("invalid inventory id {id:?}: expected <namespace>_<name>_<group>_<kind>")]
    InvalidInventoryId {
        /// The id as found in `status.inventory.entries[].id`.
        id: String,
    },

    /// A CustomResourceDefinition could not be rendered as YAML.
    #[error("rendering CustomResourceDefinition {name} as YAML")]
    Yaml {
        /// `metadata.name` of the CRD.
        name: String,
        /// The serializer's error.
        #[source]
        source: serde_saphyr::SerializeError,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

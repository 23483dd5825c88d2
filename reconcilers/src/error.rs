//! The crate's error type. Each variant maps to a metric label (`result` of
//! `flotilla_reconcile_duration_seconds`) and decides whether a reconcile is retried.

/// What went wrong in the operator or one of its reconcilers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request to the Kubernetes API failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, naming the object, e.g. `listing Deployments in apps`.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The operator's configuration is unusable (e.g. the artifact root cannot be created).
    #[error("invalid operator configuration: {0}")]
    Config(String),
    /// An object's spec is valid per the schema but cannot be acted on; retrying cannot help
    /// until it changes (→ `Stalled`).
    #[error("{0}")]
    InvalidSpec(String),
    /// Deleting the objects of a deleted object failed; the finalizer stays and it is retried.
    #[error("{0}")]
    Finalize(String),
    /// A controller task panicked or was cancelled.
    #[error("controller task failed: {0}")]
    Task(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a client error with what was being done.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// The `result` label of the reconcile metrics for this error.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube_error",
            Error::Config(_) => "config_error",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::Finalize(_) => "finalize_error",
            Error::Task(_) => "task_error",
        }
    }
}

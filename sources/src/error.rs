//! The typed errors of the `sources` crate.
//!
//! Every variant names the URL (with credentials removed) or the commit it is
//! about, so a reconciler can put the message into a condition as it is.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while fetching, verifying or exporting a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself is unusable (bad URL, bad commit id, a path escaping
    /// the repository…); retrying will not help.
    #[error("invalid source request for {url}: {field}: {reason}")]
    InvalidRequest {
        /// The URL, without credentials.
        url: String,
        /// The request field at fault, e.g. `ref.commit` or `path`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The remote answered but has no reference matching the request
    /// (a deleted branch, a semver range no tag satisfies, an unknown commit).
    #[error("{url}: {reference} not found: {reason}")]
    ReferenceNotFound {
        /// The URL, without credentials.
        url: String,
        /// The reference as asked for, e.g. `branch "main"`.
        reference: String,
        /// Why nothing matched.
        reason: String,
    },
    /// The server refused the credentials (or asked for some and none were given).
    #[error("{url}: authentication failed: {message}")]
    Authentication {
        /// The URL, without credentials.
        url: String,
        /// What the transport reported, with credentials removed.
        message: String,
    },
    /// The fetch did not finish within the request's timeout.
    #[error("{url}: timed out after {seconds:.1}s")]
    Timeout {
        /// The URL, without credentials.
        url: String,
        /// The timeout that was exceeded, in seconds.
        seconds: f64,
    },
    /// The caller's cancellation flag was raised.
    #[error("{url}: cancelled")]
    Cancelled {
        /// The URL, without credentials.
        url: String,
    },
    /// Connecting to or talking with the server failed for another reason
    /// (unreachable host, protocol error, server error).
    #[error("{url}: fetch failed: {message}")]
    Fetch {
        /// The URL, without credentials.
        url: String,
        /// The transport's error chain, with credentials removed.
        message: String,
    },
    /// The commit is unsigned, signed by a key that is not trusted, or the
    /// signature does not match the commit.
    #[error("commit {commit}: signature verification failed: {reason}")]
    Verification {
        /// The commit that was checked.
        commit: String,
        /// Why it was refused.
        reason: String,
    },
    /// The annotated tag is unsigned, signed by a key that is not trusted, its signature does
    /// not match the tag, or the tag is a lightweight tag (no tag object to sign).
    #[error("tag {tag}: signature verification failed: {reason}")]
    TagVerification {
        /// The tag's name.
        tag: String,
        /// Why it was refused.
        reason: String,
    },
    /// A trusted public key given for verification cannot be parsed.
    #[error("verification key #{index}: {reason}")]
    InvalidKey {
        /// Zero-based position of the key in the list given.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The local object database is missing an object or holds a damaged one.
    #[error("{url}: repository cache at {path}: {message}")]
    Repository {
        /// The URL, without credentials.
        url: String,
        /// The cached bare repository.
        path: PathBuf,
        /// What gix reported.
        message: String,
    },
    /// The requested sub-path does not exist in the commit, or is not a directory.
    #[error("commit {commit}: path {path:?}: {reason}")]
    PathNotFound {
        /// The exported commit.
        commit: String,
        /// The sub-path asked for.
        path: String,
        /// Why it cannot be exported.
        reason: String,
    },
    /// An ignore pattern (from `.sourceignore` or the request) cannot be read.
    #[error("ignore patterns from {source_name}: {reason}")]
    Ignore {
        /// `.sourceignore` path in the repository, or `spec.ignore`.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the cache or artifact folders failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `writing artifact file`.
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying the same request later may succeed (network trouble,
    /// a timeout) as opposed to a request that is wrong as it stands.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Fetch { .. }
                | Error::Cancelled { .. }
                | Error::Io { .. }
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

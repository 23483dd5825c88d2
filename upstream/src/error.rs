//! Why the upstream control plane could not start.

use std::path::PathBuf;

/// Failures of [`crate::ControlPlane::start`] and the binary lookup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more binaries were found neither in the oracles directory nor on PATH.
    #[error(
        "--engine kubernetes needs {missing} (looked in {searched} and on PATH): build them with \
         `oracles/build` from a Flotilla checkout, or set FLOTILLA_ORACLES to a directory that \
         holds them"
    )]
    MissingBinaries { missing: String, searched: String },
    /// A file or directory under the data dir could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// rcgen could not generate a key or certificate.
    #[error("generating {what}: {source}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    /// A component could not be spawned.
    #[error("starting {component} ({path}): {source}")]
    Spawn {
        component: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A component exited while the control plane was starting.
    #[error("{component} exited during startup ({status}); last lines of {log}:\n{tail}")]
    Exited {
        component: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// The API server did not become ready in time.
    #[error("kube-apiserver was not ready after {seconds} s ({last}); see {log}")]
    NotReady {
        seconds: u64,
        last: String,
        log: PathBuf,
    },
    /// No free port could be found on 127.0.0.1.
    #[error("finding a free port on 127.0.0.1: {0}")]
    Port(#[source] std::io::Error),
    /// The client used to wait for readiness could not be built.
    #[error("connecting to kube-apiserver: {0}")]
    Client(String),
}

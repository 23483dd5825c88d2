//! The crate's error type. Every variant names the file, and the object and
//! field where there is one.
//!
//! Wrapped errors are part of the message rather than `source()`: callers
//! print errors with their chain (`{:#}`), and a message that also exposes
//! its source would say the same thing twice.

use std::path::PathBuf;

/// Rendering failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The path as the user would write it.
        path: PathBuf,
        /// The underlying failure.
        error: std::io::Error,
    },
    /// A path that must be a directory is not.
    #[error("{}: not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// No kustomization file in a directory named as a kustomization.
    #[error(
        "{}: no kustomization file (kustomization.yaml, kustomization.yml or Kustomization)",
        dir.display()
    )]
    NoKustomization {
        /// The directory.
        dir: PathBuf,
    },
    /// A file named by a kustomization lies outside its directory.
    #[error(
        "{}: security: file is not in or below the kustomization root {} (kustomize's default load restrictor)",
        path.display(),
        root.display()
    )]
    OutsideRoot {
        /// The offending file.
        path: PathBuf,
        /// The kustomization directory.
        root: PathBuf,
    },
    /// A YAML file could not be parsed.
    #[error("{}: {message}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A kustomization file is not a valid kustomization (unknown field, wrong type).
    #[error("{}: {message}", path.display())]
    Kustomization {
        /// The kustomization file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A kustomization uses a feature Flotilla does not support.
    #[error("{}: field {field:?} is not supported by flotilla", path.display())]
    Unsupported {
        /// The kustomization file.
        path: PathBuf,
        /// The field.
        field: String,
    },
    /// A document in a resource file is not a usable Kubernetes object.
    #[error("{}: {message}", path.display())]
    InvalidObject {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the object where possible).
        message: String,
    },
    /// Two objects with the same id.
    #[error(
        "{}: may not add resource with an already registered id: {id} (first from {})",
        path.display(),
        first.display()
    )]
    DuplicateId {
        /// The file of the second object.
        path: PathBuf,
        /// The first object's file.
        first: PathBuf,
        /// The id, `kind/[namespace/]name`.
        id: String,
    },
    /// A kustomization includes itself, directly or through others.
    #[error("{}: cycle in kustomization bases: {chain}", path.display())]
    Cycle {
        /// The directory met twice.
        path: PathBuf,
        /// The chain of directories that leads back to it.
        chain: String,
    },
    /// A kustomization's field has a bad value.
    #[error("{}: {field}: {message}", path.display())]
    Field {
        /// The kustomization file.
        path: PathBuf,
        /// The field, e.g. `images[0].name`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A name reference matched several objects.
    #[error("{}: {referrer}: field {field}: {message}", path.display())]
    NameReference {
        /// The file of the referring object.
        path: PathBuf,
        /// The referring object.
        referrer: String,
        /// The field holding the reference.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A patch could not be applied.
    #[error("{}: {error}", path.display())]
    Patch {
        /// The kustomization file holding the patch.
        path: PathBuf,
        /// What went wrong.
        error: crate::patch::PatchError,
    },
    /// A generator could not build its object.
    #[error("{}: {error}", path.display())]
    Generator {
        /// The kustomization file holding the generator.
        path: PathBuf,
        /// What went wrong.
        error: crate::generators::GeneratorError,
    },
    /// A replacement could not be applied.
    #[error("{}: {error}", path.display())]
    Replacement {
        /// The kustomization file holding the replacement.
        path: PathBuf,
        /// What went wrong.
        error: crate::replacements::ReplacementError,
    },
}

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The kustomize-compatible renderer.
//!
//! Takes a kustomization directory and produces the multi-document YAML that
//! `kubectl kustomize` (kustomize v5.5.0) would print, byte for byte.
//!
//! Boundaries: pure. The only I/O is reading files below the kustomization
//! root (kustomize's default load restrictor); no network, no exec, no
//! plugins, no remote bases.

use std::path::Path;

/// Errors from rendering. (Placeholder until the renderer lands.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The renderer does not exist yet.
    #[error("renderer not implemented: {0}")]
    NotImplemented(String),
}

/// Renders the kustomization at `dir` to multi-document YAML.
pub fn build(dir: &Path) -> Result<String, Error> {
    Err(Error::NotImplemented(dir.display().to_string()))
}

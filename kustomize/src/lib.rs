//! The kustomize-compatible renderer.
//!
//! Takes a kustomization directory and produces the multi-document YAML that
//! `kubectl kustomize` (kustomize v5.5.0) would print, byte for byte.
//!
//! Boundaries: pure. The only I/O is reading files below the kustomization
//! root (kustomize's default load restrictor); no network, no exec, no
//! plugins, no remote bases.
//!
//! Layout: [`target`] walks kustomizations (resources, bases, components)
//! and runs generators and transformers per level; [`transform`] holds the
//! built-in transformers; [`patch`], [`generators`], [`replacements`] the
//! kustomization features of the same names; [`yaml`] reads and prints.

pub mod error;
pub mod fieldspec;
pub mod generators;
pub mod kustomization;
pub mod loader;
pub mod patch;
pub mod replacements;
pub mod resource;
pub mod target;
pub mod transform;
pub mod yaml;

use std::path::Path;

pub use error::{Error, Result};
pub use loader::Loader;
pub use resource::{ResId, Resource};

/// Renders the kustomization at `dir` to resources in output order, as
/// `kubectl kustomize` would print them.
pub fn render(dir: &Path) -> Result<Vec<Resource>> {
    let _span = tracing::info_span!("render", dir = %dir.display()).entered();
    let mut resources = target::render(dir)?;
    add_hash_suffixes(&mut resources);
    transform::name_reference::apply(&mut resources)?;
    transform::order::sort(&mut resources);
    Ok(resources)
}

/// Renders the kustomization at `dir` to multi-document YAML.
pub fn build(dir: &Path) -> Result<String> {
    let resources = render(dir)?;
    Ok(yaml::emit_documents(resources.iter().map(|r| &r.object)))
}

/// Generated ConfigMaps/Secrets get their content hash appended last, after
/// every transformer has had its say on the content.
fn add_hash_suffixes(resources: &mut [Resource]) {
    for res in resources.iter_mut().filter(|r| r.needs_hash) {
        let name = format!("{}-{}", res.name(), generators::hash::suffix(&res.object));
        res.set_name(&name);
    }
}

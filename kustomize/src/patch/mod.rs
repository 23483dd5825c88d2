//! Patches: the `patches`, `patchesStrategicMerge` and `patchesJson6902` fields
//! of a kustomization, with kustomize v5.5.0 semantics.
//!
//! API (for the pipeline):
//! - serde types for the fields: [`Patch`] (`patches` entries), [`LegacyJson6902`]
//!   (`patchesJson6902` entries), [`StrategicMergeEntry`] (`patchesStrategicMerge`
//!   entries), [`Target`] and [`PatchOptions`];
//! - [`strategic_merge`] and [`json6902`]: the two algorithms on `serde_json::Value`;
//! - [`apply_patches`], [`apply_strategic_merge_entries`], [`apply_legacy_json6902`]:
//!   resolve inline/path patches through the [`Loader`], choose the algorithm,
//!   select targets and apply them to the resource list, in that field's order.
//!
//! Target selection compiles each target once and scans the resources once per
//! patch; a patch without a target finds its resource through an index built
//! once per call, so a component patching every Deployment stays linear.
//!
//! Boundaries: no I/O besides `Loader::load`; no name-reference fix-ups (the
//! pipeline runs those after patches).

mod apply;
mod json6902;
mod merge_keys;
#[rustfmt::skip]
mod merge_keys_table;
mod strategic_merge;
mod target;

pub(crate) use apply::effective_namespace;
pub use apply::{apply_legacy_json6902, apply_patches, apply_strategic_merge_entries};
pub use json6902::json6902;
pub use strategic_merge::strategic_merge;
pub(crate) use target::Selector;
pub use target::{LabelSelector, Target};

use serde::{Deserialize, Serialize};

/// One entry of `patches:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// File holding the patch, relative to the kustomization root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The patch itself (strategic merge YAML, or a JSON 6902 list in YAML or JSON).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub patch: String,
    /// Which resources to patch; without it a strategic merge patch patches the
    /// resource with its own kind, name and namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Name/kind change permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<PatchOptions>,
}

/// `options:` of a patch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchOptions {
    /// Let a strategic merge patch change `metadata.name`.
    #[serde(default)]
    pub allow_name_change: bool,
    /// Let a strategic merge patch change `kind`.
    #[serde(default)]
    pub allow_kind_change: bool,
}

/// One entry of the deprecated `patchesJson6902:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacyJson6902 {
    /// The resource to patch (name required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// File holding the operations.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The operations inline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub patch: String,
}

/// One entry of the deprecated `patchesStrategicMerge:`: a file path, or (as
/// kustomize also accepts) the patch YAML itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StrategicMergeEntry(pub String);

/// Errors from patching. Messages name the patch (file or inline text), the
/// object (kind/namespace/name) and the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// A strategic merge patch cannot be merged at a field.
    #[error("field {field}: {reason}")]
    Merge {
        /// Dotted path of the field (`spec.template.spec.containers.[app]`).
        field: String,
        /// What is wrong there.
        reason: String,
    },
    /// A JSON 6902 operation failed.
    #[error("operation {index} ({op} {path}): {reason}")]
    Json6902 {
        /// Position of the operation in the patch, from 0.
        index: usize,
        /// The `op`.
        op: String,
        /// The `path`.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The JSON 6902 operations are malformed.
    #[error("invalid JSON 6902 patch: {reason}")]
    InvalidJson6902 {
        /// What is malformed.
        reason: String,
    },
    /// The patch entry itself is invalid (both/neither of path and patch,
    /// unparsable YAML, a JSON patch without target, a bad target).
    #[error("patch {patch}: {reason}")]
    Invalid {
        /// The patch file, or the start of the inline patch.
        patch: String,
        /// What is wrong.
        reason: String,
    },
    /// The patch file could not be read.
    #[error("patch {patch}: {source}")]
    Load {
        /// The patch file.
        patch: String,
        /// The loader's error.
        #[source]
        source: Box<crate::Error>,
    },
    /// A strategic merge patch without target matches no resource.
    #[error("patch {patch}: no resource matches {id}")]
    NoMatch {
        /// The patch file, or the start of the inline patch.
        patch: String,
        /// kind/namespace/name the patch names.
        id: String,
    },
    /// A strategic merge patch without target matches more than one resource.
    #[error("patch {patch}: {id} matches more than one resource")]
    MultipleMatches {
        /// The patch file, or the start of the inline patch.
        patch: String,
        /// kind/namespace/name the patch names.
        id: String,
    },
    /// Applying the patch to one object failed.
    #[error("patch {patch}: applying to {object}: {source}")]
    Apply {
        /// The patch file, or the start of the inline patch.
        patch: String,
        /// kind/namespace/name of the object.
        object: String,
        /// The failure.
        #[source]
        source: Box<PatchError>,
    },
}

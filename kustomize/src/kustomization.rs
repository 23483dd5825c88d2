//! The `kustomization.yaml` file as serde types, with kustomize's field names.
//!
//! Unknown fields are rejected (kustomize does the same) so a typo such as
//! `resourcez` is an error naming the file, not silently ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// File names kustomize looks for, in its order of preference.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One kustomization (or `kind: Component`) file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomization {
    /// `kustomize.config.k8s.io/v1beta1` or `kustomize.config.k8s.io/v1alpha1` (components).
    pub api_version: Option<String>,
    /// `Kustomization` or `Component`.
    pub kind: Option<String>,
    /// Ignored, as kustomize does (only names the kustomization).
    pub metadata: Option<Value>,
    /// Files, directories with a kustomization.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Deprecated spelling of `resources` for directories.
    #[serde(default)]
    pub bases: Vec<String>,
    /// Component directories.
    #[serde(default)]
    pub components: Vec<String>,
    /// CRD files whose schemas teach name references (no objects are emitted).
    #[serde(default)]
    pub crds: Vec<String>,
    /// Namespace set on every namespaced object.
    pub namespace: Option<String>,
    /// Prefix added to names.
    pub name_prefix: Option<String>,
    /// Suffix added to names.
    pub name_suffix: Option<String>,
    /// Deprecated labels (always into selectors and templates).
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Labels with explicit selector/template behaviour.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Annotations added to every object (and pod templates).
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Image rewrites.
    #[serde(default)]
    pub images: Vec<Image>,
    /// Replica counts.
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// Patches (strategic merge or JSON 6902) with optional targets.
    #[serde(default)]
    pub patches: Vec<crate::patch::Patch>,
    /// Deprecated: strategic merge patch files or inline patches.
    #[serde(default)]
    pub patches_strategic_merge: Vec<crate::patch::StrategicMergeEntry>,
    /// Deprecated: JSON 6902 patches with a target.
    #[serde(default)]
    pub patches_json6902: Vec<crate::patch::LegacyJson6902>,
    /// ConfigMap generators.
    #[serde(default)]
    pub config_map_generator: Vec<crate::generators::GeneratorArgs>,
    /// Secret generators.
    #[serde(default)]
    pub secret_generator: Vec<crate::generators::GeneratorArgs>,
    /// Options for both generators.
    pub generator_options: Option<crate::generators::GeneratorOptions>,
    /// Field copies between objects.
    #[serde(default)]
    pub replacements: Vec<crate::replacements::ReplacementField>,
    /// Not supported (kustomize plugin and legacy features); rejected with a clear error.
    #[serde(default)]
    pub vars: Vec<Value>,
    /// Not supported; rejected with a clear error.
    #[serde(default)]
    pub configurations: Vec<Value>,
    /// Not supported; rejected with a clear error.
    #[serde(default)]
    pub generators: Vec<Value>,
    /// Not supported; rejected with a clear error.
    #[serde(default)]
    pub transformers: Vec<Value>,
    /// Not supported; rejected with a clear error.
    #[serde(default)]
    pub validators: Vec<Value>,
    /// Not supported; rejected with a clear error.
    #[serde(default)]
    pub helm_charts: Vec<Value>,
    /// Not supported; rejected with a clear error.
    pub helm_globals: Option<Value>,
    /// Not supported; rejected with a clear error.
    pub open_api: Option<Value>,
    /// Not supported; rejected with a clear error.
    pub sort_options: Option<Value>,
    /// Not supported; rejected with a clear error.
    #[serde(default)]
    pub build_metadata: Vec<Value>,
}

/// One entry of `labels`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Label {
    /// The labels to add.
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    /// Also add them to selectors (and, unless said otherwise, templates).
    #[serde(default)]
    pub include_selectors: bool,
    /// Also add them to pod templates.
    #[serde(default)]
    pub include_templates: bool,
    /// Extra field specs (not supported; rejected when set).
    #[serde(default)]
    pub fields: Vec<Value>,
}

/// One entry of `images`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    /// The image name to match (without tag or digest).
    pub name: String,
    /// Replacement name.
    #[serde(default)]
    pub new_name: String,
    /// Replacement tag.
    #[serde(default)]
    pub new_tag: String,
    /// Replacement digest (wins over the tag).
    #[serde(default)]
    pub digest: String,
    /// Appended to the existing tag when no new tag or digest is set.
    #[serde(default)]
    pub tag_suffix: String,
}

/// One entry of `replicas`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// Name of the Deployment/StatefulSet/... (before prefixes).
    pub name: String,
    /// The replica count.
    pub count: i64,
}

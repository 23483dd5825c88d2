//! `Kustomization`: a path in a source, rendered kustomize-style, gated by admission policies
//! and applied to a cluster, with pruning, health checks and dependencies. Field names and
//! semantics follow Flux's `kustomize.toolkit.fluxcd.io/v1` Kustomization; differences are
//! listed in `docs/crds/kustomization.md`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration;
use crate::inventory::ResourceInventory;
use crate::policy::{KustomizationPolicies, PolicyResult};
use crate::references::{
    NamespacedObjectKindReference, NamespacedObjectReference, SecretKeyReference,
};

/// The desired state of a Kustomization.
// Each `printcolumn(...)` repeats `type_ = ...`; clippy takes the repeats for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "Kustomization",
    plural = "kustomizations",
    namespaced,
    status = "KustomizationStatus",
    derive = "PartialEq",
    shortname = "ks",
    category = "flotilla",
    doc = "A directory of a source, rendered kustomize-style, checked against ValidatingAdmissionPolicies and applied to a cluster. Objects that leave the directory are pruned when spec.prune is true.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.lastAppliedRevision",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// The source to render from.
    pub source_ref: CrossNamespaceSourceReference,

    /// Directory in the source artifact holding a `kustomization.yaml`, or plain manifests
    /// (a kustomization listing them is then generated). Relative to the artifact root;
    /// may not leave it. Defaults to the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(
        "!self.matches('(^|/)[.][.](/|$)')"
    ).message("path may not contain '..' segments"))]
    pub path: Option<String>,

    /// How often to reconcile, even when the source did not change (drift correction).
    #[schemars(regex(pattern = duration::DURATION_PATTERN))]
    pub interval: String,

    /// How soon to retry after a failed reconcile. Defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = duration::DURATION_PATTERN))]
    pub retry_interval: Option<String>,

    /// Time limit for building, applying and health-checking. Defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = duration::DURATION_PATTERN))]
    pub timeout: Option<String>,

    /// Delete objects applied by a previous revision that are gone from this one.
    pub prune: bool,

    /// Wait for every applied object to become ready (and fail the reconcile after `timeout`
    /// if they do not). When true, `healthChecks` is ignored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,

    /// Objects whose readiness decides `Healthy`, checked after each apply until `timeout`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<NamespacedObjectKindReference>,

    /// Kustomizations that must be Ready (at their latest generation) before this one is
    /// applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<NamespacedObjectReference>,

    /// Namespace set on every namespaced object rendered (overrides `namespace:` in the
    /// kustomization.yaml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub target_namespace: Option<String>,

    /// Prefix added to the names of all rendered objects, like kustomize's `namePrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub name_prefix: Option<String>,

    /// Suffix added to the names of all rendered objects, like kustomize's `nameSuffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub name_suffix: Option<String>,

    /// Strategic-merge or JSON 6902 patches applied on top of the kustomization, like
    /// kustomize's `patches`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,

    /// Image overrides, like kustomize's `images`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,

    /// Kustomize components (directories relative to `path`) added to the kustomization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,

    /// Labels and annotations set on every applied object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,

    /// Variable substitution (`${var}`) in the rendered objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,

    /// Which ValidatingAdmissionPolicies gate the apply. When omitted, those of the target
    /// cluster (`from: Cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<KustomizationPolicies>,

    /// Stop reconciling; applied objects are left as they are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// Recreate objects whose immutable fields changed (delete, then create) instead of
    /// failing the apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,

    /// Service account (in this namespace) to impersonate when applying; defaults to the
    /// operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,

    /// Apply into another cluster, reached with the kubeconfig in a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigReference>,
}

impl KustomizationSpec {
    /// `spec.interval` as a [`std::time::Duration`].
    pub fn interval(&self) -> crate::Result<std::time::Duration> {
        duration::parse(&self.interval)
    }

    /// `spec.retryInterval`, defaulting to `spec.interval`.
    pub fn retry_interval(&self) -> crate::Result<std::time::Duration> {
        duration::parse(self.retry_interval.as_deref().unwrap_or(&self.interval))
    }

    /// `spec.timeout`, defaulting to `spec.interval`.
    pub fn timeout(&self) -> crate::Result<std::time::Duration> {
        duration::parse(self.timeout.as_deref().unwrap_or(&self.interval))
    }
}

/// A reference to a source object, possibly in another namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// API version of the source; defaults to `flotilla.dev/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the source.
    pub kind: SourceKind,
    /// Name of the source.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the source; defaults to the Kustomization's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// The kinds a Kustomization can render from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SourceKind {
    /// A [`GitRepository`](crate::GitRepository).
    GitRepository,
}

/// A patch and the objects it applies to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Patch {
    /// A strategic-merge patch (a partial object, YAML or JSON) or a JSON 6902 patch (a list
    /// of operations).
    #[schemars(length(min = 1))]
    pub patch: String,
    /// Which objects to patch. Required for JSON 6902 patches; a strategic-merge patch without
    /// it applies to the object with its own kind and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Selects objects by group, version, kind, name, namespace and selectors, like kustomize's
/// patch `target`. Every set field must match; `name` and `namespace` are regular expressions
/// anchored at both ends.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group, e.g. `apps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version, e.g. `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind, e.g. `Deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace (regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Label selector in `kubectl -l` syntax, e.g. `app=web,tier!=db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Annotation selector, same syntax as `labelSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// An image override: every container image named `name` gets the new name, tag or digest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image name as written in the manifests, without tag or digest, e.g. `nginx`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Replacement image name, e.g. `registry.example.com/nginx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Replacement tag, e.g. `1.27`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Replacement digest, e.g. `sha256:…`; takes precedence over `newTag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Labels and annotations for every applied object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommonMetadata {
    /// Labels added to (and overriding those of) every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to (and overriding those of) every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Steps run on the rendered objects before they are applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables for `${name}` substitution, in the bash style Flux uses: `${var}`,
    /// `${var:=default}`; `$${var}` escapes. Names match `^[_a-zA-Z][_a-zA-Z0-9]*$`.
    /// Takes precedence over `substituteFrom`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets (in this namespace) whose data are further variables; later
    /// entries override earlier ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
}

/// A ConfigMap or Secret holding substitution variables.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: SubstituteKind,
    /// Name of the ConfigMap or Secret, in the Kustomization's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// When true, a missing object is treated as empty instead of failing the reconcile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// Kinds `postBuild.substituteFrom` reads.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SubstituteKind {
    /// A ConfigMap (its `data`).
    ConfigMap,
    /// A Secret (its `data`, base64-decoded).
    Secret,
}

/// Where the kubeconfig of a remote cluster is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeConfigReference {
    /// Secret (in the Kustomization's namespace) holding a kubeconfig; key `value` or
    /// `value.yaml` when `key` is omitted. Its current context is used.
    pub secret_ref: SecretKeyReference,
}

/// The observed state of a Kustomization.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// The `metadata.generation` the status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Reconciling`, `Stalled` and `Healthy`; see `docs/crds/kustomization.md`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Source revision last applied successfully, e.g. `main@sha1:1f3c…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,

    /// Source revision of the last reconcile attempt, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,

    /// The value of the `reconcile.flotilla.dev/requestedAt` annotation last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,

    /// The objects applied by the last successful reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ResourceInventory>,

    /// What each gating policy decided about the last attempted revision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_results: Vec<PolicyResult>,
}

//! Which ValidatingAdmissionPolicies gate a Kustomization's apply (`spec.policies`), and what
//! they decided (`status.policyResults`).
//!
//! Flotilla evaluates the selected policies against every rendered object *before* applying
//! anything: one denied object means nothing of that revision is applied (`Ready=False`,
//! reason `PolicyDenied`), instead of a half-applied revision as when the API server rejects
//! objects one by one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::references::NamespacedObjectKindReference;

/// Where the policies gating an apply come from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.from) && self.from != 'Cluster') == (has(self.paths) && size(self.paths) > 0)"
).message("paths must be set when from is Source or Both, and only then"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.selector) || !has(self.from) || self.from != 'Source'"
).message("selector picks cluster policies; it cannot be used with from: Source"))]
pub struct KustomizationPolicies {
    /// `Cluster`: the ValidatingAdmissionPolicies (and their bindings) installed in the target
    /// cluster. `Source`: the policies and bindings found under `paths` in the source
    /// artifact, so a revision brings its own rules. `Both`: the union.
    #[serde(default)]
    pub from: PolicyOrigins,

    /// Directories in the source artifact, relative to its root like `spec.path`, holding
    /// `ValidatingAdmissionPolicy` and `ValidatingAdmissionPolicyBinding` manifests (plain
    /// YAML or a kustomization). These objects gate the apply and are not applied themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,

    /// Only cluster policies whose labels match are evaluated. When omitted, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// The value of `spec.policies.from`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PolicyOrigins {
    /// Policies installed in the target cluster.
    #[default]
    Cluster,
    /// Policies in the source artifact under `paths`.
    Source,
    /// Both.
    Both,
}

/// Where one evaluated policy came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PolicyOrigin {
    /// Installed in the target cluster.
    Cluster,
    /// Read from the source artifact.
    Source,
}

/// The action a binding takes on a failed validation (`validationActions`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ValidationAction {
    /// The object is rejected; the whole apply is blocked.
    Deny,
    /// The apply goes on; the violation is reported here and as a warning event.
    Warn,
    /// The apply goes on; the violation is recorded only.
    Audit,
}

/// What one policy decided about the objects of the last attempted revision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResult {
    /// Name of the ValidatingAdmissionPolicy.
    pub policy: String,
    /// Name of the ValidatingAdmissionPolicyBinding that applied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    /// Whether the policy came from the cluster or from the source.
    pub origin: PolicyOrigin,
    /// How many rendered objects the policy matched and was evaluated on.
    pub evaluated: i64,
    /// Objects that failed validation, at most 10 per policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<PolicyViolation>,
    /// True when more objects failed than are listed in `violations`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// At most this many violations are listed per policy in `status.policyResults` (the
/// schema's description of `violations` says 10 too), so a policy
/// that fails on every object of a large revision cannot overflow the object size limit.
pub const MAX_REPORTED_VIOLATIONS: usize = 10;

/// One object that failed one policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyViolation {
    /// The rendered object.
    pub object: NamespacedObjectKindReference,
    /// What the binding does about it.
    pub action: ValidationAction,
    /// The failed validation's message (or its expression when it has none).
    pub message: String,
}

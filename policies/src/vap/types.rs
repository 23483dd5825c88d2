//! The admissionregistration.k8s.io/v1 types this engine reads, with the
//! field names and defaults of the Kubernetes API. Only what evaluation
//! needs is modelled; unknown fields are ignored as the API server would
//! prune them.

use serde::Deserialize;

/// `ValidatingAdmissionPolicy`.
#[derive(Debug, Clone, Deserialize)]
pub struct ValidatingAdmissionPolicy {
    /// Object metadata; only the name is used.
    pub metadata: ObjectMeta,
    /// The policy.
    #[serde(default)]
    pub spec: PolicySpec,
}

/// `ValidatingAdmissionPolicyBinding`.
#[derive(Debug, Clone, Deserialize)]
pub struct ValidatingAdmissionPolicyBinding {
    /// Object metadata; only the name is used.
    pub metadata: ObjectMeta,
    /// The binding.
    #[serde(default)]
    pub spec: BindingSpec,
}

/// The name of a policy or binding.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
}

/// `ValidatingAdmissionPolicySpec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// The kind of the params resource, if the policy takes params.
    pub param_kind: Option<ParamKind>,
    /// Which requests the policy applies to.
    pub match_constraints: Option<MatchResources>,
    /// Validations; all must pass.
    #[serde(default)]
    pub validations: Vec<Validation>,
    /// `Fail` (default) or `Ignore`.
    pub failure_policy: Option<FailurePolicy>,
    /// Annotations recorded in the audit log.
    #[serde(default)]
    pub audit_annotations: Vec<AuditAnnotation>,
    /// Conditions that must all hold for the policy to be evaluated.
    #[serde(default)]
    pub match_conditions: Vec<NamedExpression>,
    /// Composition variables, in order.
    #[serde(default)]
    pub variables: Vec<NamedExpression>,
}

/// `ParamKind`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamKind {
    /// `group/version` of the params.
    #[serde(default)]
    pub api_version: String,
    /// Kind of the params.
    #[serde(default)]
    pub kind: String,
}

/// `FailurePolicyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FailurePolicy {
    /// An evaluation error rejects the request.
    Fail,
    /// An evaluation error is ignored.
    Ignore,
}

/// `MatchResources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchResources {
    /// Namespaces whose labels match; `None` matches all.
    pub namespace_selector: Option<LabelSelector>,
    /// Objects whose labels match; `None` matches all.
    pub object_selector: Option<LabelSelector>,
    /// Requests that match.
    #[serde(default)]
    pub resource_rules: Vec<NamedRuleWithOperations>,
    /// Requests excluded even when they match.
    #[serde(default)]
    pub exclude_resource_rules: Vec<NamedRuleWithOperations>,
    /// `Equivalent` (default) or `Exact`.
    pub match_policy: Option<MatchPolicy>,
}

/// `MatchPolicyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MatchPolicy {
    /// Only the exact group/version/resource matches.
    Exact,
    /// Other versions of the same resource also match.
    Equivalent,
}

/// `NamedRuleWithOperations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedRuleWithOperations {
    /// Restricts the rule to these object names; empty means all.
    #[serde(default)]
    pub resource_names: Vec<String>,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `*`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// API groups; `""` is core, `*` all.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// API versions; `*` all.
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// Resources (plural, lower case), `*`, `*/*`, `res/sub`, `*/sub`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// `Cluster`, `Namespaced` or `*` (default).
    pub scope: Option<String>,
}

/// A `matchCondition` or `variable`: a name and an expression.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NamedExpression {
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The CEL expression.
    #[serde(default)]
    pub expression: String,
}

/// `Validation`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    /// Must evaluate to true.
    #[serde(default)]
    pub expression: String,
    /// Message when it does not.
    pub message: Option<String>,
    /// Reason (`Invalid` by default, `Forbidden`, …).
    pub reason: Option<String>,
    /// A CEL expression computing the message.
    pub message_expression: Option<String>,
}

/// `AuditAnnotation`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditAnnotation {
    /// The annotation key (prefixed with the policy name).
    #[serde(default)]
    pub key: String,
    /// A CEL expression computing the value; `null` omits the annotation.
    #[serde(default)]
    pub value_expression: String,
}

/// `ValidatingAdmissionPolicyBindingSpec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingSpec {
    /// The policy bound.
    #[serde(default)]
    pub policy_name: String,
    /// Where the params come from.
    pub param_ref: Option<ParamRef>,
    /// Further restricts what the policy matches.
    pub match_resources: Option<MatchResources>,
    /// `Deny`, `Warn`, `Audit`.
    #[serde(default)]
    pub validation_actions: Vec<ValidationAction>,
}

/// `ParamRef`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamRef {
    /// One params object by name.
    pub name: Option<String>,
    /// Its namespace; unset means the request's namespace for namespaced
    /// params.
    pub namespace: Option<String>,
    /// All params objects matching these labels.
    pub selector: Option<LabelSelector>,
    /// `Allow` or `Deny` when no params are found.
    pub parameter_not_found_action: Option<ParameterNotFoundAction>,
}

/// `ParameterNotFoundActionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ParameterNotFoundAction {
    /// The binding passes.
    Allow,
    /// The binding fails (following the failure policy).
    Deny,
}

/// `ValidationAction`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
pub enum ValidationAction {
    /// Reject the request.
    Deny,
    /// Return a warning.
    Warn,
    /// Record in the audit log.
    Audit,
}

/// `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(default)]
    pub match_labels: std::collections::BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `metav1.LabelSelectorRequirement`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LabelSelectorRequirement {
    /// The label key.
    #[serde(default)]
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[serde(default)]
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

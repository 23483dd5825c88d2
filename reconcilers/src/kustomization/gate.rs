//! The policy gate: every built object is checked, as the admission request its apply will be
//! (UPDATE with the live object as `oldObject` when it exists, CREATE otherwise), against the
//! ValidatingAdmissionPolicies that gate the Kustomization (`spec.policies`), before anything
//! is applied. One `Deny` failure means the revision is not applied at all; `Warn` and `Audit`
//! failures are reported and let the apply go on.
//!
//! Policies come from the cluster (`admissionregistration.k8s.io/v1` policies whose labels
//! match `spec.policies.selector`, with all bindings) and/or from the source
//! (`spec.policies.paths`, see [`super::build::Built::source_policies`]). Evaluation is the
//! `policies` crate's, the engine the local API server's admission uses too, so the gate
//! decides what the API server would: bindings' `matchResources`, `paramRef`s (params read
//! from the cluster, the source and the built objects), `matchConditions`, `failurePolicy`
//! and `validationActions`. Namespace labels come from the built Namespaces first, then the
//! cluster's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crds::Kustomization;
use crds::policy::{
    MAX_REPORTED_VIOLATIONS, PolicyOrigin, PolicyOrigins, PolicyResult, PolicyViolation,
    ValidationAction,
};
use crds::references::NamespacedObjectKindReference;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use policies::{ObjectSet, PolicySet, Request};
use serde_json::Value;

use super::build::Built;

/// What the gate decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateOutcome {
    /// Per policy and binding: how many objects it was evaluated on and which failed
    /// (for `status.policyResults`).
    pub results: Vec<PolicyResult>,
    /// Failures of bindings with `Deny`: any one of them blocks the apply.
    pub denied: Vec<Denial>,
    /// Failures of bindings with `Warn` (the apply goes on; worth a Warning Event).
    pub warnings: Vec<Denial>,
}

impl GateOutcome {
    /// Whether the apply must be blocked.
    pub fn is_denied(&self) -> bool {
        !self.denied.is_empty()
    }

    /// The `Ready` message for a denied revision: how many objects were denied, then the
    /// first few denials in full.
    pub fn denial_message(&self) -> String {
        const SHOWN: usize = 5;
        let mut message = format!(
            "{} object{} denied by admission policies: ",
            self.denied.len(),
            if self.denied.len() == 1 { "" } else { "s" }
        );
        let shown: Vec<String> = self
            .denied
            .iter()
            .take(SHOWN)
            .map(|d| d.to_string())
            .collect();
        message.push_str(&shown.join("; "));
        if self.denied.len() > SHOWN {
            message.push_str(&format!("; and {} more", self.denied.len() - SHOWN));
        }
        message
    }
}

/// One object failing one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The ValidatingAdmissionPolicy.
    pub policy: String,
    /// The binding that applied it.
    pub binding: String,
    /// Cluster or source.
    pub origin: PolicyOrigin,
    /// The object.
    pub object: NamespacedObjectKindReference,
    /// The failed validation's message.
    pub message: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.object;
        match &o.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", o.kind, o.name)?,
            None => write!(f, "{} {}", o.kind, o.name)?,
        }
        write!(
            f,
            ": ValidatingAdmissionPolicy {} (binding {}): {}",
            self.policy, self.binding, self.message
        )
    }
}

/// Why the gate could not decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// A policy does not compile, or a policy or binding does not have the shape of its kind
    /// (reason `PolicyInvalid`; retrying cannot help until the policy changes).
    #[error("{origin:?} policy: {message}")]
    PolicyInvalid {
        /// Where the policy came from.
        origin: PolicyOrigin,
        /// The engine's message, naming the policy and field.
        message: String,
    },
    /// A built object cannot be made into an admission request or handed to CEL.
    #[error("{object}: {message}")]
    Object {
        /// `Kind namespace/name`.
        object: String,
        /// What is wrong.
        message: String,
    },
    /// Listing policies, bindings, namespaces or params failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
}

impl GateError {
    /// Whether this is a broken policy (→ `PolicyInvalid`, `Stalled`).
    pub fn is_policy_invalid(&self) -> bool {
        matches!(self, GateError::PolicyInvalid { .. })
    }
}

fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> GateError {
    let action = action.into();
    move |source| GateError::Kube {
        action,
        source: Box::new(source),
    }
}

/// Policies and bindings of one origin, compiled, with their raw documents.
struct Gate {
    origin: PolicyOrigin,
    set: PolicySet,
    /// `(policy, binding)` of every binding whose policy is in the set.
    pairs: Vec<(String, String)>,
}

impl Gate {
    fn new(origin: PolicyOrigin, docs: &[Value]) -> Result<Self, GateError> {
        let mut set = PolicySet::new();
        for doc in docs {
            set.add(doc).map_err(|e| GateError::PolicyInvalid {
                origin,
                message: e.to_string(),
            })?;
        }
        let policies: BTreeSet<&str> = docs
            .iter()
            .filter(|d| is_kind(d, "ValidatingAdmissionPolicy"))
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        let pairs = docs
            .iter()
            .filter(|d| is_kind(d, "ValidatingAdmissionPolicyBinding"))
            .filter_map(|d| {
                let policy = d["spec"]["policyName"].as_str()?;
                let binding = d["metadata"]["name"].as_str()?;
                policies
                    .contains(policy)
                    .then(|| (policy.to_owned(), binding.to_owned()))
            })
            .collect();
        Ok(Self { origin, set, pairs })
    }
}

fn is_kind(doc: &Value, kind: &str) -> bool {
    doc["apiVersion"] == "admissionregistration.k8s.io/v1" && doc["kind"] == kind
}

/// Evaluates the policies gating `ks` against every object of `built`.
#[tracing::instrument(name = "policy_gate", skip_all, fields(namespace = %ks.namespace().unwrap_or_default(), name = %ks.name_any()))]
pub async fn evaluate(
    client: &kube::Client,
    ks: &Kustomization,
    built: &Built,
) -> Result<GateOutcome, GateError> {
    let spec = ks.spec.policies.clone().unwrap_or_default();
    let mut gates = Vec::new();
    let mut param_docs: Vec<Value> = Vec::new();
    if matches!(spec.from, PolicyOrigins::Cluster | PolicyOrigins::Both) {
        let docs = cluster_policies(client, spec.selector.as_ref()).await?;
        param_docs.extend(cluster_params(client, &docs).await?);
        gates.push(Gate::new(PolicyOrigin::Cluster, &docs)?);
    }
    if matches!(spec.from, PolicyOrigins::Source | PolicyOrigins::Both) {
        gates.push(Gate::new(PolicyOrigin::Source, &built.source_policies)?);
        param_docs.extend(
            built
                .source_policies
                .iter()
                .filter(|d| d["apiVersion"] != "admissionregistration.k8s.io/v1")
                .cloned(),
        );
    }
    if gates.iter().all(|g| g.pairs.is_empty()) {
        return Ok(GateOutcome::default());
    }

    // Built objects first: a Namespace or params object the revision brings is what the API
    // server will see by the time the objects in it are created.
    let mut lookup_objects: Vec<Value> = built
        .objects
        .iter()
        .filter(|o| o["apiVersion"] == "v1" && o["kind"] == "Namespace")
        .cloned()
        .collect();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces
        .list(&ListParams::default())
        .await
        .map_err(kube_err("listing Namespaces"))?
    {
        let mut value = serde_json::to_value(&ns).unwrap_or(Value::Null);
        value["apiVersion"] = "v1".into();
        value["kind"] = "Namespace".into();
        lookup_objects.push(value);
    }
    lookup_objects.extend(built.objects.iter().cloned());
    lookup_objects.extend(param_docs);
    let lookup = ObjectSet::new(lookup_objects);
    let live = live_objects(client, &built.objects).await?;

    let mut results: BTreeMap<(u8, String, String), PolicyResult> = BTreeMap::new();
    for gate in &gates {
        for (policy, binding) in &gate.pairs {
            results.insert(
                (origin_rank(gate.origin), policy.clone(), binding.clone()),
                PolicyResult {
                    policy: policy.clone(),
                    binding: Some(binding.clone()),
                    origin: gate.origin,
                    evaluated: 0,
                    violations: Vec::new(),
                    truncated: false,
                },
            );
        }
    }
    let mut outcome = GateOutcome::default();
    for object in &built.objects {
        let describe = super::substitute::describe(object);
        let request = match live.get(&live_key(object)) {
            Some(old) => Request::update(old.clone(), object.clone()),
            None => Request::create(object.clone()),
        }
        .map_err(|e| GateError::Object {
            object: describe.clone(),
            message: e.to_string(),
        })?;
        let reference = object_reference(object, request.namespace.clone());
        for gate in &gates {
            let verdicts = gate
                .set
                .evaluate(&request, &lookup)
                .map_err(|e| GateError::Object {
                    object: describe.clone(),
                    message: e.to_string(),
                })?;
            for verdict in verdicts {
                let key = (
                    origin_rank(gate.origin),
                    verdict.policy.clone(),
                    verdict.binding.clone(),
                );
                let result = results.entry(key).or_insert_with(|| PolicyResult {
                    policy: verdict.policy.clone(),
                    binding: Some(verdict.binding.clone()),
                    origin: gate.origin,
                    evaluated: 0,
                    violations: Vec::new(),
                    truncated: false,
                });
                result.evaluated += 1;
                let action = strongest(&verdict.actions);
                for failure in &verdict.failures {
                    let denial = Denial {
                        policy: verdict.policy.clone(),
                        binding: verdict.binding.clone(),
                        origin: gate.origin,
                        object: reference.clone(),
                        message: failure.message.clone(),
                    };
                    if result.violations.len() < MAX_REPORTED_VIOLATIONS {
                        result.violations.push(PolicyViolation {
                            object: reference.clone(),
                            action,
                            message: failure.message.clone(),
                        });
                    } else {
                        result.truncated = true;
                    }
                    match action {
                        ValidationAction::Deny => outcome.denied.push(denial),
                        ValidationAction::Warn => outcome.warnings.push(denial),
                        ValidationAction::Audit => {}
                    }
                }
            }
        }
    }
    outcome.results = results.into_values().collect();
    Ok(outcome)
}

fn origin_rank(origin: PolicyOrigin) -> u8 {
    match origin {
        PolicyOrigin::Cluster => 0,
        PolicyOrigin::Source => 1,
    }
}

/// Deny over Warn over Audit, as a binding's actions combine.
fn strongest(actions: &[policies::ValidationAction]) -> ValidationAction {
    if actions.contains(&policies::ValidationAction::Deny) {
        ValidationAction::Deny
    } else if actions.contains(&policies::ValidationAction::Warn) {
        ValidationAction::Warn
    } else {
        ValidationAction::Audit
    }
}

fn object_reference(object: &Value, namespace: Option<String>) -> NamespacedObjectKindReference {
    NamespacedObjectKindReference {
        api_version: object["apiVersion"].as_str().map(str::to_owned),
        kind: object["kind"].as_str().unwrap_or_default().to_owned(),
        name: object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        namespace,
    }
}

/// The cluster's policies matching `selector`, and all bindings, as JSON documents.
async fn cluster_policies(
    client: &kube::Client,
    selector: Option<&LabelSelector>,
) -> Result<Vec<Value>, GateError> {
    let mut params = ListParams::default();
    if let Some(selector) = selector {
        params = params.labels(&selector_string(selector));
    }
    let vaps: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
    let mut docs = Vec::new();
    for vap in vaps
        .list(&params)
        .await
        .map_err(kube_err("listing ValidatingAdmissionPolicies"))?
    {
        docs.push(with_type(
            serde_json::to_value(&vap).unwrap_or(Value::Null),
            "ValidatingAdmissionPolicy",
        ));
    }
    for binding in bindings
        .list(&ListParams::default())
        .await
        .map_err(kube_err("listing ValidatingAdmissionPolicyBindings"))?
    {
        docs.push(with_type(
            serde_json::to_value(&binding).unwrap_or(Value::Null),
            "ValidatingAdmissionPolicyBinding",
        ));
    }
    Ok(docs)
}

/// Typed lists drop `apiVersion`/`kind` from items; the policy engine keys on them.
fn with_type(mut doc: Value, kind: &str) -> Value {
    doc["apiVersion"] = "admissionregistration.k8s.io/v1".into();
    doc["kind"] = kind.into();
    doc
}

/// Every object of the params kinds the cluster policies name (`spec.paramKind`).
async fn cluster_params(client: &kube::Client, docs: &[Value]) -> Result<Vec<Value>, GateError> {
    let kinds: BTreeSet<(String, String)> = docs
        .iter()
        .filter(|d| is_kind(d, "ValidatingAdmissionPolicy"))
        .filter_map(|d| {
            let p = &d["spec"]["paramKind"];
            Some((
                p["apiVersion"].as_str()?.to_owned(),
                p["kind"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut out = Vec::new();
    for (api_version, kind) in kinds {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.clone()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        // A params kind the cluster does not serve has no objects: the binding's
        // `parameterNotFoundAction` then decides, as in the API server.
        let Ok((resource, _)) = kube::discovery::pinned_kind(client, &gvk).await else {
            continue;
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(kube_err(format!(
                "listing {kind} ({api_version}) for params"
            )))?;
        for item in list {
            let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
            value["apiVersion"] = api_version.clone().into();
            value["kind"] = kind.clone().into();
            out.push(value);
        }
    }
    Ok(out)
}

/// `(apiVersion, kind, namespace, name)`; the namespace is empty for cluster-scoped objects and
/// `default` for namespaced ones without one, as [`Request::create`] assumes.
type LiveKey = (String, String, String, String);

fn live_key(object: &Value) -> LiveKey {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&object["apiVersion"]),
        s(&object["kind"]),
        s(&object["metadata"]["namespace"]),
        s(&object["metadata"]["name"]),
    )
}

/// The live objects the build would update, read with one LIST per kind and namespace (not
/// one GET per object). Kinds the cluster does not serve yet (a CRD the same revision
/// installs) have no live objects: their objects are CREATEs.
async fn live_objects(
    client: &kube::Client,
    objects: &[Value],
) -> Result<std::collections::HashMap<LiveKey, Value>, GateError> {
    let mut wanted: BTreeMap<(String, String), BTreeMap<String, BTreeSet<String>>> =
        BTreeMap::new();
    for object in objects {
        let (api_version, kind, namespace, name) = live_key(object);
        wanted
            .entry((api_version, kind))
            .or_default()
            .entry(namespace)
            .or_default()
            .insert(name);
    }
    let mut live = std::collections::HashMap::new();
    for ((api_version, kind), by_namespace) in wanted {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.clone()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let Ok((resource, caps)) = kube::discovery::pinned_kind(client, &gvk).await else {
            continue;
        };
        let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
        for (namespace, names) in by_namespace {
            let (api, key_namespace): (Api<DynamicObject>, String) = if namespaced {
                let ns = if namespace.is_empty() {
                    "default".to_owned()
                } else {
                    namespace.clone()
                };
                (
                    Api::namespaced_with(client.clone(), &ns, &resource),
                    namespace.clone(),
                )
            } else {
                (Api::all_with(client.clone(), &resource), namespace.clone())
            };
            let list = match api.list(&ListParams::default()).await {
                Ok(list) => list,
                // A namespace the revision creates does not exist yet: nothing to update.
                Err(kube::Error::Api(status)) if status.code == 404 => continue,
                Err(e) => {
                    return Err(kube_err(format!(
                        "listing {kind} ({api_version}) to find live objects"
                    ))(e));
                }
            };
            for item in list {
                let name = item.metadata.name.clone().unwrap_or_default();
                if !names.contains(&name) {
                    continue;
                }
                let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
                value["apiVersion"] = api_version.clone().into();
                value["kind"] = kind.clone().into();
                live.insert(
                    (
                        api_version.clone(),
                        kind.clone(),
                        key_namespace.clone(),
                        name,
                    ),
                    value,
                );
            }
        }
    }
    Ok(live)
}

/// A label selector in the `?labelSelector=` syntax.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    #[test]
    fn selectors_are_written_in_query_syntax() {
        let selector = LabelSelector {
            match_labels: Some([("tier".to_owned(), "prod".to_owned())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "team".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector_string(&selector),
            "tier=prod,team in (a,b),!legacy"
        );
    }

    #[test]
    fn deny_wins_over_warn_and_audit() {
        use policies::ValidationAction as A;
        assert_eq!(strongest(&[A::Warn, A::Deny]), ValidationAction::Deny);
        assert_eq!(strongest(&[A::Audit, A::Warn]), ValidationAction::Warn);
        assert_eq!(strongest(&[A::Audit]), ValidationAction::Audit);
    }
}

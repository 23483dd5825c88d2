//! The policy gate against a real control plane: ValidatingAdmissionPolicies and bindings
//! installed in the cluster (filtered by `spec.policies.selector`, params from the cluster)
//! or brought by the source, evaluated on every built object before anything is applied.

use crate::source_fixtures;

use crds::policy::{PolicyOrigin, ValidationAction};
use reconcilers::kustomization::build::{Built, render_all};
use reconcilers::kustomization::gate::{GateError, evaluate};
use serde_json::{Value, json};
use source_fixtures::{Cluster, kustomization, tree};

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    })
}

fn built(objects: Vec<Value>) -> Built {
    Built {
        objects,
        source_policies: Vec::new(),
    }
}

/// A policy capping Deployment replicas, bound with `actions`, labelled `gate=<label>`.
fn replicas_policy(name: &str, label: &str, max: i64, actions: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
  labels: {{gate: {label}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: object.spec.replicas <= {max}
    message: at most {max} replicas
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}-binding
spec:
  policyName: {name}
  validationActions: {actions}
"#
    )
}

fn ks(policies: &str) -> crds::Kustomization {
    kustomization(&format!(
        "metadata: {{name: app, namespace: default}}\nspec:\n  sourceRef: {{kind: GitRepository, name: repo}}\n  interval: 5m\n  prune: true\n{policies}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_policy_denial_names_policy_binding_object_and_message() {
    let cluster = Cluster::start().await;
    cluster
        .apply(&replicas_policy("max-replicas", "prod", 3, "[Deny]"))
        .await;
    let objects = vec![deployment("small", 2), deployment("big", 10)];
    let outcome = evaluate(&cluster.client, &ks(""), &built(objects))
        .await
        .expect("gate runs");

    assert!(outcome.is_denied());
    assert_eq!(outcome.denied.len(), 1);
    let denial = &outcome.denied[0];
    assert_eq!(denial.policy, "max-replicas");
    assert_eq!(denial.binding, "max-replicas-binding");
    assert_eq!(denial.object.kind, "Deployment");
    assert_eq!(denial.object.name, "big");
    assert_eq!(denial.object.namespace.as_deref(), Some("apps"));
    assert_eq!(denial.message, "at most 3 replicas");
    let message = outcome.denial_message();
    assert!(message.contains("Deployment apps/big"), "{message}");
    assert!(message.contains("max-replicas"), "{message}");

    let result = &outcome.results[0];
    assert_eq!(result.origin, PolicyOrigin::Cluster);
    assert_eq!(result.evaluated, 2);
    assert_eq!(result.violations.len(), 1);
    assert_eq!(result.violations[0].action, ValidationAction::Deny);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warn_binding_reports_without_denying() {
    let cluster = Cluster::start().await;
    cluster
        .apply(&replicas_policy("soft-limit", "prod", 3, "[Warn]"))
        .await;
    let outcome = evaluate(
        &cluster.client,
        &ks(""),
        &built(vec![deployment("big", 10)]),
    )
    .await
    .expect("gate runs");
    assert!(!outcome.is_denied());
    assert_eq!(outcome.warnings.len(), 1);
    assert_eq!(outcome.warnings[0].object.name, "big");
    assert_eq!(
        outcome.results[0].violations[0].action,
        ValidationAction::Warn
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_selector_picks_which_cluster_policies_gate() {
    let cluster = Cluster::start().await;
    cluster
        .apply(&replicas_policy("prod-limit", "prod", 3, "[Deny]"))
        .await;
    cluster
        .apply(&replicas_policy("staging-limit", "staging", 1, "[Deny]"))
        .await;
    let spec = "  policies:\n    selector:\n      matchLabels: {gate: prod}\n";
    let outcome = evaluate(
        &cluster.client,
        &ks(spec),
        &built(vec![deployment("web", 2)]),
    )
    .await
    .expect("gate runs");
    assert!(!outcome.is_denied(), "{:?}", outcome.denied);
    let policies: Vec<&str> = outcome.results.iter().map(|r| r.policy.as_str()).collect();
    assert_eq!(policies, ["prod-limit"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_are_read_from_the_cluster() {
    let cluster = Cluster::start().await;
    cluster
        .apply(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: limits, namespace: default}
data: {maxReplicas: "4"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: param-limit}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: object.spec.replicas <= int(params.data.maxReplicas)
    messageExpression: "'at most ' + params.data.maxReplicas + ' replicas'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: param-limit-binding}
spec:
  policyName: param-limit
  validationActions: [Deny]
  paramRef: {name: limits, namespace: default, parameterNotFoundAction: Deny}
"#,
        )
        .await;
    let objects = vec![deployment("ok", 4), deployment("too-big", 5)];
    let outcome = evaluate(&cluster.client, &ks(""), &built(objects))
        .await
        .expect("gate runs");
    let denied: Vec<(&str, &str)> = outcome
        .denied
        .iter()
        .map(|d| (d.object.name.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(denied, [("too-big", "at most 4 replicas")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_from_the_source_gate_the_build() {
    let cluster = Cluster::start().await;
    let source = tree(&[
        (
            "app/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\nspec:\n  replicas: 9\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: nginx}]}\n",
        ),
        (
            "policies/limit.yaml",
            &replicas_policy("repo-limit", "repo", 3, "[Deny]"),
        ),
    ]);
    let ks = ks("  path: app\n  policies:\n    from: Source\n    paths: [policies]\n");
    let built = render_all(&ks.spec, source.path(), None).expect("builds");
    let outcome = evaluate(&cluster.client, &ks, &built)
        .await
        .expect("gate runs");
    assert_eq!(outcome.denied.len(), 1);
    assert_eq!(outcome.denied[0].policy, "repo-limit");
    assert_eq!(outcome.denied[0].origin, PolicyOrigin::Source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_does_not_compile_is_policy_invalid() {
    let cluster = Cluster::start().await;
    let mut built = built(vec![deployment("web", 1)]);
    built.source_policies = source_docs(&replicas_policy("broken", "repo", 3, "[Deny]"))
        .into_iter()
        .map(|mut d| {
            if d["kind"] == "ValidatingAdmissionPolicy" {
                d["spec"]["validations"][0]["expression"] = json!("object.spec.replicas <=");
            }
            d
        })
        .collect();
    let ks = ks("  policies:\n    from: Source\n    paths: [policies]\n");
    let err = evaluate(&cluster.client, &ks, &built).await.unwrap_err();
    assert!(err.is_policy_invalid(), "{err}");
    assert!(matches!(
        &err,
        GateError::PolicyInvalid {
            origin: PolicyOrigin::Source,
            ..
        }
    ));
    assert!(err.to_string().contains("broken"), "{err}");
}

fn source_docs(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).expect("YAML")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_that_exists_is_checked_as_an_update_with_the_live_old_object() {
    let cluster = Cluster::start().await;
    cluster
        .apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n")
        .await;
    let live = serde_json::to_string(&deployment("web", 3)).expect("JSON");
    cluster.apply(&live).await;
    cluster
        .apply(
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-scale-down}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [UPDATE]
      resources: [deployments]
  validations:
  - expression: object.spec.replicas >= oldObject.spec.replicas
    message: replicas may not go down
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-scale-down-binding}
spec:
  policyName: no-scale-down
  validationActions: [Deny]
"#,
        )
        .await;
    // `web` exists with 3 replicas: an UPDATE to 1 is denied. `new` does not exist: a CREATE,
    // which this UPDATE-only policy does not look at.
    let objects = vec![deployment("web", 1), deployment("new", 1)];
    let outcome = evaluate(&cluster.client, &ks(""), &built(objects))
        .await
        .expect("gate runs");
    let denied: Vec<&str> = outcome
        .denied
        .iter()
        .map(|d| d.object.name.as_str())
        .collect();
    assert_eq!(denied, ["web"]);
    assert_eq!(outcome.results[0].evaluated, 1);
}

//! Shared helpers for the policy tests: build a policy set from YAML and
//! evaluate objects written as YAML.
#![allow(dead_code)]

use policies::{ObjectSet, PolicySet, Request, Verdict};

/// A policy set from a YAML stream of policies and bindings.
pub fn policy_set(yaml: &str) -> PolicySet {
    let mut set = PolicySet::new();
    for doc in policies::parse_documents(yaml).expect("policy YAML parses") {
        assert!(
            set.add(&doc).expect("policy compiles"),
            "not a policy or binding: {doc}"
        );
    }
    set
}

/// The verdicts for `object` (YAML) created with `others` (YAML stream,
/// e.g. params and namespaces) known.
pub fn verdicts(set: &PolicySet, object: &str, others: &str) -> Vec<Verdict> {
    let object = policies::parse_documents(object)
        .expect("object YAML parses")
        .remove(0);
    let others = policies::parse_documents(others).expect("YAML parses");
    let request = Request::create(object).expect("request");
    set.evaluate(&request, &ObjectSet::new(others))
        .expect("evaluates")
}

/// All failure messages of the verdicts, in order.
pub fn messages(verdicts: &[Verdict]) -> Vec<String> {
    verdicts
        .iter()
        .flat_map(|v| v.failures.iter().map(|f| f.message.clone()))
        .collect()
}

/// A policy named `name` over apps/v1 deployments (CREATE, UPDATE), with
/// `extra` spliced into its spec (indented 2 spaces), and a Deny binding.
pub fn deployment_policy(name: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
{extra}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}-binding
spec:
  policyName: {name}
  validationActions: [Deny]
"#
    )
}

/// A Deployment with `replicas` and labels `app: web`.
pub fn deployment(name: &str, namespace: &str, replicas: i64) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app: web
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
      - name: app
        image: registry.example.com/web:1.2.3
"#
    )
}

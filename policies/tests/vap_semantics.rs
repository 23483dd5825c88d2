//! ValidatingAdmissionPolicy semantics, one behaviour per test: matching,
//! params, match conditions, variables, validations, audit annotations,
//! failure policy and validation actions.

mod common;

use common::{deployment, deployment_policy, messages, policy_set, verdicts};
use policies::{FailureKind, ValidationAction};

const REPLICAS_LE_5: &str = r#"  validations:
  - expression: "object.spec.replicas <= 5"
    message: "at most 5 replicas"
"#;

#[test]
fn a_failing_validation_yields_its_message_and_default_reason() {
    let set = policy_set(&deployment_policy("max-replicas", REPLICAS_LE_5));
    let v = verdicts(&set, &deployment("web", "default", 9), "");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].failures[0].message, "at most 5 replicas");
    assert_eq!(v[0].failures[0].reason, "Invalid");
    assert!(v[0].denies());
}

#[test]
fn a_passing_object_yields_a_passing_verdict() {
    let set = policy_set(&deployment_policy("max-replicas", REPLICAS_LE_5));
    let v = verdicts(&set, &deployment("web", "default", 3), "");
    assert_eq!(v.len(), 1);
    assert!(v[0].passed());
}

#[test]
fn objects_of_other_resources_do_not_match() {
    let set = policy_set(&deployment_policy("max-replicas", REPLICAS_LE_5));
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n";
    assert!(verdicts(&set, cm, "").is_empty());
}

#[test]
fn resource_wildcards_and_operations_match_like_kubernetes() {
    let yaml = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: all}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["*"]
      apiVersions: ["*"]
      operations: ["*"]
      resources: ["*"]
  validations:
  - expression: "false"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: delete-only}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["*"]
      apiVersions: ["*"]
      operations: ["DELETE"]
      resources: ["*"]
  validations:
  - expression: "false"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: all}
spec: {policyName: all, validationActions: [Deny]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: delete-only}
spec: {policyName: delete-only, validationActions: [Deny]}
"#;
    let set = policy_set(yaml);
    let v = verdicts(&set, &deployment("web", "default", 1), "");
    let policies: Vec<&str> = v.iter().map(|v| v.policy.as_str()).collect();
    assert_eq!(policies, ["all"]);
}

#[test]
fn exclude_resource_rules_win_over_resource_rules() {
    let set = policy_set(&deployment_policy(
        "max-replicas",
        &format!(
            "{REPLICAS_LE_5}  failurePolicy: Fail\n"
        ),
    ).replace(
        "      resources: [\"deployments\"]\n",
        "      resources: [\"deployments\"]\n    excludeResourceRules:\n    - apiGroups: [\"apps\"]\n      apiVersions: [\"v1\"]\n      operations: [\"*\"]\n      resources: [\"deployments\"]\n      resourceNames: [\"legacy\"]\n",
    ));
    assert!(verdicts(&set, &deployment("legacy", "default", 9), "").is_empty());
    assert_eq!(
        verdicts(&set, &deployment("web", "default", 9), "").len(),
        1
    );
}

#[test]
fn namespace_selector_reads_labels_of_the_given_namespace() {
    let policy = deployment_policy("max-replicas", REPLICAS_LE_5).replace(
        "  matchConstraints:\n",
        "  matchConstraints:\n    namespaceSelector:\n      matchLabels: {env: prod}\n",
    );
    let set = policy_set(&policy);
    let prod = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n";
    assert_eq!(verdicts(&set, &deployment("web", "shop", 9), prod).len(), 1);
    // A namespace that is not given has no labels.
    assert!(verdicts(&set, &deployment("web", "shop", 9), "").is_empty());
}

#[test]
fn object_selector_match_expressions_select_by_object_labels() {
    let policy = deployment_policy("max-replicas", REPLICAS_LE_5).replace(
        "  matchConstraints:\n",
        "  matchConstraints:\n    objectSelector:\n      matchExpressions:\n      - {key: app, operator: In, values: [web]}\n",
    );
    let set = policy_set(&policy);
    assert_eq!(
        verdicts(&set, &deployment("web", "default", 9), "").len(),
        1
    );
    let other = deployment("db", "default", 9).replace("app: web", "app: db");
    assert!(verdicts(&set, &other, "").is_empty());
}

#[test]
fn cluster_scope_rule_does_not_match_namespaced_objects() {
    let policy = deployment_policy("max-replicas", REPLICAS_LE_5).replace(
        "      resources: [\"deployments\"]\n",
        "      resources: [\"deployments\"]\n      scope: Cluster\n",
    );
    let set = policy_set(&policy);
    assert!(verdicts(&set, &deployment("web", "default", 9), "").is_empty());
}

#[test]
fn binding_match_resources_narrow_the_policy() {
    let policy = deployment_policy("max-replicas", REPLICAS_LE_5).replace(
        "  validationActions: [Deny]\n",
        "  validationActions: [Deny]\n  matchResources:\n    namespaceSelector:\n      matchLabels: {env: prod}\n",
    );
    let set = policy_set(&policy);
    let prod = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n";
    assert_eq!(verdicts(&set, &deployment("web", "shop", 9), prod).len(), 1);
    assert!(verdicts(&set, &deployment("web", "dev", 9), prod).is_empty());
}

const PARAM_POLICY: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replica-limit}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
  - expression: "object.spec.replicas <= int(params.data.maxReplicas)"
    messageExpression: "'replicas must be at most ' + params.data.maxReplicas"
"#;

fn param_binding(param_ref: &str) -> String {
    format!(
        "{PARAM_POLICY}---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {{name: replica-limit}}\nspec:\n  policyName: replica-limit\n  validationActions: [Deny]\n  paramRef:\n{param_ref}"
    )
}

const LIMITS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: limits, namespace: default, labels: {tier: small}}
data: {maxReplicas: "3"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: big-limits, namespace: default, labels: {tier: big}}
data: {maxReplicas: "20"}
"#;

#[test]
fn param_ref_by_name_feeds_params_and_message_expression() {
    let set = policy_set(&param_binding(
        "    name: limits\n    parameterNotFoundAction: Deny\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 5), LIMITS);
    assert_eq!(messages(&v), ["replicas must be at most 3"]);
    assert_eq!(v[0].params.as_deref(), Some("default/limits"));
}

#[test]
fn param_ref_selector_evaluates_once_per_matching_params_object() {
    let set = policy_set(&param_binding(
        "    selector: {matchExpressions: [{key: tier, operator: Exists}]}\n    parameterNotFoundAction: Deny\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 5), LIMITS);
    assert_eq!(v.len(), 2);
    assert_eq!(messages(&v), ["replicas must be at most 3"]);
}

#[test]
fn param_ref_namespace_restricts_where_params_are_found() {
    let set = policy_set(&param_binding(
        "    name: limits\n    namespace: elsewhere\n    parameterNotFoundAction: Allow\n",
    ));
    assert!(verdicts(&set, &deployment("web", "default", 5), LIMITS).is_empty());
}

#[test]
fn missing_params_with_deny_action_fail_the_request() {
    let set = policy_set(&param_binding(
        "    name: absent\n    parameterNotFoundAction: Deny\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 1), LIMITS);
    assert_eq!(v[0].failures[0].kind, FailureKind::Error);
    assert!(
        v[0].failures[0].message.contains("no params found"),
        "{:?}",
        v[0].failures
    );
}

#[test]
fn missing_params_with_allow_action_skip_the_policy() {
    let set = policy_set(&param_binding(
        "    name: absent\n    parameterNotFoundAction: Allow\n",
    ));
    assert!(verdicts(&set, &deployment("web", "default", 9), LIMITS).is_empty());
}

#[test]
fn match_condition_false_skips_the_policy() {
    let set = policy_set(&deployment_policy(
        "max-replicas",
        &format!(
            "  matchConditions:\n  - name: not-system\n    expression: \"object.metadata.namespace != 'kube-system'\"\n{REPLICAS_LE_5}"
        ),
    ));
    assert!(verdicts(&set, &deployment("web", "kube-system", 9), "").is_empty());
    assert_eq!(
        verdicts(&set, &deployment("web", "default", 9), "")[0]
            .failures
            .len(),
        1
    );
}

#[test]
fn match_condition_error_follows_failure_policy() {
    let cond =
        "  matchConditions:\n  - name: broken\n    expression: \"object.spec.missing == 1\"\n";
    let fail = policy_set(&deployment_policy("p", &format!("{cond}{REPLICAS_LE_5}")));
    let v = verdicts(&fail, &deployment("web", "default", 1), "");
    assert_eq!(v[0].failures[0].kind, FailureKind::Error);
    let ignore = policy_set(&deployment_policy(
        "p",
        &format!("{cond}  failurePolicy: Ignore\n{REPLICAS_LE_5}"),
    ));
    let v = verdicts(&ignore, &deployment("web", "default", 1), "");
    assert!(v[0].passed());
    assert_eq!(v[0].ignored_errors.len(), 1);
}

#[test]
fn absent_field_with_failure_policy_fail_rejects() {
    let set = policy_set(&deployment_policy(
        "p",
        "  validations:\n  - expression: \"object.spec.paused == false\"\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 1), "");
    assert_eq!(v[0].failures[0].kind, FailureKind::Error);
    assert!(
        v[0].failures[0].message.contains("no such key: paused"),
        "{}",
        v[0].failures[0].message
    );
    assert!(v[0].denies());
}

#[test]
fn absent_field_with_failure_policy_ignore_skips() {
    let set = policy_set(&deployment_policy(
        "p",
        "  failurePolicy: Ignore\n  validations:\n  - expression: \"object.spec.paused == false\"\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 1), "");
    assert!(v[0].passed());
}

#[test]
fn variables_are_usable_by_later_variables_and_validations() {
    let set = policy_set(&deployment_policy(
        "p",
        r#"  variables:
  - name: containers
    expression: "object.spec.template.spec.containers"
  - name: images
    expression: "variables.containers.map(c, c.image)"
  validations:
  - expression: "variables.images.all(i, i.startsWith('registry.example.com/'))"
    messageExpression: "'bad images: ' + variables.images.join(', ')"
"#,
    ));
    assert!(verdicts(&set, &deployment("web", "default", 1), "")[0].passed());
    let bad = deployment("web", "default", 1).replace("registry.example.com/web", "docker.io/web");
    assert_eq!(
        messages(&verdicts(&set, &bad, "")),
        ["bad images: docker.io/web:1.2.3"]
    );
}

#[test]
fn variables_are_lazy_an_unused_failing_variable_is_harmless() {
    let set = policy_set(&deployment_policy(
        "p",
        r#"  variables:
  - name: broken
    expression: "object.spec.nothing.here"
  validations:
  - expression: "object.spec.replicas < 5"
  - expression: "variables.broken == 1"
"#,
    ));
    let v = verdicts(&set, &deployment("web", "default", 1), "");
    assert_eq!(v[0].failures.len(), 1, "{:?}", v[0].failures);
    assert_eq!(v[0].failures[0].validation, Some(1));
    assert!(
        v[0].failures[0]
            .message
            .contains("composited variable \"broken\"")
    );
}

#[test]
fn a_variable_used_before_its_declaration_does_not_compile() {
    let yaml = deployment_policy(
        "p",
        "  variables:\n  - name: a\n    expression: \"variables.b\"\n  - name: b\n    expression: \"1\"\n  validations:\n  - expression: \"true\"\n",
    );
    let doc = policies::parse_documents(&yaml).unwrap().remove(0);
    let err = policies::PolicySet::new()
        .add(&doc)
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.variables[0].expression"), "{err}");
    assert!(err.contains("variables.b"), "{err}");
}

#[test]
fn compile_errors_name_policy_validation_index_and_position() {
    let yaml = deployment_policy(
        "p",
        "  validations:\n  - expression: \"true\"\n  - expression: \"object.spec.replicas > '3' && foo\"\n",
    );
    let doc = policies::parse_documents(&yaml).unwrap().remove(0);
    let err = policies::PolicySet::new()
        .add(&doc)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "ValidatingAdmissionPolicy p: spec.validations[1].expression: undeclared reference to 'foo' at 1:31"
    );
}

#[test]
fn authorizer_is_a_clear_compile_error_offline() {
    let yaml = deployment_policy(
        "p",
        "  validations:\n  - expression: \"authorizer.group('apps').resource('deployments').check('create').allowed()\"\n",
    );
    let doc = policies::parse_documents(&yaml).unwrap().remove(0);
    let err = policies::PolicySet::new()
        .add(&doc)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'authorizer' at 1:1 is not available"),
        "{err}"
    );
}

#[test]
fn message_expression_error_falls_back_to_message() {
    let set = policy_set(&deployment_policy(
        "p",
        "  validations:\n  - expression: \"false\"\n    message: plain message\n    messageExpression: \"object.nope\"\n    reason: Forbidden\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 1), "");
    assert_eq!(v[0].failures[0].message, "plain message");
    assert_eq!(v[0].failures[0].reason, "Forbidden");
}

#[test]
fn a_validation_without_message_reports_the_expression() {
    let set = policy_set(&deployment_policy(
        "p",
        "  validations:\n  - expression: \"object.spec.replicas < 2\"\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 3), "");
    assert_eq!(
        messages(&v),
        ["failed expression: object.spec.replicas < 2"]
    );
}

#[test]
fn audit_annotations_are_keyed_by_policy_name() {
    let set = policy_set(&deployment_policy(
        "p",
        "  validations:\n  - expression: \"true\"\n  auditAnnotations:\n  - key: replicas\n    valueExpression: \"'replicas=' + string(object.spec.replicas)\"\n  - key: skipped\n    valueExpression: \"null\"\n",
    ));
    let v = verdicts(&set, &deployment("web", "default", 3), "");
    assert_eq!(
        v[0].audit_annotations.get("p/replicas").map(String::as_str),
        Some("replicas=3")
    );
    assert_eq!(v[0].audit_annotations.len(), 1);
}

#[test]
fn warn_and_audit_actions_do_not_deny() {
    for (actions, expected) in [
        ("[Warn]", vec![ValidationAction::Warn]),
        ("[Audit]", vec![ValidationAction::Audit]),
        (
            "[Warn, Audit]",
            vec![ValidationAction::Warn, ValidationAction::Audit],
        ),
    ] {
        let set = policy_set(&deployment_policy("p", REPLICAS_LE_5).replace("[Deny]", actions));
        let v = verdicts(&set, &deployment("web", "default", 9), "");
        assert_eq!(v[0].actions, expected);
        assert!(!v[0].passed());
        assert!(!v[0].denies(), "{actions}");
    }
}

#[test]
fn request_and_namespace_object_are_bound() {
    let set = policy_set(&deployment_policy(
        "p",
        r#"  validations:
  - expression: "request.operation == 'CREATE' && request.kind.kind == 'Deployment' && request.resource.resource == 'deployments'"
  - expression: "request.namespace == 'shop' && namespaceObject.metadata.name == 'shop' && oldObject == null"
  - expression: "namespaceObject.metadata.labels.team == 'payments'"
"#,
    ));
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: payments}}\n";
    let v = verdicts(&set, &deployment("web", "shop", 1), ns);
    assert!(v[0].passed(), "{:?}", v[0].failures);
}

#[test]
fn update_requests_bind_old_object() {
    let set = policy_set(&deployment_policy(
        "no-scale-down",
        "  validations:\n  - expression: \"oldObject == null || object.spec.replicas >= oldObject.spec.replicas\"\n    message: no scaling down\n",
    ));
    let old = policies::parse_documents(&deployment("web", "default", 5))
        .unwrap()
        .remove(0);
    let new = policies::parse_documents(&deployment("web", "default", 2))
        .unwrap()
        .remove(0);
    let req = policies::Request::update(old, new).unwrap();
    let v = set.evaluate(&req, &policies::ObjectSet::default()).unwrap();
    assert_eq!(messages(&v), ["no scaling down"]);
}

#[test]
fn a_runaway_expression_fails_by_cost_and_follows_failure_policy() {
    let runaway = "  validations:\n  - expression: \"object.spec.items.all(a, object.spec.items.all(b, object.spec.items.all(c, a + b + c >= 0)))\"\n";
    let items: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    let object = deployment("web", "default", 1).replace(
        "  replicas: 1\n",
        &format!("  replicas: 1\n  items: [{}]\n", items.join(", ")),
    );
    let fail = policy_set(&deployment_policy("p", runaway));
    let v = verdicts(&fail, &object, "");
    assert_eq!(v[0].failures[0].kind, FailureKind::Error);
    assert!(
        v[0].failures[0].message.contains("cost limit exceeded"),
        "{}",
        v[0].failures[0].message
    );
    let ignore = policy_set(&deployment_policy(
        "p",
        &format!("  failurePolicy: Ignore\n{runaway}"),
    ));
    let v = verdicts(&ignore, &object, "");
    assert!(v[0].passed());
    assert!(v[0].ignored_errors[0].contains("cost limit exceeded"));
}

#[test]
fn namespace_selector_does_not_apply_to_cluster_scoped_objects() {
    let yaml = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-default-storage}
spec:
  matchConstraints:
    namespaceSelector:
      matchLabels: {env: prod}
    resourceRules:
    - {apiGroups: [storage.k8s.io], apiVersions: [v1], operations: [CREATE], resources: [storageclasses], scope: Cluster}
  validations:
  - expression: "!has(object.metadata.annotations)"
    message: no annotations on storage classes
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-default-storage}
spec: {policyName: no-default-storage, validationActions: [Deny]}
"#;
    let set = policy_set(yaml);
    let sc = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast, annotations: {a: b}}\nprovisioner: x\n";
    let v = verdicts(&set, sc, "");
    assert_eq!(messages(&v), ["no annotations on storage classes"]);
}

#[test]
fn authorizer_answers_from_a_rule_set_when_one_is_given() {
    let yaml = deployment_policy(
        "sa-may-read-secrets",
        r#"  validations:
  - expression: "authorizer.serviceAccount(object.metadata.namespace, 'web').group('').resource('secrets').namespace(object.metadata.namespace).check('get').allowed()"
    message: the web service account must be able to read secrets
  - expression: "!authorizer.serviceAccount(object.metadata.namespace, 'web').group('').resource('secrets').namespace('kube-system').check('get').allowed()"
    message: the web service account must not read kube-system secrets
"#,
    );
    let rules = vec![policies::vap::AuthorizerRule {
        users: vec!["system:serviceaccount:shop:web".to_string()],
        verbs: vec!["get".to_string(), "list".to_string()],
        api_groups: vec![String::new()],
        resources: vec!["secrets".to_string()],
        namespaces: vec!["shop".to_string()],
        ..Default::default()
    }];
    let mut set = policies::PolicySet::new().with_authorizer(rules);
    for doc in policies::parse_documents(&yaml).unwrap() {
        set.add(&doc).unwrap();
    }
    assert!(verdicts(&set, &deployment("web", "shop", 1), "")[0].passed());
    assert_eq!(
        messages(&verdicts(&set, &deployment("web", "other", 1), "")),
        ["the web service account must be able to read secrets"]
    );
}

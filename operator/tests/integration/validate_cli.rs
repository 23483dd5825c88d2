//! `flotilla validate` end to end: the real binary on manifest files and
//! folders, with the exit codes and output formats users script against.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    repo().join("policies/tests/fixtures/realistic")
}

fn flotilla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("flotilla runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn compliant_manifests_exit_zero() {
    let f = fixtures();
    let out = flotilla(&[
        "validate",
        path(&f.join("good.yaml")),
        "--policies",
        path(&f.join("policies.yaml")),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 object(s) checked, 0 failure(s)"));
}

#[test]
fn a_deny_result_exits_one_and_text_groups_by_object_with_file() {
    let f = fixtures();
    let out = flotilla(&[
        "validate",
        path(&f.join("bad.yaml")),
        "--policies",
        path(&f.join("policies.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Ingress shop/web ("), "{text}");
    assert!(text.contains("bad.yaml)"), "{text}");
    assert!(
        text.contains(
            "ingress-tls (binding ingress-tls): hosts outside *.example.com: admin.example.org"
        ),
        "{text}"
    );
}

#[test]
fn json_output_has_one_result_per_failure() {
    let f = fixtures();
    let out = flotilla(&[
        "validate",
        path(&f.join("bad.yaml")),
        "--policies",
        path(&f.join("policies.yaml")),
        "--output",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let results = doc["results"].as_array().expect("results array");
    assert_eq!(results.len(), 9);
    let storage = results
        .iter()
        .find(|r| r["policy"] == "statefulset-storage-class")
        .expect("storage result");
    assert_eq!(
        storage,
        &serde_json::json!({
            "policy": "statefulset-storage-class",
            "binding": "statefulset-storage-class",
            "actions": ["Deny"],
            "object": {"apiVersion": "apps/v1", "kind": "StatefulSet", "namespace": "shop", "name": "db"},
            "message": "volumeClaimTemplates must use storage class fast-ssd or standard",
            "reason": "Invalid",
        })
    );
}

#[test]
fn policyreport_output_counts_results_per_namespace() {
    let f = fixtures();
    let out = flotilla(&[
        "validate",
        path(&f.join("bad.yaml")),
        "--policies",
        path(&f.join("policies.yaml")),
        "--output",
        "policyreport",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let reports: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["kind"], "PolicyReport");
    assert_eq!(reports[0]["metadata"]["namespace"], "shop");
    // One result per binding and object. Deployment: registry, replicas,
    // resources fail, labels (Warn, Audit) warn. Ingress: fail. StatefulSet:
    // storage fails, registry and resources pass.
    assert_eq!(
        reports[0]["summary"],
        serde_json::json!({"pass": 2, "fail": 5, "warn": 1, "error": 0, "skip": 0})
    );
}

#[test]
fn a_folder_of_manifests_is_read_recursively() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::copy(
        fixtures().join("bad.yaml"),
        dir.path().join("nested/app.yml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
    let out = flotilla(&[
        "validate",
        path(dir.path()),
        "--policies",
        path(&fixtures().join("policies.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 object(s) checked"));
}

#[test]
fn bad_yaml_exits_two_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("broken.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: [unclosed\n").unwrap();
    let out = flotilla(&[
        "validate",
        path(&bad),
        "--policies",
        path(&fixtures().join("policies.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.yaml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_policy_that_does_not_compile_exits_two_naming_policy_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {name: broken}\nspec:\n  validations:\n  - expression: \"object.spec.replicas <\"\n",
    )
    .unwrap();
    let out = flotilla(&[
        "validate",
        path(&fixtures().join("good.yaml")),
        "--policies",
        path(&policy),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.yaml")
            && err.contains("ValidatingAdmissionPolicy broken: spec.validations[0].expression"),
        "{err}"
    );
}

#[test]
fn bundled_example_passes_the_passing_set_and_fails_the_failing_set() {
    let app = repo().join("examples/app/overlays/production");
    if !app.join("kustomization.yaml").is_file() {
        eprintln!("SKIPPED: examples/app/overlays/production is not in this checkout yet");
        return;
    }
    let passing = flotilla(&[
        "validate",
        path(&app),
        "--policies",
        "examples/policies/passing",
    ]);
    if String::from_utf8_lossy(&passing.stderr).contains("not implemented") {
        eprintln!("SKIPPED: kustomize rendering is not implemented yet");
        return;
    }
    assert_eq!(
        passing.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&passing.stdout),
        String::from_utf8_lossy(&passing.stderr)
    );
    let failing = flotilla(&[
        "validate",
        path(&app),
        "--policies",
        "examples/policies/failing",
    ]);
    assert_eq!(
        failing.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&failing.stdout),
        String::from_utf8_lossy(&failing.stderr)
    );
}

#[test]
fn authorizer_rules_file_answers_authorizer_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: sa-reads-config}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
  - expression: "authorizer.serviceAccount('shop', 'web').group('').resource('configmaps').namespace('shop').check('get').allowed()"
    message: web cannot read its config
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: sa-reads-config}
spec: {policyName: sa-reads-config, validationActions: [Deny]}
"#,
    )
    .unwrap();
    let rules = dir.path().join("rules.yaml");
    let manifests = fixtures().join("good.yaml");
    // Without rules the policy does not load.
    let out = flotilla(&["validate", path(&manifests), "--policies", path(&policy)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'authorizer' at 1:1 is not available"));
    std::fs::write(&rules, "- users: ['system:serviceaccount:shop:web']\n  verbs: [get]\n  apiGroups: ['']\n  resources: [configmaps]\n").unwrap();
    let out = flotilla(&[
        "validate",
        path(&manifests),
        "--policies",
        path(&policy),
        "--authorizer-rules",
        path(&rules),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(
        &rules,
        "- users: ['someone-else']\n  verbs: [get]\n  apiGroups: ['']\n  resources: [configmaps]\n",
    )
    .unwrap();
    let out = flotilla(&[
        "validate",
        path(&manifests),
        "--policies",
        path(&policy),
        "--authorizer-rules",
        path(&rules),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

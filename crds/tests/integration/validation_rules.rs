//! What the API server accepts and rejects, per the generated schemas: each test is one rule
//! of the spec, shown with a valid and an invalid object. The checks run the generated schema
//! (and its CEL rules, with Flotilla's CEL engine) over the objects, see `support`.

use crate::support;

use support::yaml_violations;

fn git_repository(spec: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: app\nspec:\n{}",
        indent(spec)
    )
}

fn kustomization(spec: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Kustomization\nmetadata:\n  name: app\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: app\n{}",
        indent(spec)
    )
}

fn receiver(spec: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Receiver\nmetadata:\n  name: hook\nspec:\n  secretRef:\n    name: token\n{}",
        indent(spec)
    )
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}

fn assert_valid(yaml: &str) {
    let errors = yaml_violations(yaml);
    assert!(errors.is_empty(), "expected valid, got {errors:#?}\n{yaml}");
}

fn assert_rejected(yaml: &str, expected: &str) {
    let errors = yaml_violations(yaml);
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected an error containing {expected:?}, got {errors:#?}\n{yaml}"
    );
}

#[test]
fn git_ref_takes_exactly_one_selector() {
    for ok in [
        "branch: main",
        "tag: v1.0.0",
        "semver: '>=1.0.0'",
        "name: refs/pull/1/head",
        "commit: 0123456789abcdef0123456789abcdef01234567",
        "branch: main\ncommit: 0123456789abcdef0123456789abcdef01234567",
    ] {
        assert_valid(&git_repository(&format!(
            "url: https://example.com/app.git\ninterval: 1m\nref:\n{}",
            indent(ok)
        )));
    }
    for bad in [
        "branch: main\ntag: v1.0.0",
        "tag: v1.0.0\nsemver: '>=1.0.0'",
        "tag: v1.0.0\ncommit: 0123456789abcdef0123456789abcdef01234567",
        "{}",
    ] {
        assert_rejected(
            &git_repository(&format!(
                "url: https://example.com/app.git\ninterval: 1m\nref:\n{}",
                indent(bad)
            )),
            "set exactly one of branch, tag, semver, name or commit",
        );
    }
}

#[test]
fn git_ref_may_be_omitted() {
    assert_valid(&git_repository(
        "url: ssh://git@example.com/app.git\ninterval: 5m",
    ));
}

#[test]
fn git_url_needs_a_supported_scheme() {
    for url in [
        "https://h/r",
        "http://h/r",
        "ssh://git@h/r",
        "git://h/r",
        "file:///srv/r",
    ] {
        assert_valid(&git_repository(&format!("url: {url}\ninterval: 1m")));
    }
    for url in [
        "git@github.com:org/repo.git",
        "ftp://h/r",
        "example.com/repo",
    ] {
        assert_rejected(
            &git_repository(&format!("url: {url}\ninterval: 1m")),
            "does not match",
        );
    }
}

#[test]
fn commits_are_full_hex_shas() {
    assert_rejected(
        &git_repository("url: https://h/r\ninterval: 1m\nref:\n  commit: abc123"),
        ".spec.ref.commit: \"abc123\" does not match",
    );
}

#[test]
fn durations_use_go_syntax() {
    for ok in ["30s", "5m", "1h30m", "1.5h", "500ms"] {
        assert_valid(&git_repository(&format!(
            "url: https://h/r\ninterval: {ok}"
        )));
    }
    for bad in ["5 min", "1d", "-1m", "10"] {
        assert_rejected(
            &git_repository(&format!("url: https://h/r\ninterval: '{bad}'")),
            ".spec.interval",
        );
    }
    assert_rejected(&kustomization("retryInterval: 2x"), ".spec.retryInterval");
    assert_rejected(&kustomization("timeout: soon"), ".spec.timeout");
}

#[test]
fn verify_mode_is_an_enum() {
    assert_valid(&git_repository(
        "url: https://h/r\ninterval: 1m\nverify:\n  mode: TagAndHEAD\n  secretRef:\n    name: keys",
    ));
    assert_rejected(
        &git_repository(
            "url: https://h/r\ninterval: 1m\nverify:\n  mode: head\n  secretRef:\n    name: keys",
        ),
        "is not one of",
    );
    assert_rejected(
        &git_repository("url: https://h/r\ninterval: 1m\nverify:\n  mode: HEAD"),
        ".spec.verify.secretRef: required",
    );
}

#[test]
fn unknown_fields_are_rejected() {
    assert_rejected(
        &git_repository("url: https://h/r\ninterval: 1m\nbranch: main"),
        ".spec.branch: unknown field",
    );
}

#[test]
fn kustomization_requires_source_interval_and_prune() {
    assert_valid(&kustomization(""));
    let missing = "apiVersion: flotilla.dev/v1alpha1\nkind: Kustomization\nmetadata:\n  name: app\nspec:\n  path: ./deploy\n";
    for field in ["sourceRef", "interval", "prune"] {
        assert_rejected(missing, &format!(".spec.{field}: required"));
    }
}

#[test]
fn kustomization_sources_are_git_repositories() {
    let yaml = kustomization("").replace("kind: GitRepository", "kind: Bucket");
    assert_rejected(&yaml, ".spec.sourceRef.kind");
}

#[test]
fn kustomization_path_cannot_leave_the_source() {
    for ok in ["./deploy/prod", "deploy", "./", "apps/..hidden/x"] {
        assert_valid(&kustomization(&format!("path: {ok}")));
    }
    for bad in ["../other", "deploy/../../etc", "a/.."] {
        assert_rejected(
            &kustomization(&format!("path: {bad}")),
            "path may not contain '..' segments",
        );
    }
}

#[test]
fn target_namespace_is_a_dns_label() {
    assert_valid(&kustomization("targetNamespace: team-a"));
    assert_rejected(
        &kustomization("targetNamespace: Team_A"),
        ".spec.targetNamespace",
    );
    assert_rejected(
        &kustomization(&format!("targetNamespace: {}", "a".repeat(64))),
        "longer than 63",
    );
}

#[test]
fn substitute_from_reads_config_maps_and_secrets_only() {
    assert_valid(&kustomization(
        "postBuild:\n  substitute:\n    cluster: prod\n  substituteFrom:\n  - kind: ConfigMap\n    name: vars\n  - kind: Secret\n    name: secret-vars\n    optional: true",
    ));
    assert_rejected(
        &kustomization("postBuild:\n  substituteFrom:\n  - kind: Pod\n    name: x"),
        ".spec.postBuild.substituteFrom[0].kind",
    );
}

#[test]
fn policies_from_source_need_paths() {
    assert_valid(&kustomization(
        "policies:\n  from: Source\n  paths: [./policies]",
    ));
    assert_valid(&kustomization(
        "policies:\n  from: Both\n  paths: [./policies]",
    ));
    assert_valid(&kustomization("policies:\n  from: Cluster"));
    assert_valid(&kustomization("policies: {}"));
    for bad in [
        "policies:\n  from: Source",
        "policies:\n  from: Both\n  paths: []",
        "policies:\n  from: Cluster\n  paths: [./policies]",
        "policies:\n  paths: [./policies]",
    ] {
        assert_rejected(
            &kustomization(bad),
            "paths must be set when from is Source or Both, and only then",
        );
    }
}

#[test]
fn policy_selector_only_applies_to_cluster_policies() {
    assert_valid(&kustomization(
        "policies:\n  from: Both\n  paths: [./policies]\n  selector:\n    matchLabels:\n      gate: deploy",
    ));
    assert_rejected(
        &kustomization(
            "policies:\n  from: Source\n  paths: [./policies]\n  selector:\n    matchLabels:\n      gate: deploy",
        ),
        "selector picks cluster policies",
    );
}

#[test]
fn receiver_types_are_generic_hmac_github_gitlab() {
    for type_ in ["generic", "generic-hmac", "github", "gitlab"] {
        assert_valid(&receiver(&format!(
            "type: {type_}\nresources:\n- kind: GitRepository\n  name: app"
        )));
    }
    assert_rejected(
        &receiver("type: bitbucket\nresources:\n- kind: GitRepository\n  name: app"),
        ".spec.type",
    );
}

#[test]
fn receiver_needs_at_least_one_resource() {
    assert_rejected(
        &receiver("type: github\nresources: []"),
        "fewer than 1 items",
    );
}

#[test]
fn receiver_match_labels_need_a_wildcard_name() {
    assert_valid(&receiver(
        "type: github\nresources:\n- kind: GitRepository\n  name: '*'\n  matchLabels:\n    team: a",
    ));
    assert_rejected(
        &receiver(
            "type: github\nresources:\n- kind: GitRepository\n  name: app\n  matchLabels:\n    team: a",
        ),
        "matchLabels can only be used with name: '*'",
    );
}

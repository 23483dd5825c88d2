//! Scenario: a commit that breaks a policy applies nothing; the Kustomization
//! says which policy and which object, and the previous revision keeps running.

use std::time::Duration;

use crds::conditions::reasons;
use e2e::{World, applied_commit, ks_spec, ready_reason};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

const POLICY: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: forbid-latest-tag
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))"
    message: "images must not use the latest tag"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: forbid-latest-tag
spec:
  policyName: forbid-latest-tag
  validationActions: [Deny]
"#;

fn deployment(image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
"#
    )
}

fn config(version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: default\ndata:\n  version: \"{version}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_breaking_a_policy_applies_nothing_and_keeps_the_previous_revision()
-> anyhow::Result<()> {
    let test = "commit_breaking_a_policy_applies_nothing_and_keeps_the_previous_revision";
    let Some(world) = World::start(test).await? else {
        return Ok(());
    };
    let good = world
        .push(&[
            ("policies/forbid-latest-tag.yaml", POLICY),
            (
                "app/deployment.yaml",
                &deployment("ghcr.io/example/web:1.0.0"),
            ),
            ("app/config.yaml", &config("1")),
        ])
        .await?;
    world.apply_source("app", "1m").await?;
    let mut spec = ks_spec("app", "./app");
    // Applied is what matters here, not rolled out.
    spec["wait"] = false.into();
    spec["policies"] = serde_json::json!({"from": "Source", "paths": ["./policies"]});
    world.apply_kustomization("app", spec).await?;
    world
        .wait_for_revision("app", &good, Duration::from_secs(60))
        .await?;

    // One commit changes two objects; one of them breaks the policy.
    let bad = world
        .push(&[
            (
                "app/deployment.yaml",
                &deployment("ghcr.io/example/web:latest"),
            ),
            ("app/config.yaml", &config("2")),
        ])
        .await?;
    world.request_reconcile("GitRepository", "app").await?;
    let denied = world
        .wait_for_kustomization(
            "app",
            "Ready=False PolicyDenied",
            Duration::from_secs(30),
            |k| {
                ready_reason(k).is_some_and(|(r, _)| r == reasons::POLICY_DENIED)
                    && k.status
                        .as_ref()
                        .and_then(|s| s.last_attempted_revision.as_deref())
                        .is_some_and(|r| r.ends_with(&bad))
            },
        )
        .await?;

    let (_, message) = ready_reason(&denied).unwrap_or_default();
    for needle in [
        "forbid-latest-tag",
        "Deployment",
        "web",
        "images must not use the latest tag",
    ] {
        assert!(
            message.contains(needle),
            "Ready message lacks {needle:?}: {message}"
        );
    }
    assert_eq!(
        applied_commit(&denied),
        Some(good.as_str()),
        "lastAppliedRevision moved"
    );

    // Nothing of the bad commit reached the cluster, not even the harmless ConfigMap.
    let live = Api::<Deployment>::namespaced(world.client.clone(), "default")
        .get("web")
        .await?;
    let image = live
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.into_iter().next())
        .and_then(|c| c.image);
    assert_eq!(image.as_deref(), Some("ghcr.io/example/web:1.0.0"));
    let cm = Api::<ConfigMap>::namespaced(world.client.clone(), "default")
        .get("web-config")
        .await?;
    assert_eq!(
        cm.data.and_then(|d| d.get("version").cloned()).as_deref(),
        Some("1")
    );

    // And users are told through an Event on the Kustomization.
    world
        .wait_for_event(
            "Kustomization",
            "app",
            reasons::POLICY_DENIED,
            "forbid-latest-tag",
            Duration::from_secs(10),
        )
        .await?;
    Ok(())
}

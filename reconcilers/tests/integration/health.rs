//! Health checks (`reconcilers::kustomization::health`) against a real control plane: with
//! the simulated cluster from `workloads` for Deployments, and statuses the tests write
//! themselves for custom resources.

use crate::source_fixtures;

use std::collections::HashMap;
use std::time::Duration;

use crds::inventory::ObjectId;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use reconcilers::kustomization::health::{self, Check, HealthError};
use reconcilers::kustomization::resources::Resources;
use serde_json::json;
use source_fixtures::Cluster;
use tokio::time::Instant;

fn check(namespace: &str, name: &str, group: &str, version: &str, kind: &str) -> Check {
    Check {
        id: ObjectId {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
        },
        version: version.to_owned(),
    }
}

async fn deployment(cluster: &Cluster, name: &str, image: &str) {
    cluster
        .apply(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_a_deployment_returns_once_its_replicas_are_available() {
    let cluster = Cluster::start().await;
    let _simulation =
        workloads::Simulation::start(cluster.client.clone(), workloads::SimConfig::default());
    deployment(&cluster, "web", "nginx:1.27").await;

    health::wait(
        &cluster.client,
        &Resources::default(),
        &[check("default", "web", "apps", "v1", "Deployment")],
        HashMap::new(),
        Instant::now() + Duration::from_secs(30),
    )
    .await
    .expect("the Deployment becomes available");

    let api: Api<Deployment> = cluster.api("default");
    let status = api.get("web").await.expect("web").status.expect("status");
    assert_eq!(status.available_replicas, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_without_a_controller_times_out_naming_it() {
    let cluster = Cluster::start().await;
    deployment(&cluster, "web", "nginx:1.27").await;

    let error = health::wait(
        &cluster.client,
        &Resources::default(),
        &[check("default", "web", "apps", "v1", "Deployment")],
        HashMap::new(),
        Instant::now() + Duration::from_millis(300),
    )
    .await
    .expect_err("nothing rolls the Deployment out");

    assert!(matches!(error, HealthError::Timeout { .. }), "{error}");
    assert!(
        error.to_string().contains("Deployment/default/web"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resource_is_healthy_when_its_ready_condition_turns_true() {
    let cluster = Cluster::start().await;
    // A Kustomization is a custom resource with conditions like any other.
    cluster
        .apply("apiVersion: flotilla.dev/v1alpha1\nkind: Kustomization\nmetadata:\n  name: other\n  namespace: default\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: none\n  interval: 1h\n  prune: false\n")
        .await;
    let api: Api<crds::Kustomization> = cluster.api("default");
    let set_ready = |status: &'static str| {
        let api = api.clone();
        async move {
            api.patch_status(
                "other",
                &PatchParams::apply("test").force(),
                &Patch::Apply(json!({
                    "apiVersion": "flotilla.dev/v1alpha1", "kind": "Kustomization",
                    "status": {"observedGeneration": 1, "conditions": [{
                        "type": "Ready", "status": status, "reason": "Test", "message": "set by the test",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
                })),
            )
            .await
            .expect("status written");
        }
    };
    set_ready("False").await;
    let checks = [check(
        "default",
        "other",
        "flotilla.dev",
        "v1alpha1",
        "Kustomization",
    )];
    let resources = Resources::default();

    let waiting = health::wait(
        &cluster.client,
        &resources,
        &checks,
        HashMap::new(),
        Instant::now() + Duration::from_secs(20),
    );
    let (result, ()) = tokio::join!(waiting, set_ready("True"));

    result.expect("healthy once Ready is True");
}

//! Pruning (`reconcilers::kustomization::prune`) against a real control plane: only objects
//! of the previous inventory that left the source, only when still ours.

use crate::source_fixtures;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use reconcilers::kustomization::apply::{self, Mode, Owner, Target};
use reconcilers::kustomization::prune::{self, Outcome};
use reconcilers::kustomization::resources::Resources;
use serde_json::{Value, json};
use source_fixtures::Cluster;
use tokio::time::Instant;

fn owner() -> Owner {
    Owner {
        name: "app".to_owned(),
        namespace: "default".to_owned(),
    }
}

fn config_map(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "default", "annotations": annotations},
           "data": {"key": "v"}})
}

/// Applies `objects` for [`owner`] and returns the inventory.
async fn apply(
    cluster: &Cluster,
    resources: &Resources,
    objects: &[Value],
) -> crds::inventory::ResourceInventory {
    let target = Target {
        client: &cluster.client,
        resources,
        force: false,
        deadline: Instant::now() + Duration::from_secs(10),
    };
    let desired = apply::prepare(objects, &owner(), &target)
        .await
        .expect("prepare");
    apply::apply(&desired, Mode::Full, &target)
        .await
        .expect("apply")
        .inventory
}

async fn exists(cluster: &Cluster, name: &str) -> bool {
    let api: Api<ConfigMap> = cluster.api("default");
    api.get_opt(name).await.expect("get").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_that_left_the_inventory_are_deleted_and_the_rest_stay() {
    let cluster = Cluster::start().await;
    let resources = Resources::default();
    let previous = apply(
        &cluster,
        &resources,
        &[config_map("keep", json!({})), config_map("gone", json!({}))],
    )
    .await;
    let current = apply(&cluster, &resources, &[config_map("keep", json!({}))]).await;

    let stale = prune::stale(&previous, &current);
    let outcomes = prune::prune(&cluster.client, &resources, &owner(), &stale)
        .await
        .expect("prune");

    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].0.name, "gone");
    assert_eq!(outcomes[0].1, Outcome::Deleted);
    assert!(!exists(&cluster, "gone").await);
    assert!(exists(&cluster, "keep").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_without_our_ownership_labels_is_never_deleted() {
    let cluster = Cluster::start().await;
    let resources = Resources::default();
    // Same name as an inventory entry, but created by someone else (no ownership labels).
    cluster
        .apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n  namespace: default\ndata:\n  key: v\n")
        .await;
    let previous = crds::inventory::ResourceInventory {
        entries: vec![crds::inventory::ResourceRef {
            id: "default_theirs__ConfigMap".to_owned(),
            v: "v1".to_owned(),
        }],
    };

    let outcomes = prune::prune(&cluster.client, &resources, &owner(), &previous.entries)
        .await
        .expect("prune");

    assert!(matches!(outcomes[0].1, Outcome::Kept(_)), "{outcomes:?}");
    assert!(exists(&cluster, "theirs").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prune_disabled_annotation_keeps_an_object() {
    let cluster = Cluster::start().await;
    let resources = Resources::default();
    let previous = apply(
        &cluster,
        &resources,
        &[config_map(
            "precious",
            json!({prune::PRUNE_ANNOTATION: prune::PRUNE_DISABLED}),
        )],
    )
    .await;

    let outcomes = prune::prune(&cluster.client, &resources, &owner(), &previous.entries)
        .await
        .expect("prune");

    assert_eq!(outcomes[0].1, Outcome::Kept("prune disabled by annotation"));
    assert!(exists(&cluster, "precious").await);
}

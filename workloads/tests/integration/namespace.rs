//! Namespace deletion and garbage collection with workloads running: a
//! deleted namespace empties and disappears; an orphaning delete keeps the
//! children.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PropagationPolicy};

const TIMEOUT: Duration = Duration::from_secs(30);

fn workloads(ns: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: {ns}
spec:
  replicas: 2
  podManagementPolicy: Parallel
  serviceName: db
  selector:
    matchLabels: {{app: db}}
  template:
    metadata:
      labels: {{app: db}}
    spec:
      containers:
      - name: db
        image: postgres:16
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: {ns}
spec:
  clusterIP: None
  selector: {{app: db}}
  ports:
  - port: 5432
"#
    )
}

async fn running_pods(c: &SimCluster, ns: &str, n: usize) {
    let pods: Api<Pod> = c.api(ns);
    wait_for(&format!("{n} running pods in {ns}"), TIMEOUT, || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let running = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (running == n).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_deleted_namespace_with_workloads_empties_and_disappears() {
    let c = SimCluster::start().await;
    c.apply(&workloads("shop")).await;
    running_pods(&c, "shop", 2).await;
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    namespaces
        .delete("shop", &DeleteParams::default())
        .await
        .expect("delete namespace");
    wait_for("namespace shop gone", TIMEOUT, || async {
        namespaces
            .get_opt("shop")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let pods: Api<Pod> = c.api("shop");
    assert!(
        pods.list(&ListParams::default())
            .await
            .expect("pods")
            .items
            .is_empty()
    );
    let sets: Api<StatefulSet> = c.api("shop");
    assert!(
        sets.list(&ListParams::default())
            .await
            .expect("sets")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn an_orphaning_delete_keeps_the_pods() {
    let c = SimCluster::start().await;
    c.apply(&workloads("shop")).await;
    running_pods(&c, "shop", 2).await;
    let sets: Api<StatefulSet> = c.api("shop");
    sets.delete(
        "db",
        &DeleteParams {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..DeleteParams::default()
        },
    )
    .await
    .expect("orphaning delete");
    wait_for("statefulset gone", TIMEOUT, || async {
        sets.get_opt("db").await.ok()?.is_none().then_some(())
    })
    .await;
    let pods: Api<Pod> = c.api("shop");
    let list = wait_for("pods released by their owner", TIMEOUT, || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .all(|p| {
                p.metadata
                    .owner_references
                    .as_ref()
                    .is_none_or(Vec::is_empty)
            })
            .then_some(list)
    })
    .await;
    assert_eq!(list.items.len(), 2, "both pods kept");
}

#[tokio::test]
async fn a_background_delete_removes_the_pods() {
    let c = SimCluster::start().await;
    c.apply(&workloads("shop")).await;
    running_pods(&c, "shop", 2).await;
    let sets: Api<StatefulSet> = c.api("shop");
    sets.delete("db", &DeleteParams::background())
        .await
        .expect("delete");
    let pods: Api<Pod> = c.api("shop");
    wait_for("pods collected", TIMEOUT, || async {
        pods.list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
}

//! DaemonSets: one pod per eligible node, following node changes, and
//! rolling updates.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

const AGENT: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: fluent-bit:3.0
"#;

async fn nodes_ready(c: &SimCluster, n: usize) {
    let nodes: Api<Node> = Api::all(c.client.clone());
    wait_for("nodes registered", TIMEOUT, || async {
        (nodes.list(&ListParams::default()).await.ok()?.items.len() == n).then_some(())
    })
    .await;
}

async fn taint(c: &SimCluster, node: &str, taints: serde_json::Value) {
    let nodes: Api<Node> = Api::all(c.client.clone());
    nodes
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": taints}})),
        )
        .await
        .expect("taint node");
}

/// Node names of the agent's pods (sorted), once they are Running.
async fn placed(c: &SimCluster) -> Vec<String> {
    let pods: Api<Pod> = c.api("default");
    let mut nodes: Vec<String> = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter_map(|p| p.spec?.node_name)
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

#[tokio::test]
async fn a_daemonset_runs_one_pod_per_node_and_skips_tainted_nodes() {
    let c = SimCluster::start().await;
    nodes_ready(&c, 3).await;
    taint(
        &c,
        "sim-node-2",
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    )
    .await;
    c.apply(AGENT).await;
    let sets: Api<DaemonSet> = c.api("default");
    let status = wait_for("2 pods ready", TIMEOUT, || async {
        let st = sets.get("agent").await.ok()?.status?;
        (st.number_ready == 2 && st.desired_number_scheduled == 2).then_some(st)
    })
    .await;
    assert_eq!(status.current_number_scheduled, 2);
    assert_eq!(status.number_misscheduled, 0);
    assert_eq!(status.updated_number_scheduled, Some(2));
    assert_eq!(placed(&c).await, ["sim-node-0", "sim-node-1"]);

    // Pods carry Kubernetes' daemon tolerations and are pinned to their node.
    let pods: Api<Pod> = c.api("default");
    let pod = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .expect("pods")
        .items
        .remove(0);
    let spec = pod.spec.expect("spec");
    assert!(
        spec.tolerations
            .unwrap_or_default()
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/unschedulable"))
    );
    let terms = spec
        .affinity
        .and_then(|a| a.node_affinity)
        .and_then(|n| n.required_during_scheduling_ignored_during_execution)
        .expect("required node affinity")
        .node_selector_terms;
    assert_eq!(
        terms[0].match_fields.as_ref().expect("matchFields")[0].key,
        "metadata.name"
    );

    // Lifting the taint brings a pod to that node.
    taint(&c, "sim-node-2", json!([])).await;
    wait_for("a pod on sim-node-2", TIMEOUT, || async {
        (placed(&c).await == ["sim-node-0", "sim-node-1", "sim-node-2"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_node_selector_limits_the_daemonset_to_matching_nodes() {
    let c = SimCluster::start().await;
    nodes_ready(&c, 3).await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    nodes
        .patch(
            "sim-node-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"disk": "ssd"}}})),
        )
        .await
        .expect("label node");
    c.apply(&AGENT.replace(
        "    spec:\n      containers:",
        "    spec:\n      nodeSelector: {disk: ssd}\n      containers:",
    ))
    .await;
    wait_for("one pod on sim-node-1", TIMEOUT, || async {
        (placed(&c).await == ["sim-node-1"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_template_change_rolls_every_pod() {
    let c = SimCluster::start().await;
    nodes_ready(&c, 3).await;
    c.apply(AGENT).await;
    let sets: Api<DaemonSet> = c.api("default");
    wait_for("3 pods ready", TIMEOUT, || async {
        (sets.get("agent").await.ok()?.status?.number_ready == 3).then_some(())
    })
    .await;
    c.apply(&AGENT.replace("fluent-bit:3.0", "fluent-bit:3.1"))
        .await;
    let pods: Api<Pod> = c.api("default");
    wait_for("every pod on the new image, ready", TIMEOUT, || async {
        let st = sets.get("agent").await.ok()?.status?;
        let list = pods
            .list(&ListParams::default().labels("app=agent"))
            .await
            .ok()?;
        let all_new = list.items.len() == 3
            && list.items.iter().all(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers[0].image.as_deref())
                    == Some("fluent-bit:3.1")
            });
        (all_new && st.updated_number_scheduled == Some(3) && st.number_available == Some(3))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn kubectl_rollout_status_waits_for_the_daemonset() {
    let c = SimCluster::start().await;
    nodes_ready(&c, 3).await;
    c.apply(AGENT).await;
    let Some(out) = c
        .kubectl(
            "kubectl_rollout_status_waits_for_the_daemonset",
            &["rollout", "status", "daemonset/agent", "--timeout=30s"],
        )
        .await
    else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("successfully rolled out"), "{stdout}");
}

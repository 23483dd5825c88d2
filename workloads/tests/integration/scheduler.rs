//! The scheduler: requests against allocatable, nodeSelector, taints and
//! tolerations, and Kubernetes' Unschedulable reporting.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn pod_yaml(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: app\n    image: nginx:1.27\n{extra_spec}"
    )
}

async fn node_of(pods: &Api<Pod>, name: &str) -> String {
    wait_for(&format!("pod {name} to be scheduled"), WAIT, || async {
        pods.get(name).await.ok()?.spec?.node_name
    })
    .await
}

#[tokio::test]
async fn a_pod_requesting_more_than_any_node_has_stays_pending_unschedulable() {
    let c = SimCluster::start().await;
    c.apply(&pod_yaml(
        "huge",
        "    resources:\n      requests:\n        cpu: \"64\"\n",
    ))
    .await;
    let pods: Api<Pod> = c.api("default");
    // Until all three nodes have registered the message counts fewer.
    let condition = wait_for("PodScheduled=False on 3 nodes", WAIT, || async {
        let pod = pods.get("huge").await.ok()?;
        let status = pod.status?;
        status
            .conditions?
            .into_iter()
            .find(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.message.as_deref() == Some("0/3 nodes are available: 3 Insufficient cpu.")
            })
            .map(|c| (status.phase, c))
    })
    .await;
    assert_eq!(condition.0.as_deref(), Some("Pending"));
    assert_eq!(condition.1.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        condition.1.message.as_deref(),
        Some("0/3 nodes are available: 3 Insufficient cpu.")
    );
    let events: Api<Event> = c.api("default");
    wait_for("a FailedScheduling event", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedScheduling")
                    && e.involved_object.name.as_deref() == Some("huge")
            })
            .map(|_| ())
    })
    .await;
    assert!(
        pods.get("huge")
            .await
            .expect("pod")
            .spec
            .expect("spec")
            .node_name
            .is_none()
    );
}

#[tokio::test]
async fn node_selectors_and_taints_steer_placement() {
    let c = SimCluster::start().await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    wait_for("3 nodes", WAIT, || async {
        (nodes.list(&ListParams::default()).await.ok()?.items.len() == 3).then_some(())
    })
    .await;
    // sim-node-2 is tainted for GPU work only.
    nodes
        .patch(
            "sim-node-2",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]}})),
        )
        .await
        .expect("taint");
    let pods: Api<Pod> = c.api("default");
    c.apply(&pod_yaml(
        "pinned",
        "  nodeSelector:\n    kubernetes.io/hostname: sim-node-1\n",
    ))
    .await;
    assert_eq!(node_of(&pods, "pinned").await, "sim-node-1");

    c.apply(&pod_yaml(
        "wants-gpu-node",
        "  nodeSelector:\n    kubernetes.io/hostname: sim-node-2\n",
    ))
    .await;
    let message = wait_for("the untolerated taint to be reported", WAIT, || async {
        let pod = pods.get("wants-gpu-node").await.ok()?;
        pod.status?
            .conditions?
            .into_iter()
            .find(|c| c.reason.as_deref() == Some("Unschedulable"))?
            .message
    })
    .await;
    assert_eq!(
        message,
        "0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {gpu: true}."
    );

    c.apply(&pod_yaml(
        "gpu-job",
        "  nodeSelector:\n    kubernetes.io/hostname: sim-node-2\n  tolerations:\n  - key: gpu\n    operator: Exists\n    effect: NoSchedule\n",
    ))
    .await;
    assert_eq!(node_of(&pods, "gpu-job").await, "sim-node-2");
}

#[tokio::test]
async fn required_node_affinity_and_pod_anti_affinity_are_honoured() {
    let c = SimCluster::start().await;
    let pods: Api<Pod> = c.api("default");
    let affinity = "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions:\n          - key: kubernetes.io/hostname\n            operator: NotIn\n            values: [sim-node-0]\n";
    c.apply(&pod_yaml("not-on-0", affinity)).await;
    assert_ne!(node_of(&pods, "not-on-0").await, "sim-node-0");

    // Three replicas that refuse to share a node fill the three nodes; a
    // fourth has nowhere to go.
    let anti = "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - topologyKey: kubernetes.io/hostname\n        labelSelector:\n          matchLabels:\n            app: spread\n";
    let mut seen = Vec::new();
    for i in 0..3 {
        let name = format!("spread-{i}");
        let yaml = pod_yaml(&name, anti).replace(
            &format!("name: {name}\n"),
            &format!("name: {name}\n  labels:\n    app: spread\n"),
        );
        c.apply(&yaml).await;
        seen.push(node_of(&pods, &name).await);
    }
    seen.sort();
    assert_eq!(seen, ["sim-node-0", "sim-node-1", "sim-node-2"]);
    let yaml = pod_yaml("spread-3", anti).replace(
        "name: spread-3\n",
        "name: spread-3\n  labels:\n    app: spread\n",
    );
    c.apply(&yaml).await;
    let message = wait_for("spread-3 to be unschedulable", WAIT, || async {
        pods.get("spread-3")
            .await
            .ok()?
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.reason.as_deref() == Some("Unschedulable"))?
            .message
    })
    .await;
    assert_eq!(
        message,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
    );
}

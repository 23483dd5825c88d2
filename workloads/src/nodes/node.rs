//! One simulated node: its Node object (capacity, allocatable, addresses,
//! conditions) and its Lease in `kube-node-lease`, renewed every heartbeat as
//! the kubelet does so the node controller's view of the node stays fresh.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::{INSTANCE_TYPE, node_name};
use crate::SimConfig;
use crate::error::{Error, Result};

/// Field manager of the simulated kubelet's node and lease writes.
const MANAGER: &str = "flotilla-sim-kubelet";
/// The Lease namespace Kubernetes uses for node heartbeats.
const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node's pod CIDR: one /24 per node, like the default kube-controller-manager
/// allocation out of `10.244.0.0/16`.
pub(crate) fn pod_cidr_prefix(index: usize) -> String {
    format!("10.244.{}", index % 256)
}

/// The node's InternalIP.
pub(crate) fn node_ip(index: usize) -> String {
    format!("172.18.0.{}", 2 + index % 250)
}

/// Registers node `index` and renews its Lease until aborted.
pub(crate) async fn run(client: kube::Client, config: SimConfig, index: usize) {
    let name = node_name(index);
    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let span = tracing::debug_span!("node heartbeat", node = %name);
        let _enter = span.enter();
        drop(_enter);
        if let Err(e) = heartbeat(&client, &config, index, &name).await {
            tracing::warn!(node = %name, error = %e, "node heartbeat failed");
        }
    }
}

/// Makes sure the Node exists and is Ready, then renews the Lease.
async fn heartbeat(
    client: &kube::Client,
    config: &SimConfig,
    index: usize,
    name: &str,
) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = match nodes
        .get_opt(name)
        .await
        .map_err(|e| api(e, "reading", name))?
    {
        Some(n) => n,
        None => nodes
            .create(&PostParams::default(), &node_object(index))
            .await
            .map_err(|e| api(e, "creating", name))?,
    };
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready {
        nodes
            .patch_status(name, &params(), &Patch::Merge(node_status(config, index)))
            .await
            .map_err(|e| api(e, "setting status of", name))?;
    }
    renew_lease(client, name, node.metadata.uid.as_deref()).await
}

async fn renew_lease(client: &kube::Client, name: &str, node_uid: Option<&str>) -> Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(Timestamp::now());
    let existing = leases
        .get_opt(name)
        .await
        .map_err(|e| api(e, "reading lease", name))?;
    if existing.is_some() {
        leases
            .patch(
                name,
                &params(),
                &Patch::Merge(json!({"spec": {"renewTime": now, "holderIdentity": name}})),
            )
            .await
            .map_err(|e| api(e, "renewing lease", name))?;
        return Ok(());
    }
    let mut lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now},
    }))
    .map_err(|source| Error::Build {
        what: format!("lease {LEASE_NAMESPACE}/{name}"),
        source,
    })?;
    if let Some(uid) = node_uid {
        // As the kubelet does: the lease goes when the node goes.
        lease.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: name.into(),
                uid: uid.into(),
                ..Default::default()
            },
        ]);
    }
    leases
        .create(&PostParams::default(), &lease)
        .await
        .map_err(|e| api(e, "creating lease", name))?;
    Ok(())
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

fn api(source: kube::Error, action: &str, name: &str) -> Error {
    Error::Api {
        action: format!("{action} node {name}"),
        source,
    }
}

fn node_object(index: usize) -> Node {
    let name = node_name(index);
    let labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("node.kubernetes.io/instance-type", INSTANCE_TYPE),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut node = Node::default();
    node.metadata.name = Some(name);
    node.metadata.labels = Some(labels);
    node.metadata.annotations = Some(BTreeMap::from([(
        "node.alpha.kubernetes.io/ttl".to_string(),
        "0".to_string(),
    )]));
    node.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
        pod_cidr: Some(format!("{}.0/24", pod_cidr_prefix(index))),
        pod_cidrs: Some(vec![format!("{}.0/24", pod_cidr_prefix(index))]),
        ..Default::default()
    });
    node
}

fn node_status(config: &SimConfig, index: usize) -> serde_json::Value {
    let now = Time(Timestamp::now());
    let resources = json!({
        "cpu": config.node_cpu,
        "memory": config.node_memory,
        "pods": config.node_pods.to_string(),
        "ephemeral-storage": "100Gi",
    });
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        })
    };
    json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": node_ip(index)},
            {"type": "Hostname", "address": node_name(index)},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": format!("sim-{index}"), "systemUUID": format!("sim-{index}"), "bootID": format!("sim-{index}"),
            "kernelVersion": "6.1.0-sim", "osImage": "Flotilla simulated node",
            "containerRuntimeVersion": "sim://1.0.0", "kubeletVersion": "v1.33.0-sim",
            "kubeProxyVersion": "v1.33.0-sim", "operatingSystem": "linux", "architecture": "amd64",
        },
    }})
}

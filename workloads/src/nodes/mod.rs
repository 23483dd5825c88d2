//! Simulated nodes: Node objects kept Ready with Lease heartbeats
//! ([`node`]), the container behaviours a pod can ask for ([`behavior`]) and
//! the kubelet that plays them out in pod status ([`kubelet`]).

pub mod behavior;
mod containers;
mod kubelet;
mod node;

use tokio::task::JoinSet;

use crate::SimConfig;

/// The name of simulated node `i`.
pub fn node_name(i: usize) -> String {
    format!("sim-node-{i}")
}

/// Label every simulated node carries (`node.kubernetes.io/instance-type`).
pub const INSTANCE_TYPE: &str = "simulated";

/// Starts one heartbeat task per node and the kubelet serving all of them.
pub(crate) fn spawn(client: &kube::Client, config: &SimConfig, tasks: &mut JoinSet<()>) {
    for i in 0..config.nodes {
        tasks.spawn(node::run(client.clone(), config.clone(), i));
    }
    if config.nodes > 0 {
        tasks.spawn(kubelet::run(client.clone(), config.nodes));
    }
}

//! Starting and stopping the whole simulated cluster: nodes with their
//! kubelet, the scheduler and every workload controller, as tasks on the
//! caller's tokio runtime.

use std::time::Duration;

use tokio::task::JoinSet;

use crate::{controllers, nodes, scheduler};

/// The simulated cluster's shape.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How many nodes (`sim-node-0` … `sim-node-N-1`); `0` runs the
    /// controllers and scheduler without nodes.
    pub nodes: usize,
    /// Each node's cpu capacity, as a Kubernetes quantity (`"8"`, `"3500m"`).
    pub node_cpu: String,
    /// Each node's memory capacity, as a Kubernetes quantity (`"32Gi"`).
    pub node_memory: String,
    /// How many pods each node accepts.
    pub node_pods: u32,
    /// How often each node renews its Lease in `kube-node-lease` (the
    /// kubelet's default is 10 s).
    pub heartbeat: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            node_cpu: "8".into(),
            node_memory: "32Gi".into(),
            node_pods: 110,
            heartbeat: Duration::from_secs(10),
        }
    }
}

/// Entry point of the simulated cluster.
#[derive(Debug)]
pub struct Simulation;

impl Simulation {
    /// Spawns the nodes, kubelet, scheduler and controllers on the current
    /// tokio runtime (must be called from inside one). They talk to the API
    /// server through `client` and run until [`SimHandle::shutdown`] or until
    /// the handle is dropped.
    pub fn start(client: kube::Client, config: SimConfig) -> SimHandle {
        let mut tasks = JoinSet::new();
        nodes::spawn(&client, &config, &mut tasks);
        tasks.spawn(scheduler::run(client.clone()));
        controllers::spawn_all(&client, &mut tasks);
        tracing::info!(nodes = config.nodes, "simulated cluster started");
        SimHandle { tasks }
    }
}

/// The running simulation; dropping it aborts every task.
#[derive(Debug)]
pub struct SimHandle {
    tasks: JoinSet<()>,
}

impl SimHandle {
    /// Stops every node, the scheduler and every controller, and waits until
    /// they are gone. Objects stay in the API server as they were.
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

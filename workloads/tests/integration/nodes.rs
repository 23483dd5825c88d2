//! Simulated nodes: registered Ready with capacity, and heartbeating through
//! their Leases in `kube-node-lease`.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use workloads::SimConfig;

#[tokio::test]
async fn nodes_register_ready_with_capacity_and_renew_their_leases() {
    let c = SimCluster::start_with(SimConfig {
        nodes: 2,
        node_cpu: "4".into(),
        heartbeat: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let ready = wait_for("2 Ready nodes", Duration::from_secs(20), || async {
        let list = nodes.list(&Default::default()).await.ok()?;
        let ready: Vec<Node> = list
            .items
            .into_iter()
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .collect();
        (ready.len() == 2).then_some(ready)
    })
    .await;
    let node = &ready[0];
    let name = node.metadata.name.as_deref().expect("name");
    assert!(name.starts_with("sim-node-"));
    let labels = node.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels["kubernetes.io/hostname"], name);
    assert_eq!(labels["node.kubernetes.io/instance-type"], "simulated");
    let status = node.status.as_ref().expect("status");
    assert_eq!(status.capacity.as_ref().expect("capacity")["cpu"].0, "4");
    assert_eq!(
        status.allocatable.as_ref().expect("allocatable")["pods"].0,
        "110"
    );

    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-node-lease");
    let renew_time = |l: &Lease| l.spec.as_ref().and_then(|s| s.renew_time.clone());
    let first = wait_for("a lease for the node", Duration::from_secs(10), || async {
        leases
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|l| renew_time(&l))
    })
    .await;
    wait_for(
        "the lease to be renewed",
        Duration::from_secs(10),
        || async {
            let now = leases
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .and_then(|l| renew_time(&l))?;
            (now.0 > first.0).then_some(())
        },
    )
    .await;
}

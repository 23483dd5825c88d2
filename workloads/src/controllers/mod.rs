//! The workload controllers, one module each. Each exposes
//! `pub(crate) async fn run(client: kube::Client)` that runs until aborted;
//! [`spawn_all`] starts them all.

use tokio::task::JoinSet;

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpointslice;
pub mod ingress;
pub mod job;
pub mod replicaset;
pub mod statefulset;
pub mod volume;
pub(crate) mod workload;

/// Starts every workload controller on `tasks`. Adding a controller is one
/// line here.
pub(crate) fn spawn_all(client: &kube::Client, tasks: &mut JoinSet<()>) {
    tasks.spawn(replicaset::run(client.clone()));
    tasks.spawn(deployment::run(client.clone()));
    tasks.spawn(statefulset::run(client.clone()));
    tasks.spawn(daemonset::run(client.clone()));
    tasks.spawn(job::run(client.clone()));
    tasks.spawn(cronjob::run(client.clone()));
    tasks.spawn(endpointslice::run(client.clone()));
    tasks.spawn(volume::run(client.clone()));
    tasks.spawn(ingress::run(client.clone()));
}

//! The workload controllers, one module each. Each exposes
//! `pub(crate) async fn run(client: kube::Client)` that runs until aborted;
//! [`spawn_all`] starts them all.

use tokio::task::JoinSet;

/// Starts every workload controller on `tasks`. Adding a controller is one
/// line here.
pub(crate) fn spawn_all(client: &kube::Client, tasks: &mut JoinSet<()>) {
    let _ = (client, tasks);
}

//! The simulated kubelet (being written).

pub(crate) async fn run(client: kube::Client, nodes: usize) {
    let _ = (client, nodes);
    std::future::pending::<()>().await;
}

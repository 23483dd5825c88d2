//! The scheduler (being written).

pub(crate) async fn run(client: kube::Client) {
    let _ = client;
    std::future::pending::<()>().await;
}

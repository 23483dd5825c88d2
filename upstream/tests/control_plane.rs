//! The upstream control plane starts from the oracle binaries, serves the API with RBAC on,
//! runs its controllers, and stops every process it started.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};

/// The binaries, or a loud skip (a failure in CI, where `oracles/build` has run).
fn binaries() -> Option<upstream::Binaries> {
    match upstream::Binaries::find() {
        Ok(b) => Some(b),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: {e}");
            None
        }
        Err(e) => panic!("in CI the oracles must be built: {e}"),
    }
}

async fn client(cp: &upstream::RunningControlPlane) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(cp.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[test]
fn starts_serves_runs_controllers_and_stops_every_process() {
    let Some(bin) = binaries() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cp = upstream::ControlPlane::start_with(
        upstream::Config {
            data_dir: dir.path().to_path_buf(),
            port: 0,
        },
        &bin,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cp.kubeconfig_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the admin kubeconfig holds a key");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = client(&cp).await;
        let version = client.apiserver_version().await.unwrap();
        assert_eq!(version.git_version, "v1.37.2");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "probe"}
        }))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        // The controller manager is running: it gives every namespace a `default`
        // ServiceAccount and every Deployment a ReplicaSet.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "probe");
        let deploy: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}
                }
            }
        }))
        .unwrap();
        deployments
            .create(&PostParams::default(), &deploy)
            .await
            .unwrap();
        let replicasets: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
            Api::namespaced(client.clone(), "probe");
        let mut found = false;
        for _ in 0..300 {
            if !replicasets
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .is_empty()
            {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            found,
            "kube-controller-manager made no ReplicaSet within 30 s"
        );
    });
    let logs = cp.logs_dir().to_path_buf();
    cp.shutdown();
    // Every component is gone: nothing answers on the port files' processes.
    let out = std::process::Command::new("pgrep")
        .args(["-f", &dir.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "processes still running after shutdown (logs in {})",
        logs.display()
    );
}

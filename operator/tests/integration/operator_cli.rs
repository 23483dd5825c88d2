//! `flotilla operator` as a process: two replicas against one control plane, one leads (the
//! Lease names it), both serve `/healthz`, `/readyz` and `/metrics`, and when the leader is
//! killed the other takes the Lease over.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};

struct Replica {
    child: Child,
    metrics: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `flotilla operator` and reads the metrics address it prints.
fn replica(kubeconfig: &std::path::Path, identity: &str, artifacts: &std::path::Path) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "operator",
            "--metrics-addr",
            "127.0.0.1:0",
            "--lease-duration",
            "3",
        ])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--artifact-root")
        .arg(artifacts.join(identity))
        .args(["--identity", identity])
        .env("FLOTILLA_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start flotilla operator");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let metrics = loop {
        let line = lines
            .next()
            .expect("operator printed its metrics address")
            .expect("read stderr");
        if let Some(addr) = line.strip_prefix("metrics, healthz, readyz on http://") {
            break addr.to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Replica { child, metrics }
}

async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn holder(api: &Api<Lease>) -> Option<String> {
    api.get_opt("flotilla-leader")
        .await
        .expect("read Lease")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader_serve_probes_and_fail_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = apiserver::ControlPlane::start(apiserver::Config {
        data_dir: dir.path().join("cp"),
        port: 0,
    })
    .expect("control plane");
    let kubeconfig = cp.kubeconfig_path().to_path_buf();
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config"),
    )
    .expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds::all_crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("CRD");
    }
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "flotilla-system"}}))
            .expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");

    let a = replica(&kubeconfig, "replica-a", dir.path());
    let b = replica(&kubeconfig, "replica-b", dir.path());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "flotilla-system");
    eventually("a replica holds the Lease", || {
        let leases = leases.clone();
        async move { holder(&leases).await.is_some() }
    })
    .await;
    let first = holder(&leases).await.expect("holder");

    for r in [&a, &b] {
        assert_eq!(get(&format!("http://{}/healthz", r.metrics)).await.0, 200);
        eventually("ready", || {
            let url = format!("http://{}/readyz", r.metrics);
            async move { get(&url).await.0 == 200 }
        })
        .await;
    }
    // A Kustomization whose source does not exist: the leader reconciles it (and fails),
    // which shows in its metrics; the standby reconciles nothing.
    let ks = serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "Kustomization",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "missing"},
                 "interval": "1m", "prune": false},
    });
    Api::<crds::Kustomization>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(ks).expect("ks"),
        )
        .await
        .expect("create Kustomization");
    let (leader_addr, standby_addr) = if first == "replica-a" {
        (a.metrics.clone(), b.metrics.clone())
    } else {
        (b.metrics.clone(), a.metrics.clone())
    };
    eventually("the leader's metrics show the reconcile", || {
        let url = format!("http://{leader_addr}/metrics");
        async move {
            let (status, text) = get(&url).await;
            status == 200
                && text.contains("flotilla_reconcile_duration_seconds")
                && text.contains("flotilla_reconcile_condition{")
                && text.contains("name=\"probe\"")
        }
    })
    .await;
    let (status, standby) = get(&format!("http://{standby_addr}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        !standby.contains("name=\"probe\""),
        "the standby reconciled nothing: {standby}"
    );

    // Kill the leader without a chance to release: the other takes over after expiry.
    let (mut leader, other_id) = if first == "replica-a" {
        (a, "replica-b")
    } else {
        (b, "replica-a")
    };
    leader.child.kill().expect("kill leader");
    leader.child.wait().expect("reap leader");
    eventually("the other replica takes the Lease over", || {
        let leases = leases.clone();
        async move { holder(&leases).await.as_deref() == Some(other_id) }
    })
    .await;
    cp.shutdown();
}

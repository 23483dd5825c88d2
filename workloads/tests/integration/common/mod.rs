//! Shared fixtures for the simulation tests: a real control plane in a temp
//! dir, a kube client from its kubeconfig, the simulation running against
//! it, YAML apply, and polling with a deadline.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use apiserver::{Config, ControlPlane, RunningControlPlane};
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::{Api, Client};
use workloads::{SimConfig, SimHandle, Simulation};

/// A control plane with a simulated cluster; everything stops on drop.
pub struct SimCluster {
    pub client: Client,
    pub sim: Option<SimHandle>,
    pub cp: RunningControlPlane,
    pub dir: tempfile::TempDir,
}

impl SimCluster {
    /// A control plane plus a simulated cluster of the default shape (3 nodes).
    pub async fn start() -> Self {
        Self::start_with(SimConfig::default()).await
    }

    /// A control plane plus a simulated cluster shaped by `config`.
    pub async fn start_with(config: SimConfig) -> Self {
        init_tracing();
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::start(Config {
            data_dir: dir.path().to_path_buf(),
            port: 0,
        })
        .expect("control plane starts");
        let client = client_for(cp.kubeconfig_path()).await;
        let sim = Simulation::start(client.clone(), config);
        Self {
            client,
            sim: Some(sim),
            cp,
            dir,
        }
    }

    /// A typed API in `namespace`.
    pub fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Server-side applies every document of `yaml` (field manager `test`),
    /// in `default` unless the document names a namespace.
    pub async fn apply(&self, yaml: &str) {
        apply_yaml(&self.client, yaml).await;
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.cp.kubeconfig_path().to_path_buf()
    }

    /// Runs kubectl against this cluster, or `None` after printing
    /// `SKIPPED: <test>: …` when kubectl is not installed. Async, so the
    /// simulation on the test's runtime keeps running meanwhile.
    pub async fn kubectl(&self, test: &str, args: &[&str]) -> Option<Output> {
        let kubectl = kubectl_path(test)?;
        let home = self.dir.path().join("home");
        Some(
            tokio::process::Command::new(kubectl)
                .args(args)
                .env("KUBECONFIG", self.kubeconfig())
                .env("HOME", &home)
                .output()
                .await
                .expect("kubectl runs"),
        )
    }

    /// Stops the simulation (the API server keeps running until drop).
    pub async fn stop_simulation(&mut self) {
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
    }
}

/// A kube client from a kubeconfig file, as any user would build it.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
    Client::try_from(config).expect("client")
}

/// Server-side applies each YAML document through discovery, like
/// `kubectl apply --server-side`.
pub async fn apply_yaml(client: &Client, yaml: &str) {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("test YAML parses");
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let obj: DynamicObject = serde_json::from_value(doc.clone()).expect("a Kubernetes object");
        let types = obj.types.clone().expect("apiVersion and kind");
        let gvk = kube::api::GroupVersionKind::try_from(&types).expect("valid apiVersion");
        let (ar, caps): (ApiResource, _) = discovery.resolve_gvk(&gvk).expect("served kind");
        let name = obj.metadata.name.clone().expect("metadata.name");
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            let ns = obj.metadata.namespace.as_deref().unwrap_or("default");
            Api::namespaced_with(client.clone(), ns, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        api.patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&doc),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", types.kind));
    }
}

/// Polls `check` until it returns `Some`, panicking with `what` after
/// `timeout`. Checks run back to back with a short pause, never a fixed
/// sleep standing in for the condition.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where kubectl is, or `None` after printing why the test skips.
pub fn kubectl_path(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED: {test}: kubectl not found on PATH");
    }
    found
}

/// Logs to the test output when `RUST_LOG` is set.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

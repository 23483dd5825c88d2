//! Shared fixtures: a control plane on a temp dir, kubectl against it, a
//! kube client for it, and polling with a deadline.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use apiserver::{Config, ControlPlane, RunningControlPlane};

/// A control plane with its data dir; both go away on drop.
pub struct Cluster {
    pub cp: RunningControlPlane,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::start(Config {
            data_dir: dir.path().to_path_buf(),
            port: 0,
        })
        .expect("control plane starts");
        Self { cp, dir }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.cp.kubeconfig_path().to_path_buf()
    }

    /// Runs kubectl with this cluster's kubeconfig and `stdin` as input.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        kubectl_with(&self.kubeconfig(), args, stdin)
    }

    /// Runs kubectl and fails the test unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A kube client using the written kubeconfig, as any user would.
    pub async fn client(&self) -> kube::Client {
        client_for(&self.kubeconfig()).await
    }
}

pub async fn client_for(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
    kube::Client::try_from(config).expect("client")
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

pub fn kubectl_with(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let home = kubeconfig
        .parent()
        .unwrap_or(Path::new("/tmp"))
        .join("home");
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        // Own cache dir per cluster: kubectl caches discovery and OpenAPI by host:port.
        .env("HOME", &home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl runs");
    if let Some(mut s) = child.stdin.take()
        && let Some(input) = stdin
    {
        s.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("kubectl finishes")
}

/// Polls `f` until it returns `Some`, failing after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

pub const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            properties:
              size: {type: integer}
"#;

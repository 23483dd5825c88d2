//! The generated CRDs installed the way users install them — `kubectl apply -f all.yaml`
//! against Flotilla's local control plane — then used through kubectl: documented examples
//! are accepted, invalid objects are refused with the schema's message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use apiserver::{Config, ControlPlane, RunningControlPlane};

struct Cluster {
    cp: RunningControlPlane,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cp = ControlPlane::start(Config {
            data_dir: dir.path().join("data"),
            port: 0,
        })
        .expect("control plane starts");
        Self { cp, dir }
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.cp.kubeconfig_path())
            // kubectl caches discovery per host:port under $HOME; keep it per test.
            .env("HOME", self.dir.path().join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
            pipe.write_all(input.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn all_yaml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("yaml/all.yaml")
}

fn have_kubectl() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: kubectl not found on PATH");
    }
    found
}

/// Installs the CRDs and waits until all three kinds are served.
fn install(cluster: &Cluster) {
    let out = cluster.kubectl_ok(&["apply", "-f", all_yaml().to_str().unwrap()], None);
    for name in [
        "gitrepositories.flotilla.dev",
        "kustomizations.flotilla.dev",
        "receivers.flotilla.dev",
    ] {
        assert!(
            out.contains(name),
            "kubectl apply did not report {name}:\n{out}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = cluster.kubectl(
            &["get", "gitrepositories,kustomizations,receivers", "-A"],
            None,
        );
        if listed.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the kinds were not served within 30s: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

const GIT_REPOSITORY: &str = "apiVersion: flotilla.dev/v1alpha1
kind: GitRepository
metadata:
  name: podinfo
  namespace: default
spec:
  url: https://github.com/stefanprodan/podinfo
  interval: 5m
  ref:
    branch: master
";

#[test]
fn kubectl_installs_the_crds_and_accepts_a_valid_object() {
    if !have_kubectl() {
        return;
    }
    let cluster = Cluster::start();
    install(&cluster);
    cluster.kubectl_ok(&["apply", "-f", "-"], Some(GIT_REPOSITORY));
    let stored = cluster.kubectl_ok(&["get", "gitrepo", "podinfo", "-o", "json"], None);
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["spec"]["ref"]["branch"], "master");
    let typed: crds::GitRepository = serde_json::from_value(stored).unwrap();
    assert_eq!(typed.spec.url, "https://github.com/stefanprodan/podinfo");
    assert_eq!(typed.spec.interval().unwrap(), Duration::from_secs(300));
    // The short name and the `flotilla` category are served through discovery.
    let by_short_name = cluster.kubectl_ok(&["get", "gitrepo", "-o", "name"], None);
    assert_eq!(by_short_name.trim(), "gitrepository.flotilla.dev/podinfo");
    let by_category = cluster.kubectl_ok(&["get", "flotilla", "-o", "name"], None);
    assert_eq!(by_category.trim(), "gitrepository.flotilla.dev/podinfo");
}

#[test]
fn kubectl_explain_shows_the_doc_comments() {
    if !have_kubectl() {
        return;
    }
    let cluster = Cluster::start();
    install(&cluster);
    let explained = cluster.kubectl_ok(&["explain", "kustomization.spec.policies"], None);
    assert!(
        explained.contains("Which ValidatingAdmissionPolicies gate the apply"),
        "{explained}"
    );
    for field in ["from", "paths", "selector"] {
        assert!(
            explained.contains(&format!("  {field}\t")),
            "{field} missing:\n{explained}"
        );
    }
}

#[test]
fn kubectl_refuses_objects_that_break_the_schema() {
    if !have_kubectl() {
        return;
    }
    let cluster = Cluster::start();
    install(&cluster);
    let bad_interval = GIT_REPOSITORY.replace("interval: 5m", "interval: 5 min");
    let out = cluster.kubectl(&["apply", "-f", "-"], Some(&bad_interval));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a malformed interval was accepted");
    assert!(
        stderr.contains("spec.interval"),
        "error does not name the field: {stderr}"
    );
}

#[test]
fn kubectl_refuses_a_ref_with_two_selectors() {
    if !have_kubectl() {
        return;
    }
    let cluster = Cluster::start();
    install(&cluster);
    let two = GIT_REPOSITORY.replace("branch: master", "branch: master\n    tag: v1.0.0");
    let out = cluster.kubectl(&["apply", "-f", "-"], Some(&two));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a ref with branch and tag was accepted"
    );
    assert!(
        stderr.contains("set exactly one of branch, tag, semver, name or commit"),
        "error does not carry the rule's message: {stderr}"
    );
}

//! ValidatingAdmissionPolicies stored in the control plane, enforced on
//! writes made with the real kubectl: `Deny` refuses with Kubernetes'
//! message, `Warn` prints a warning, and deleting the binding lifts it.
//!
//! Needs `kubectl` on PATH; without it each test prints `SKIPPED` and returns.

use std::path::PathBuf;
use std::process::Command;

use apiserver::{Config, ControlPlane, RunningControlPlane};

struct Cluster {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    running: Option<RunningControlPlane>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

fn start() -> Option<Cluster> {
    let present = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("SKIPPED: kubectl is not on PATH");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let running = ControlPlane::start(Config {
        data_dir: dir.path().join("data"),
        port: 0,
    })
    .expect("control plane starts");
    Some(Cluster {
        kubeconfig: running.kubeconfig_path().to_path_buf(),
        dir,
        running: Some(running),
    })
}

impl Cluster {
    /// Applies `manifest`; returns (success, stdout + stderr).
    fn apply(&self, manifest: &str) -> (bool, String) {
        let path = self.dir.path().join("manifest.yaml");
        std::fs::write(&path, manifest).expect("write manifest");
        self.kubectl(&["apply", "-f", path.to_str().unwrap_or_default()])
    }

    fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

fn policy(action: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: max-replicas}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}}
  validations:
  - {{expression: 'object.spec.replicas <= 5', message: 'at most 5 replicas'}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: max-replicas-binding}}
spec:
  policyName: max-replicas
  validationActions: [{action}]
"
    )
}

fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: app, image: app:1}}]}}
"
    )
}

#[test]
fn a_deny_policy_refuses_the_write() {
    let Some(c) = start() else { return };
    let (ok, out) = c.apply(&policy("Deny"));
    assert!(ok, "{out}");
    let (ok, out) = c.apply(&deployment(10));
    assert!(!ok, "a deployment over the limit was admitted: {out}");
    // kubectl prints the Status causes: the user must see which policy said no, and why.
    assert!(
        out.contains("ValidatingAdmissionPolicy 'max-replicas'")
            && out.contains("at most 5 replicas"),
        "kubectl did not show the policy's reason: {out}"
    );
    let (found, _) = c.kubectl(&["get", "deployment", "web", "-n", "default"]);
    assert!(!found, "the denied deployment was stored");
    let (ok, out) = c.apply(&deployment(3));
    assert!(ok, "{out}");
}

#[test]
fn a_denial_is_a_422_status_in_kubernetes_wording() {
    let Some(c) = start() else { return };
    let (ok, out) = c.apply(&policy("Deny"));
    assert!(ok, "{out}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(&c.kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(config).expect("client");
        let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(client, "default");
        let obj: k8s_openapi::api::apps::v1::Deployment =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}
            }))
            .expect("deployment");
        match api.create(&Default::default(), &obj).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422);
                assert_eq!(status.reason, "Invalid");
                assert_eq!(
                    status.message,
                    "deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: at most 5 replicas"
                );
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    });
}

#[test]
fn a_warn_policy_admits_with_a_warning() {
    let Some(c) = start() else { return };
    let (ok, out) = c.apply(&policy("Warn"));
    assert!(ok, "{out}");
    let (ok, out) = c.apply(&deployment(10));
    assert!(ok, "{out}");
    assert!(
        out.contains("Warning: Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding': at most 5 replicas"),
        "{out}"
    );
}

#[test]
fn deleting_the_binding_lifts_the_policy() {
    let Some(c) = start() else { return };
    let (ok, out) = c.apply(&policy("Deny"));
    assert!(ok, "{out}");
    let (ok, out) = c.kubectl(&[
        "delete",
        "validatingadmissionpolicybinding",
        "max-replicas-binding",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = c.apply(&deployment(10));
    assert!(ok, "{out}");
}

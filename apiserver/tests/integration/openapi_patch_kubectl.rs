//! The OpenAPI documents and patch formats as the real kubectl uses them:
//! `kubectl explain` reads the v3 documents, client-side `kubectl apply`
//! builds strategic merge patches for built-ins (and merge patches for
//! custom resources) from them, and `kubectl patch` sends each patch type.
//!
//! Needs `kubectl` on PATH; without it each test prints `SKIPPED` and returns.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use apiserver::{Config, ControlPlane, RunningControlPlane};
use serde_json::Value;

struct Cluster {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
    running: Option<RunningControlPlane>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn start() -> Option<Cluster> {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not on PATH");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let running = ControlPlane::start(Config {
        data_dir: dir.path().join("data"),
        port: 0,
    })
    .expect("control plane starts");
    let kubeconfig = running.kubeconfig_path().to_path_buf();
    let cache = dir.path().join("kube-cache");
    Some(Cluster {
        _dir: dir,
        kubeconfig,
        cache,
        running: Some(running),
    })
}

impl Cluster {
    /// Runs kubectl; returns (success, stdout, stderr).
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        let out = match stdin {
            Some(input) => {
                let path = self.cache.with_file_name("stdin.yaml");
                std::fs::write(&path, input).expect("write manifest");
                cmd.arg("-f").arg(&path).output()
            }
            None => cmd.output(),
        }
        .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.kubectl(args, stdin);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    fn get_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a, None)).expect("json output")
    }

    /// Polls until `kubectl get <resource>` works (a new CRD is served).
    fn wait_served(&self, resource: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (ok, _, err) = self.kubectl(&["get", resource, "-A"], None);
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "{resource} never served: {err}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: app:1, env: [{name: A, value: '1'}]}
      - {name: side, image: side:1}
";

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should look like.
            properties:
              size: {type: integer, description: How big the widget is.}
              tags: {type: array, items: {type: string}}
";

fn write_crd(c: &Cluster) {
    c.ok(&["apply"], Some(CRD));
    c.wait_served("widgets.example.com");
}

#[test]
fn explain_reads_built_in_field_descriptions() {
    let Some(c) = start() else { return };
    let out = c.ok(&["explain", "deployment.spec.replicas"], None);
    assert!(out.contains("FIELD: replicas <integer>"), "{out}");
    assert!(out.contains("Number of desired pods"), "{out}");
}

#[test]
fn explain_reads_a_crd_schema() {
    let Some(c) = start() else { return };
    write_crd(&c);
    let out = c.ok(&["explain", "widget.spec"], None);
    assert!(out.contains("What the widget should look like."), "{out}");
    assert!(out.contains("size\t<integer>"), "{out}");
}

#[test]
fn client_side_apply_merges_containers_by_name() {
    let Some(c) = start() else { return };
    c.ok(&["apply"], Some(DEPLOYMENT));
    // Someone else adds an env var to `app`; a re-apply with a new image
    // must keep it (a strategic merge by container name, not a list replace).
    c.ok(
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            "default",
            "--type=strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"2"}]}]}}}}"#,
        ],
        None,
    );
    c.ok(&["apply"], Some(&DEPLOYMENT.replace("app:1", "app:2")));
    let d = c.get_json(&["get", "deployment", "web", "-n", "default"]);
    let containers = &d["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "app:2");
    assert_eq!(containers[1]["name"], "side");
    let env: Vec<&str> = containers[0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    // Kubernetes puts the patched-in `B` first; both must be there.
    assert_eq!(env, vec!["B", "A"]);
}

#[test]
fn client_side_apply_of_a_custom_resource_uses_merge_patch() {
    let Some(c) = start() else { return };
    write_crd(&c);
    let widget = "apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: default}
spec: {size: 1, tags: [a, b]}
";
    c.ok(&["apply"], Some(widget));
    c.ok(
        &["apply"],
        Some(
            &widget
                .replace("size: 1", "size: 2")
                .replace("[a, b]", "[c]"),
        ),
    );
    let w = c.get_json(&["get", "widget", "w", "-n", "default"]);
    assert_eq!(w["spec"]["size"], 2);
    assert_eq!(w["spec"]["tags"], serde_json::json!(["c"]));
}

#[test]
fn strategic_merge_patch_on_a_custom_resource_is_refused_with_415() {
    let Some(c) = start() else { return };
    write_crd(&c);
    c.ok(
        &["apply"],
        Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: {size: 1}\n"),
    );
    let (ok, _, err) = c.kubectl(
        &[
            "patch",
            "widget",
            "w",
            "-n",
            "default",
            "--type=strategic",
            "-p",
            r#"{"spec":{"size":3}}"#,
        ],
        None,
    );
    assert!(!ok);
    assert!(
        err.contains("unknown format")
            || err.contains("UnsupportedMediaType")
            || err.contains("415"),
        "{err}"
    );
}

#[test]
fn json_and_merge_patches_apply() {
    let Some(c) = start() else { return };
    c.ok(
        &["apply"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: {a: '1'}\n"),
    );
    c.ok(
        &[
            "patch",
            "configmap",
            "cm",
            "-n",
            "default",
            "--type=merge",
            "-p",
            r#"{"data":{"b":"2","a":null}}"#,
        ],
        None,
    );
    c.ok(
        &[
            "patch",
            "configmap",
            "cm",
            "-n",
            "default",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/data/c","value":"3"},{"op":"test","path":"/data/b","value":"2"}]"#,
        ],
        None,
    );
    let cm = c.get_json(&["get", "configmap", "cm", "-n", "default"]);
    assert_eq!(cm["data"], serde_json::json!({"b": "2", "c": "3"}));
    let (ok, _, _) = c.kubectl(
        &[
            "patch",
            "configmap",
            "cm",
            "-n",
            "default",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/data/b","value":"nope"}]"#,
        ],
        None,
    );
    assert!(!ok, "a failed JSON patch test must be refused");
}

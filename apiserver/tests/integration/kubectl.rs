//! The real kubectl against the control plane: what users will type.
//! Each test skips (printing `SKIPPED:`) when kubectl is not installed.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Cluster, WIDGET_CRD, kubectl_path};

const APP: &str = r#"apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {size: 3, color: blue}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w2, namespace: default}
spec: {size: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: default}
data: {a: "1"}
"#;

fn manifest() -> String {
    format!("{WIDGET_CRD}---\n{APP}")
}

/// Installs the CRD and waits until it is Established, as users do before applying CRs.
fn install_crd(c: &Cluster) {
    c.kubectl_ok(&["apply", "-f", "-"], Some(WIDGET_CRD));
    c.kubectl_ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=10s",
        ],
        None,
    );
}

#[test]
fn client_side_apply_of_a_multi_document_manifest_creates_then_reports_unchanged() {
    if kubectl_path("client_side_apply").is_none() {
        return;
    }
    let c = Cluster::start();
    install_crd(&c);
    let out = c.kubectl_ok(&["apply", "-f", "-"], Some(&manifest()));
    for line in [
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged",
        "widget.example.com/w1 created",
        "widget.example.com/w2 created",
        "deployment.apps/web created",
        "configmap/cfg created",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let again = c.kubectl_ok(&["apply", "-f", "-"], Some(&manifest()));
    assert!(again.contains("widget.example.com/w1 unchanged"), "{again}");
    assert!(again.contains("configmap/cfg unchanged"), "{again}");

    let yaml = c.kubectl_ok(&["get", "widget", "w1", "-o", "yaml"], None);
    assert!(yaml.contains("color: blue"), "{yaml}");
    assert!(
        yaml.contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{yaml}"
    );
    assert!(yaml.contains("uid: "), "{yaml}");
    let names = c.kubectl_ok(&["get", "wd", "-o", "name"], None);
    assert_eq!(names, "widget.example.com/w1\nwidget.example.com/w2\n");
}

#[test]
fn server_side_apply_creates_and_updates_with_the_kubectl_field_manager() {
    if kubectl_path("server_side_apply").is_none() {
        return;
    }
    let c = Cluster::start();
    install_crd(&c);
    let out = c.kubectl_ok(&["apply", "--server-side", "-f", "-"], Some(&manifest()));
    assert!(
        out.contains("widget.example.com/w1 serverside-applied"),
        "{out}"
    );
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let changed = APP.replace("color: blue", "color: red");
    c.kubectl_ok(&["apply", "--server-side", "-f", "-"], Some(&changed));
    let color = c.kubectl_ok(
        &["get", "widget", "w1", "-o", "jsonpath={.spec.color}"],
        None,
    );
    assert_eq!(color, "red");
    let managers = c.kubectl_ok(
        &[
            "get",
            "widget",
            "w1",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ],
        None,
    );
    assert!(managers.contains("kubectl"), "{managers}");
}

#[test]
fn get_watch_prints_events_for_changes_made_while_watching() {
    if kubectl_path("get_watch").is_none() {
        return;
    }
    let c = Cluster::start();
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n"),
    );
    let mut watch = Command::new("kubectl")
        .args(["get", "configmaps", "-w", "-o", "name"])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.dir.path().join("home"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The initial listing arrives first; then changes made now must stream in.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10))
            .expect("initial list"),
        "configmap/first"
    );
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second}\n"),
    );
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == "configmap/second") {
        seen.push(
            rx.recv_timeout(Duration::from_secs(10))
                .expect("watch event for the new ConfigMap"),
        );
    }
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn label_and_every_patch_type_change_the_object() {
    if kubectl_path("label_and_patch").is_none() {
        return;
    }
    let c = Cluster::start();
    install_crd(&c);
    c.kubectl_ok(&["apply", "-f", "-"], Some(APP));
    c.kubectl_ok(&["label", "configmap", "cfg", "team=core"], None);
    c.kubectl_ok(
        &[
            "patch",
            "configmap",
            "cfg",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/data/b","value":"2"}]"#,
        ],
        None,
    );
    c.kubectl_ok(
        &[
            "patch",
            "configmap",
            "cfg",
            "--type=merge",
            "-p",
            r#"{"data":{"c":"3"}}"#,
        ],
        None,
    );
    let data = c.kubectl_ok(
        &[
            "get",
            "cm",
            "cfg",
            "-o",
            "jsonpath={.metadata.labels.team} {.data.a}{.data.b}{.data.c}",
        ],
        None,
    );
    assert_eq!(data, "core 123");
    // Strategic merge: containers merge by name instead of being replaced.
    c.kubectl_ok(
        &["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#],
        None,
    );
    let containers = c.kubectl_ok(
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ],
        None,
    );
    assert_eq!(containers, "sidecar web");
    c.kubectl_ok(
        &[
            "patch",
            "widget",
            "w1",
            "--type=merge",
            "-p",
            r#"{"spec":{"color":"green"}}"#,
        ],
        None,
    );
    assert_eq!(
        c.kubectl_ok(
            &[
                "get",
                "widget",
                "w1",
                "-o",
                "jsonpath={.spec.color} {.metadata.generation}"
            ],
            None
        ),
        "green 2"
    );
}

#[test]
fn scale_sets_replicas_through_the_scale_subresource() {
    if kubectl_path("scale").is_none() {
        return;
    }
    let c = Cluster::start();
    install_crd(&c);
    c.kubectl_ok(&["apply", "-f", "-"], Some(APP));
    c.kubectl_ok(&["scale", "deployment", "web", "--replicas=5"], None);
    assert_eq!(
        c.kubectl_ok(
            &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
            None
        ),
        "5"
    );
    c.kubectl_ok(&["scale", "widget", "w2", "--replicas=4"], None);
    assert_eq!(
        c.kubectl_ok(
            &["get", "widget", "w2", "-o", "jsonpath={.spec.size}"],
            None
        ),
        "4"
    );
}

#[test]
fn foreground_delete_removes_dependents_before_the_owner() {
    if kubectl_path("delete_foreground").is_none() {
        return;
    }
    let c = Cluster::start();
    install_crd(&c);
    c.kubectl_ok(&["apply", "-f", "-"], Some(APP));
    let uid = c.kubectl_ok(
        &["get", "deploy", "web", "-o", "jsonpath={.metadata.uid}"],
        None,
    );
    let child = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: child\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: Deployment, name: web, uid: \"{uid}\", blockOwnerDeletion: true}}\n"
    );
    c.kubectl_ok(&["apply", "-f", "-"], Some(&child));
    c.kubectl_ok(
        &[
            "delete",
            "deployment",
            "web",
            "--cascade=foreground",
            "--timeout=20s",
        ],
        None,
    );
    let left = c.kubectl(&["get", "configmap", "child"], None);
    assert!(!left.status.success(), "dependent still exists");
    assert!(String::from_utf8_lossy(&left.stderr).contains("NotFound"));
    let deploys = c.kubectl_ok(&["get", "deployments", "-o", "name"], None);
    assert_eq!(deploys, "");
}

#[test]
fn wait_for_a_condition_set_through_the_status_subresource() {
    if kubectl_path("wait_condition").is_none() {
        return;
    }
    let c = Cluster::start();
    install_crd(&c);
    c.kubectl_ok(&["apply", "-f", "-"], Some(APP));
    let waiter = Command::new("kubectl")
        .args([
            "wait",
            "--for=condition=Ready",
            "widget/w1",
            "--timeout=20s",
        ])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.dir.path().join("home"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl wait starts");
    c.kubectl_ok(
        &[
            "patch", "widget", "w1", "--subresource=status", "--type=merge", "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Done","message":"ok","lastTransitionTime":"2024-01-01T00:00:00Z"}]}}"#,
        ],
        None,
    );
    let out = waiter.wait_with_output().expect("kubectl wait ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));
}

#[test]
fn explain_describes_built_in_and_custom_fields() {
    if kubectl_path("explain").is_none() {
        return;
    }
    let c = Cluster::start();
    install_crd(&c);
    let out = c.kubectl_ok(&["explain", "deployment.spec.replicas"], None);
    assert!(out.contains("FIELD: replicas <integer>"), "{out}");
    let out = c.kubectl_ok(&["explain", "widget.spec"], None);
    assert!(
        out.contains("color\t<string>") || out.contains("color <string>"),
        "{out}"
    );
}

#[test]
fn server_errors_reach_the_user_in_kubernetes_wording() {
    if kubectl_path("errors").is_none() {
        return;
    }
    let c = Cluster::start();
    let out = c.kubectl(&["get", "configmap", "missing"], None);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (NotFound): configmaps \"missing\" not found"
    );
}

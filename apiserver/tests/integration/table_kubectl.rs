//! `kubectl get` prints the server's Table: the columns kube-apiserver gives each kind
//! (READY/STATUS/RESTARTS for pods, TYPE/CLUSTER-IP/PORT(S) for services, …), `-o wide`
//! extras, and a CRD's `additionalPrinterColumns`. Ages are normalised to `AGE`, since
//! they depend on when the test runs.

use crate::common;

use common::{Cluster, kubectl_path};

/// Replaces every age-looking cell (`0s`, `12s`, `2m3s`) by `<age>`, collapsing column padding.
fn normalise(table: &str) -> String {
    table
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|w| {
                    let is_age = !w.is_empty()
                        && w.ends_with(['s', 'm', 'h', 'd'])
                        && w[..w.len() - 1]
                            .chars()
                            .all(|c| c.is_ascii_digit() || "smhd".contains(c))
                        && w.starts_with(|c: char| c.is_ascii_digit());
                    if is_age { "<age>" } else { w }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: default, labels: {app: web}}
spec:
  containers: [{name: web, image: nginx:1.27}, {name: sidecar, image: busybox}]
"#;

const POD_STATUS: &str = r#"{"status": {"phase": "Running", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}],
  "conditions": [{"type": "Ready", "status": "False"}],
  "containerStatuses": [
    {"name": "web", "image": "nginx:1.27", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
    {"name": "sidecar", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
  ]}}"#;

#[test]
fn get_pods_prints_ready_status_restarts_and_wide_columns() {
    if kubectl_path("get_pods_table").is_none() {
        return;
    }
    let c = Cluster::start();
    c.kubectl_ok(&["apply", "-f", "-"], Some(POD));
    let pending = c.kubectl_ok(&["get", "pods"], None);
    assert_eq!(
        normalise(&pending),
        "NAME READY STATUS RESTARTS AGE\nweb-0 0/2 Pending 0 <age>"
    );
    c.kubectl_ok(
        &[
            "patch",
            "pod",
            "web-0",
            "--subresource=status",
            "--type=merge",
            "-p",
            POD_STATUS,
        ],
        None,
    );
    let wide = c.kubectl_ok(&["get", "pods", "-o", "wide"], None);
    assert_eq!(
        normalise(&wide),
        "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES\n\
         web-0 1/2 CrashLoopBackOff 0 <age> 10.244.1.7 <none> <none> <none>"
    );
}

const OBJECTS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: default}
type: Opaque
stringData: {user: admin, password: x}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: task, image: busybox}]
"#;

#[test]
fn get_deployments_services_secrets_and_cronjobs_print_their_kinds_columns() {
    if kubectl_path("get_kinds_table").is_none() {
        return;
    }
    let c = Cluster::start();
    c.kubectl_ok(&["apply", "-f", "-"], Some(OBJECTS));
    let deploy = c.kubectl_ok(&["get", "deploy", "-o", "wide"], None);
    assert_eq!(
        normalise(&deploy),
        "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR\n\
         web 0/3 0 0 <age> web nginx app=web"
    );
    let svc = c.kubectl_ok(&["get", "svc", "web"], None);
    let line = normalise(&svc);
    let row: Vec<&str> = line.lines().nth(1).unwrap_or("").split(' ').collect();
    assert_eq!(
        line.lines().next(),
        Some("NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE")
    );
    assert_eq!(row[1], "NodePort");
    assert!(row[2].starts_with("10.96."), "{svc}");
    assert_eq!(row[3..5], ["<none>", "80:30080/TCP"]);
    let secret = c.kubectl_ok(&["get", "secret", "creds"], None);
    assert_eq!(
        normalise(&secret),
        "NAME TYPE DATA AGE\ncreds Opaque 2 <age>"
    );
    let cron = c.kubectl_ok(&["get", "cronjob"], None);
    assert_eq!(
        normalise(&cron),
        "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE\n\
         nightly 0 3 * * * <none> False 0 <none> <age>"
    );
}

#[test]
fn get_namespaces_prints_status() {
    if kubectl_path("get_namespaces_table").is_none() {
        return;
    }
    let c = Cluster::start();
    let out = c.kubectl_ok(&["get", "ns", "kube-system"], None);
    assert_eq!(normalise(&out), "NAME STATUS AGE\nkube-system Active <age>");
}

#[test]
fn kinds_without_a_printer_show_name_and_created_at() {
    if kubectl_path("default_table").is_none() {
        return;
    }
    let c = Cluster::start();
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n"),
    );
    let out = c.kubectl_ok(&["get", "clusterrole", "reader"], None);
    let mut lines = out.lines();
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["NAME", "CREATED", "AT"])
    );
    let row: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(row[0], "reader");
    assert!(
        chrono::DateTime::parse_from_rfc3339(row[1]).is_ok(),
        "CREATED AT is an RFC 3339 time: {out}"
    );
}

const PRINTER_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: databases.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Database, plural: databases, singular: database}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Engine, type: string, jsonPath: .spec.engine}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Zone, type: string, jsonPath: .spec.zone, priority: 1}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

#[test]
fn custom_resources_print_their_additional_printer_columns() {
    if kubectl_path("crd_printer_columns").is_none() {
        return;
    }
    let c = Cluster::start();
    c.kubectl_ok(&["apply", "-f", "-"], Some(PRINTER_CRD));
    c.kubectl_ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/databases.example.com",
            "--timeout=10s",
        ],
        None,
    );
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: example.com/v1\nkind: Database\nmetadata: {name: pg, namespace: default}\n\
             spec: {engine: postgres, replicas: 2, zone: a}\n\
             status: {conditions: [{type: Synced, status: 'False'}, {type: Ready, status: 'True'}]}\n",
        ),
    );
    let out = c.kubectl_ok(&["get", "databases"], None);
    assert_eq!(
        normalise(&out),
        "NAME ENGINE REPLICAS READY\npg postgres 2 True"
    );
    let wide = c.kubectl_ok(&["get", "databases", "-o", "wide"], None);
    assert_eq!(
        normalise(&wide),
        "NAME ENGINE REPLICAS READY ZONE\npg postgres 2 True a"
    );
}

const MISMATCHED_RS: &str = r#"apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: nginx}]}
"#;

/// kubectl printed this line for the same manifest against kube-apiserver 1.37.2 (run by hand against the
/// oracle binary; the e2e differential suite compares both servers continuously).
#[test]
fn a_replicaset_whose_selector_misses_its_template_is_refused_as_kubernetes_does() {
    if kubectl_path("mismatched_rs").is_none() {
        return;
    }
    let c = Cluster::start();
    let out = c.kubectl(&["apply", "-f", "-"], Some(MISMATCHED_RS));
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "The ReplicaSet \"rs\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`"
    );
}

#[test]
fn componentstatuses_are_healthy_with_the_deprecation_warning() {
    if kubectl_path("componentstatuses").is_none() {
        return;
    }
    let c = Cluster::start();
    let out = c.kubectl(&["get", "componentstatuses"], None);
    assert!(out.status.success());
    assert_eq!(
        normalise(&String::from_utf8_lossy(&out.stdout)),
        "NAME STATUS MESSAGE ERROR\ncontroller-manager Healthy ok\nscheduler Healthy ok\netcd-0 Healthy ok"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Warning: v1 ComponentStatus is deprecated in v1.19+"
    );
}

#[test]
fn exec_and_logs_say_that_simulated_pods_run_no_processes() {
    if kubectl_path("exec_logs").is_none() {
        return;
    }
    let c = Cluster::start();
    c.kubectl_ok(&["apply", "-f", "-"], Some(POD));
    let logs = c.kubectl(&["logs", "web-0", "-c", "web"], None);
    assert!(!logs.status.success());
    assert_eq!(
        String::from_utf8_lossy(&logs.stderr).trim(),
        "Error from server (BadRequest): pod default/web-0 has no container output to show: pods of the simulated cluster run no processes"
    );
    let exec = c.kubectl(&["exec", "web-0", "-c", "web", "--", "true"], None);
    assert!(!exec.status.success());
    let stderr = String::from_utf8_lossy(&exec.stderr);
    assert!(
        stderr.contains("pods of the simulated cluster run no processes"),
        "{stderr}"
    );
}

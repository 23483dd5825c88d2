//! Deployments and ReplicaSets as users see them: availability, rollouts,
//! scaling, failures that never become Available, garbage collection, and
//! `kubectl rollout status`.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams};

const WAIT: Duration = Duration::from_secs(30);

/// A Deployment `name` with `replicas` pods of `image`; `extra_template`
/// lines go under `spec.template.metadata` (annotations), `extra_spec`
/// under `spec`, `extra_container` under the container.
fn deployment(
    name: &str,
    replicas: i32,
    image: &str,
    extra_spec: &str,
    extra_container: &str,
) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
{extra_spec}  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
{extra_container}"#
    )
}

fn condition(d: &Deployment, type_: &str) -> Option<(String, String, String)> {
    let c = d
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

async fn pods_of(pods: &Api<Pod>, app: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn wait_available(deployments: &Api<Deployment>, name: &str) -> Deployment {
    wait_for(
        &format!("deployment {name} to be Available"),
        WAIT,
        || async {
            let d = deployments.get(name).await.ok()?;
            let status = d.status.as_ref()?;
            let want = d.spec.as_ref()?.replicas?;
            (condition(&d, "Available")?.0 == "True"
                && status.available_replicas == Some(want)
                && status.updated_replicas == Some(want)
                && status.replicas == Some(want)
                && status.observed_generation == d.metadata.generation)
                .then_some(d)
        },
    )
    .await
}

#[tokio::test]
async fn a_deployment_of_three_becomes_available_with_three_ready_pods() {
    let c = SimCluster::start().await;
    c.apply(&deployment("web", 3, "nginx:1.27", "", "")).await;
    let deployments: Api<Deployment> = c.api("default");
    let d = wait_available(&deployments, "web").await;
    let status = d.status.clone().expect("status");
    assert_eq!(status.ready_replicas, Some(3));
    assert_eq!(status.unavailable_replicas, Some(0));
    let progressing = condition(&d, "Progressing").expect("Progressing");
    assert_eq!(progressing.0, "True");
    assert_eq!(progressing.1, "NewReplicaSetAvailable");
    assert_eq!(
        d.annotations_or_empty("deployment.kubernetes.io/revision"),
        "1"
    );

    let pods: Api<Pod> = c.api("default");
    let web = pods_of(&pods, "web").await;
    assert_eq!(web.len(), 3);
    let rs_name = {
        let rs: Api<ReplicaSet> = c.api("default");
        let list = rs.list(&ListParams::default()).await.expect("list rs");
        assert_eq!(list.items.len(), 1);
        let rs = &list.items[0];
        let hash = rs.labels_or_empty("pod-template-hash");
        assert_eq!(
            rs.metadata.name.as_deref(),
            Some(format!("web-{hash}").as_str())
        );
        let owner = &rs.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("Deployment", Some(true))
        );
        rs.metadata.name.clone().expect("name")
    };
    for p in &web {
        assert!(is_ready(p), "pod {:?} ready", p.metadata.name);
        let status = p.status.as_ref().expect("status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(
            status
                .pod_ip
                .as_deref()
                .is_some_and(|ip| ip.starts_with("10.244."))
        );
        let owner = &p.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(owner.name, rs_name);
        assert_eq!(owner.block_owner_deletion, Some(true));
    }
    let events: Api<Event> = c.api("default");
    let scaled = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .any(|m| m == format!("Scaled up replica set {rs_name} from 0 to 3"));
    assert!(scaled, "a ScalingReplicaSet event");
}

#[tokio::test]
async fn a_crash_looping_deployment_never_becomes_available_and_says_why() {
    let c = SimCluster::start().await;
    c.apply(&deployment(
        "crasher",
        2,
        "busybox:crash-loop",
        "  progressDeadlineSeconds: 2\n",
        "",
    ))
    .await;
    let pods: Api<Pod> = c.api("default");
    wait_for("pods in CrashLoopBackOff with restarts", WAIT, || async {
        let all = pods_of(&pods, "crasher").await;
        let looping = all.iter().filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                .is_some_and(|cs| {
                    cs.restart_count >= 1
                        && !cs.ready
                        && cs
                            .state
                            .as_ref()
                            .and_then(|s| s.waiting.as_ref())
                            .and_then(|w| w.reason.as_deref())
                            == Some("CrashLoopBackOff")
                })
        });
        (looping.count() == 2).then_some(())
    })
    .await;
    let deployments: Api<Deployment> = c.api("default");
    let d = wait_for("ProgressDeadlineExceeded", WAIT, || async {
        let d = deployments.get("crasher").await.ok()?;
        (condition(&d, "Progressing")?.1 == "ProgressDeadlineExceeded").then_some(d)
    })
    .await;
    let (status, _, message) = condition(&d, "Progressing").expect("Progressing");
    assert_eq!(status, "False");
    assert!(message.ends_with("has timed out progressing."), "{message}");
    let available = condition(&d, "Available").expect("Available");
    assert_eq!(
        (available.0.as_str(), available.1.as_str()),
        ("False", "MinimumReplicasUnavailable")
    );
    assert_eq!(d.status.expect("status").available_replicas, Some(0));
}

#[tokio::test]
async fn a_rolling_update_with_max_unavailable_zero_keeps_every_replica_ready() {
    let c = SimCluster::start().await;
    let strategy = "  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}\n";
    // A readiness delay makes each new pod take a while, so the rollout
    // has several steps to get wrong.
    let probe = "        readinessProbe:\n          exec: {command: [\"true\"]}\n          initialDelaySeconds: 1\n";
    c.apply(&deployment("api", 3, "api:v1", strategy, probe))
        .await;
    let deployments: Api<Deployment> = c.api("default");
    wait_available(&deployments, "api").await;

    c.apply(&deployment("api", 3, "api:v2", strategy, probe))
        .await;
    let pods: Api<Pod> = c.api("default");
    let fewest_ready = std::sync::Arc::new(AtomicUsize::new(usize::MAX));
    let done = wait_for("the rollout to finish", WAIT, || {
        let pods = pods.clone();
        let deployments = deployments.clone();
        let fewest = fewest_ready.clone();
        async move {
            let ready = pods_of(&pods, "api")
                .await
                .iter()
                .filter(|p| is_ready(p))
                .count();
            fewest.fetch_min(ready, Ordering::SeqCst);
            let d = deployments.get("api").await.ok()?;
            let status = d.status.as_ref()?;
            // The revision annotation lands before the status of the new
            // generation, so the status must be the new generation's.
            (d.annotations_or_empty("deployment.kubernetes.io/revision") == "2"
                && status.observed_generation == d.metadata.generation
                && status.updated_replicas == Some(3)
                && status.available_replicas == Some(3)
                && status.replicas == Some(3))
            .then_some(d)
        }
    })
    .await;
    let fewest_ready = fewest_ready.load(Ordering::SeqCst);
    assert!(
        fewest_ready >= 3,
        "ready pods dropped to {fewest_ready} during the rollout"
    );
    assert_eq!(
        condition(&done, "Progressing").expect("Progressing").1,
        "NewReplicaSetAvailable"
    );
    let rs: Api<ReplicaSet> = c.api("default");
    let sets = rs.list(&ListParams::default()).await.expect("list").items;
    assert_eq!(sets.len(), 2);
    for set in sets {
        let image = set
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.containers[0].image.clone());
        let replicas = set.spec.as_ref().and_then(|s| s.replicas);
        let revision = set.annotations_or_empty("deployment.kubernetes.io/revision");
        match image.as_deref() {
            Some("api:v1") => assert_eq!((replicas, revision.as_str()), (Some(0), "1")),
            _ => assert_eq!((replicas, revision.as_str()), (Some(3), "2")),
        }
    }
}

#[tokio::test]
async fn scaling_down_removes_pods_until_the_new_count() {
    let c = SimCluster::start().await;
    c.apply(&deployment("scaled", 4, "nginx", "", "")).await;
    let deployments: Api<Deployment> = c.api("default");
    wait_available(&deployments, "scaled").await;
    c.apply(&deployment("scaled", 1, "nginx", "", "")).await;
    wait_available(&deployments, "scaled").await;
    let pods: Api<Pod> = c.api("default");
    // Scaled-down pods terminate gracefully and the kubelet removes them.
    wait_for("only one pod left", WAIT, || async {
        (pods_of(&pods, "scaled").await.len() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn pods_become_ready_only_after_the_readiness_probe_delay() {
    let c = SimCluster::start().await;
    let probe = "        readinessProbe:\n          httpGet: {path: /, port: 80}\n          initialDelaySeconds: 2\n";
    c.apply(&deployment("slow", 1, "nginx", "", probe)).await;
    let pods: Api<Pod> = c.api("default");
    let (running_seen, was_ready) = wait_for("the pod to run", WAIT, || async {
        let p = pods_of(&pods, "slow").await.into_iter().next()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running"))
            .then(|| (std::time::Instant::now(), is_ready(&p)))
    })
    .await;
    assert!(!was_ready, "ready before the probe's initial delay");
    wait_for("the pod to become ready", WAIT, || async {
        pods_of(&pods, "slow")
            .await
            .iter()
            .any(is_ready)
            .then_some(())
    })
    .await;
    assert!(
        running_seen.elapsed() >= Duration::from_millis(1000),
        "ready {:?} after running",
        running_seen.elapsed()
    );
}

#[tokio::test]
async fn deleting_a_deployment_garbage_collects_its_replicasets_and_pods() {
    let c = SimCluster::start().await;
    c.apply(&deployment("doomed", 2, "nginx", "", "")).await;
    let deployments: Api<Deployment> = c.api("default");
    wait_available(&deployments, "doomed").await;
    deployments
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete");
    let rs: Api<ReplicaSet> = c.api("default");
    let pods: Api<Pod> = c.api("default");
    wait_for("ReplicaSets and pods to be gone", WAIT, || async {
        let sets = rs.list(&ListParams::default()).await.ok()?.items.len();
        let left = pods_of(&pods, "doomed").await.len();
        (sets == 0 && left == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn kubectl_rollout_status_succeeds_once_the_deployment_is_available() {
    let c = SimCluster::start().await;
    c.apply(&deployment("shop", 3, "nginx", "", "")).await;
    let Some(out) = c
        .kubectl(
            "kubectl_rollout_status_succeeds_once_the_deployment_is_available",
            &["rollout", "status", "deployment/shop", "--timeout=60s"],
        )
        .await
    else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl rollout status failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("deployment \"shop\" successfully rolled out"),
        "{stdout}"
    );
}

/// Reading one annotation or label, `""` when absent.
trait MetaExt {
    fn annotations_or_empty(&self, key: &str) -> String;
    fn labels_or_empty(&self, key: &str) -> String;
}

impl<K: kube::Resource> MetaExt for K {
    fn annotations_or_empty(&self, key: &str) -> String {
        self.meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(key).cloned())
            .unwrap_or_default()
    }
    fn labels_or_empty(&self, key: &str) -> String {
        self.meta()
            .labels
            .as_ref()
            .and_then(|a| a.get(key).cloned())
            .unwrap_or_default()
    }
}

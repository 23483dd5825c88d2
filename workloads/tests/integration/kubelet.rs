//! The simulated kubelet: pod phases, conditions and container statuses,
//! the failure behaviours selected by annotation or image tag, and graceful
//! deletion.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::DeleteParams;

const WAIT: Duration = Duration::from_secs(20);

fn pod_yaml(name: &str, image: &str, annotations: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n{spec}  containers:\n  - name: app\n    image: {image}\n"
    )
}

async fn wait_pod(pods: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    wait_for(&format!("pod {name}: {what}"), WAIT, || async {
        let p = pods.get(name).await.ok()?;
        check(&p).then_some(p)
    })
    .await
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn container(p: &Pod) -> Option<&ContainerStatus> {
    p.status.as_ref()?.container_statuses.as_ref()?.first()
}

fn condition(p: &Pod, type_: &str) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

#[tokio::test]
async fn a_scheduled_pod_runs_ready_with_ips_and_container_status() {
    let c = SimCluster::start().await;
    c.apply(&pod_yaml("web", "nginx:1.27", "", "")).await;
    let pods: Api<Pod> = c.api("default");
    let p = wait_pod(&pods, "web", "Ready", |p| {
        condition(p, "Ready").as_deref() == Some("True")
    })
    .await;
    assert_eq!(phase(&p), "Running");
    for type_ in ["PodScheduled", "Initialized", "ContainersReady"] {
        assert_eq!(condition(&p, type_).as_deref(), Some("True"), "{type_}");
    }
    let status = p.status.as_ref().expect("status");
    assert!(
        status
            .pod_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("10.244."))
    );
    assert!(
        status
            .host_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("172.18.0."))
    );
    assert!(status.start_time.is_some());
    let cs = container(&p).expect("container status");
    assert!(cs.ready && cs.started == Some(true) && cs.restart_count == 0);
    assert!(cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
}

#[tokio::test]
async fn run_to_completion_pods_succeed_or_fail_by_exit_code() {
    let c = SimCluster::start().await;
    let never = "  restartPolicy: Never\n";
    c.apply(&pod_yaml(
        "task",
        "busybox",
        "sim.flotilla.dev/run-seconds: \"0.3\"",
        never,
    ))
    .await;
    c.apply(&pod_yaml(
        "broken-task",
        "busybox",
        "sim.flotilla.dev/behavior: exit-code=3",
        never,
    ))
    .await;
    let pods: Api<Pod> = c.api("default");
    let ok = wait_pod(&pods, "task", "Succeeded", |p| phase(p) == "Succeeded").await;
    let exit = container(&ok)
        .and_then(|c| c.state.as_ref()?.terminated.clone())
        .expect("terminated");
    assert_eq!(
        (exit.exit_code, exit.reason.as_deref()),
        (0, Some("Completed"))
    );
    let failed = wait_pod(&pods, "broken-task", "Failed", |p| phase(p) == "Failed").await;
    let exit = container(&failed)
        .and_then(|c| c.state.as_ref()?.terminated.clone())
        .expect("terminated");
    assert_eq!((exit.exit_code, exit.reason.as_deref()), (3, Some("Error")));
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_backs_off_and_stays_pending() {
    let c = SimCluster::start().await;
    c.apply(&pod_yaml(
        "unpullable",
        "registry.example/app:image-pull-error",
        "",
        "",
    ))
    .await;
    let pods: Api<Pod> = c.api("default");
    let p = wait_pod(&pods, "unpullable", "ImagePullBackOff", |p| {
        container(p)
            .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .as_deref()
            == Some("ImagePullBackOff")
    })
    .await;
    assert_eq!(phase(&p), "Pending");
    assert_eq!(condition(&p, "Ready").as_deref(), Some("False"));
}

#[tokio::test]
async fn a_never_ready_pod_runs_without_becoming_ready() {
    let c = SimCluster::start().await;
    c.apply(&pod_yaml(
        "stuck",
        "nginx",
        "sim.flotilla.dev/behavior: never-ready",
        "",
    ))
    .await;
    let pods: Api<Pod> = c.api("default");
    let p = wait_pod(&pods, "stuck", "Running", |p| phase(p) == "Running").await;
    let ready = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .expect("Ready condition");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [app]")
    );
    assert_eq!(container(&p).map(|c| c.ready), Some(false));
}

#[tokio::test]
async fn deleting_a_running_pod_waits_for_its_kubelet() {
    let c = SimCluster::start().await;
    let pods: Api<Pod> = c.api("default");
    // Bound to a node no kubelet serves: the delete only marks it.
    c.apply(&pod_yaml(
        "orphaned",
        "nginx",
        "",
        "  nodeName: gone-node\n",
    ))
    .await;
    pods.delete("orphaned", &DeleteParams::default())
        .await
        .expect("delete");
    let p = pods.get("orphaned").await.expect("still there");
    assert!(p.metadata.deletion_timestamp.is_some());
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(30));

    // On a simulated node, the kubelet stops it and removes it.
    c.apply(&pod_yaml("served", "nginx", "", "")).await;
    wait_pod(&pods, "served", "Running", |p| phase(p) == "Running").await;
    pods.delete("served", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the kubelet to remove the pod", WAIT, || async {
        pods.get_opt("served").await.ok()?.is_none().then_some(())
    })
    .await;
}

//! Jobs: completions and parallelism, the back-off limit, deadlines,
//! Indexed completion and clean-up after finishing.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

const TIMEOUT: Duration = Duration::from_secs(30);

fn job(name: &str, spec: &str, annotations: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    metadata:
      annotations: {{{annotations}}}
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox:1.36
"#
    )
}

fn condition(job: &Job, kind: &str) -> Option<(String, String)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

async fn wait_condition(c: &SimCluster, name: &str, kind: &str) -> Job {
    let jobs: Api<Job> = c.api("default");
    wait_for(&format!("job {name} {kind}"), TIMEOUT, || async {
        let j = jobs.get(name).await.ok()?;
        condition(&j, kind).map(|_| j)
    })
    .await
}

async fn pods_of(c: &SimCluster, name: &str) -> Vec<Pod> {
    let pods: Api<Pod> = c.api("default");
    pods.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}")))
        .await
        .expect("pods")
        .items
}

#[tokio::test]
async fn a_job_with_completions_3_parallelism_2_completes() {
    let c = SimCluster::start().await;
    let pods: Api<Pod> = c.api("default");
    let mut events = watcher(
        pods,
        watcher::Config::default().labels("batch.kubernetes.io/job-name=batch"),
    )
    .applied_objects()
    .boxed();
    c.apply(&job(
        "batch",
        "  completions: 3\n  parallelism: 2",
        "sim.flotilla.dev/run-seconds: '0.3'",
    ))
    .await;
    // Never more than 2 pods running at once.
    let watch_parallelism = async {
        let mut running = std::collections::BTreeSet::new();
        let mut done = std::collections::BTreeSet::new();
        let mut max = 0;
        while let Some(p) = events.try_next().await.expect("watch") {
            let name = p.metadata.name.clone().unwrap_or_default();
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                running.remove(&name);
                done.insert(name);
            } else if !done.contains(&name) {
                running.insert(name);
            }
            max = max.max(running.len());
            if done.len() >= 3 {
                break;
            }
        }
        max
    };
    let max = tokio::time::timeout(TIMEOUT, watch_parallelism)
        .await
        .expect("pods finish in time");
    assert!(max <= 2, "{max} pods ran at once");
    let done = wait_condition(&c, "batch", "Complete").await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.active.unwrap_or(0), 0);
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert!(condition(&done, "SuccessCriteriaMet").is_some());
    assert_eq!(pods_of(&c, "batch").await.len(), 3);
}

#[tokio::test]
async fn a_job_with_backoff_limit_2_fails_after_3_tries() {
    let c = SimCluster::start().await;
    c.apply(&job(
        "flaky",
        "  backoffLimit: 2",
        "sim.flotilla.dev/behavior: exit-code=1",
    ))
    .await;
    let failed = wait_condition(&c, "flaky", "Failed").await;
    let (reason, _) = condition(&failed, "Failed").expect("Failed");
    assert_eq!(reason, "BackoffLimitExceeded");
    assert!(condition(&failed, "FailureTarget").is_some());
    assert_eq!(failed.status.as_ref().and_then(|s| s.failed), Some(3));
    let pods = pods_of(&c, "flaky").await;
    assert_eq!(pods.len(), 3, "exactly 3 tries");
    assert!(
        pods.iter()
            .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
    );
}

#[tokio::test]
async fn a_job_past_its_active_deadline_fails() {
    let c = SimCluster::start().await;
    c.apply(&job(
        "slow",
        "  activeDeadlineSeconds: 1",
        "sim.flotilla.dev/run-seconds: '60'",
    ))
    .await;
    let failed = wait_condition(&c, "slow", "Failed").await;
    assert_eq!(
        condition(&failed, "Failed").expect("Failed").0,
        "DeadlineExceeded"
    );
    let pods: Api<Pod> = c.api("default");
    wait_for("running pod stopped", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("batch.kubernetes.io/job-name=slow"))
            .await
            .ok()?;
        list.items
            .iter()
            .all(|p| {
                p.metadata.deletion_timestamp.is_some()
                    || p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running")
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_indexed_job_runs_each_index_once() {
    let c = SimCluster::start().await;
    c.apply(&job(
        "indexed",
        "  completions: 3\n  parallelism: 3\n  completionMode: Indexed",
        "",
    ))
    .await;
    let done = wait_condition(&c, "indexed", "Complete").await;
    assert_eq!(
        done.status.and_then(|s| s.completed_indexes).as_deref(),
        Some("0-2")
    );
    let mut indexes: Vec<String> = pods_of(&c, "indexed")
        .await
        .into_iter()
        .filter_map(|p| {
            p.metadata
                .annotations?
                .get("batch.kubernetes.io/job-completion-index")
                .cloned()
        })
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);
}

#[tokio::test]
async fn a_finished_job_goes_after_its_ttl() {
    let c = SimCluster::start().await;
    // completionTime has whole seconds: a 1 s TTL could expire before we look.
    c.apply(&job("short", "  ttlSecondsAfterFinished: 3", ""))
        .await;
    wait_condition(&c, "short", "Complete").await;
    let jobs: Api<Job> = c.api("default");
    wait_for("job deleted after its TTL", TIMEOUT, || async {
        jobs.get_opt("short").await.ok()?.is_none().then_some(())
    })
    .await;
}

//! CronJobs: a Job per schedule slot, concurrency policies and history
//! limits. Waiting for real minutes would make the suite slow, so these
//! tests use the simulation's seconds-resolution schedules (a 6-field
//! schedule whose first field is seconds, `* * * * * *`); the minute
//! arithmetic of 5-field schedules is unit-tested in the controller.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{SimCluster, wait_for};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

const TIMEOUT: Duration = Duration::from_secs(30);

fn cronjob(policy: &str, run_seconds: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * * *"
  concurrencyPolicy: {policy}
{extra}
  jobTemplate:
    spec:
      template:
        metadata:
          annotations: {{sim.flotilla.dev/run-seconds: "{run_seconds}"}}
        spec:
          restartPolicy: Never
          containers:
          - name: tick
            image: busybox:1.36
"#
    )
}

fn finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

#[tokio::test]
async fn a_cronjob_creates_a_job_each_slot_named_for_it() {
    let c = SimCluster::start().await;
    c.apply(&cronjob("Allow", "0", "  successfulJobsHistoryLimit: 10"))
        .await;
    let jobs: Api<Job> = c.api("default");
    let names = wait_for("3 jobs", TIMEOUT, || async {
        let list = jobs.list(&ListParams::default()).await.ok()?;
        let names: BTreeSet<String> = list
            .items
            .into_iter()
            .filter_map(|j| j.metadata.name)
            .collect();
        (names.len() >= 3).then_some(names)
    })
    .await;
    // One Job per slot: names are the slot's time, all distinct and increasing by slot.
    let slots: Vec<i64> = names
        .iter()
        .map(|n| n.trim_start_matches("tick-").parse().expect("slot number"))
        .collect();
    assert!(slots.windows(2).all(|w| w[1] > w[0]), "{slots:?}");
    let cronjobs: Api<CronJob> = c.api("default");
    let status = wait_for("lastSuccessfulTime", TIMEOUT, || async {
        let st = cronjobs.get("tick").await.ok()?.status?;
        st.last_successful_time.is_some().then_some(st)
    })
    .await;
    assert!(status.last_schedule_time.is_some());
}

#[tokio::test]
async fn forbid_skips_slots_while_a_job_runs() {
    let c = SimCluster::start().await;
    let jobs: Api<Job> = c.api("default");
    let mut events = watcher(jobs.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    // Each Job runs ~2.5 s while the schedule fires every second.
    c.apply(&cronjob("Forbid", "2.5", "")).await;
    let check = async {
        let mut active: BTreeSet<String> = BTreeSet::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        while let Some(j) = events.try_next().await.expect("watch") {
            let name = j.metadata.name.clone().unwrap_or_default();
            seen.insert(name.clone());
            if finished(&j) {
                active.remove(&name);
            } else {
                active.insert(name);
            }
            assert!(active.len() <= 1, "Forbid ran two jobs at once: {active:?}");
            if seen.len() >= 2 && active.is_empty() {
                return seen;
            }
        }
        seen
    };
    let seen = tokio::time::timeout(TIMEOUT, check)
        .await
        .expect("two jobs in time");
    assert!(seen.len() >= 2);
    let cronjobs: Api<CronJob> = c.api("default");
    let status = cronjobs
        .get("tick")
        .await
        .expect("tick")
        .status
        .expect("status");
    assert!(status.active.unwrap_or_default().len() <= 1);
}

#[tokio::test]
async fn replace_stops_the_running_job_for_the_next_slot() {
    let c = SimCluster::start().await;
    c.apply(&cronjob("Replace", "60", "")).await;
    let jobs: Api<Job> = c.api("default");
    let first = wait_for("a first job", TIMEOUT, || async {
        let list = jobs.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().next().and_then(|j| j.metadata.name)
    })
    .await;
    wait_for("the first job replaced", TIMEOUT, || async {
        let list = jobs.list(&ListParams::default()).await.ok()?;
        let names: Vec<String> = list
            .items
            .into_iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .filter_map(|j| j.metadata.name)
            .collect();
        (!names.contains(&first) && !names.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn history_limits_keep_the_newest_finished_jobs() {
    let c = SimCluster::start().await;
    c.apply(&cronjob("Allow", "0", "  successfulJobsHistoryLimit: 1"))
        .await;
    let cronjobs: Api<CronJob> = c.api("default");
    // Let several slots pass, then only one finished Job may remain.
    wait_for("several slots scheduled", TIMEOUT, || async {
        let st = cronjobs.get("tick").await.ok()?.status?;
        let created = cronjobs
            .get("tick")
            .await
            .ok()?
            .metadata
            .creation_timestamp?;
        let last = st.last_schedule_time?;
        (last.0.as_second() - created.0.as_second() >= 3).then_some(())
    })
    .await;
    let jobs: Api<Job> = c.api("default");
    wait_for("one finished job kept", TIMEOUT, || async {
        let list = jobs.list(&ListParams::default()).await.ok()?;
        let done = list
            .items
            .iter()
            .filter(|j| finished(j) && j.metadata.deletion_timestamp.is_none())
            .count();
        (done == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_suspended_cronjob_creates_no_jobs() {
    let c = SimCluster::start().await;
    c.apply(&cronjob("Allow", "0", "  suspend: true")).await;
    let cronjobs: Api<CronJob> = c.api("default");
    // The controller has seen it once it wrote a status; then slots pass.
    let created = cronjobs
        .get("tick")
        .await
        .expect("tick")
        .metadata
        .creation_timestamp
        .expect("created");
    wait_for("3 slots to pass", TIMEOUT, || async {
        let now = jiff_now_seconds();
        (now - created.0.as_second() >= 3).then_some(())
    })
    .await;
    let jobs: Api<Job> = c.api("default");
    assert!(
        jobs.list(&ListParams::default())
            .await
            .expect("jobs")
            .items
            .is_empty()
    );
}

fn jiff_now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[tokio::test]
async fn an_unparseable_schedule_is_reported_as_a_warning_event() {
    let c = SimCluster::start().await;
    c.apply(&cronjob("Allow", "0", "").replace("\"* * * * * *\"", "\"61 * * * *\""))
        .await;
    let events: Api<k8s_openapi::api::core::v1::Event> = c.api("default");
    let event = wait_for("UnparseableSchedule event", TIMEOUT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("UnparseableSchedule"))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.name.as_deref(), Some("tick"));
    assert!(event.message.unwrap_or_default().contains("61 * * * *"));
}

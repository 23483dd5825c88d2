//! The Job controller: runs pods until `completions` succeed, at most
//! `parallelism` at a time, fails the Job after more than `backoffLimit`
//! failures or past `activeDeadlineSeconds`, supports `completionMode:
//! Indexed`, `suspend` and `ttlSecondsAfterFinished`, and writes the status
//! and conditions (`SuccessCriteriaMet`/`Complete`, `FailureTarget`/`Failed`)
//! Kubernetes 1.33 writes.
//!
//! Simplified: failures are counted from the pods that still exist (failed
//! pods plus container restarts under `restartPolicy: OnFailure`) and never
//! decrease, instead of Kubernetes' finalizer-based tracking; a failed pod is
//! replaced without the exponential back-off delay; `podFailurePolicy`,
//! `successPolicy` and `backoffLimitPerIndex` are not simulated.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::workload::{
    Ctx, api_err, build, condition, controlled_by, controller_ref, delete_quietly, describe, drain,
    error_policy, is_deleting, is_ready, now_rfc3339, patch_status, phase, time,
};
use crate::error::Result;

/// The component name on this controller's Events.
const COMPONENT: &str = "job-controller";

/// Label (and selector key) tying pods to their Job by uid.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Label with the Job's name on its pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Annotation and label with an Indexed Job pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Runs the Job controller until aborted.
pub(crate) async fn run(client: kube::Client) {
    let jobs: Api<Job> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    drain(
        Controller::new(jobs, watcher::Config::default())
            .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
            .run(reconcile, error_policy, ctx),
    )
    .await;
}

/// Whether a Job has a true `Complete` or `Failed` condition.
pub(crate) fn finished(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref())?;
    ["Complete", "Failed"].into_iter().find(|kind| {
        conditions
            .iter()
            .any(|c| c.type_ == *kind && c.status == "True")
    })
}

/// How many more pods to start: `parallelism` bounded by what remains to
/// complete (Kubernetes' `wantActive`).
pub(crate) fn want_active(parallelism: i32, completions: Option<i32>, succeeded: i32) -> i32 {
    match completions {
        Some(c) => parallelism.min((c - succeeded).max(0)),
        None if succeeded > 0 => 0,
        None => parallelism,
    }
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(job.as_ref());
    let span = tracing::info_span!("reconcile", kind = "Job", object = %what);
    let _enter = span.enter();
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let uid = job.meta().uid.clone().unwrap_or_default();
    let client = &ctx.client;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    if is_deleting(job.as_ref()) {
        return Ok(Action::await_change());
    }
    let spec = job.spec.clone().unwrap_or_default();
    crate::labels::check_template_selected(
        what.clone(),
        spec.selector.as_ref(),
        spec.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
    )?;
    let status = job.status.clone().unwrap_or_default();
    let old_conditions = serde_json::to_value(&status.conditions).unwrap_or(Value::Null);

    if finished(&job).is_some() {
        return finished_job(&job, &jobs).await;
    }

    let pods: Vec<Pod> = pods_api
        .list(&ListParams::default().labels(&format!("{CONTROLLER_UID_LABEL}={uid}")))
        .await
        .map_err(api_err(format!("listing pods of {what}")))?
        .items
        .into_iter()
        .filter(|p| controlled_by(&p.metadata, &uid))
        .collect();
    let active: Vec<&Pod> = pods
        .iter()
        .filter(|p| !matches!(phase(p), "Succeeded" | "Failed") && !is_deleting(*p))
        .collect();
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let succeeded_indexes: BTreeSet<i32> = pods
        .iter()
        .filter(|p| phase(p) == "Succeeded")
        .filter_map(index_of)
        .collect();
    let observed_succeeded = if indexed {
        succeeded_indexes.len() as i32
    } else {
        pods.iter().filter(|p| phase(p) == "Succeeded").count() as i32
    };
    let restart_on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    let restarts: i32 = if restart_on_failure {
        pods.iter()
            .flat_map(|p| {
                p.status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
            })
            .map(|c| c.restart_count)
            .sum()
    } else {
        0
    };
    let observed_failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i32 + restarts;
    // Counts never go down when pods are removed (see the module notes).
    let succeeded = observed_succeeded.max(status.succeeded.unwrap_or(0));
    let failed = observed_failed.max(status.failed.unwrap_or(0));
    let ready = active.iter().filter(|p| is_ready(p)).count();

    let suspended = spec.suspend == Some(true);
    let parallelism = spec.parallelism.unwrap_or(1);
    let completions = spec.completions.or(if spec.parallelism.is_none() {
        Some(1)
    } else {
        None
    });
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let start_time = status
        .start_time
        .as_ref()
        .map(time)
        .or_else(|| (!suspended).then(chrono::Utc::now));

    let mut conditions: Vec<Value> = Vec::new();
    let mut requeue: Option<Duration> = None;
    let mut outcome: Option<(&str, &str, String)> = None;
    if failed > backoff_limit {
        outcome = Some((
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit".into(),
        ));
    } else if let (Some(deadline), Some(start)) = (spec.active_deadline_seconds, start_time)
        && !suspended
    {
        let due = start + chrono::Duration::seconds(deadline);
        let now = chrono::Utc::now();
        if due <= now {
            outcome = Some((
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline".into(),
            ));
        } else {
            requeue = (due - now).to_std().ok();
        }
    }
    let complete = match completions {
        Some(c) => succeeded >= c,
        None => succeeded > 0 && active.is_empty(),
    };
    if outcome.is_none() && complete {
        outcome = Some((
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods".into(),
        ));
    }

    let mut created = 0;
    if let Some((kind, reason, message)) = &outcome {
        // Remaining pods are stopped once the outcome is known.
        for p in &active {
            delete_quietly(
                &pods_api,
                &p.name_any(),
                false,
                &format!("pod {ns}/{}", p.name_any()),
            )
            .await?;
        }
        let (target_type, target_reason) = if *kind == "Failed" {
            ("FailureTarget", *reason)
        } else {
            ("SuccessCriteriaMet", *reason)
        };
        conditions.push(condition(
            Some(&old_conditions),
            target_type,
            "True",
            target_reason,
            message,
        ));
        conditions.push(condition(
            Some(&old_conditions),
            kind,
            "True",
            reason,
            message,
        ));
        tracing::info!(outcome = kind, reason, "job finished");
        let (event_type, event_reason) = if *kind == "Failed" {
            (true, *reason)
        } else {
            (false, "Completed")
        };
        let event_message = if *kind == "Failed" {
            message.clone()
        } else {
            "Job completed".to_string()
        };
        super::workload::event(
            client,
            COMPONENT,
            job.as_ref(),
            event_type,
            event_reason,
            event_message,
        );
    } else if suspended {
        for p in &active {
            delete_quietly(
                &pods_api,
                &p.name_any(),
                false,
                &format!("pod {ns}/{}", p.name_any()),
            )
            .await?;
        }
        conditions.push(condition(
            Some(&old_conditions),
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
        ));
    } else {
        let want = want_active(parallelism, completions, succeeded);
        let active_count = active.len() as i32;
        if active_count < want {
            let running_indexes: BTreeSet<i32> =
                active.iter().filter_map(|p| index_of(p)).collect();
            let mut free_indexes = (0..completions.unwrap_or(0))
                .filter(|i| !succeeded_indexes.contains(i) && !running_indexes.contains(i));
            for _ in active_count..want {
                let index = if indexed {
                    match free_indexes.next() {
                        Some(i) => Some(i),
                        None => break,
                    }
                } else {
                    None
                };
                let pod = new_pod(&job, index)?;
                let made = pods_api
                    .create(&kube::api::PostParams::default(), &pod)
                    .await
                    .map_err(api_err(format!("creating a pod of {what}")))?;
                super::workload::event(
                    client,
                    COMPONENT,
                    job.as_ref(),
                    false,
                    "SuccessfulCreate",
                    format!("Created pod: {}", made.name_any()),
                );
                created += 1;
            }
        } else if active_count > want {
            // Parallelism lowered: stop the newest extras.
            let mut extra: Vec<&&Pod> = active.iter().collect();
            extra.sort_by_key(|p| std::cmp::Reverse(p.metadata.creation_timestamp.clone()));
            for p in extra.into_iter().take((active_count - want) as usize) {
                delete_quietly(
                    &pods_api,
                    &p.name_any(),
                    false,
                    &format!("pod {ns}/{}", p.name_any()),
                )
                .await?;
            }
        }
    }

    let active_now = if outcome.is_some() || suspended {
        0
    } else {
        active.len() as i32 + created
    };
    let mut new_status = json!({
        "active": active_now,
        "succeeded": succeeded,
        "failed": failed,
        "ready": if outcome.is_some() { 0 } else { ready },
        "terminating": 0,
        "uncountedTerminatedPods": {},
    });
    if let Some(start) = start_time {
        new_status["startTime"] = json!(start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    if indexed {
        new_status["completedIndexes"] = json!(compress_indexes(&succeeded_indexes));
    }
    if let Some(("Complete", _, _)) = outcome {
        new_status["completionTime"] = json!(now_rfc3339());
    }
    if !conditions.is_empty() || status.conditions.is_some() {
        new_status["conditions"] = json!(conditions);
    }
    patch_status(&jobs, &name, new_status, &what).await?;
    if outcome.is_some() {
        return Ok(ttl_action(&spec));
    }
    Ok(match requeue {
        Some(d) => Action::requeue(d + Duration::from_millis(50)),
        None => Action::await_change(),
    })
}

/// A finished Job only waits for its `ttlSecondsAfterFinished`, then goes
/// (its pods with it, by garbage collection).
async fn finished_job(job: &Job, jobs: &Api<Job>) -> Result<Action> {
    let spec = job.spec.clone().unwrap_or_default();
    let Some(ttl) = spec.ttl_seconds_after_finished else {
        return Ok(Action::await_change());
    };
    let status = job.status.clone().unwrap_or_default();
    let finished_at = status
        .completion_time
        .as_ref()
        .map(time)
        .or_else(|| {
            status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Failed" && c.status == "True")
                .and_then(|c| c.last_transition_time.as_ref())
                .map(time)
        })
        .unwrap_or_else(chrono::Utc::now);
    let due = finished_at + chrono::Duration::seconds(i64::from(ttl));
    let now = chrono::Utc::now();
    if due <= now {
        tracing::info!("ttlSecondsAfterFinished passed; deleting job");
        delete_quietly(jobs, &job.name_any(), true, &describe(job)).await?;
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(
        (due - now).to_std().unwrap_or_default() + Duration::from_millis(50),
    ))
}

fn ttl_action(spec: &k8s_openapi::api::batch::v1::JobSpec) -> Action {
    match spec.ttl_seconds_after_finished {
        Some(ttl) => Action::requeue(
            Duration::from_secs(u64::try_from(ttl).unwrap_or(0)) + Duration::from_millis(50),
        ),
        None => Action::await_change(),
    }
}

fn index_of(pod: &Pod) -> Option<i32> {
    pod.annotations()
        .get(COMPLETION_INDEX)
        .and_then(|v| v.parse().ok())
}

/// `completedIndexes` as Kubernetes writes it: `0-2,5`.
pub(crate) fn compress_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

fn new_pod(job: &Job, index: Option<i32>) -> Result<Pod> {
    let name = job.name_any();
    let ns = job.namespace().unwrap_or_default();
    let uid = job.meta().uid.clone().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| serde_json::to_value(&s.template).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template.get("metadata").cloned().unwrap_or(json!({})),
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    let prefix = match index {
        Some(i) => format!("{name}-{i}-"),
        None => format!("{name}-"),
    };
    pod["metadata"]["generateName"] = json!(prefix);
    pod["metadata"]["namespace"] = json!(ns);
    pod["metadata"]["ownerReferences"] = json!([controller_ref(job)]);
    if !pod["metadata"]["labels"].is_object() {
        pod["metadata"]["labels"] = json!({});
    }
    let labels = &mut pod["metadata"]["labels"];
    labels[CONTROLLER_UID_LABEL] = json!(uid);
    labels["controller-uid"] = json!(uid);
    labels[JOB_NAME_LABEL] = json!(name);
    labels["job-name"] = json!(name);
    if let Some(i) = index {
        labels[COMPLETION_INDEX] = json!(i.to_string());
        if !pod["metadata"]["annotations"].is_object() {
            pod["metadata"]["annotations"] = json!({});
        }
        pod["metadata"]["annotations"][COMPLETION_INDEX] = json!(i.to_string());
        pod["spec"]["hostname"] = json!(format!("{name}-{i}"));
    }
    if pod["spec"]["restartPolicy"].is_null() {
        pod["spec"]["restartPolicy"] = json!("Never");
    }
    if let Some(m) = pod["metadata"].as_object_mut() {
        m.remove("creationTimestamp");
        m.remove("name");
    }
    build(&format!("pod {ns}/{prefix}*"), pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallelism_is_bounded_by_what_remains() {
        assert_eq!(want_active(2, Some(3), 0), 2);
        assert_eq!(want_active(2, Some(3), 2), 1);
        assert_eq!(want_active(2, Some(3), 3), 0);
        assert_eq!(want_active(4, None, 0), 4);
        assert_eq!(want_active(4, None, 1), 0);
    }

    #[test]
    fn completed_indexes_are_written_as_ranges() {
        let set: BTreeSet<i32> = [0, 1, 2, 5, 7, 8].into();
        assert_eq!(compress_indexes(&set), "0-2,5,7-8");
        assert_eq!(compress_indexes(&BTreeSet::new()), "");
    }
}

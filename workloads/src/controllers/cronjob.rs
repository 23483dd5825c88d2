//! The CronJob controller: creates a Job `NAME-<minutes since epoch>` for
//! each schedule slot, honouring `concurrencyPolicy` (Allow, Forbid,
//! Replace), `suspend`, `startingDeadlineSeconds` and the history limits, and
//! writes `status.active`, `lastScheduleTime` and `lastSuccessfulTime`.
//!
//! Schedules are standard 5-field cron (with `@hourly`-style macros,
//! `@midnight` included) evaluated in UTC; `timeZone` (or a `TZ=`/`CRON_TZ=`
//! prefix) may name UTC only — other zones are reported as unsupported.
//! As a Flotilla extension for fast tests, a 6-field schedule whose first
//! field is seconds (`*/2 * * * * *`) is accepted; its Jobs are named by
//! seconds since the epoch instead of minutes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::job::finished;
use super::workload::{
    Ctx, api_err, build, controlled_by, controller_ref, create_idempotent, delete_quietly,
    describe, drain, error_policy, is_deleting, patch_status, time,
};
use crate::error::Result;

/// The component name on this controller's Events.
const COMPONENT: &str = "cronjob-controller";

/// Annotation with the slot a Job was created for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Runs the CronJob controller until aborted.
pub(crate) async fn run(client: kube::Client) {
    let cronjobs: Api<CronJob> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    drain(
        Controller::new(cronjobs, watcher::Config::default())
            .owns(Api::<Job>::all(client.clone()), watcher::Config::default())
            .run(reconcile, error_policy, ctx),
    )
    .await;
}

/// A parsed schedule.
#[derive(Debug)]
pub(crate) struct Schedule {
    cron: Cron,
    /// Whether the schedule has a seconds field (the test extension).
    pub seconds: bool,
}

/// Parses a CronJob schedule; `time_zone` is `spec.timeZone`.
pub(crate) fn parse_schedule(
    schedule: &str,
    time_zone: Option<&str>,
) -> std::result::Result<Schedule, String> {
    let mut text = schedule.trim();
    let mut zone = time_zone.map(str::to_string);
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (tz, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            zone = Some(tz.to_string());
            text = tail.trim();
        }
    }
    if let Some(z) = zone.as_deref()
        && !matches!(z, "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT")
    {
        return Err(format!(
            "time zone {z:?} is not supported by the simulated cluster (UTC only)"
        ));
    }
    let text = if text.eq_ignore_ascii_case("@midnight") {
        "@daily"
    } else {
        text
    };
    let seconds = text.split_whitespace().count() == 6;
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|e| format!("unparseable schedule {schedule:?}: {e}"))?;
    Ok(Schedule { cron, seconds })
}

/// What is due at `now`: the most recent slot after `earliest` (the last
/// scheduled time, or the creation time), unless it is older than the
/// starting deadline; and when the next slot comes.
pub(crate) fn due(
    schedule: &Schedule,
    earliest: DateTime<Utc>,
    now: DateTime<Utc>,
    starting_deadline: Option<i64>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let next = schedule.cron.find_next_occurrence(&now, false).ok();
    let last = schedule
        .cron
        .find_previous_occurrence(&now, true)
        .ok()
        .filter(|t| *t > earliest);
    let last = match (last, starting_deadline) {
        (Some(t), Some(deadline)) if t + chrono::Duration::seconds(deadline) < now => None,
        (t, _) => t,
    };
    (last, next)
}

/// The Job name for a slot: minutes since the epoch, as Kubernetes names them.
pub(crate) fn job_name(cronjob: &str, slot: DateTime<Utc>, seconds: bool) -> String {
    let n = if seconds {
        slot.timestamp()
    } else {
        slot.timestamp() / 60
    };
    format!("{cronjob}-{n}")
}

async fn reconcile(cj: Arc<CronJob>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(cj.as_ref());
    let span = tracing::info_span!("reconcile", kind = "CronJob", object = %what);
    let _enter = span.enter();
    if is_deleting(cj.as_ref()) {
        return Ok(Action::await_change());
    }
    let ns = cj.namespace().unwrap_or_default();
    let name = cj.name_any();
    let uid = cj.meta().uid.clone().unwrap_or_default();
    let spec = cj.spec.clone().unwrap_or_default();
    let status = cj.status.clone().unwrap_or_default();
    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);

    let mut jobs: Vec<Job> = jobs_api
        .list(&ListParams::default())
        .await
        .map_err(api_err(format!("listing jobs of {what}")))?
        .items
        .into_iter()
        .filter(|j| controlled_by(&j.metadata, &uid) && !is_deleting(j))
        .collect();
    jobs.sort_by_key(|j| j.metadata.creation_timestamp.clone());

    let mut last_successful = status.last_successful_time.as_ref().map(time);
    for j in &jobs {
        if finished(j) == Some("Complete")
            && let Some(t) = j.status.as_ref().and_then(|s| s.completion_time.as_ref())
            && last_successful.is_none_or(|l| time(t) > l)
        {
            last_successful = Some(time(t));
        }
    }

    // History limits: the oldest finished Jobs beyond them go.
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
        ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let done: Vec<&Job> = jobs.iter().filter(|j| finished(j) == Some(kind)).collect();
        let excess = done
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        for j in done.into_iter().take(excess) {
            tracing::info!(job = %j.name_any(), "deleting job beyond the history limit");
            delete_quietly(
                &jobs_api,
                &j.name_any(),
                true,
                &format!("job {ns}/{}", j.name_any()),
            )
            .await?;
        }
    }
    let mut active: Vec<&Job> = jobs.iter().filter(|j| finished(j).is_none()).collect();

    let schedule = match parse_schedule(&spec.schedule, spec.time_zone.as_deref()) {
        Ok(s) => s,
        Err(message) => {
            // A bad schedule waits for the user to fix it: no retries.
            tracing::warn!(%message, "cannot schedule");
            super::workload::event(
                &ctx.client,
                COMPONENT,
                cj.as_ref(),
                true,
                "UnparseableSchedule",
                format!("spec.schedule: {message}"),
            );
            return Ok(Action::await_change());
        }
    };
    let now = Utc::now();
    let earliest = status
        .last_schedule_time
        .as_ref()
        .map(time)
        .or_else(|| cj.metadata.creation_timestamp.as_ref().map(time))
        .unwrap_or(now);
    let (slot, next) = due(&schedule, earliest, now, spec.starting_deadline_seconds);
    let mut last_schedule = status.last_schedule_time.as_ref().map(time);
    let mut created: Option<Job> = None;
    if let Some(slot) = slot
        && spec.suspend != Some(true)
    {
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if policy == "Forbid" && !active.is_empty() {
            tracing::info!("not starting job: the previous one is still running (Forbid)");
        } else {
            if policy == "Replace" {
                for j in &active {
                    tracing::info!(job = %j.name_any(), "replacing active job");
                    delete_quietly(
                        &jobs_api,
                        &j.name_any(),
                        true,
                        &format!("job {ns}/{}", j.name_any()),
                    )
                    .await?;
                }
                active.clear();
            }
            let job = new_job(cj.as_ref(), slot, schedule.seconds)?;
            tracing::info!(job = %job.name_any(), %slot, "creating job");
            create_idempotent(&jobs_api, &job, &format!("job {ns}/{}", job.name_any())).await?;
            super::workload::event(
                &ctx.client,
                COMPONENT,
                cj.as_ref(),
                false,
                "SuccessfulCreate",
                format!("Created job {}", job.name_any()),
            );
            last_schedule = Some(slot);
            created = Some(job);
        }
    }

    let mut refs: Vec<Value> = active.iter().map(|j| object_ref(j)).collect();
    if let Some(j) = &created {
        refs.push(object_ref(j));
    }
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut new_status = json!({ "active": refs });
    if let Some(t) = last_schedule {
        new_status["lastScheduleTime"] = json!(fmt(t));
    }
    if let Some(t) = last_successful {
        new_status["lastSuccessfulTime"] = json!(fmt(t));
    }
    let old = serde_json::to_value(&status).unwrap_or(Value::Null);
    let old_active = old.get("active").cloned().unwrap_or(json!([]));
    let changed = old_active != new_status["active"]
        || old.get("lastScheduleTime") != new_status.get("lastScheduleTime")
        || old.get("lastSuccessfulTime") != new_status.get("lastSuccessfulTime");
    if changed {
        patch_status(&cronjobs, &name, new_status, &what).await?;
    }
    let wait = next
        .and_then(|n| (n - Utc::now()).to_std().ok())
        .unwrap_or(Duration::from_secs(1));
    // Forbid leaves the slot pending: the finishing Job wakes us (owned), and
    // a short retry covers slots whose deadline would otherwise pass.
    Ok(Action::requeue(wait + Duration::from_millis(20)))
}

fn object_ref(job: &Job) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": job.name_any(),
        "namespace": job.namespace(),
        "uid": job.metadata.uid,
        "resourceVersion": job.metadata.resource_version,
    })
}

fn new_job(cj: &CronJob, slot: DateTime<Utc>, seconds: bool) -> Result<Job> {
    let name = job_name(&cj.name_any(), slot, seconds);
    let ns = cj.namespace().unwrap_or_default();
    let template = cj
        .spec
        .as_ref()
        .map(|s| serde_json::to_value(&s.job_template).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    meta["ownerReferences"] = json!([controller_ref(cj)]);
    if !meta["annotations"].is_object() {
        meta["annotations"] = json!({});
    }
    meta["annotations"][SCHEDULED_TIMESTAMP] =
        json!(slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if let Some(m) = meta.as_object_mut() {
        m.remove("creationTimestamp");
    }
    build(
        &format!("job {ns}/{name}"),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": template.get("spec").cloned().unwrap_or(json!({})),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn kubernetes_schedules_parse() {
        for s in [
            "* * * * *",
            "*/5 * * * *",
            "0 3 * * 1-5",
            "@hourly",
            "@daily",
            "@midnight",
            "0 0 1 JAN *",
        ] {
            assert!(parse_schedule(s, None).is_ok(), "{s}");
        }
        assert!(parse_schedule("TZ=UTC 0 * * * *", None).is_ok());
        assert!(parse_schedule("0 * * * *", Some("Etc/UTC")).is_ok());
        assert!(parse_schedule("0 * * * *", Some("Europe/Paris")).is_err());
        assert!(parse_schedule("61 * * * *", None).is_err());
    }

    #[test]
    fn every_minute_is_due_once_per_slot() {
        let s = parse_schedule("* * * * *", None).expect("parses");
        let created = at("2026-01-01T10:00:30Z");
        let (slot, next) = due(&s, created, at("2026-01-01T10:00:50Z"), None);
        assert_eq!(slot, None);
        assert_eq!(next, Some(at("2026-01-01T10:01:00Z")));
        let (slot, _) = due(&s, created, at("2026-01-01T10:01:05Z"), None);
        assert_eq!(slot, Some(at("2026-01-01T10:01:00Z")));
        // Once scheduled, the same slot is not due again.
        let (slot, _) = due(
            &s,
            at("2026-01-01T10:01:00Z"),
            at("2026-01-01T10:01:40Z"),
            None,
        );
        assert_eq!(slot, None);
    }

    #[test]
    fn a_slot_older_than_the_starting_deadline_is_skipped() {
        let s = parse_schedule("@hourly", None).expect("parses");
        let created = at("2026-01-01T09:30:00Z");
        let now = at("2026-01-01T10:05:00Z");
        assert_eq!(due(&s, created, now, Some(60)).0, None);
        assert_eq!(
            due(&s, created, now, Some(600)).0,
            Some(at("2026-01-01T10:00:00Z"))
        );
    }

    #[test]
    fn jobs_are_named_by_minutes_since_the_epoch() {
        assert_eq!(
            job_name("hello", at("2026-01-01T10:01:00Z"), false),
            "hello-29454361"
        );
    }
}

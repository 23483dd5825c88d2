//! The Deployment controller, with Kubernetes' semantics: one ReplicaSet per
//! pod template (named `<deployment>-<pod-template-hash>`), rolling updates
//! bounded by `maxSurge`/`maxUnavailable` (defaults 25%/25%, surge rounded
//! up, unavailable down), `Recreate`, `paused`, revisions in
//! `deployment.kubernetes.io/revision`, `revisionHistoryLimit` clean-up, and
//! the status users and `kubectl rollout status` read: replica counts,
//! `observedGeneration`, and the `Available` and `Progressing` conditions
//! with `progressDeadlineSeconds`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::{labels, pods};

/// Field manager and event source of this controller's writes.
const MANAGER: &str = "deployment-controller";
/// Annotation holding a Deployment's and its ReplicaSets' revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Label tying a ReplicaSet and its pods to one pod template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Kubernetes' default `progressDeadlineSeconds`.
const DEFAULT_PROGRESS_DEADLINE: i32 = 600;

/// Runs the Deployment controller until aborted.
pub(crate) async fn run(client: kube::Client) {
    let (replicasets, writer) = reflector::store();
    let rs_events = reflector::reflector(
        writer,
        // With a backoff, as the Controller's own watches have: see the scheduler.
        watcher(
            Api::<ReplicaSet>::all(client.clone()),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff(),
    )
    .touched_objects();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        replicasets,
    });
    Controller::new(
        Api::<Deployment>::all(client),
        watcher::Config::default().any_semantic(),
    )
    .owns_stream(rs_events)
    .with_config(ControllerConfig::default().debounce(Duration::from_millis(50)))
    .run(reconcile, error_policy, ctx)
    .for_each(|_| std::future::ready(()))
    .await;
}

struct Ctx {
    client: kube::Client,
    replicasets: Store<ReplicaSet>,
}

fn describe(d: &Deployment) -> String {
    format!(
        "Deployment {}/{}",
        d.namespace().unwrap_or_default(),
        d.name_any()
    )
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// Resolves maxSurge/maxUnavailable against `replicas` like Kubernetes:
/// percentages round up for surge and down for unavailability.
fn scaled(value: Option<&IntOrString>, replicas: i32, round_up: bool) -> i32 {
    match value {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(25.0);
            let v = pct * f64::from(replicas) / 100.0;
            (if round_up { v.ceil() } else { v.floor() }) as i32
        }
        None => scaled(Some(&IntOrString::String("25%".into())), replicas, round_up),
    }
}

/// `(maxSurge, maxUnavailable)` of a rolling update; both zero becomes
/// unavailable 1, as Kubernetes does.
fn surge_and_unavailable(d: &Deployment) -> (i32, i32) {
    let spec = d.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1);
    let rolling = spec.strategy.and_then(|s| s.rolling_update);
    let surge = scaled(
        rolling.as_ref().and_then(|r| r.max_surge.as_ref()),
        replicas,
        true,
    );
    let unavailable = scaled(
        rolling.as_ref().and_then(|r| r.max_unavailable.as_ref()),
        replicas,
        false,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// The template without the hash label, for comparing a ReplicaSet's
/// template with the Deployment's.
fn template_without_hash(rs: &ReplicaSet) -> Value {
    let mut t = serde_json::to_value(rs.spec.as_ref().and_then(|s| s.template.as_ref()))
        .unwrap_or(Value::Null);
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty()
            && let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("labels");
        }
    }
    t
}

#[tracing::instrument(skip_all, fields(deployment = %describe(&d)))]
async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let spec = d.spec.clone().unwrap_or_default();
    if labels_empty(&spec.selector) {
        return Err(Error::Invalid {
            object: describe(&d),
            message: "spec.selector: Invalid value: empty selector is invalid for deployment"
                .into(),
        });
    }
    crate::labels::check_template_selected(
        describe(&d),
        Some(&spec.selector),
        spec.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
    )?;
    let namespace = d.namespace().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut all = claim_replicasets(&ctx, &d, &rs_api).await?;
    let wanted = serde_json::to_value(&spec.template).unwrap_or(Value::Null);
    let new_index = all
        .iter()
        .position(|rs| template_without_hash(rs) == wanted);
    let max_old_revision = all
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != new_index)
        .map(|(_, rs)| revision(rs))
        .max()
        .unwrap_or(0);
    let paused = spec.paused == Some(true);
    let replicas = spec.replicas.unwrap_or(1);
    let (max_surge, max_unavailable) = surge_and_unavailable(&d);
    let mut progress: Option<(&'static str, String)> = None;

    let new_index = match new_index {
        Some(i) => {
            if revision(&all[i]) <= max_old_revision {
                // A rollback to an older template: it becomes the newest revision.
                let rs = annotate_revision(&rs_api, &all[i], max_old_revision + 1).await?;
                all[i] = rs;
            }
            if current_condition(&d, "Progressing").is_none() {
                progress = Some((
                    "FoundNewReplicaSet",
                    format!("Found new replica set \"{}\"", all[i].name_any()),
                ));
            }
            Some(i)
        }
        None if paused => None,
        None => {
            let old_total: i32 = all.iter().map(spec_replicas).sum();
            let initial = if is_recreate(&d) {
                if old_total > 0 { 0 } else { replicas }
            } else {
                (replicas + max_surge - old_total).clamp(0, replicas)
            };
            match create_new_replicaset(&ctx, &d, &rs_api, initial, max_old_revision + 1, max_surge)
                .await?
            {
                Some(rs) => {
                    progress = Some((
                        "NewReplicaSetCreated",
                        format!("Created new replica set \"{}\"", rs.name_any()),
                    ));
                    all.push(rs);
                    Some(all.len() - 1)
                }
                None => return Ok(Action::requeue(Duration::from_millis(200))),
            }
        }
    };

    if let Some(ni) = new_index {
        if paused {
            // Paused: no rollout, but the current ReplicaSet follows scaling.
            let others: i32 = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != ni)
                .map(|(_, rs)| spec_replicas(rs))
                .sum();
            if others == 0 && spec_replicas(&all[ni]) != replicas {
                all[ni] = scale(&ctx, &d, &rs_api, &all[ni], replicas, max_surge).await?;
            }
        } else if is_recreate(&d) {
            rollout_recreate(&ctx, &d, &rs_api, &mut all, ni, replicas, max_surge).await?;
        } else {
            rollout_rolling(
                &ctx,
                &d,
                &rs_api,
                &mut all,
                ni,
                replicas,
                max_surge,
                max_unavailable,
            )
            .await?;
        }
    }

    let new_rs = new_index.map(|i| all[i].clone());
    let status = compute_status(&d, &all, new_rs.as_ref(), max_unavailable, progress);
    let complete = is_complete(&d, &status);
    if complete && !paused {
        cleanup_history(&ctx, &d, &rs_api, &all, new_index).await?;
    }
    let deployment_api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(rs) = &new_rs {
        let rev = revision(rs).to_string();
        if d.annotations().get(REVISION) != Some(&rev) {
            deployment_api
                .patch(
                    &d.name_any(),
                    &params(),
                    &Patch::Merge(json!({"metadata": {"annotations": {REVISION: rev}}})),
                )
                .await
                .map_err(|source| Error::Api {
                    action: format!("annotating {}", describe(&d)),
                    source,
                })?;
        }
    }
    if crate::status::differs(d.status.as_ref(), &status) {
        deployment_api
            .patch_status(
                &d.name_any(),
                &params(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .map_err(|source| Error::Api {
                action: format!("updating status of {}", describe(&d)),
                source,
            })?;
    }
    Ok(requeue_for_deadline(&d, &status, complete || paused))
}

fn labels_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// The ReplicaSets this Deployment controls, after adopting orphans its
/// selector matches; oldest first.
async fn claim_replicasets(
    ctx: &Ctx,
    d: &Deployment,
    api: &Api<ReplicaSet>,
) -> Result<Vec<ReplicaSet>> {
    let namespace = d.namespace().unwrap_or_default();
    let uid = d.uid().unwrap_or_default();
    let selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for rs in ctx.replicasets.state() {
        if rs.namespace().as_deref() != Some(namespace.as_str())
            || rs.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        match pods::controller_of(&rs.metadata) {
            Some(owner) if owner.uid == uid => out.push(rs.as_ref().clone()),
            None if labels::matches(&selector, rs.labels()) => {
                let mut refs = rs.owner_references().to_vec();
                refs.push(pods::controller_ref(d));
                let adopted = api
                    .patch(
                        &rs.name_any(),
                        &params(),
                        &Patch::Merge(json!({"metadata": {"ownerReferences": refs}})),
                    )
                    .await
                    .map_err(|source| Error::Api {
                        action: format!("adopting ReplicaSet {namespace}/{}", rs.name_any()),
                        source,
                    })?;
                out.push(adopted);
            }
            _ => {}
        }
    }
    out.sort_by_key(|rs| {
        (
            rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            rs.name_any(),
        )
    });
    Ok(out)
}

async fn create_new_replicaset(
    ctx: &Ctx,
    d: &Deployment,
    api: &Api<ReplicaSet>,
    replicas: i32,
    revision: i64,
    max_surge: i32,
) -> Result<Option<ReplicaSet>> {
    let spec = d.spec.clone().unwrap_or_default();
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = pods::template_hash(&spec.template, collision);
    let mut template = spec.template.clone();
    let template_meta = template.metadata.get_or_insert_default();
    let mut template_labels = template_meta.labels.clone().unwrap_or_default();
    template_labels.insert(POD_TEMPLATE_HASH.into(), hash.clone());
    template_meta.labels = Some(template_labels.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_default()
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let desired = spec.replicas.unwrap_or(1);
    let name = format!("{}-{hash}", d.name_any());
    let rs = ReplicaSet {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: d.namespace(),
            labels: Some(template_labels),
            annotations: Some(BTreeMap::from([
                (REVISION.to_string(), revision.to_string()),
                (DESIRED_REPLICAS.to_string(), desired.to_string()),
                (MAX_REPLICAS.to_string(), (desired + max_surge).to_string()),
            ])),
            owner_references: Some(vec![pods::controller_ref(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    match api.create(&PostParams::default(), &rs).await {
        Ok(created) => {
            if replicas > 0 {
                scaled_event(ctx, d, &name, 0, replicas);
            }
            Ok(Some(created))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            // Same name, different template: a hash collision. Kubernetes
            // bumps collisionCount so the next hash differs.
            let existing = api.get_opt(&name).await.ok().flatten();
            let ours = existing.as_ref().is_some_and(|rs| {
                pods::controller_of(&rs.metadata).is_some_and(|o| Some(&o.uid) == d.uid().as_ref())
                    && template_without_hash(rs)
                        == serde_json::to_value(&spec.template).unwrap_or(Value::Null)
            });
            if !ours {
                let next = collision.unwrap_or(0) + 1;
                Api::<Deployment>::namespaced(
                    ctx.client.clone(),
                    &d.namespace().unwrap_or_default(),
                )
                .patch_status(
                    &d.name_any(),
                    &params(),
                    &Patch::Merge(json!({"status": {"collisionCount": next}})),
                )
                .await
                .map_err(|source| Error::Api {
                    action: format!("updating collisionCount of {}", describe(d)),
                    source,
                })?;
            }
            Ok(None)
        }
        Err(source) => Err(Error::Api {
            action: format!(
                "creating ReplicaSet {}/{name}",
                d.namespace().unwrap_or_default()
            ),
            source,
        }),
    }
}

async fn annotate_revision(api: &Api<ReplicaSet>, rs: &ReplicaSet, rev: i64) -> Result<ReplicaSet> {
    api.patch(
        &rs.name_any(),
        &params(),
        &Patch::Merge(json!({"metadata": {"annotations": {REVISION: rev.to_string()}}})),
    )
    .await
    .map_err(|source| Error::Api {
        action: format!(
            "setting the revision of ReplicaSet {}/{}",
            rs.namespace().unwrap_or_default(),
            rs.name_any()
        ),
        source,
    })
}

/// Sets a ReplicaSet's replicas (and its desired/max annotations) and
/// records Kubernetes' `ScalingReplicaSet` event.
async fn scale(
    ctx: &Ctx,
    d: &Deployment,
    api: &Api<ReplicaSet>,
    rs: &ReplicaSet,
    to: i32,
    max_surge: i32,
) -> Result<ReplicaSet> {
    let from = spec_replicas(rs);
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    // `rs` comes from the reflector, which can lag behind this controller's
    // own writes; the count is absolute, so a stale copy would set an older
    // one back (seen: a finished rollout's new ReplicaSet scaled from 3 back
    // to 1). The resourceVersion makes the server refuse a stale scale with
    // 409, and the sync is retried on a fresher cache.
    let updated = api
        .patch(
            &rs.name_any(),
            &params(),
            &Patch::Merge(json!({
                "metadata": {
                    "resourceVersion": rs.resource_version(),
                    "annotations": {
                        DESIRED_REPLICAS: desired.to_string(),
                        MAX_REPLICAS: (desired + max_surge).to_string(),
                    },
                },
                "spec": {"replicas": to},
            })),
        )
        .await
        .map_err(|source| Error::Api {
            action: format!(
                "scaling ReplicaSet {}/{} to {to}",
                rs.namespace().unwrap_or_default(),
                rs.name_any()
            ),
            source,
        })?;
    if from != to {
        scaled_event(ctx, d, &rs.name_any(), from, to);
    }
    Ok(updated)
}

fn scaled_event(ctx: &Ctx, d: &Deployment, rs: &str, from: i32, to: i32) {
    let direction = if to > from { "up" } else { "down" };
    events::record(
        &ctx.client,
        MANAGER,
        d,
        EventType::Normal,
        "ScalingReplicaSet",
        format!("Scaled {direction} replica set {rs} from {from} to {to}"),
    );
}

async fn rollout_recreate(
    ctx: &Ctx,
    d: &Deployment,
    api: &Api<ReplicaSet>,
    all: &mut [ReplicaSet],
    ni: usize,
    replicas: i32,
    max_surge: i32,
) -> Result<()> {
    let mut old_running = false;
    for (i, rs) in all.iter_mut().enumerate() {
        if i == ni {
            continue;
        }
        if spec_replicas(rs) > 0 {
            let updated = scale(ctx, d, api, rs, 0, max_surge).await?;
            *rs = updated;
            old_running = true;
        }
        if rs.status.as_ref().is_some_and(|s| s.replicas > 0) {
            old_running = true;
        }
    }
    // The new pods start only once every old pod is gone.
    if !old_running && spec_replicas(&all[ni]) != replicas {
        all[ni] = scale(ctx, d, api, &all[ni], replicas, max_surge).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn rollout_rolling(
    ctx: &Ctx,
    d: &Deployment,
    api: &Api<ReplicaSet>,
    all: &mut [ReplicaSet],
    ni: usize,
    replicas: i32,
    max_surge: i32,
    max_unavailable: i32,
) -> Result<()> {
    // Scale the new ReplicaSet up as far as the surge allows.
    let new_replicas = spec_replicas(&all[ni]);
    let total: i32 = all.iter().map(spec_replicas).sum();
    let target = if new_replicas > replicas {
        replicas
    } else {
        let room = (replicas + max_surge - total).max(0);
        new_replicas + room.min(replicas - new_replicas)
    };
    if target != new_replicas {
        all[ni] = scale(ctx, d, api, &all[ni], target, max_surge).await?;
    }

    // Scale old ReplicaSets down as far as availability allows.
    let old_total: i32 = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != ni)
        .map(|(_, rs)| spec_replicas(rs))
        .sum();
    if old_total == 0 {
        return Ok(());
    }
    let all_total: i32 = all.iter().map(spec_replicas).sum();
    let min_available = replicas - max_unavailable;
    let new_unavailable = (spec_replicas(&all[ni]) - available(&all[ni])).max(0);
    let mut budget = all_total - min_available - new_unavailable;
    if budget <= 0 {
        return Ok(());
    }
    // First the old pods that are not available anyway.
    for (i, rs) in all.iter_mut().enumerate() {
        if i == ni || budget <= 0 {
            continue;
        }
        let current = spec_replicas(rs);
        let unhealthy = (current - available(rs)).max(0).min(budget);
        if unhealthy > 0 {
            let updated = scale(ctx, d, api, rs, current - unhealthy, max_surge).await?;
            *rs = updated;
            budget -= unhealthy;
        }
    }
    // Then available old pods, keeping minAvailable.
    let available_total: i32 = all.iter().map(available).sum();
    let mut remaining = (available_total - min_available).min(budget);
    for (i, rs) in all.iter_mut().enumerate() {
        if i == ni || remaining <= 0 {
            continue;
        }
        let current = spec_replicas(rs);
        let down = current.min(remaining);
        if down > 0 {
            let updated = scale(ctx, d, api, rs, current - down, max_surge).await?;
            *rs = updated;
            remaining -= down;
        }
    }
    Ok(())
}

/// Deletes the oldest ReplicaSets beyond `revisionHistoryLimit` (default
/// 10) once they have no replicas left.
async fn cleanup_history(
    ctx: &Ctx,
    d: &Deployment,
    api: &Api<ReplicaSet>,
    all: &[ReplicaSet],
    new_index: Option<usize>,
) -> Result<()> {
    let limit = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    let mut idle: Vec<&ReplicaSet> = all
        .iter()
        .enumerate()
        .filter(|(i, rs)| {
            Some(*i) != new_index
                && spec_replicas(rs) == 0
                && rs.status.as_ref().is_none_or(|s| s.replicas == 0)
        })
        .map(|(_, rs)| rs)
        .collect();
    let excess = idle
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    idle.sort_by_key(|rs| revision(rs));
    for rs in idle.into_iter().take(excess) {
        match api.delete(&rs.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => {
                return Err(Error::Api {
                    action: format!(
                        "deleting old ReplicaSet {}/{}",
                        rs.namespace().unwrap_or_default(),
                        rs.name_any()
                    ),
                    source,
                });
            }
        }
    }
    let _ = ctx;
    Ok(())
}

fn current_condition<'a>(d: &'a Deployment, type_: &str) -> Option<&'a DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn condition(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    let now = Time(Timestamp::now());
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Kubernetes' SetDeploymentCondition: an identical status and reason keeps
/// the old condition; the same status keeps its transition time.
fn set_condition(
    current: Option<&DeploymentCondition>,
    new: DeploymentCondition,
) -> DeploymentCondition {
    match current {
        Some(c) if c.status == new.status && c.reason == new.reason => c.clone(),
        Some(c) if c.status == new.status => DeploymentCondition {
            last_transition_time: c.last_transition_time.clone(),
            ..new
        },
        _ => new,
    }
}

fn is_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    status.updated_replicas == Some(replicas)
        && status.replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
        && status.observed_generation >= d.metadata.generation
}

fn compute_status(
    d: &Deployment,
    all: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    max_unavailable: i32,
    progress: Option<(&'static str, String)>,
) -> DeploymentStatus {
    let spec = d.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1);
    let sum = |f: fn(&ReplicaSet) -> i32| all.iter().map(f).sum::<i32>();
    let total = sum(|rs| rs.status.as_ref().map_or(0, |s| s.replicas));
    let ready = sum(|rs| {
        rs.status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
    });
    let avail = sum(available);
    let updated = new_rs
        .and_then(|rs| rs.status.as_ref())
        .map_or(0, |s| s.replicas);
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        replicas: Some(total),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(avail),
        unavailable_replicas: Some((replicas - avail).max(0)),
        observed_generation: d.metadata.generation,
        collision_count: old.collision_count,
        conditions: None,
        terminating_replicas: None,
    };
    let available_cond = if avail >= replicas - max_unavailable {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    let available_cond = set_condition(current_condition(d, "Available"), available_cond);
    let current = current_condition(d, "Progressing");
    let rs_name = new_rs.map(|rs| rs.name_any()).unwrap_or_default();
    let progressing = if spec.paused == Some(true) {
        Some(set_condition(
            current,
            condition(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused".into(),
            ),
        ))
    } else if is_complete(d, &status) {
        Some(set_condition(
            current,
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            ),
        ))
    } else if let Some((reason, message)) = progress {
        Some(set_condition(
            current,
            condition("Progressing", "True", reason, message),
        ))
    } else if made_progress(&old, &status) && new_rs.is_some() {
        // Progress refreshes lastUpdateTime even when the reason is unchanged.
        let mut c = condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs_name}\" is progressing."),
        );
        if let Some(cur) = current.filter(|c| c.status == "True") {
            c.last_transition_time = cur.last_transition_time.clone();
        }
        Some(c)
    } else if timed_out(d, current) {
        Some(set_condition(
            current,
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
            ),
        ))
    } else {
        current.cloned()
    };
    let mut conditions = vec![available_cond];
    conditions.extend(progressing);
    status.conditions = Some(conditions);
    status
}

/// Kubernetes' DeploymentProgressing: more updated, ready or available
/// replicas, or fewer old ones, than the last recorded status.
fn made_progress(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
    let new_old = new.replicas.unwrap_or(0) - new.updated_replicas.unwrap_or(0);
    new.updated_replicas.unwrap_or(0) > old.updated_replicas.unwrap_or(0)
        || new_old < old_old
        || new.ready_replicas.unwrap_or(0) > old.ready_replicas.unwrap_or(0)
        || new.available_replicas.unwrap_or(0) > old.available_replicas.unwrap_or(0)
}

fn deadline(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE)
}

/// Whether the Progressing condition was last updated longer ago than
/// `progressDeadlineSeconds`.
fn timed_out(d: &Deployment, current: Option<&DeploymentCondition>) -> bool {
    let Some(c) = current else {
        return false;
    };
    if c.reason.as_deref() == Some("NewReplicaSetAvailable") || c.status != "True" {
        return false;
    }
    let Some(updated) = c.last_update_time.as_ref() else {
        return false;
    };
    let limit = SignedDuration::from_secs(i64::from(deadline(d)));
    Timestamp::now().duration_since(updated.0) > limit
}

/// Until the rollout completes, wake up when the progress deadline would
/// pass, so `ProgressDeadlineExceeded` appears even if nothing changes.
fn requeue_for_deadline(d: &Deployment, status: &DeploymentStatus, settled: bool) -> Action {
    if settled {
        return Action::await_change();
    }
    let progressing = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Progressing"));
    match progressing.and_then(|c| c.last_update_time.as_ref().map(|t| (c, t))) {
        Some((c, updated)) if c.status == "True" => {
            let at = updated.0 + SignedDuration::from_secs(i64::from(deadline(d)) + 1);
            let wait = Timestamp::now().duration_until(at);
            Action::requeue(wait.unsigned_abs().max(Duration::from_millis(100)))
        }
        _ => Action::await_change(),
    }
}

fn error_policy(d: Arc<Deployment>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    // A write from a stale cache was refused: expected now and then, and a
    // retry soon sees the newer objects.
    if let Error::Api {
        source: kube::Error::Api(status),
        ..
    } = error
        && status.code == 409
    {
        tracing::debug!(deployment = %describe(&d), %error, "Deployment sync raced a newer write");
        return Action::requeue(Duration::from_millis(100));
    }
    tracing::warn!(deployment = %describe(&d), %error, "Deployment sync failed");
    match error {
        Error::Invalid { .. } => Action::await_change(),
        _ => Action::requeue(Duration::from_secs(1)),
    }
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(
        replicas: i32,
        surge: Option<IntOrString>,
        unavailable: Option<IntOrString>,
    ) -> Deployment {
        let mut d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": {}},
        }))
        .expect("deployment");
        let spec = d.spec.get_or_insert_default();
        spec.strategy = Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(k8s_openapi::api::apps::v1::RollingUpdateDeployment {
                max_surge: surge,
                max_unavailable: unavailable,
            }),
        });
        d
    }

    #[test]
    fn default_surge_rounds_up_and_unavailable_down() {
        assert_eq!(surge_and_unavailable(&deployment(3, None, None)), (1, 0));
        assert_eq!(surge_and_unavailable(&deployment(10, None, None)), (3, 2));
    }

    #[test]
    fn zero_surge_and_zero_unavailable_means_one_unavailable() {
        let d = deployment(3, Some(IntOrString::Int(0)), Some(IntOrString::Int(0)));
        assert_eq!(surge_and_unavailable(&d), (0, 1));
    }
}

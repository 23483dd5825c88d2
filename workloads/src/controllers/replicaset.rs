//! The ReplicaSet controller: keeps `spec.replicas` active pods matching the
//! selector, adopting orphans and releasing pods that no longer match, and
//! reports `replicas`, `fullyLabeledReplicas`, `readyReplicas`,
//! `availableReplicas` (Ready for `minReadySeconds`) and
//! `observedGeneration`, plus a `ReplicaFailure` condition when pods cannot
//! be created.
//!
//! Like kube-controller-manager it reads pods from a watch cache and keeps
//! "expectations": after creating or deleting pods it does not act again
//! until the cache has seen those changes, so a lagging cache never makes it
//! create twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::{labels, pods};

/// Field manager and event source of this controller's writes.
const MANAGER: &str = "replicaset-controller";
/// How long to wait for the cache to show our own creates and deletes
/// before acting anyway (kube-controller-manager waits 5 minutes; a local
/// API server answers in milliseconds).
const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many pods are created or deleted per sync (Kubernetes'
/// `burstReplicas`).
const BURST: usize = 500;

/// Runs the ReplicaSet controller until aborted.
pub(crate) async fn run(client: kube::Client) {
    let (pods, writer) = reflector::store();
    let pod_events = reflector::reflector(
        writer,
        // With a backoff, as the Controller's own watches have: see the scheduler.
        watcher(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff(),
    )
    .touched_objects();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        pods,
        expectations: Mutex::default(),
    });
    Controller::new(
        Api::<ReplicaSet>::all(client),
        watcher::Config::default().any_semantic(),
    )
    .owns_stream(pod_events)
    .with_config(ControllerConfig::default().debounce(Duration::from_millis(50)))
    .run(reconcile, error_policy, ctx)
    .for_each(|_| std::future::ready(()))
    .await;
}

struct Ctx {
    client: kube::Client,
    pods: Store<Pod>,
    /// ReplicaSet uid → the pod creations and deletions not yet seen.
    expectations: Mutex<HashMap<String, Expectation>>,
}

struct Expectation {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Instant,
}

impl Ctx {
    /// Whether the cache has caught up with this ReplicaSet's last actions.
    fn satisfied(&self, rs_uid: &str, namespace: &str) -> bool {
        let mut all = self.expectations.lock().unwrap_or_else(|p| p.into_inner());
        let Some(exp) = all.get_mut(rs_uid) else {
            return true;
        };
        let key = |name: &str| reflector::ObjectRef::<Pod>::new(name).within(namespace);
        exp.creates
            .retain(|name| self.pods.get(&key(name)).is_none());
        exp.deletes.retain(|name| {
            self.pods
                .get(&key(name))
                .is_some_and(|p| p.metadata.deletion_timestamp.is_none())
        });
        let done = (exp.creates.is_empty() && exp.deletes.is_empty())
            || exp.since.elapsed() > EXPECTATION_TIMEOUT;
        if done {
            all.remove(rs_uid);
        }
        done
    }

    fn expect(&self, rs_uid: &str, creates: Vec<String>, deletes: Vec<String>) {
        self.expectations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                rs_uid.to_string(),
                Expectation {
                    creates: creates.into_iter().collect(),
                    deletes: deletes.into_iter().collect(),
                    since: Instant::now(),
                },
            );
    }
}

fn describe(rs: &ReplicaSet) -> String {
    format!(
        "ReplicaSet {}/{}",
        rs.namespace().unwrap_or_default(),
        rs.name_any()
    )
}

#[tracing::instrument(skip_all, fields(rs = %describe(&rs)))]
async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> Result<Action> {
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = rs.namespace().unwrap_or_default();
    let uid = rs.uid().unwrap_or_default();
    let spec = rs.spec.clone().unwrap_or_default();
    if spec
        .selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && spec
            .selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
    {
        return Err(Error::Invalid {
            object: describe(&rs),
            message: "spec.selector: Invalid value: empty selector is invalid for replicaset"
                .into(),
        });
    }
    crate::labels::check_template_selected(
        describe(&rs),
        Some(&spec.selector),
        spec.template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.as_ref()),
    )?;
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut owned = claim_pods(&ctx, &rs, &pod_api).await?;
    let active: Vec<Arc<Pod>> = owned.drain(..).filter(|p| pods::is_active(p)).collect();
    let mut failure = None;
    if ctx.satisfied(&uid, &namespace) {
        let want = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
        failure = manage(&ctx, &rs, &pod_api, &active, want).await;
    }
    let now = Timestamp::now();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut ready = 0;
    let mut available = 0;
    let mut fully_labeled = 0;
    let mut next_check: Option<Duration> = None;
    for pod in &active {
        if template_labels
            .iter()
            .all(|(k, v)| pod.labels().get(k) == Some(v))
        {
            fully_labeled += 1;
        }
        if pods::is_ready(pod) {
            ready += 1;
        }
        match pods::availability(pod, min_ready, now) {
            (true, _) => available += 1,
            (false, Some(wait)) => next_check = Some(next_check.map_or(wait, |n| n.min(wait))),
            (false, None) => {}
        }
    }
    let conditions = replica_failure(&rs, failure.as_deref());
    let status = ReplicaSetStatus {
        replicas: i32::try_from(active.len()).unwrap_or(i32::MAX),
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        observed_generation: rs.metadata.generation,
        conditions,
        ..Default::default()
    };
    if crate::status::differs(rs.status.as_ref(), &status) {
        let mut body = serde_json::to_value(&status).unwrap_or_default();
        if status.conditions.is_none() {
            body["conditions"] = serde_json::Value::Null;
        }
        Api::<ReplicaSet>::namespaced(ctx.client.clone(), &namespace)
            .patch_status(
                &rs.name_any(),
                &params(),
                &Patch::Merge(json!({"status": body})),
            )
            .await
            .map_err(|source| Error::Api {
                action: format!("updating status of {}", describe(&rs)),
                source,
            })?;
    }
    Ok(match next_check {
        Some(wait) => Action::requeue(wait + Duration::from_millis(50)),
        None if failure.is_some() => Action::requeue(Duration::from_secs(5)),
        None => Action::await_change(),
    })
}

/// The pods this ReplicaSet controls after adopting matching orphans and
/// releasing owned pods whose labels no longer match.
async fn claim_pods(ctx: &Ctx, rs: &ReplicaSet, api: &Api<Pod>) -> Result<Vec<Arc<Pod>>> {
    let namespace = rs.namespace().unwrap_or_default();
    let uid = rs.uid().unwrap_or_default();
    let selector = rs
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for pod in ctx.pods.state() {
        if pod.namespace().as_deref() != Some(namespace.as_str()) {
            continue;
        }
        let matches = labels::matches(&selector, pod.labels());
        match pods::controller_of(&pod.metadata) {
            Some(owner) if owner.uid == uid => {
                if matches {
                    out.push(pod);
                } else if pod.metadata.deletion_timestamp.is_none() {
                    // Relabelled out of the set: let it go, as Kubernetes does.
                    let refs: Vec<_> = pod
                        .owner_references()
                        .iter()
                        .filter(|r| r.uid != uid)
                        .cloned()
                        .collect();
                    patch_owners(api, &pod, refs).await?;
                }
            }
            None if matches && pods::is_active(&pod) => {
                let mut refs = pod.owner_references().to_vec();
                refs.push(pods::controller_ref(rs));
                patch_owners(api, &pod, refs).await?;
                out.push(pod);
            }
            _ => {}
        }
    }
    Ok(out)
}

async fn patch_owners(
    api: &Api<Pod>,
    pod: &Pod,
    refs: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
) -> Result<()> {
    let body = json!({"metadata": {"ownerReferences": refs}});
    match api
        .patch(&pod.name_any(), &params(), &Patch::Merge(body))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(source) => Err(Error::Api {
            action: format!(
                "updating owners of pod {}/{}",
                pod.namespace().unwrap_or_default(),
                pod.name_any()
            ),
            source,
        }),
    }
}

/// Creates or deletes pods toward `want`; returns why creating failed, if it did.
async fn manage(
    ctx: &Ctx,
    rs: &ReplicaSet,
    api: &Api<Pod>,
    active: &[Arc<Pod>],
    want: usize,
) -> Option<String> {
    let uid = rs.uid().unwrap_or_default();
    if active.len() < want {
        let count = (want - active.len()).min(BURST);
        let built: Vec<Pod> = (0..count).filter_map(|_| new_pod(rs)).collect();
        let names: Vec<String> = built.iter().map(|p| p.name_any()).collect();
        ctx.expect(&uid, names, Vec::new());
        let post = PostParams::default();
        let results = futures::future::join_all(built.iter().map(|p| api.create(&post, p))).await;
        let mut failure = None;
        for (pod, result) in built.iter().zip(results) {
            match result {
                Ok(_) => {
                    events::record(
                        &ctx.client,
                        MANAGER,
                        rs,
                        EventType::Normal,
                        "SuccessfulCreate",
                        format!("Created pod: {}", pod.name_any()),
                    );
                }
                Err(e) => {
                    let message = format!("Error creating: {}", api_message(&e));
                    events::record(
                        &ctx.client,
                        MANAGER,
                        rs,
                        EventType::Warning,
                        "FailedCreate",
                        message.clone(),
                    );
                    failure = Some(message);
                }
            }
        }
        if failure.is_some() {
            // Nothing more is coming for the pods that failed.
            ctx.expect(&uid, Vec::new(), Vec::new());
        }
        return failure;
    }
    if active.len() > want {
        let mut victims: Vec<&Arc<Pod>> = active.iter().collect();
        victims.sort_by_key(|p| deletion_rank(p));
        victims.truncate((active.len() - want).min(BURST));
        ctx.expect(
            &uid,
            Vec::new(),
            victims.iter().map(|p| p.name_any()).collect(),
        );
        let delete = DeleteParams::default();
        let names: Vec<String> = victims.iter().map(|p| p.name_any()).collect();
        let results = futures::future::join_all(names.iter().map(|n| api.delete(n, &delete))).await;
        for (pod, result) in victims.iter().zip(results) {
            match result {
                Ok(_) => events::record(
                    &ctx.client,
                    MANAGER,
                    rs,
                    EventType::Normal,
                    "SuccessfulDelete",
                    format!("Deleted pod: {}", pod.name_any()),
                ),
                Err(e) => tracing::warn!(pod = %pod.name_any(), error = %e, "deleting pod failed"),
            }
        }
    }
    None
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Kubernetes' order for scaling down: unscheduled before scheduled,
/// pending before running, not ready before ready, more restarts first,
/// newest first.
fn deletion_rank(
    pod: &Pod,
) -> (
    u8,
    u8,
    u8,
    std::cmp::Reverse<i32>,
    std::cmp::Reverse<Timestamp>,
) {
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let phase = match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Running") => 2,
        _ => 1,
    };
    let restarts = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0);
    let created = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    (
        u8::from(scheduled),
        phase,
        u8::from(pods::is_ready(pod)),
        std::cmp::Reverse(restarts),
        std::cmp::Reverse(created),
    )
}

/// A pod from the ReplicaSet's template, named `<rs>-<5 random characters>`.
fn new_pod(rs: &ReplicaSet) -> Option<Pod> {
    let template = rs.spec.as_ref()?.template.clone()?;
    let mut meta = template.metadata.unwrap_or_default();
    meta.name = Some(format!("{}-{}", rs.name_any(), pods::random_suffix()));
    meta.namespace = rs.namespace();
    meta.generate_name = None;
    meta.owner_references = Some(vec![pods::controller_ref(rs)]);
    Some(Pod {
        metadata: meta,
        spec: template.spec,
        status: None,
    })
}

/// The `ReplicaFailure` condition: set while creating pods fails, gone
/// once it succeeds.
fn replica_failure(rs: &ReplicaSet, failure: Option<&str>) -> Option<Vec<ReplicaSetCondition>> {
    let existing = rs
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let others: Vec<ReplicaSetCondition> = existing
        .iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .cloned()
        .collect();
    let mut out = others;
    match failure {
        Some(message) => {
            let since = existing
                .iter()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(Time(Timestamp::now()));
            out.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                message: Some(message.to_string()),
                last_transition_time: Some(since),
            });
        }
        None if existing.iter().any(|c| c.type_ == "ReplicaFailure") => {}
        None => return (!out.is_empty()).then_some(out),
    }
    Some(out)
}

fn error_policy(rs: Arc<ReplicaSet>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(rs = %describe(&rs), %error, "ReplicaSet sync failed");
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

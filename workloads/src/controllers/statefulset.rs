//! The StatefulSet controller: pods `NAME-0..N-1` with stable identity
//! (hostname, subdomain, `statefulset.kubernetes.io/pod-name`), their
//! PersistentVolumeClaims `CLAIM-NAME-ORDINAL` created before them, ordered
//! (`OrderedReady`) or `Parallel` management, `RollingUpdate` from the
//! highest ordinal down to `partition` or `OnDelete`, ControllerRevisions
//! and the status `kubectl rollout status` reads.
//!
//! Not simulated: `maxUnavailable` for rolling updates (one pod at a time,
//! as without the feature gate), `ordinals.start`, PVC retention by pod
//! ownership (claims are deleted directly when `whenScaled: Delete`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::workload::{
    Ctx, api_err, availability, build, controlled_by, controller_ref, create_idempotent,
    delete_quietly, describe, drain, error_policy, is_deleting, is_ready, is_terminal,
    patch_status, template_hash,
};
use crate::error::{Error, Result};

/// The component name on this controller's Events.
const COMPONENT: &str = "statefulset-controller";

/// Label with the pod's own name, for per-pod Services.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Label with the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// Label with the revision a pod was created from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Runs the StatefulSet controller until aborted.
pub(crate) async fn run(client: kube::Client) {
    let sets: Api<StatefulSet> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    drain(
        Controller::new(sets, watcher::Config::default())
            .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
            .run(reconcile, error_policy, ctx),
    )
    .await;
}

/// The ordinal of a pod named `SET-N`.
pub(crate) fn ordinal(set: &str, pod: &str) -> Option<i32> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// What one reconcile should do to the pods, given their state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Create the pod with this ordinal (and its claims first).
    Create(i32),
    /// Delete the pod with this ordinal (scale down, failed pod, or update).
    Delete(i32),
}

/// One existing pod as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct PodView {
    pub ordinal: i32,
    pub ready: bool,
    pub terminal: bool,
    pub deleting: bool,
    pub updated: bool,
}

/// Plans the next steps like Kubernetes' StatefulSet control loop: replace
/// failed pods, create missing ordinals (one at a time, waiting for each to
/// be Running and Ready, unless `parallel`), remove ordinals at or above
/// `replicas` from the highest down, then roll outdated pods from the
/// highest ordinal down to `partition` (`None`: OnDelete).
pub(crate) fn plan(
    replicas: i32,
    parallel: bool,
    partition: Option<i32>,
    pods: &[PodView],
) -> Vec<Step> {
    let mut steps = Vec::new();
    let by_ordinal: BTreeMap<i32, &PodView> = pods.iter().map(|p| (p.ordinal, p)).collect();
    let healthy = |p: &PodView| p.ready && !p.terminal && !p.deleting;
    // Failed or finished pods are deleted so they can be recreated.
    for p in pods {
        if p.terminal && !p.deleting {
            steps.push(Step::Delete(p.ordinal));
            if !parallel {
                return steps;
            }
        }
    }
    for ord in 0..replicas {
        match by_ordinal.get(&ord) {
            None => {
                steps.push(Step::Create(ord));
                if !parallel {
                    return steps;
                }
            }
            Some(p) if !parallel && !healthy(p) => return steps,
            Some(_) => {}
        }
    }
    // Scale down, highest ordinal first; ordered mode waits for the rest to be healthy.
    let condemned: Vec<&PodView> = by_ordinal
        .range(replicas..)
        .rev()
        .map(|(_, p)| *p)
        .collect();
    if !condemned.is_empty() {
        if parallel {
            steps.extend(
                condemned
                    .iter()
                    .filter(|p| !p.deleting)
                    .map(|p| Step::Delete(p.ordinal)),
            );
            return steps;
        }
        let others_ok = by_ordinal.range(..replicas).all(|(_, p)| healthy(p));
        if others_ok
            && condemned.iter().all(|p| !p.deleting)
            && let Some(p) = condemned.first()
        {
            steps.push(Step::Delete(p.ordinal));
        }
        return steps;
    }
    // Rolling update: only once every pod is healthy, one pod at a time.
    if let Some(partition) = partition
        && steps.is_empty()
        && by_ordinal.range(..replicas).all(|(_, p)| healthy(p))
        && let Some((ord, _)) = by_ordinal
            .range(partition.max(0)..replicas)
            .rev()
            .find(|(_, p)| !p.updated)
    {
        steps.push(Step::Delete(*ord));
    }
    steps
}

/// The claims a pod of `set` with `ordinal` mounts: `TEMPLATE-SET-ORDINAL`.
pub(crate) fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(set.as_ref());
    let span = tracing::info_span!("reconcile", kind = "StatefulSet", object = %what);
    let _enter = span.enter();
    if is_deleting(set.as_ref()) {
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let uid = set.meta().uid.clone().unwrap_or_default();
    let spec = set.spec.clone().unwrap_or_default();
    crate::labels::check_template_selected(
        what.clone(),
        Some(&spec.selector),
        spec.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
    )?;
    let client = &ctx.client;
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let claims_api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let revisions_api: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);

    let replicas = spec.replicas.unwrap_or(1);
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let on_delete = strategy.type_.as_deref() == Some("OnDelete");
    let partition = strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.partition)
        .unwrap_or(0);

    // Revisions: the template's hash names the update revision; the
    // current revision's template comes from its ControllerRevision.
    let template = serde_json::to_value(&spec.template).unwrap_or(Value::Null);
    let update_revision = format!("{name}-{}", template_hash(&template));
    let revisions = revisions_api
        .list(&ListParams::default())
        .await
        .map_err(api_err(format!("listing controllerrevisions of {what}")))?;
    let owned: Vec<&ControllerRevision> = revisions
        .items
        .iter()
        .filter(|r| controlled_by(&r.metadata, &uid))
        .collect();
    if !owned.iter().any(|r| r.name_any() == update_revision) {
        let next = owned.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
        let rev: ControllerRevision = build(
            &format!("controllerrevision {ns}/{update_revision}"),
            json!({
                "metadata": {
                    "name": update_revision,
                    "namespace": ns,
                    "labels": spec.selector.match_labels.clone().unwrap_or_default(),
                    "ownerReferences": [controller_ref(set.as_ref())],
                },
                "data": {"spec": {"template": template}},
                "revision": next,
            }),
        )?;
        create_idempotent(
            &revisions_api,
            &rev,
            &format!("controllerrevision {update_revision}"),
        )
        .await?;
    }
    let status = set.status.clone().unwrap_or_default();
    let current_revision = status
        .current_revision
        .clone()
        .filter(|r| owned.iter().any(|o| o.name_any() == *r) || *r == update_revision)
        .unwrap_or_else(|| update_revision.clone());
    // History: revisions beyond revisionHistoryLimit go, oldest first,
    // never the current or the update revision.
    let limit = usize::try_from(spec.revision_history_limit.unwrap_or(10)).unwrap_or(0);
    let mut old: Vec<&&ControllerRevision> = owned
        .iter()
        .filter(|r| r.name_any() != current_revision && r.name_any() != update_revision)
        .collect();
    old.sort_by_key(|r| r.revision);
    for r in old.iter().take(old.len().saturating_sub(limit)) {
        delete_quietly(
            &revisions_api,
            &r.name_any(),
            false,
            &format!("controllerrevision {ns}/{}", r.name_any()),
        )
        .await?;
    }
    let current_template = owned
        .iter()
        .find(|r| r.name_any() == current_revision)
        .and_then(|r| r.data.as_ref())
        .and_then(|d| d.0.pointer("/spec/template").cloned())
        .unwrap_or_else(|| template.clone());

    let pods: Vec<Pod> = pods_api
        .list(&ListParams::default())
        .await
        .map_err(api_err(format!("listing pods of {what}")))?
        .items
        .into_iter()
        .filter(|p| {
            controlled_by(&p.metadata, &uid) && crate::labels::matches(&spec.selector, p.labels())
        })
        .collect();
    let mut views = Vec::new();
    for p in &pods {
        if let Some(ord) = ordinal(&name, &p.name_any()) {
            views.push(PodView {
                ordinal: ord,
                ready: is_ready(p),
                terminal: is_terminal(p),
                deleting: is_deleting(p),
                updated: p.labels().get(REVISION_LABEL) == Some(&update_revision),
            });
        }
    }
    let steps = plan(
        replicas,
        parallel,
        (!on_delete).then_some(partition),
        &views,
    );
    let retention = spec.persistent_volume_claim_retention_policy.clone();
    let delete_claims_when_scaled =
        retention.as_ref().and_then(|r| r.when_scaled.as_deref()) == Some("Delete");
    let delete_claims_when_deleted =
        retention.as_ref().and_then(|r| r.when_deleted.as_deref()) == Some("Delete");
    for step in &steps {
        match *step {
            Step::Create(ord) => {
                // Ordinals below the partition stay on the current revision.
                let (tpl, rev) = if !on_delete && ord < partition {
                    (&current_template, &current_revision)
                } else {
                    (&template, &update_revision)
                };
                for claim in spec.volume_claim_templates.iter().flatten() {
                    let claim_name = claim_name(&claim.name_any(), &name, ord);
                    let mut value = serde_json::to_value(claim).unwrap_or(Value::Null);
                    value["metadata"] = json!({
                        "name": claim_name,
                        "namespace": ns,
                        "labels": spec.selector.match_labels.clone().unwrap_or_default(),
                    });
                    if delete_claims_when_deleted {
                        value["metadata"]["ownerReferences"] = json!([{
                            "apiVersion": "apps/v1", "kind": "StatefulSet",
                            "name": name, "uid": uid, "blockOwnerDeletion": true,
                        }]);
                    }
                    if let Some(m) = value.as_object_mut() {
                        m.remove("status");
                    }
                    let pvc: PersistentVolumeClaim =
                        build(&format!("persistentvolumeclaim {ns}/{claim_name}"), value)?;
                    create_idempotent(
                        &claims_api,
                        &pvc,
                        &format!("persistentvolumeclaim {ns}/{claim_name}"),
                    )
                    .await?;
                }
                let pod = new_pod(set.as_ref(), tpl, rev, ord)?;
                tracing::info!(pod = %pod.name_any(), "creating pod");
                create_idempotent(&pods_api, &pod, &format!("pod {ns}/{}", pod.name_any())).await?;
                super::workload::event(
                    client,
                    COMPONENT,
                    set.as_ref(),
                    false,
                    "SuccessfulCreate",
                    format!(
                        "create Pod {} in StatefulSet {name} successful",
                        pod.name_any()
                    ),
                );
            }
            Step::Delete(ord) => {
                let pod_name = format!("{name}-{ord}");
                tracing::info!(pod = %pod_name, "deleting pod");
                delete_quietly(&pods_api, &pod_name, false, &format!("pod {ns}/{pod_name}"))
                    .await?;
                super::workload::event(
                    client,
                    COMPONENT,
                    set.as_ref(),
                    false,
                    "SuccessfulDelete",
                    format!("delete Pod {pod_name} in StatefulSet {name} successful"),
                );
                if delete_claims_when_scaled && ord >= replicas {
                    for claim in spec.volume_claim_templates.iter().flatten() {
                        let claim_name = claim_name(&claim.name_any(), &name, ord);
                        delete_quietly(
                            &claims_api,
                            &claim_name,
                            false,
                            &format!("persistentvolumeclaim {ns}/{claim_name}"),
                        )
                        .await?;
                    }
                }
            }
        }
    }

    // Status, from the pods as they are now (created pods count next time).
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let live: Vec<&Pod> = pods.iter().filter(|p| !is_deleting(*p)).collect();
    let ready = live.iter().filter(|p| is_ready(p)).count() as i32;
    let mut wake: Option<Duration> = None;
    let mut available = 0;
    for p in &live {
        let (ok, after) = availability(p, min_ready);
        if ok {
            available += 1;
        }
        if let Some(d) = after {
            wake = Some(wake.map_or(d, |w| w.min(d)));
        }
    }
    let with_rev = |rev: &str| {
        live.iter()
            .filter(|p| p.labels().get(REVISION_LABEL).map(String::as_str) == Some(rev))
            .count() as i32
    };
    let updated = with_rev(&update_revision);
    let mut current_replicas = with_rev(&current_revision);
    let mut current = current_revision.clone();
    // The rollout is complete once every replica runs the update revision, ready.
    if updated == replicas && ready == replicas && live.len() as i32 == replicas {
        current = update_revision.clone();
        current_replicas = updated;
    }
    let new_status = json!({
        "observedGeneration": set.metadata.generation,
        "replicas": live.len(),
        "readyReplicas": ready,
        "currentReplicas": current_replicas,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "currentRevision": current,
        "updateRevision": update_revision,
        "collisionCount": status.collision_count.unwrap_or(0),
    });
    let old_status = serde_json::to_value(&status).unwrap_or(Value::Null);
    let differs = [
        "observedGeneration",
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
        "availableReplicas",
        "currentRevision",
        "updateRevision",
    ]
    .iter()
    .any(|k| old_status.get(*k).unwrap_or(&json!(0)) != new_status.get(*k).unwrap_or(&json!(0)));
    if differs {
        let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
        patch_status(&sets, &name, new_status, &what).await?;
    }
    Ok(match wake {
        Some(d) => Action::requeue(d + Duration::from_millis(50)),
        None if steps.is_empty() => Action::await_change(),
        // Pods just created or deleted report back through the watch; this
        // is a safety net in case an event is missed.
        None => Action::requeue(Duration::from_secs(5)),
    })
}

/// Builds pod `SET-ORDINAL` from `template` (JSON of the pod template).
fn new_pod(set: &StatefulSet, template: &Value, revision: &str, ordinal: i32) -> Result<Pod> {
    let name = set.name_any();
    let ns = set.namespace().unwrap_or_default();
    let pod_name = format!("{name}-{ordinal}");
    let spec = set.spec.clone().unwrap_or_default();
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template.get("metadata").cloned().unwrap_or(json!({})),
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    pod["metadata"]["name"] = json!(pod_name);
    pod["metadata"]["namespace"] = json!(ns);
    pod["metadata"]["ownerReferences"] = json!([controller_ref(set)]);
    if !pod["metadata"]["labels"].is_object() {
        pod["metadata"]["labels"] = json!({});
    }
    pod["metadata"]["labels"][POD_NAME_LABEL] = json!(pod_name);
    pod["metadata"]["labels"][POD_INDEX_LABEL] = json!(ordinal.to_string());
    pod["metadata"]["labels"][REVISION_LABEL] = json!(revision);
    pod["spec"]["hostname"] = json!(pod_name);
    if let Some(service) = spec.service_name.as_deref().filter(|s| !s.is_empty()) {
        pod["spec"]["subdomain"] = json!(service);
    }
    // Each claim template replaces a same-named volume of the template.
    let claims: Vec<String> = spec
        .volume_claim_templates
        .iter()
        .flatten()
        .map(|c| c.name_any())
        .collect();
    if !claims.is_empty() {
        let mut volumes: Vec<Value> = pod["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| {
                v.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(|n| !claims.iter().any(|c| c == n))
            })
            .collect();
        for claim in &claims {
            volumes.push(json!({
                "name": claim,
                "persistentVolumeClaim": {"claimName": claim_name(claim, &name, ordinal)},
            }));
        }
        pod["spec"]["volumes"] = json!(volumes);
    }
    if let Some(m) = pod["metadata"].as_object_mut() {
        m.remove("creationTimestamp");
    }
    build(&format!("pod {ns}/{pod_name}"), pod).map_err(|e| match e {
        Error::Build { what, source } => Error::Build { what, source },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: i32, ready: bool) -> PodView {
        PodView {
            ordinal,
            ready,
            terminal: false,
            deleting: false,
            updated: true,
        }
    }

    #[test]
    fn ordinals_come_from_the_name_suffix() {
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "webby-1"), None);
        assert_eq!(ordinal("web", "web-x"), None);
    }

    #[test]
    fn ordered_ready_creates_one_pod_and_waits_for_it() {
        assert_eq!(plan(3, false, Some(0), &[]), vec![Step::Create(0)]);
        assert_eq!(plan(3, false, Some(0), &[pod(0, false)]), vec![]);
        assert_eq!(
            plan(3, false, Some(0), &[pod(0, true)]),
            vec![Step::Create(1)]
        );
    }

    #[test]
    fn parallel_creates_every_missing_pod() {
        assert_eq!(
            plan(3, true, Some(0), &[pod(1, false)]),
            vec![Step::Create(0), Step::Create(2)]
        );
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first() {
        let pods = [pod(0, true), pod(1, true), pod(2, true)];
        assert_eq!(plan(1, false, Some(0), &pods), vec![Step::Delete(2)]);
    }

    #[test]
    fn rolling_update_goes_down_to_the_partition() {
        let mut pods = vec![pod(0, true), pod(1, true), pod(2, true)];
        for p in &mut pods {
            p.updated = false;
        }
        assert_eq!(plan(3, false, Some(0), &pods), vec![Step::Delete(2)]);
        pods[2].updated = true;
        assert_eq!(plan(3, false, Some(2), &pods), vec![]);
        assert_eq!(plan(3, false, None, &pods), vec![]);
    }
}

//! The DaemonSet controller: one pod per eligible node — nodes matching the
//! template's `nodeSelector` whose `NoSchedule`/`NoExecute` taints the pod
//! tolerates, counting the tolerations Kubernetes adds to daemon pods —
//! bound to its node as Kubernetes does (required node affinity on
//! `metadata.name`) and directly through `nodeName`. Rolling updates replace
//! outdated pods up to `maxUnavailable` at a time; `OnDelete` waits.
//!
//! Not simulated: `maxSurge`, node affinity terms of the template other
//! than the one set here, ControllerRevision objects for DaemonSets (pods
//! carry the `controller-revision-hash` label only).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::workload::{
    Ctx, api_err, availability, build, controlled_by, controller_ref, create_idempotent,
    delete_quietly, describe, drain, error_policy, is_deleting, is_ready, map_matches,
    patch_status, phase, template_hash,
};
use crate::error::Result;

/// Label with the template hash a pod was created from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Runs the DaemonSet controller until aborted.
pub(crate) async fn run(client: kube::Client) {
    let sets: Api<DaemonSet> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let controller = Controller::new(sets, watcher::Config::default());
    let store = controller.store();
    // Any node change can change where every DaemonSet should run.
    let node_to_sets = move |_node: Node| {
        store
            .state()
            .into_iter()
            .map(|ds| ObjectRef::from_obj(ds.as_ref()))
            .collect::<Vec<_>>()
    };
    drain(
        controller
            .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
            .watches(
                Api::<Node>::all(client.clone()),
                watcher::Config::default(),
                node_to_sets,
            )
            .run(reconcile, error_policy, ctx),
    )
    .await;
}

/// The tolerations Kubernetes adds to every daemon pod, so daemons keep
/// running on nodes that are unhealthy or cordoned.
pub(crate) fn daemon_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Toleration::default()
    };
    vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// Whether `toleration` tolerates `taint` (Kubernetes' matching rules).
pub(crate) fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => toleration
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key),
        _ => {
            toleration.key.as_deref() == Some(taint.key.as_str())
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// Whether a daemon pod with `node_selector` and `tolerations` belongs on `node`.
pub(crate) fn eligible(
    node: &Node,
    node_selector: &BTreeMap<String, String>,
    tolerations: &[Toleration],
) -> bool {
    if !map_matches(node_selector, node.labels()) {
        return false;
    }
    node.spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| tolerations.iter().any(|tol| tolerates(tol, taint)))
}

/// `maxUnavailable` as a number of pods (percentages round down, at least 1).
pub(crate) fn max_unavailable(value: Option<&IntOrString>, desired: i32) -> i32 {
    let n = match value {
        None => 1,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i32>().ok())
            .map(|p| desired * p / 100)
            .unwrap_or(1),
    };
    n.max(1)
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.node_name.clone())
}

async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(ds.as_ref());
    let span = tracing::info_span!("reconcile", kind = "DaemonSet", object = %what);
    let _enter = span.enter();
    if is_deleting(ds.as_ref()) {
        return Ok(Action::await_change());
    }
    let ns = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let uid = ds.meta().uid.clone().unwrap_or_default();
    let spec = ds.spec.clone().unwrap_or_default();
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
    let nodes: Vec<Node> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_err("listing nodes"))?
        .items;
    let pods: Vec<Pod> = pods_api
        .list(&ListParams::default())
        .await
        .map_err(api_err(format!("listing pods of {what}")))?
        .items
        .into_iter()
        .filter(|p| controlled_by(&p.metadata, &uid) && !is_deleting(p))
        .collect();

    let template = serde_json::to_value(&spec.template).unwrap_or(Value::Null);
    let hash = template_hash(&template);
    let pod_spec = spec.template.spec.clone().unwrap_or_default();
    let node_selector = pod_spec.node_selector.clone().unwrap_or_default();
    let mut tolerations = pod_spec.tolerations.clone().unwrap_or_default();
    tolerations.extend(daemon_tolerations());

    let eligible_nodes: Vec<&Node> = nodes
        .iter()
        .filter(|n| eligible(n, &node_selector, &tolerations))
        .collect();
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in &pods {
        by_node
            .entry(node_of(p).unwrap_or_default())
            .or_default()
            .push(p);
    }
    let mut changed = false;
    // Pods on nodes that should not run them, extra pods, failed pods: delete.
    let mut kept: BTreeMap<String, &Pod> = BTreeMap::new();
    for (node, list) in &by_node {
        let wanted = eligible_nodes.iter().any(|n| n.name_any() == *node);
        let mut sorted = list.clone();
        sorted.sort_by_key(|p| p.metadata.creation_timestamp.clone());
        for (i, p) in sorted.iter().enumerate() {
            if !wanted || i > 0 || phase(p) == "Failed" {
                delete_quietly(
                    &pods_api,
                    &p.name_any(),
                    false,
                    &format!("pod {ns}/{}", p.name_any()),
                )
                .await?;
                changed = true;
            } else {
                kept.insert(node.clone(), p);
            }
        }
    }
    for node in &eligible_nodes {
        let node_name = node.name_any();
        if kept.contains_key(&node_name) {
            continue;
        }
        let pod = new_pod(ds.as_ref(), &template, &hash, &node_name)?;
        tracing::info!(node = %node_name, "creating daemon pod");
        create_idempotent(
            &pods_api,
            &pod,
            &format!("daemon pod of {what} on {node_name}"),
        )
        .await?;
        changed = true;
    }

    // Rolling update: replace outdated pods while few enough are unavailable.
    let desired = eligible_nodes.len() as i32;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    if strategy.type_.as_deref() != Some("OnDelete") {
        let budget = max_unavailable(
            strategy
                .rolling_update
                .as_ref()
                .and_then(|r| r.max_unavailable.as_ref()),
            desired,
        );
        let unavailable = desired
            - kept
                .values()
                .filter(|p| availability(p, min_ready).0)
                .count() as i32;
        let mut room = budget - unavailable.max(0);
        // Outdated pods that are not available anyway go first.
        let mut outdated: Vec<&&Pod> = kept
            .values()
            .filter(|p| p.labels().get(REVISION_LABEL) != Some(&hash))
            .collect();
        outdated.sort_by_key(|p| availability(p, min_ready).0);
        for p in outdated {
            let available = availability(p, min_ready).0;
            if available && room <= 0 {
                break;
            }
            delete_quietly(
                &pods_api,
                &p.name_any(),
                false,
                &format!("pod {ns}/{}", p.name_any()),
            )
            .await?;
            changed = true;
            if available {
                room -= 1;
            }
        }
    }

    let on_eligible: Vec<&&Pod> = kept
        .iter()
        .filter(|(n, _)| eligible_nodes.iter().any(|e| e.name_any() == **n))
        .map(|(_, p)| p)
        .collect();
    let mut wake: Option<Duration> = None;
    let mut available = 0;
    for p in &on_eligible {
        let (ok, after) = availability(p, min_ready);
        if ok {
            available += 1;
        }
        if let Some(d) = after {
            wake = Some(wake.map_or(d, |w| w.min(d)));
        }
    }
    let new_status = json!({
        "observedGeneration": ds.metadata.generation,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": on_eligible.len(),
        "numberMisscheduled": by_node.keys().filter(|n| !eligible_nodes.iter().any(|e| e.name_any() == **n)).count(),
        "numberReady": on_eligible.iter().filter(|p| is_ready(p)).count(),
        "numberAvailable": available,
        "numberUnavailable": (desired - available).max(0),
        "updatedNumberScheduled": on_eligible.iter().filter(|p| p.labels().get(REVISION_LABEL) == Some(&hash)).count(),
    });
    let old = serde_json::to_value(ds.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
    let differs = new_status
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| old.get(k).unwrap_or(&json!(0)) != v);
    if differs {
        let sets: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
        patch_status(&sets, &name, new_status, &what).await?;
    }
    Ok(match wake {
        Some(d) => Action::requeue(d + Duration::from_millis(50)),
        None if changed => Action::requeue(Duration::from_secs(5)),
        None => Action::await_change(),
    })
}

fn new_pod(ds: &DaemonSet, template: &Value, hash: &str, node: &str) -> Result<Pod> {
    let name = ds.name_any();
    let ns = ds.namespace().unwrap_or_default();
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template.get("metadata").cloned().unwrap_or(json!({})),
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    pod["metadata"]["generateName"] = json!(format!("{name}-"));
    pod["metadata"]["namespace"] = json!(ns);
    pod["metadata"]["ownerReferences"] = json!([controller_ref(ds)]);
    if !pod["metadata"]["labels"].is_object() {
        pod["metadata"]["labels"] = json!({});
    }
    pod["metadata"]["labels"][REVISION_LABEL] = json!(hash);
    pod["metadata"]["labels"]["pod-template-generation"] =
        json!(ds.metadata.generation.unwrap_or(1).to_string());
    if let Some(m) = pod["metadata"].as_object_mut() {
        m.remove("creationTimestamp");
        m.remove("name");
    }
    // Kubernetes pins daemon pods to their node with a required affinity
    // term on the node's name; the pod is bound right away as well.
    pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    });
    pod["spec"]["nodeName"] = json!(node);
    let mut tolerations: Vec<Value> = pod["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for t in daemon_tolerations() {
        let v = serde_json::to_value(&t).unwrap_or(Value::Null);
        if !tolerations.contains(&v) {
            tolerations.push(v);
        }
    }
    pod["spec"]["tolerations"] = json!(tolerations);
    build(&format!("pod {ns}/{name}-* on {node}"), pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(taints: Value, labels: Value) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": "n", "labels": labels}, "spec": {"taints": taints}}),
        )
        .unwrap_or_default()
    }

    #[test]
    fn tainted_nodes_need_a_toleration() {
        let tainted = node(
            json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
            json!({}),
        );
        assert!(!eligible(&tainted, &BTreeMap::new(), &daemon_tolerations()));
        let tol: Toleration =
            serde_json::from_value(json!({"key": "dedicated", "operator": "Equal", "value": "db"}))
                .unwrap_or_default();
        assert!(eligible(&tainted, &BTreeMap::new(), &[tol]));
    }

    #[test]
    fn cordoned_nodes_still_run_daemons() {
        let cordoned = node(
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
            json!({}),
        );
        assert!(eligible(&cordoned, &BTreeMap::new(), &daemon_tolerations()));
    }

    #[test]
    fn node_selectors_pick_nodes_by_label() {
        let sel: BTreeMap<String, String> = [("disk".to_string(), "ssd".to_string())].into();
        assert!(eligible(
            &node(json!([]), json!({"disk": "ssd"})),
            &sel,
            &[]
        ));
        assert!(!eligible(&node(json!([]), json!({})), &sel, &[]));
    }

    #[test]
    fn max_unavailable_accepts_percentages() {
        assert_eq!(max_unavailable(None, 10), 1);
        assert_eq!(
            max_unavailable(Some(&IntOrString::String("25%".into())), 10),
            2
        );
        assert_eq!(max_unavailable(Some(&IntOrString::Int(3)), 10), 3);
    }
}

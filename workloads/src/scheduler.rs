//! The scheduler: binds each pending pod (scheduler `default-scheduler`, no
//! `spec.nodeName`) to a node, filtering like kube-scheduler's default
//! plugins — Ready and schedulable nodes, resource requests against
//! allocatable minus what is already placed, `nodeSelector`, required node
//! affinity, taints and tolerations, required pod anti-affinity — and
//! scoring the rest by least allocated resources, so replicas spread.
//!
//! A pod no node fits gets `PodScheduled=False`, reason `Unschedulable`,
//! with Kubernetes' message (`0/3 nodes are available: 3 Insufficient cpu.`)
//! and a `FailedScheduling` event, and is retried as the cluster changes.
//! Binding patches `spec.nodeName` (the local API server has no
//! `pods/binding` subresource); clients see the same pod on its node.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodCondition, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::labels::matches as selector_matches;
use crate::quantity;

/// Field manager and event source of the scheduler's writes.
const MANAGER: &str = "default-scheduler";
/// How soon an unschedulable pod is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// When a pod whose binding was sent is looked at again (bound by then, so
/// a no-op, unless the binding failed).
const BIND_RECHECK: Duration = Duration::from_secs(5);

/// Runs the scheduler until aborted.
pub(crate) async fn run(client: kube::Client) {
    let (nodes, writer) = reflector::store();
    let node_watch = reflector::reflector(
        writer,
        // With a backoff: a watch that fails at once (a closed client) would otherwise be
        // retried in a loop that never yields, and the runtime could not shut down.
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default()).default_backoff(),
    )
    .applied_objects()
    .for_each(|_| std::future::ready(()));
    // One decision at a time, so each sees the placements before it.
    let controller = Controller::new(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().any_semantic(),
    )
    .with_config(ControllerConfig::default().concurrency(1));
    let ctx = Arc::new(Scheduler {
        client,
        nodes,
        pods: controller.store(),
        assumed: Mutex::default(),
    });
    let controller = controller
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()));
    tokio::join!(node_watch, controller);
}

struct Scheduler {
    client: kube::Client,
    nodes: Store<Node>,
    pods: Store<Pod>,
    /// Pods bound by this scheduler whose binding the pod cache has not
    /// shown yet: pod uid → (namespace/name, node). kube-scheduler keeps the
    /// same "assumed" set so it never double-books a node.
    assumed: Mutex<HashMap<String, Placed>>,
}

#[derive(Clone)]
struct Placed {
    node: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    requests: Requests,
}

/// What a pod asks of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Requests {
    cpu: f64,
    memory: f64,
    pods: f64,
}

impl Requests {
    fn of(pod: &Pod) -> Self {
        let Some(spec) = pod.spec.as_ref() else {
            return Self::default();
        };
        let of_container = |c: &k8s_openapi::api::core::v1::Container, name: &str| {
            let res = c.resources.as_ref();
            // Kubernetes defaults a missing request to the limit.
            res.and_then(|r| r.requests.as_ref()?.get(name))
                .or_else(|| res.and_then(|r| r.limits.as_ref()?.get(name)))
                .and_then(|q| quantity::parse(&q.0))
                .unwrap_or(0.0)
        };
        let sum = |name: &str| {
            spec.containers
                .iter()
                .map(|c| of_container(c, name))
                .sum::<f64>()
        };
        let init_max = |name: &str| {
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| of_container(c, name))
                .fold(0.0, f64::max)
        };
        Self {
            cpu: sum("cpu").max(init_max("cpu")),
            memory: sum("memory").max(init_max("memory")),
            pods: 1.0,
        }
    }

    fn add(&mut self, other: Requests) {
        self.cpu += other.cpu;
        self.memory += other.memory;
        self.pods += other.pods;
    }
}

fn is_pending_for_us(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.node_name.as_deref().unwrap_or("").is_empty()
        && matches!(
            spec.scheduler_name.as_deref(),
            None | Some("" | "default-scheduler")
        )
        && pod.metadata.deletion_timestamp.is_none()
        && !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

impl Scheduler {
    /// Every pod currently on a node, from the cache plus the assumed set.
    fn placed(&self) -> Vec<Placed> {
        let mut assumed = self.assumed.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for pod in self.pods.state() {
            let uid = pod.uid().unwrap_or_default();
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            let terminal = matches!(
                pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            );
            if let Some(node) = node.filter(|n| !n.is_empty()) {
                assumed.remove(&uid);
                if !terminal {
                    out.push(Placed {
                        node,
                        namespace: pod.namespace().unwrap_or_default(),
                        labels: pod.labels().clone(),
                        requests: Requests::of(&pod),
                    });
                }
            }
            seen.insert(uid);
        }
        assumed.retain(|uid, _| seen.contains(uid));
        out.extend(assumed.values().cloned());
        out
    }
}

#[tracing::instrument(skip_all, fields(pod = %format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())))]
async fn reconcile(pod: Arc<Pod>, ctx: Arc<Scheduler>) -> Result<Action> {
    if !is_pending_for_us(&pod) {
        return Ok(Action::await_change());
    }
    let uid = pod.uid().unwrap_or_default();
    if ctx
        .assumed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(&uid)
    {
        return Ok(Action::requeue(BIND_RECHECK));
    }
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let nodes = ctx.nodes.state();
    let placed = ctx.placed();
    match choose(&pod, &nodes, &placed) {
        Ok(node) => {
            // Assume first, bind in the background: the next decision already
            // counts this pod, and bindings are written concurrently (the
            // API server fsyncs each write; one at a time would cap the
            // scheduler at the disk's sync rate).
            ctx.assumed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    uid.clone(),
                    Placed {
                        node: node.clone(),
                        namespace: namespace.clone(),
                        labels: pod.labels().clone(),
                        requests: Requests::of(&pod),
                    },
                );
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let bound = api
                    .patch(
                        &name,
                        &params(),
                        &Patch::Merge(json!({"spec": {"nodeName": node}})),
                    )
                    .await;
                match bound {
                    Ok(_) => events::record(
                        &ctx.client,
                        MANAGER,
                        pod.as_ref(),
                        EventType::Normal,
                        "Scheduled",
                        format!("Successfully assigned {namespace}/{name} to {node}"),
                    ),
                    Err(e) => {
                        tracing::warn!(pod = %format!("{namespace}/{name}"), %node, error = %e, "binding failed");
                        ctx.assumed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&uid);
                    }
                }
            });
            // Checked again later in case the binding failed.
            Ok(Action::requeue(BIND_RECHECK))
        }
        Err(message) => {
            let current = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
            let unchanged = current.is_some_and(|c| {
                c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
                    && c.message.as_deref() == Some(message.as_str())
            });
            if !unchanged {
                let condition = PodCondition {
                    type_: "PodScheduled".into(),
                    status: "False".into(),
                    reason: Some("Unschedulable".into()),
                    message: Some(message.clone()),
                    last_transition_time: current
                        .filter(|c| c.status == "False")
                        .and_then(|c| c.last_transition_time.clone())
                        .or_else(|| Some(Time(Timestamp::now()))),
                    last_probe_time: None,
                    observed_generation: None,
                };
                api.patch_status(
                    &name,
                    &params(),
                    &Patch::Merge(
                        json!({"status": {"phase": "Pending", "conditions": [condition]}}),
                    ),
                )
                .await
                .map_err(|source| Error::Api {
                    action: format!("marking pod {namespace}/{name} unschedulable"),
                    source,
                })?;
                events::record(
                    &ctx.client,
                    MANAGER,
                    pod.as_ref(),
                    EventType::Warning,
                    "FailedScheduling",
                    message,
                );
            }
            Ok(Action::requeue(RETRY))
        }
    }
}

fn error_policy(_pod: Arc<Pod>, error: &Error, _ctx: Arc<Scheduler>) -> Action {
    tracing::warn!(%error, "scheduling failed");
    Action::requeue(RETRY)
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// The best node for `pod`, or Kubernetes' message saying why none fits.
fn choose(pod: &Pod, nodes: &[Arc<Node>], placed: &[Placed]) -> Result<String, String> {
    let want = Requests::of(pod);
    let mut used: HashMap<&str, Requests> = HashMap::new();
    for p in placed {
        used.entry(p.node.as_str()).or_default().add(p.requests);
    }
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut best: Option<(f64, String)> = None;
    for node in nodes {
        let name = node.name_any();
        let failures = filter(
            pod,
            want,
            node,
            used.get(name.as_str()).copied(),
            placed,
            nodes,
        );
        if failures.is_empty() {
            let score = load(
                node,
                used.get(name.as_str()).copied().unwrap_or_default(),
                want,
            );
            if best
                .as_ref()
                .is_none_or(|(s, n)| score < *s || (score == *s && name < *n))
            {
                best = Some((score, name));
            }
        } else {
            for f in failures {
                *reasons.entry(f).or_default() += 1;
            }
        }
    }
    if let Some((_, name)) = best {
        return Ok(name);
    }
    let detail: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    Err(if detail.is_empty() {
        format!("0/{} nodes are available.", nodes.len())
    } else {
        format!(
            "0/{} nodes are available: {}.",
            nodes.len(),
            detail.join(", ")
        )
    })
}

fn allocatable(node: &Node, name: &str) -> f64 {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(name))
        .and_then(|q| quantity::parse(&q.0))
        .unwrap_or(0.0)
}

/// The node's share of cpu and memory in use once `want` is added: lower
/// is better (kube-scheduler's LeastAllocated score).
fn load(node: &Node, used: Requests, want: Requests) -> f64 {
    let share = |used: f64, want: f64, cap: f64| {
        if cap > 0.0 { (used + want) / cap } else { 1.0 }
    };
    share(used.cpu, want.cpu, allocatable(node, "cpu"))
        + share(used.memory, want.memory, allocatable(node, "memory"))
        + share(used.pods, 1.0, allocatable(node, "pods")) / 10.0
}

/// Why `node` cannot take the pod (empty when it can), in kube-scheduler's words.
fn filter(
    pod: &Pod,
    want: Requests,
    node: &Node,
    used: Option<Requests>,
    placed: &[Placed],
    nodes: &[Arc<Node>],
) -> Vec<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let labels = node.labels();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready {
        return vec!["node(s) were not ready".into()];
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return vec!["node(s) were unschedulable".into()];
    }
    let selector_ok = spec
        .node_selector
        .as_ref()
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let affinity_ok = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|req| {
            req.node_selector_terms
                .iter()
                .any(|t| term_matches(t, labels, &node.name_any()))
        });
    if !selector_ok || !affinity_ok {
        return vec!["node(s) didn't match Pod's node affinity/selector".into()];
    }
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    if let Some(taint) = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| matches!(t.effect.as_str(), "NoSchedule" | "NoExecute"))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
    {
        return vec![format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint.key,
            taint.value.as_deref().unwrap_or("")
        )];
    }
    if !anti_affinity_ok(pod, node, placed, nodes) {
        return vec!["node(s) didn't match pod anti-affinity rules".into()];
    }
    let used = used.unwrap_or_default();
    let mut out = Vec::new();
    if want.cpu > 0.0 && used.cpu + want.cpu > allocatable(node, "cpu") + 1e-9 {
        out.push("Insufficient cpu".into());
    }
    if want.memory > 0.0 && used.memory + want.memory > allocatable(node, "memory") {
        out.push("Insufficient memory".into());
    }
    if used.pods + 1.0 > allocatable(node, "pods") {
        out.push("Too many pods".into());
    }
    out
}

fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    if tol
        .effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let key = tol.key.as_deref().unwrap_or("");
    match tol.operator.as_deref() {
        Some("Exists") => key.is_empty() || key == taint.key,
        _ => {
            key == taint.key
                && tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        // An empty term matches no node, as in Kubernetes.
        return false;
    }
    let name_labels = BTreeMap::from([("metadata.name".to_string(), name.to_string())]);
    exprs.iter().all(|e| requirement_matches(e, labels))
        && fields.iter().all(|e| requirement_matches(e, &name_labels))
}

fn requirement_matches(req: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&req.key);
    let values = req.values.as_deref().unwrap_or(&[]);
    let number = |s: &str| s.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(|v| number(v)), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((value.and_then(|v| number(v)), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}

/// Required pod anti-affinity: no pod matching a term may already run in the
/// same topology domain (the node itself for `kubernetes.io/hostname`).
fn anti_affinity_ok(pod: &Pod, node: &Node, placed: &[Placed], nodes: &[Arc<Node>]) -> bool {
    let Some(terms) = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    else {
        return true;
    };
    let own_namespace = pod.namespace().unwrap_or_default();
    let node_labels: HashMap<String, &BTreeMap<String, String>> =
        nodes.iter().map(|n| (n.name_any(), n.labels())).collect();
    terms.iter().all(|term| {
        let Some(domain) = node.labels().get(&term.topology_key) else {
            return true;
        };
        let namespaces = term.namespaces.clone().unwrap_or_default();
        let selector = term.label_selector.clone().unwrap_or_default();
        !placed.iter().any(|p| {
            let in_namespace = if namespaces.is_empty() {
                p.namespace == own_namespace
            } else {
                namespaces.contains(&p.namespace)
            };
            in_namespace
                && selector_matches(&selector, &p.labels)
                && node_labels
                    .get(&p.node)
                    .and_then(|l| l.get(&term.topology_key))
                    == Some(domain)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cpu: &str, taint: Option<(&str, &str)>) -> Arc<Node> {
        let mut n: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {
                "allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }))
        .expect("node");
        if let Some((k, v)) = taint {
            n.spec.get_or_insert_default().taints = Some(vec![Taint {
                key: k.into(),
                value: Some(v.into()),
                effect: "NoSchedule".into(),
                time_added: None,
            }]);
        }
        Arc::new(n)
    }

    fn pod(cpu: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        }))
        .expect("pod")
    }

    #[test]
    fn reasons_are_counted_and_sorted_like_kube_scheduler() {
        let nodes = [
            node("a", "1", None),
            node("b", "1", None),
            node("c", "8", Some(("gpu", "yes"))),
        ];
        let err = choose(&pod("2"), &nodes, &[]).expect_err("nothing fits");
        assert_eq!(
            err,
            "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {gpu: yes}."
        );
    }

    #[test]
    fn the_least_loaded_node_wins() {
        let nodes = [node("a", "4", None), node("b", "4", None)];
        let placed = [Placed {
            node: "a".into(),
            namespace: "default".into(),
            labels: BTreeMap::new(),
            requests: Requests {
                cpu: 1.0,
                memory: 0.0,
                pods: 1.0,
            },
        }];
        assert_eq!(choose(&pod("1"), &nodes, &placed), Ok("b".to_string()));
    }
}

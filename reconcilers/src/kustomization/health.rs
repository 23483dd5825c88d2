//! Health checks by kstatus rules (the library Flux and kubectl's `wait` build on): whether
//! an object has reached the state its spec asks for.
//!
//! Built-in workload kinds are read from their status counters; any other kind is Current
//! when its controller observed the latest generation and its `Ready` condition (if any) is
//! True, InProgress while `Reconciling` is True or `Ready` is not, and Failed when `Stalled`
//! is True. [`wait`] polls a set of objects (one LIST per kind and namespace per round) until
//! all are Current, one has Failed, or the deadline passes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crds::inventory::ObjectId;
use kube::core::GroupVersionKind;
use serde_json::Value;
use tokio::time::Instant;

use super::apply::{display_id, list_live};
use super::resources::Resources;

/// kstatus' verdict on one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// The object is in its desired state.
    Current,
    /// Not yet; the message says what is missing.
    InProgress(String),
    /// It will not get there without a change (e.g. a failed Job, a stalled rollout).
    Failed(String),
    /// The object does not exist.
    NotFound,
}

/// Why the objects did not become healthy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// Some objects were not Current at the deadline; one line per object.
    #[error("timeout waiting for: {}", pending.join("; "))]
    Timeout {
        /// `Kind/ns/name: status`, one per object not Current.
        pending: Vec<String>,
    },
    /// Some objects failed; one line per object.
    #[error("{}", failed.join("; "))]
    Failed {
        /// `Kind/ns/name: message`.
        failed: Vec<String>,
    },
    /// A health-checked kind is not served by the cluster, or listing failed.
    #[error("{0}")]
    Lookup(String),
}

/// One object to check: its id and API version.
#[derive(Clone, Debug)]
pub struct Check {
    /// Inventory id parts.
    pub id: ObjectId,
    /// Version (without group).
    pub version: String,
}

/// Polls `checks` until every object is Current. `known` holds live objects already read
/// (e.g. returned by the apply) for the first round, so a healthy no-change reconcile does
/// not read anything again.
pub async fn wait(
    client: &kube::Client,
    resources: &Resources,
    checks: &[Check],
    mut known: HashMap<String, Value>,
    deadline: Instant,
) -> Result<(), HealthError> {
    let mut pause = Duration::from_millis(50);
    loop {
        let mut live = std::mem::take(&mut known);
        let missing: Vec<&Check> = checks
            .iter()
            .filter(|c| !live.contains_key(&c.id.to_id()))
            .collect();
        if !missing.is_empty() {
            live.extend(read(client, resources, &missing).await?);
        }
        let mut pending = Vec::new();
        let mut failed = Vec::new();
        for check in checks {
            let health = live
                .get(&check.id.to_id())
                .map_or(Health::NotFound, status_of);
            match health {
                Health::Current => {}
                Health::InProgress(message) => {
                    pending.push(format!("{}: {message}", display_id(&check.id)));
                }
                Health::NotFound => pending.push(format!("{}: not found", display_id(&check.id))),
                Health::Failed(message) => {
                    failed.push(format!("{}: {message}", display_id(&check.id)));
                }
            }
        }
        if !failed.is_empty() {
            return Err(HealthError::Failed { failed });
        }
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(HealthError::Timeout { pending });
        }
        tokio::time::sleep_until((Instant::now() + pause).min(deadline)).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Reads the live state of `checks`, one LIST per kind and namespace.
async fn read(
    client: &kube::Client,
    resources: &Resources,
    checks: &[&Check],
) -> Result<HashMap<String, Value>, HealthError> {
    let mut groups: BTreeMap<(String, String, String, String), Vec<&Check>> = BTreeMap::new();
    for check in checks {
        groups
            .entry((
                check.id.group.clone(),
                check.version.clone(),
                check.id.kind.clone(),
                check.id.namespace.clone(),
            ))
            .or_default()
            .push(check);
    }
    let mut out = HashMap::new();
    for ((group, version, kind, namespace), members) in groups {
        let resource = resources
            .resolve(client, &GroupVersionKind::gvk(&group, &version, &kind))
            .await
            .map_err(|e| HealthError::Lookup(format!("{kind}: {e}")))?;
        let live = list_live(client, &resource, &namespace)
            .await
            .map_err(|e| HealthError::Lookup(e.to_string()))?;
        for check in members {
            if let Some(object) = live.get(&check.id.name) {
                out.insert(check.id.to_id(), object.clone());
            }
        }
    }
    Ok(out)
}

/// kstatus' verdict on one live object.
pub fn status_of(object: &Value) -> Health {
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::InProgress("being deleted".to_owned());
    }
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed < generation
    {
        return Health::InProgress(format!(
            "observed generation {observed} is behind generation {generation}"
        ));
    }
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("");
    match (group, kind) {
        ("apps", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => statefulset(object),
        ("apps", "DaemonSet") => daemonset(object),
        ("apps", "ReplicaSet") => replicaset(object),
        ("batch", "Job") => job(object),
        ("", "PersistentVolumeClaim") => pvc(object),
        ("", "Pod") => pod(object),
        ("", "Service") => service(object),
        ("", "Namespace") => namespace(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(object),
        _ => generic(object, generation.is_some() && observed.is_none()),
    }
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn condition_status<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    condition(object, type_)?
        .get("status")
        .and_then(Value::as_str)
}

fn condition_field<'a>(object: &'a Value, type_: &str, field: &str) -> &'a str {
    condition(object, type_)
        .and_then(|c| c.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Objects whose controller has not written a status yet are InProgress.
fn needs_status(object: &Value) -> Option<Health> {
    if object.pointer("/status/observedGeneration").is_none() {
        return Some(Health::InProgress(
            "waiting for the controller to observe it".to_owned(),
        ));
    }
    None
}

fn deployment(d: &Value) -> Health {
    if let Some(h) = needs_status(d) {
        return h;
    }
    if condition_field(d, "Progressing", "reason") == "ProgressDeadlineExceeded" {
        return Health::Failed("progress deadline exceeded".to_owned());
    }
    let replicas = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = int(d, "/status/updatedReplicas");
    let total = int(d, "/status/replicas");
    let ready = int(d, "/status/readyReplicas");
    let available = int(d, "/status/availableReplicas");
    if updated < replicas {
        return Health::InProgress(format!("{updated} of {replicas} replicas updated"));
    }
    if total > updated {
        return Health::InProgress(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < replicas {
        return Health::InProgress(format!("{available} of {replicas} replicas available"));
    }
    if ready < replicas {
        return Health::InProgress(format!("{ready} of {replicas} replicas ready"));
    }
    Health::Current
}

fn statefulset(s: &Value) -> Health {
    if let Some(h) = needs_status(s) {
        return h;
    }
    let replicas = s
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = int(s, "/status/readyReplicas");
    let current = int(s, "/status/currentReplicas");
    let updated = int(s, "/status/updatedReplicas");
    if ready < replicas {
        return Health::InProgress(format!("{ready} of {replicas} replicas ready"));
    }
    let rolling = s
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .is_none_or(|t| t == "RollingUpdate");
    if rolling {
        let partition = int(s, "/spec/updateStrategy/rollingUpdate/partition");
        if partition > 0 {
            if updated < replicas - partition {
                return Health::InProgress(format!(
                    "{updated} of {} replicas updated (partition {partition})",
                    replicas - partition
                ));
            }
            return Health::Current;
        }
        let current_rev = s.pointer("/status/currentRevision").and_then(Value::as_str);
        let update_rev = s.pointer("/status/updateRevision").and_then(Value::as_str);
        if current_rev != update_rev {
            return Health::InProgress(format!(
                "waiting for rollout: {updated} of {replicas} replicas updated"
            ));
        }
        if current < replicas && updated < replicas {
            return Health::InProgress(format!("{current} of {replicas} replicas current"));
        }
    }
    Health::Current
}

fn daemonset(d: &Value) -> Health {
    if let Some(h) = needs_status(d) {
        return h;
    }
    let desired = int(d, "/status/desiredNumberScheduled");
    let scheduled = int(d, "/status/currentNumberScheduled");
    let updated = int(d, "/status/updatedNumberScheduled");
    let available = int(d, "/status/numberAvailable");
    let ready = int(d, "/status/numberReady");
    if scheduled < desired {
        return Health::InProgress(format!("{scheduled} of {desired} pods scheduled"));
    }
    if updated < desired {
        return Health::InProgress(format!("{updated} of {desired} pods updated"));
    }
    if available < desired {
        return Health::InProgress(format!("{available} of {desired} pods available"));
    }
    if ready < desired {
        return Health::InProgress(format!("{ready} of {desired} pods ready"));
    }
    Health::Current
}

fn replicaset(r: &Value) -> Health {
    if let Some(h) = needs_status(r) {
        return h;
    }
    let replicas = r
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let labeled = int(r, "/status/fullyLabeledReplicas");
    let available = int(r, "/status/availableReplicas");
    let ready = int(r, "/status/readyReplicas");
    if condition_status(r, "ReplicaFailure") == Some("True") {
        return Health::InProgress("replica failure".to_owned());
    }
    if labeled < replicas {
        return Health::InProgress(format!("{labeled} of {replicas} replicas labeled"));
    }
    if available < replicas {
        return Health::InProgress(format!("{available} of {replicas} replicas available"));
    }
    if ready < replicas {
        return Health::InProgress(format!("{ready} of {replicas} replicas ready"));
    }
    Health::Current
}

fn job(j: &Value) -> Health {
    if condition_status(j, "Complete") == Some("True") {
        return Health::Current;
    }
    if condition_status(j, "Failed") == Some("True") {
        let message = condition_field(j, "Failed", "message");
        return Health::Failed(if message.is_empty() {
            "job failed".to_owned()
        } else {
            format!("job failed: {message}")
        });
    }
    let succeeded = int(j, "/status/succeeded");
    let completions = j
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    Health::InProgress(format!("{succeeded} of {completions} completions"))
}

fn pvc(p: &Value) -> Health {
    match p.pointer("/status/phase").and_then(Value::as_str) {
        Some("Bound") => Health::Current,
        Some("Lost") => Health::Failed("claim lost its volume".to_owned()),
        phase => Health::InProgress(format!("phase {}", phase.unwrap_or("Pending"))),
    }
}

fn pod(p: &Value) -> Health {
    match p.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Health::Current,
        Some("Failed") => Health::Failed("pod failed".to_owned()),
        Some("Running") if condition_status(p, "Ready") == Some("True") => Health::Current,
        phase => Health::InProgress(format!("phase {}, not ready", phase.unwrap_or("Pending"))),
    }
}

fn service(s: &Value) -> Health {
    let load_balancer = s.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
    let has_ingress = s
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|i| !i.is_empty());
    if load_balancer && !has_ingress {
        return Health::InProgress("waiting for a load balancer address".to_owned());
    }
    Health::Current
}

fn namespace(n: &Value) -> Health {
    match n.pointer("/status/phase").and_then(Value::as_str) {
        Some("Terminating") => Health::InProgress("terminating".to_owned()),
        _ => Health::Current,
    }
}

fn crd(c: &Value) -> Health {
    if condition_status(c, "NamesAccepted") == Some("False") {
        return Health::Failed(format!(
            "names not accepted: {}",
            condition_field(c, "NamesAccepted", "message")
        ));
    }
    if condition_status(c, "Established") == Some("True") {
        return Health::Current;
    }
    Health::InProgress("not established".to_owned())
}

/// Any other kind: conditions decide; no conditions at all means Current (a ConfigMap has
/// nothing to wait for).
fn generic(object: &Value, _unobserved: bool) -> Health {
    if condition_status(object, "Stalled") == Some("True") {
        return Health::Failed(condition_field(object, "Stalled", "message").to_owned());
    }
    if condition_status(object, "Reconciling") == Some("True") {
        return Health::InProgress(condition_field(object, "Reconciling", "message").to_owned());
    }
    match condition_status(object, "Ready") {
        None | Some("True") => Health::Current,
        Some(_) => {
            let message = condition_field(object, "Ready", "message");
            Health::InProgress(if message.is_empty() {
                "not ready".to_owned()
            } else {
                format!("not ready: {message}")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Health, status_of};

    #[test]
    fn a_deployment_with_all_replicas_ready_is_current() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                       "readyReplicas": 2, "availableReplicas": 2}});
        assert_eq!(status_of(&d), Health::Current);
    }

    #[test]
    fn a_deployment_not_yet_observed_is_in_progress() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": 3}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": 1, "availableReplicas": 1}});
        assert!(matches!(status_of(&d), Health::InProgress(_)));
    }

    #[test]
    fn a_failed_job_fails() {
        let j = json!({"apiVersion": "batch/v1", "kind": "Job",
            "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert!(matches!(status_of(&j), Health::Failed(m) if m.contains("BackoffLimitExceeded")));
    }

    #[test]
    fn a_custom_resource_follows_its_ready_condition() {
        let not_ready = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "status": {"conditions": [{"type": "Ready", "status": "False", "message": "warming"}]}});
        assert!(matches!(status_of(&not_ready), Health::InProgress(m) if m.contains("warming")));
        let plain = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {}});
        assert_eq!(status_of(&plain), Health::Current);
    }
}

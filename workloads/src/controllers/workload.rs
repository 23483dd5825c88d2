//! Helpers shared by the StatefulSet, DaemonSet, Job, CronJob, endpoint,
//! volume and Ingress controllers: owner references, pod states, label
//! selectors, template hashes, API calls with error context, and the one
//! way every controller runs.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// What every controller's reconcile gets.
pub(crate) struct Ctx {
    pub client: kube::Client,
}

/// Requeue after an error: short, since the usual cause is a conflict or a
/// object that just went away.
pub(crate) fn error_policy<K>(obj: Arc<K>, err: &Error, _ctx: Arc<Ctx>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    tracing::warn!(
        kind = %K::kind(&()),
        namespace = obj.meta().namespace.as_deref().unwrap_or(""),
        name = obj.meta().name.as_deref().unwrap_or(""),
        error = %err,
        "reconcile failed"
    );
    match err {
        Error::Invalid { .. } | Error::Build { .. } => Action::requeue(Duration::from_secs(30)),
        Error::Api { .. } => Action::requeue(Duration::from_millis(500)),
    }
}

/// Drains a controller's result stream (the work happens in reconcile).
pub(crate) async fn drain<S, T>(stream: S)
where
    S: futures::Stream<Item = T>,
{
    stream.for_each(|_| async {}).await;
}

/// `kind namespace/name` of an object, for errors and logs.
pub(crate) fn describe<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{} {}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or(""),
        obj.meta().name.as_deref().unwrap_or("")
    )
}

/// The controller owner reference Kubernetes' controllers put on what they create.
pub(crate) fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `obj` is controlled by the object with uid `uid`.
pub(crate) fn controlled_by(meta: &kube::api::ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// Whether the pod's phase is final.
pub(crate) fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// `status.phase`, `""` when unset.
pub(crate) fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Whether the pod is Running with condition Ready=True.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && ready_since(pod).is_some()
}

/// When the pod's Ready condition last became True.
pub(crate) fn ready_since(pod: &Pod) -> Option<Option<Time>> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == "True")
        .map(|c| c.last_transition_time.clone())
}

/// Whether the pod has been Ready for `min_ready_seconds` (Kubernetes'
/// "available"); returns also how long until it will be, when not yet.
pub(crate) fn availability(pod: &Pod, min_ready_seconds: i32) -> (bool, Option<Duration>) {
    if !is_ready(pod) {
        return (false, None);
    }
    if min_ready_seconds <= 0 {
        return (true, None);
    }
    let Some(Some(since)) = ready_since(pod) else {
        return (true, None);
    };
    let due = time(&since) + chrono::Duration::seconds(i64::from(min_ready_seconds));
    let now = chrono::Utc::now();
    if due <= now {
        (true, None)
    } else {
        (false, (due - now).to_std().ok())
    }
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting<K: Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Whether `labels` carry every pair of a map selector (Service, nodeSelector).
pub(crate) fn map_matches(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A short, stable hash of a pod template, safe in names and labels.
///
/// Kubernetes hashes templates with FNV-32a and encodes the number with the
/// alphabet of `rand.SafeEncodeString`; std's hasher is not stable across
/// releases, so the few lines of FNV are written out here.
pub(crate) fn template_hash(template: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|d| ALPHABET[usize::from(d) % ALPHABET.len()] as char)
        .collect()
}

/// Converts a JSON value to a typed object, naming what was built on failure.
pub(crate) fn build<T: DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|source| Error::Build {
        what: what.to_string(),
        source,
    })
}

/// Maps a kube error to the crate's, with what was being done.
pub(crate) fn api_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Api { action, source }
}

/// Whether the error is a 404.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// Whether the error is a 409 AlreadyExists.
pub(crate) fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 409)
}

/// Creates `obj`; an object of that name already there is fine (a previous
/// reconcile created it and the watch has not caught up).
pub(crate) async fn create_idempotent<K>(api: &Api<K>, obj: &K, what: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Ok(()),
        Err(e) => Err(api_err(format!("creating {what}"))(e)),
    }
}

/// Deletes an object by name; already gone is fine.
pub(crate) async fn delete_quietly<K>(
    api: &Api<K>,
    name: &str,
    background: bool,
    what: &str,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let dp = if background {
        DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        }
    } else {
        DeleteParams::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(api_err(format!("deleting {what}"))(e)),
    }
}

/// Merge-patches an object's `status` with `status`.
pub(crate) async fn patch_status<K>(
    api: &Api<K>,
    name: &str,
    status: Value,
    what: &str,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Deleted meanwhile: nothing left to report on.
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(api_err(format!("updating status of {what}"))(e)),
    }
}

/// A Kubernetes timestamp as a chrono time (k8s-openapi uses jiff).
pub(crate) fn time(t: &Time) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
        .unwrap_or_default()
}

/// Now, as Kubernetes timestamps are written (whole seconds, UTC).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A condition as Kubernetes writes it, keeping `lastTransitionTime` when the
/// status did not change.
pub(crate) fn condition(
    old: Option<&Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> Value {
    let now = now_rfc3339();
    let transition = old
        .and_then(|c| c.as_array())
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .filter(|c| c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| Value::String(now.clone()));
    serde_json::json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        // The transition time, not now: a status that changes on every
        // write would wake the controller again and again.
        "lastProbeTime": transition,
        "lastTransitionTime": transition,
    })
}

/// Records a core/v1 Event about `obj` in the background (failures are
/// logged): [`crate::events::record`] with a Normal/Warning flag.
pub(crate) fn event<K: Resource<DynamicType = ()>>(
    client: &kube::Client,
    component: &str,
    obj: &K,
    warning: bool,
    reason: &str,
    message: String,
) {
    let type_ = if warning {
        crate::events::EventType::Warning
    } else {
        crate::events::EventType::Normal
    };
    crate::events::record(client, component, obj, type_, reason, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hashes_are_stable_and_change_with_the_template() {
        let a = template_hash(&serde_json::json!({"image": "nginx:1"}));
        assert_eq!(a, template_hash(&serde_json::json!({"image": "nginx:1"})));
        assert_ne!(a, template_hash(&serde_json::json!({"image": "nginx:2"})));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

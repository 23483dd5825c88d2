//! Graceful pod deletion, as the Kubernetes API server does it: deleting a
//! pod that is bound to a node and still running only marks it
//! (`deletionTimestamp` = now + grace, `deletionGracePeriodSeconds`), and the
//! node's kubelet removes it for good with a zero-grace delete once its
//! containers have stopped. Unbound and finished pods, and zero-grace
//! deletes, go at once.

use serde_json::{Value, json};

use crate::objects;
use crate::registry::ResourceInfo;

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE: i64 = 30;

/// The grace period this delete waits for, or `None` when the object goes
/// (or follows the finalizer path) right away.
pub fn grace_period(info: &ResourceInfo, obj: &Value, requested: Option<i64>) -> Option<i64> {
    if !(info.group.is_empty() && info.plural == "pods") {
        return None;
    }
    let bound = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !bound || finished {
        return None;
    }
    let grace = requested
        .or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(DEFAULT_GRACE)
        .max(0);
    if grace == 0 {
        return None;
    }
    // Already terminating: a longer grace never extends it.
    match obj
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
    {
        Some(current) if objects::is_deleting(obj) => Some(grace.min(current)),
        _ => Some(grace),
    }
}

/// Marks `obj` as terminating with `grace` seconds to go.
pub fn mark(obj: &Value, grace: i64) -> Value {
    let mut new = obj.clone();
    let at = chrono::Utc::now() + chrono::Duration::seconds(grace);
    let meta = objects::meta_mut(&mut new);
    meta.insert(
        "deletionTimestamp".into(),
        json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn pods() -> std::sync::Arc<ResourceInfo> {
        Registry::builtin()
            .lookup("", "v1", "pods")
            .expect("served")
    }

    #[test]
    fn only_bound_running_pods_wait_for_their_kubelet() {
        let bound = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running"}});
        assert_eq!(grace_period(&pods(), &bound, None), Some(30));
        assert_eq!(grace_period(&pods(), &bound, Some(0)), None);
        let unbound = json!({"metadata": {"name": "p"}, "spec": {}});
        assert_eq!(grace_period(&pods(), &unbound, None), None);
        let done = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n"}, "status": {"phase": "Succeeded"}});
        assert_eq!(grace_period(&pods(), &done, None), None);
    }

    #[test]
    fn a_terminating_pod_keeps_the_shorter_grace() {
        let terminating = json!({"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 5}, "spec": {"nodeName": "n", "terminationGracePeriodSeconds": 60}});
        assert_eq!(grace_period(&pods(), &terminating, None), Some(5));
    }
}

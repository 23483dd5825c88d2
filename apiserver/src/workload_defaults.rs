//! Defaults of the workload APIs (StatefulSet, DaemonSet, Job, CronJob)
//! that controllers and `kubectl rollout status` rely on, applied on create
//! and on every update, as Kubernetes defaults each object it decodes — so a
//! server-side apply that leaves a defaulted field out gets it back.
//!
//! Only fields whose absence changes behaviour are defaulted; Job selectors
//! and pod labels come from the Job's uid, as the Job REST strategy sets
//! them.

use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;

/// Label tying a Job's pods to it by uid.
const JOB_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Label with the Job's name on its pods.
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

fn object_at<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    if !map.get(key).is_some_and(Value::is_object) {
        map.insert(key.to_string(), json!({}));
    }
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// Fills in the defaults of `obj` when it is a workload object.
pub fn apply(info: &ResourceInfo, obj: &mut Value) {
    match (info.group.as_str(), info.plural.as_str()) {
        ("apps", "statefulsets") => statefulset(obj),
        ("apps", "daemonsets") => daemonset(obj),
        ("batch", "jobs") => {
            if let Some(spec) = object_at(obj, "spec") {
                job_spec(spec);
            }
            job_selector(obj);
        }
        ("batch", "cronjobs") => {
            let Some(spec) = object_at(obj, "spec") else {
                return;
            };
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
        }
        ("", "secrets") => secret(obj),
        ("", "persistentvolumeclaims") => {
            if let Some(spec) = object_at(obj, "spec") {
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
        }
        _ => {}
    }
}

/// `stringData` is write-only: its entries move into `data` (base64), overriding keys of
/// the same name, and the type defaults to `Opaque`, as the Secret's conversion does.
fn secret(obj: &mut Value) {
    use base64::Engine;
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    set_default(map, "type", json!("Opaque"));
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    if !map.get("data").is_some_and(Value::is_object) {
        map.insert("data".into(), json!({}));
    }
    if let Some(data) = map.get_mut("data").and_then(Value::as_object_mut) {
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

fn statefulset(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    set_default(spec, "updateStrategy", json!({"type": "RollingUpdate"}));
    if let Some(strategy) = spec
        .get_mut("updateStrategy")
        .and_then(Value::as_object_mut)
    {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            set_default(strategy, "rollingUpdate", json!({"partition": 0}));
        }
    }
}

fn daemonset(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "updateStrategy", json!({"type": "RollingUpdate"}));
    if let Some(strategy) = spec
        .get_mut("updateStrategy")
        .and_then(Value::as_object_mut)
    {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            set_default(
                strategy,
                "rollingUpdate",
                json!({"maxUnavailable": 1, "maxSurge": 0}),
            );
        }
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    // Both unset: one pod, once. Only parallelism set: a work queue.
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
}

/// The generated selector and pod labels (unless `manualSelector`).
fn job_selector(obj: &mut Value) {
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if uid.is_empty() || obj.pointer("/spec/manualSelector") == Some(&json!(true)) {
        return;
    }
    if obj.pointer("/spec/selector").is_none_or(Value::is_null) {
        obj["spec"]["selector"] = json!({"matchLabels": {JOB_UID_LABEL: uid}});
    }
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    let Some(template) = object_at_map(spec, "template") else {
        return;
    };
    let Some(meta) = object_at_map(template, "metadata") else {
        return;
    };
    let Some(labels) = object_at_map(meta, "labels") else {
        return;
    };
    set_default(labels, JOB_UID_LABEL, json!(uid));
    set_default(labels, JOB_NAME_LABEL, json!(name));
    set_default(labels, "controller-uid", json!(uid));
    set_default(labels, "job-name", json!(name));
}

fn object_at_map<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    if !map.get(key).is_some_and(Value::is_object) {
        map.insert(key.to_string(), json!({}));
    }
    map.get_mut(key).and_then(Value::as_object_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn info(group: &str, plural: &str) -> std::sync::Arc<ResourceInfo> {
        Registry::builtin()
            .lookup(group, "v1", plural)
            .expect("served")
    }

    #[test]
    fn secret_string_data_moves_into_data_as_base64() {
        let mut s = json!({"data": {"a": "b2xk"}, "stringData": {"a": "new", "b": "x"}});
        apply(&info("", "secrets"), &mut s);
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"a": "bmV3", "b": "eA=="}})
        );
    }

    #[test]
    fn a_statefulset_rolls_out_ordered_by_default() {
        let mut sts = json!({"spec": {"replicas": 3}});
        apply(&info("apps", "statefulsets"), &mut sts);
        assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            sts["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
    }

    #[test]
    fn a_job_gets_a_uid_selector_and_one_completion() {
        let mut job =
            json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {}}}});
        apply(&info("batch", "jobs"), &mut job);
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "pi"
        );
        assert_eq!(job["spec"]["completions"], 1);
        assert_eq!(job["spec"]["backoffLimit"], 6);
    }

    #[test]
    fn a_work_queue_job_keeps_completions_unset() {
        let mut job = json!({"metadata": {"name": "q", "uid": "u"}, "spec": {"parallelism": 3}});
        apply(&info("batch", "jobs"), &mut job);
        assert!(job["spec"].get("completions").is_none());
    }
}

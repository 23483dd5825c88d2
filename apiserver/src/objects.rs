//! Object metadata semantics shared by every write: names, uid,
//! timestamps, generation, and what a write may and may not change.
//!
//! Pure functions over `serde_json::Value`; the handlers call them under the
//! write lock.

use serde_json::{Map, Value, json};

use crate::error::{Cause, Error, Target};
use crate::registry::ResourceInfo;

/// Now, as Kubernetes writes timestamps (`2024-01-02T03:04:05Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A fresh object uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `metadata.name`, or `""`.
pub fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace`, or `""`.
pub fn namespace(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.uid`, or `""`.
pub fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.resourceVersion`, or `""`.
pub fn resource_version(obj: &Value) -> &str {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces `metadata.finalizers` (removing the field when empty).
pub fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if finalizers.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), json!(finalizers));
        }
    }
}

/// Removes empty lists and maps from `metadata` (finalizers, ownerReferences, labels,
/// annotations, managedFields). Kubernetes never stores them: its `ObjectMeta` fields are
/// `omitempty`, so `finalizers: []` reads back as absent, and clients rely on that (a
/// JSON patch that tests `/metadata/finalizers` for null before adding the first one,
/// as kube-runtime's finalizer helper sends, must not find an empty list).
pub fn drop_empty_metadata(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|field, value| {
            !(matches!(
                field.as_str(),
                "finalizers" | "ownerReferences" | "labels" | "annotations" | "managedFields"
            ) && (value.is_null()
                || value.as_array().is_some_and(Vec::is_empty)
                || value.as_object().is_some_and(Map::is_empty)))
        });
    }
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// The `metadata` map, created when missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        // Just made sure it is an object.
        _ => unreachable!("metadata is an object"),
    }
}

/// The error target for an object of this resource.
pub fn target(info: &ResourceInfo, name: &str) -> Target {
    Target::new(&info.group, &info.plural, &info.kind, name)
}

/// Checks a name against Kubernetes' rules: DNS-1123 subdomain for most
/// objects, DNS-1123 label for namespaces.
pub fn validate_name(info: &ResourceInfo, name: &str) -> Result<(), Error> {
    let label = info.group.is_empty() && info.plural == "namespaces";
    let max = if label { 63 } else { 253 };
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    let ok = name.len() <= max
        && if label {
            part_ok(name)
        } else {
            name.split('.').all(part_ok)
        };
    // RBAC objects allow ':' and more (e.g. `system:masters`); Kubernetes validates them by path segment only.
    let ok = ok
        || (info.group == "rbac.authorization.k8s.io"
            && !name.is_empty()
            && !name.contains('/')
            && name != "."
            && name != "..");
    if ok {
        return Ok(());
    }
    let rule = if label {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    };
    Err(Error::Invalid {
        target: target(info, name),
        causes: vec![Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: {name:?}: {rule}"),
        )],
    })
}

/// A name from `generateName`: the prefix plus five random characters from
/// Kubernetes' alphabet (no vowels, no look-alikes).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let suffix: String = bytes[..5]
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Whether anything but metadata and status differs: what bumps `generation`.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// Fields of metadata only the server sets: copied from the stored object on
/// every update, whatever the client sent.
const SYSTEM_METADATA: [&str; 5] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

/// Prepares an update of `old` to `new`: keeps server-owned metadata, keeps
/// status (main resource) or everything but status (status subresource) when
/// the resource has a status subresource, bumps generation on spec changes.
pub fn prepare_update(
    info: &ResourceInfo,
    old: &Value,
    mut new: Value,
    status_only: bool,
) -> Value {
    if status_only {
        let status = new.get("status").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        if let Some(m) = managed {
            meta_mut(&mut new).insert("managedFields".into(), m);
        }
    } else if info.status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    let old_meta = old
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let meta = meta_mut(&mut new);
    for field in SYSTEM_METADATA {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    for field in ["name", "namespace"] {
        if let Some(v) = old_meta.get(field) {
            meta.insert(field.into(), v.clone());
        }
    }
    if let Some(generation) = old_meta.get("generation").and_then(Value::as_i64)
        && spec_changed(old, &new)
    {
        let generation = generation + 1;
        meta_mut(&mut new).insert("generation".into(), json!(generation));
    }
    new
}

/// Server-side defaults of built-in types that clients and controllers rely
/// on. Kubernetes defaults far more; these are the ones whose absence
/// changes behaviour (replica counts, service type, namespace phase).
pub fn apply_builtin_defaults(info: &ResourceInfo, obj: &mut Value) {
    match (info.group.as_str(), info.plural.as_str()) {
        ("apps", "deployments" | "replicasets" | "statefulsets") => {
            if obj.pointer("/spec/replicas").is_none()
                && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.insert("replicas".into(), json!(1));
            }
        }
        ("", "services") => {
            if obj.pointer("/spec/type").is_none()
                && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.insert("type".into(), json!("ClusterIP"));
            }
        }
        ("", "namespaces") => {
            if obj.pointer("/status/phase").is_none() {
                obj["status"] = json!({"phase": "Active"});
            }
            if obj.pointer("/spec/finalizers").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
        }
        ("", "pods") if obj.pointer("/status/phase").is_none() => {
            obj["status"] = json!({"phase": "Pending"});
        }
        _ => {}
    }
    crate::workload_defaults::apply(info, obj);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn deployments() -> std::sync::Arc<ResourceInfo> {
        Registry::builtin()
            .lookup("apps", "v1", "deployments")
            .expect("served")
    }

    #[test]
    fn empty_metadata_lists_and_maps_are_not_stored() {
        let mut obj = json!({"metadata": {"name": "a", "finalizers": [], "labels": {},
            "annotations": {"k": "v"}, "ownerReferences": null}});
        drop_empty_metadata(&mut obj);
        assert_eq!(
            obj,
            json!({"metadata": {"name": "a", "annotations": {"k": "v"}}})
        );
    }

    #[test]
    fn generation_bumps_on_spec_changes_only() {
        let old = json!({"metadata": {"name": "a", "generation": 3, "labels": {"x": "1"}}, "spec": {"replicas": 1}});
        let relabeled =
            json!({"metadata": {"name": "a", "labels": {"x": "2"}}, "spec": {"replicas": 1}});
        assert_eq!(
            prepare_update(&deployments(), &old, relabeled, false)["metadata"]["generation"],
            3
        );
        let scaled = json!({"metadata": {"name": "a"}, "spec": {"replicas": 2}});
        assert_eq!(
            prepare_update(&deployments(), &old, scaled, false)["metadata"]["generation"],
            4
        );
    }

    #[test]
    fn main_resource_updates_keep_the_stored_status() {
        let old = json!({"metadata": {"name": "a"}, "spec": {}, "status": {"replicas": 1}});
        let new = json!({"metadata": {"name": "a"}, "spec": {}, "status": {"replicas": 9}});
        assert_eq!(
            prepare_update(&deployments(), &old, new, false)["status"]["replicas"],
            1
        );
    }

    #[test]
    fn status_updates_change_only_status() {
        let old = json!({"metadata": {"name": "a"}, "spec": {"replicas": 1}});
        let new =
            json!({"metadata": {"name": "a"}, "spec": {"replicas": 5}, "status": {"replicas": 1}});
        let out = prepare_update(&deployments(), &old, new, true);
        assert_eq!(out["spec"]["replicas"], 1);
        assert_eq!(out["status"]["replicas"], 1);
    }

    #[test]
    fn names_must_be_dns_subdomains() {
        let info = deployments();
        assert!(validate_name(&info, "web-1.example").is_ok());
        assert_eq!(
            validate_name(&info, "Web").err().map(|e| e.code()),
            Some(422)
        );
    }

    #[test]
    fn generated_names_keep_the_prefix() {
        let n = generate_name("job-");
        assert!(n.starts_with("job-") && n.len() == 9);
    }
}

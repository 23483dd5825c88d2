//! `namespace:` sets the namespace of every namespaced object, renames
//! Namespace objects to it, moves RoleBinding/ClusterRoleBinding
//! ServiceAccount subjects that point at the `default` namespace, and an
//! APIService's service reference.

use serde_json::Value;

use super::scope::is_cluster_scoped;
use crate::fieldspec::FieldSpec;
use crate::resource::Resource;

/// An APIService's backing Service always moves with the objects. (Webhook
/// service references move only when they resolve to a Service of this
/// kustomization; the name reference step does that.)
const SERVICE_NAMESPACE: &[FieldSpec] = &[FieldSpec::group_kind(
    "apiregistration.k8s.io",
    "APIService",
    "spec/service/namespace",
    false,
)];

/// Applies `namespace` to all resources.
pub fn apply(resources: &mut [Resource], namespace: &str) {
    for res in resources.iter_mut() {
        let kind = res.kind().to_string();
        if kind == "Namespace" {
            res.set_name(namespace);
        } else if !is_cluster_scoped(&kind) {
            res.set_namespace(namespace);
        }
        if kind == "RoleBinding" || kind == "ClusterRoleBinding" {
            set_default_subjects(res, namespace);
        }
        for spec in SERVICE_NAMESPACE {
            // (Every spec above is for APIServices.)
            if kind == "APIService" && spec.matches(res) {
                spec.visit(res, &mut |v: &mut Value| {
                    *v = Value::String(namespace.to_string());
                });
            }
        }
    }
}

/// ServiceAccount subjects in the `default` namespace follow the objects.
fn set_default_subjects(res: &mut Resource, namespace: &str) {
    let Some(Value::Array(subjects)) = res.object.get_mut("subjects") else {
        return;
    };
    for subject in subjects {
        let is_sa = subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
        let in_default = subject.get("namespace").and_then(Value::as_str) == Some("default");
        if is_sa
            && in_default
            && let Some(map) = subject.as_object_mut()
        {
            map.insert("namespace".into(), Value::String(namespace.to_string()));
        }
    }
}

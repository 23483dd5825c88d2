//! kustomize's default ("legacy") output order: some kinds first, webhooks
//! last, otherwise by group/version/kind and then by namespace and name.

use crate::resource::Resource;

/// Kinds printed first, in this order.
const FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds printed last, in this order.
const LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn rank(kind: &str) -> i64 {
    if let Some(i) = FIRST.iter().position(|k| *k == kind) {
        return i as i64 - FIRST.len() as i64;
    }
    if let Some(i) = LAST.iter().position(|k| *k == kind) {
        return i as i64 + 1;
    }
    0
}

fn or(s: &str, empty: &'static str) -> String {
    if s.is_empty() {
        empty.to_string()
    } else {
        s.to_string()
    }
}

/// kustomize's `Gvk.String()`: `group_version_kind` with `~G`-style
/// placeholders, so the core group sorts after named groups.
fn gvk_string(r: &Resource) -> String {
    format!(
        "{}_{}_{}",
        or(r.group(), "~G"),
        or(r.version(), "~V"),
        or(r.kind(), "~K")
    )
}

/// The tie-breaker within one kind: namespace (none sorts last), then name.
fn id_string(r: &Resource) -> String {
    format!("{}|{}", or(r.namespace(), "~X"), r.name())
}

/// Sorts `resources` into the legacy order (stable).
pub fn sort(resources: &mut Vec<Resource>) {
    // The keys are sorted with each object's position as the last key
    // (stable, and the cheaper unstable sort suffices); then the objects move
    // once, instead of at every step of the sort.
    let mut keys: Vec<(i64, String, String, usize)> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (rank(r.kind()), gvk_string(r), id_string(r), i))
        .collect();
    keys.sort_unstable();
    let mut slots: Vec<Option<Resource>> = resources.drain(..).map(Some).collect();
    resources.extend(keys.iter().filter_map(|k| slots[k.3].take()));
}

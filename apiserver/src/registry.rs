//! The table of served resources: what kubectl's discovery, the OpenAPI
//! documents, the URL router and the handlers all look up.
//!
//! Built-in resources are a fixed table; each CustomResourceDefinition adds
//! one entry per served version at run time and removes them when deleted.
//! Schemas are referenced, not copied: built-ins name their k8s-openapi
//! definition, CRD versions carry their `openAPIV3Schema`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// Where the schema of a resource lives.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaSource {
    /// A built-in type: the OpenAPI definition name, e.g. `io.k8s.api.core.v1.ConfigMap`.
    BuiltIn { definition: String },
    /// A custom resource: the version's `schema.openAPIV3Schema` from its CRD
    /// (`None` when the CRD gives none), and the CRD's name.
    Crd {
        crd_name: String,
        schema: Option<Value>,
    },
}

/// Where the scale subresource finds its numbers (JSON paths like `.spec.replicas`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleInfo {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

/// One served group/version/resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The kind of the collection, usually `<Kind>List`.
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    /// Whether a `status` subresource exists (main-resource writes then ignore `.status`).
    pub status: bool,
    pub scale: Option<ScaleInfo>,
    pub categories: Vec<String>,
    pub schema: SchemaSource,
    /// The version objects of this resource are stored as (the CRD's storage
    /// version; for built-ins the served version).
    pub storage_version: String,
    /// Extra printer columns for a CRD version (`additionalPrinterColumns`), as given.
    pub printer_columns: Vec<Value>,
}

impl ResourceInfo {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key prefix shared by every version: `group/plural`.
    pub fn group_resource(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// Whether this resource came from a CRD.
    pub fn is_custom(&self) -> bool {
        matches!(self.schema, SchemaSource::Crd { .. })
    }

    /// The URL prefix of this group/version: `/api/v1` or `/apis/G/V`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// Every verb the server implements, in the order Kubernetes lists them.
pub const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A served group with its versions, newest preferred first.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfo {
    pub name: String,
    pub versions: Vec<String>,
    pub preferred: String,
}

/// Errors from registering a CRD.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RegistryError {
    /// The CRD lacks a field the registry needs, or it has the wrong type.
    #[error("customresourcedefinition {crd}: {field}: {message}")]
    InvalidCrd {
        crd: String,
        field: String,
        message: String,
    },
    /// The CRD's plural or kind clashes with a resource already served in its group.
    #[error("customresourcedefinition {crd}: {message}")]
    NameConflict { crd: String, message: String },
}

/// The resource table. Cheap to clone (entries are shared); the server keeps
/// the live one behind a lock and hands out snapshots.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    resources: Vec<Arc<ResourceInfo>>,
}

impl Registry {
    /// The table of built-in resources, without any CRD.
    pub fn builtin() -> Self {
        let resources = BUILTINS
            .iter()
            .map(|b| {
                let mut info = b.info();
                // Component statuses are computed on read (deprecated, read-only upstream too).
                if info.plural == "componentstatuses" {
                    info.verbs = vec!["get".into(), "list".into()];
                }
                Arc::new(info)
            })
            .collect();
        Self { resources }
    }

    /// Every served resource.
    pub fn resources(&self) -> impl Iterator<Item = &Arc<ResourceInfo>> {
        self.resources.iter()
    }

    /// The resource served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }

    /// The resource serving `apiVersion` + `kind`.
    pub fn lookup_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        let (group, version) = split_api_version(api_version);
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// All resources of one group/version, in table order.
    pub fn group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.resources
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect()
    }

    /// Served groups (the core group `""` included), in first-seen order.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let mut order: Vec<String> = Vec::new();
        let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &self.resources {
            let vs = versions.entry(r.group.clone()).or_default();
            if vs.is_empty() {
                order.push(r.group.clone());
            }
            if !vs.contains(&r.version) {
                vs.push(r.version.clone());
            }
        }
        order
            .into_iter()
            .map(|name| {
                let mut vs = versions.remove(&name).unwrap_or_default();
                vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
                let preferred = vs.first().cloned().unwrap_or_default();
                GroupInfo {
                    name,
                    versions: vs,
                    preferred,
                }
            })
            .collect()
    }

    /// Replaces the entries of the CRD `crd` (a whole CustomResourceDefinition
    /// object) with one per served version.
    pub fn add_crd(&mut self, crd: &Value) -> Result<(), RegistryError> {
        let infos = crd_resources(crd)?;
        let name = infos
            .first()
            .and_then(|i| match &i.schema {
                SchemaSource::Crd { crd_name, .. } => Some(crd_name.clone()),
                SchemaSource::BuiltIn { .. } => None,
            })
            .unwrap_or_default();
        for info in &infos {
            let clash = self.resources.iter().find(|r| {
                r.group == info.group
                    && r.version == info.version
                    && (r.plural == info.plural || r.kind == info.kind)
                    && !matches!(&r.schema, SchemaSource::Crd { crd_name, .. } if *crd_name == name)
            });
            if let Some(existing) = clash {
                return Err(RegistryError::NameConflict {
                    crd: name,
                    message: format!(
                        "{}/{} {} is already served",
                        existing.api_version(),
                        existing.plural,
                        existing.kind
                    ),
                });
            }
        }
        self.remove_crd(&name);
        self.resources.extend(infos.into_iter().map(Arc::new));
        Ok(())
    }

    /// Removes every entry contributed by the CRD named `crd_name`.
    pub fn remove_crd(&mut self, crd_name: &str) {
        self.resources.retain(
            |r| !matches!(&r.schema, SchemaSource::Crd { crd_name: n, .. } if n == crd_name),
        );
    }
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Kubernetes' version ordering: GA > beta > alpha, then by number (v2 > v1,
/// v1beta2 > v1beta1). Returns a sortable key.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (stage, minor) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    match minor.parse::<u32>() {
        Ok(m) => (stage, major, m),
        Err(_) => (0, 0, 0),
    }
}

fn crd_field<'a>(crd: &'a Value, name: &str, path: &[&str]) -> Result<&'a Value, RegistryError> {
    let mut cur = crd;
    for p in path {
        cur = cur.get(p).ok_or_else(|| RegistryError::InvalidCrd {
            crd: name.to_string(),
            field: path.join("."),
            message: "Required value".into(),
        })?;
    }
    Ok(cur)
}

fn crd_str(crd: &Value, name: &str, path: &[&str]) -> Result<String, RegistryError> {
    crd_field(crd, name, path)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| RegistryError::InvalidCrd {
            crd: name.to_string(),
            field: path.join("."),
            message: "must be a string".into(),
        })
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One `ResourceInfo` per served version of a CRD.
fn crd_resources(crd: &Value) -> Result<Vec<ResourceInfo>, RegistryError> {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let group = crd_str(crd, &name, &["spec", "group"])?;
    let kind = crd_str(crd, &name, &["spec", "names", "kind"])?;
    let plural = crd_str(crd, &name, &["spec", "names", "plural"])?;
    let names = crd_field(crd, &name, &["spec", "names"])?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = names
        .get("listKind")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let scope = crd_str(crd, &name, &["spec", "scope"])?;
    let namespaced = match scope.as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(RegistryError::InvalidCrd {
                crd: name,
                field: "spec.scope".into(),
                message: format!(
                    "Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""
                ),
            });
        }
    };
    let versions = crd_field(crd, &name, &["spec", "versions"])?
        .as_array()
        .ok_or_else(|| RegistryError::InvalidCrd {
            crd: name.clone(),
            field: "spec.versions".into(),
            message: "must be a list".into(),
        })?;
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .ok_or_else(|| RegistryError::InvalidCrd {
            crd: name.clone(),
            field: "spec.versions".into(),
            message: "must have exactly one version marked as storage version".into(),
        })?
        .to_string();
    let mut out = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let version = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| RegistryError::InvalidCrd {
                crd: name.clone(),
                field: format!("spec.versions[{i}].name"),
                message: "Required value".into(),
            })?
            .to_string();
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let sub = v.get("subresources");
        let status = sub.and_then(|s| s.get("status")).is_some();
        let scale = sub.and_then(|s| s.get("scale")).map(|s| ScaleInfo {
            spec_replicas_path: s
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .to_string(),
            status_replicas_path: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .to_string(),
            label_selector_path: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        out.push(ResourceInfo {
            group: group.clone(),
            version,
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            short_names: str_list(names.get("shortNames")),
            namespaced,
            verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
            status,
            scale,
            categories: str_list(names.get("categories")),
            schema: SchemaSource::Crd {
                crd_name: name.clone(),
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            },
            storage_version: storage_version.clone(),
            printer_columns: v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// A row of the built-in table.
struct BuiltIn {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    scale: bool,
    categories: &'static [&'static str],
    definition: &'static str,
}

impl BuiltIn {
    fn info(&self) -> ResourceInfo {
        ResourceInfo {
            group: self.group.into(),
            version: self.version.into(),
            kind: self.kind.into(),
            list_kind: format!("{}List", self.kind),
            plural: self.plural.into(),
            singular: self.kind.to_lowercase(),
            short_names: self.short.iter().map(|s| s.to_string()).collect(),
            namespaced: self.namespaced,
            verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
            status: self.status,
            scale: self.scale.then(|| ScaleInfo {
                spec_replicas_path: ".spec.replicas".into(),
                status_replicas_path: ".status.replicas".into(),
                label_selector_path: Some(".status.selector".into()),
            }),
            categories: self.categories.iter().map(|s| s.to_string()).collect(),
            schema: SchemaSource::BuiltIn {
                definition: self.definition.into(),
            },
            storage_version: self.version.into(),
            printer_columns: Vec::new(),
        }
    }
}

macro_rules! builtin {
    ($g:expr, $v:expr, $k:expr, $p:expr, [$($s:expr),*], $ns:expr, $st:expr, $sc:expr, [$($c:expr),*], $def:expr) => {
        BuiltIn { group: $g, version: $v, kind: $k, plural: $p, short: &[$($s),*], namespaced: $ns,
                  status: $st, scale: $sc, categories: &[$($c),*], definition: $def }
    };
}

const BUILTINS: &[BuiltIn] = &[
    builtin!(
        "",
        "v1",
        "ComponentStatus",
        "componentstatuses",
        ["cs"],
        false,
        false,
        false,
        [],
        "io.k8s.api.core.v1.ComponentStatus"
    ),
    builtin!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        ["ns"],
        false,
        true,
        false,
        [],
        "io.k8s.api.core.v1.Namespace"
    ),
    builtin!(
        "",
        "v1",
        "Node",
        "nodes",
        ["no"],
        false,
        true,
        false,
        [],
        "io.k8s.api.core.v1.Node"
    ),
    builtin!(
        "",
        "v1",
        "Pod",
        "pods",
        ["po"],
        true,
        true,
        false,
        ["all"],
        "io.k8s.api.core.v1.Pod"
    ),
    builtin!(
        "",
        "v1",
        "Service",
        "services",
        ["svc"],
        true,
        true,
        false,
        ["all"],
        "io.k8s.api.core.v1.Service"
    ),
    builtin!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        ["ep"],
        true,
        false,
        false,
        [],
        "io.k8s.api.core.v1.Endpoints"
    ),
    builtin!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        ["cm"],
        true,
        false,
        false,
        [],
        "io.k8s.api.core.v1.ConfigMap"
    ),
    builtin!(
        "",
        "v1",
        "Secret",
        "secrets",
        [],
        true,
        false,
        false,
        [],
        "io.k8s.api.core.v1.Secret"
    ),
    builtin!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        ["sa"],
        true,
        false,
        false,
        [],
        "io.k8s.api.core.v1.ServiceAccount"
    ),
    builtin!(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        ["pv"],
        false,
        true,
        false,
        [],
        "io.k8s.api.core.v1.PersistentVolume"
    ),
    builtin!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        ["pvc"],
        true,
        true,
        false,
        [],
        "io.k8s.api.core.v1.PersistentVolumeClaim"
    ),
    builtin!(
        "",
        "v1",
        "Event",
        "events",
        ["ev"],
        true,
        false,
        false,
        [],
        "io.k8s.api.core.v1.Event"
    ),
    builtin!(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        [],
        true,
        false,
        false,
        [],
        "io.k8s.api.discovery.v1.EndpointSlice"
    ),
    builtin!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        [],
        true,
        false,
        false,
        [],
        "io.k8s.api.coordination.v1.Lease"
    ),
    builtin!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        ["deploy"],
        true,
        true,
        true,
        ["all"],
        "io.k8s.api.apps.v1.Deployment"
    ),
    builtin!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        ["rs"],
        true,
        true,
        true,
        ["all"],
        "io.k8s.api.apps.v1.ReplicaSet"
    ),
    builtin!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        ["sts"],
        true,
        true,
        true,
        ["all"],
        "io.k8s.api.apps.v1.StatefulSet"
    ),
    builtin!(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        ["ds"],
        true,
        true,
        false,
        ["all"],
        "io.k8s.api.apps.v1.DaemonSet"
    ),
    builtin!(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        [],
        true,
        false,
        false,
        [],
        "io.k8s.api.apps.v1.ControllerRevision"
    ),
    builtin!(
        "batch",
        "v1",
        "Job",
        "jobs",
        [],
        true,
        true,
        false,
        ["all"],
        "io.k8s.api.batch.v1.Job"
    ),
    builtin!(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        ["cj"],
        true,
        true,
        false,
        ["all"],
        "io.k8s.api.batch.v1.CronJob"
    ),
    builtin!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        ["ing"],
        true,
        true,
        false,
        [],
        "io.k8s.api.networking.v1.Ingress"
    ),
    builtin!(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        [],
        false,
        false,
        false,
        [],
        "io.k8s.api.networking.v1.IngressClass"
    ),
    builtin!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        ["netpol"],
        true,
        false,
        false,
        [],
        "io.k8s.api.networking.v1.NetworkPolicy"
    ),
    builtin!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        [],
        true,
        false,
        false,
        [],
        "io.k8s.api.rbac.v1.Role"
    ),
    builtin!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        [],
        true,
        false,
        false,
        [],
        "io.k8s.api.rbac.v1.RoleBinding"
    ),
    builtin!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        [],
        false,
        false,
        false,
        [],
        "io.k8s.api.rbac.v1.ClusterRole"
    ),
    builtin!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        [],
        false,
        false,
        false,
        [],
        "io.k8s.api.rbac.v1.ClusterRoleBinding"
    ),
    builtin!(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        ["sc"],
        false,
        false,
        false,
        [],
        "io.k8s.api.storage.v1.StorageClass"
    ),
    builtin!(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        ["pc"],
        false,
        false,
        false,
        [],
        "io.k8s.api.scheduling.v1.PriorityClass"
    ),
    builtin!(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        ["hpa"],
        true,
        true,
        false,
        ["all"],
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"
    ),
    builtin!(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        ["crd", "crds"],
        false,
        true,
        false,
        [],
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    ),
    builtin!(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        [],
        false,
        true,
        false,
        ["api-extensions"],
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicy"
    ),
    builtin!(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        [],
        false,
        false,
        false,
        ["api-extensions"],
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBinding"
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}},
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v0", "served": false, "storage": false}
                ]
            }
        })
    }

    #[test]
    fn builtin_table_serves_configmaps_in_the_core_group() {
        let reg = Registry::builtin();
        let cm = reg
            .lookup("", "v1", "configmaps")
            .expect("configmaps served");
        assert_eq!(cm.kind, "ConfigMap");
        assert!(cm.namespaced);
        assert_eq!(cm.api_version(), "v1");
        assert_eq!(
            cm.schema,
            SchemaSource::BuiltIn {
                definition: "io.k8s.api.core.v1.ConfigMap".into()
            }
        );
    }

    #[test]
    fn a_crd_adds_one_entry_per_served_version_with_its_storage_version() {
        let mut reg = Registry::builtin();
        reg.add_crd(&crd()).expect("valid crd");
        let v1 = reg
            .lookup("example.com", "v1", "widgets")
            .expect("v1 served");
        assert!(v1.status);
        assert_eq!(
            v1.scale.as_ref().map(|s| s.spec_replicas_path.as_str()),
            Some(".spec.size")
        );
        assert_eq!(v1.storage_version, "v1");
        assert!(reg.lookup("example.com", "v1beta1", "widgets").is_some());
        assert!(reg.lookup("example.com", "v0", "widgets").is_none());
        let group = reg
            .groups()
            .into_iter()
            .find(|g| g.name == "example.com")
            .expect("group");
        assert_eq!(group.preferred, "v1");
        reg.remove_crd("widgets.example.com");
        assert!(reg.lookup("example.com", "v1", "widgets").is_none());
    }

    #[test]
    fn a_crd_may_not_take_a_built_in_plural() {
        let mut reg = Registry::builtin();
        let mut c = crd();
        c["spec"]["group"] = json!("apps");
        c["spec"]["names"]["plural"] = json!("deployments");
        c["spec"]["versions"][1]["name"] = json!("v1");
        assert!(matches!(
            reg.add_crd(&c),
            Err(RegistryError::NameConflict { .. })
        ));
    }

    #[test]
    fn versions_order_ga_before_beta_before_alpha() {
        let mut vs = vec!["v1alpha1", "v2", "v1beta2", "v1", "v1beta1"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(vs, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1"]);
    }
}

//! An admission request as policies see it (`request` in CEL), and the
//! offline mapping from an object's kind to its resource and scope.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use crate::Error;

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Creation.
    Create,
    /// Update (`oldObject` is set).
    Update,
    /// Deletion (`object` is null, `oldObject` is set).
    Delete,
    /// Connect (exec, port-forward…).
    Connect,
}

impl Operation {
    /// The wire name, `CREATE`, `UPDATE`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Group, version, resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupVersionResource {
    /// API group, `""` for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural lower-case resource name.
    pub resource: String,
}

/// Group, version, kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupVersionKind {
    /// API group, `""` for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// Who makes the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name.
    pub username: String,
    /// The user's groups.
    pub groups: Vec<String>,
}

/// An admission request.
#[derive(Debug, Clone)]
pub struct Request {
    /// What is done.
    pub operation: Operation,
    /// The object's kind.
    pub kind: GroupVersionKind,
    /// The resource addressed.
    pub resource: GroupVersionResource,
    /// The subresource, `""` for the main resource.
    pub sub_resource: String,
    /// The object name.
    pub name: String,
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The new object (null for DELETE).
    pub object: Option<Json>,
    /// The old object (UPDATE, DELETE).
    pub old_object: Option<Json>,
    /// The requesting user.
    pub user_info: UserInfo,
    /// Whether this is a dry run.
    pub dry_run: bool,
}

impl Request {
    /// A CREATE request for `object`, with kind, resource and scope derived
    /// from its `apiVersion` and `kind` (see [`resource_for_kind`]).
    pub fn create(object: Json) -> Result<Request, Error> {
        let (kind, resource, namespaced) = identify(&object)?;
        let meta = &object["metadata"];
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let namespace =
            namespaced.then(|| meta["namespace"].as_str().unwrap_or("default").to_string());
        Ok(Request {
            operation: Operation::Create,
            kind,
            resource,
            sub_resource: String::new(),
            name,
            namespace,
            object: Some(object),
            old_object: None,
            user_info: UserInfo::default(),
            dry_run: false,
        })
    }

    /// An UPDATE request from `old` to `new`.
    pub fn update(old: Json, new: Json) -> Result<Request, Error> {
        let mut r = Request::create(new)?;
        r.operation = Operation::Update;
        r.old_object = Some(old);
        Ok(r)
    }

    /// A DELETE request for `old`.
    pub fn delete(old: Json) -> Result<Request, Error> {
        let mut r = Request::create(old)?;
        r.operation = Operation::Delete;
        r.old_object = r.object.take();
        Ok(r)
    }

    /// Labels of the object (of the old object on DELETE).
    pub(crate) fn object_labels(&self) -> BTreeMap<String, String> {
        let obj = self.object.as_ref().or(self.old_object.as_ref());
        labels_of(obj)
    }

    /// The `request` variable.
    pub(crate) fn to_cel_json(&self) -> Json {
        json!({
            "kind": {"group": self.kind.group, "version": self.kind.version, "kind": self.kind.kind},
            "resource": {"group": self.resource.group, "version": self.resource.version, "resource": self.resource.resource},
            "subResource": self.sub_resource,
            "requestKind": {"group": self.kind.group, "version": self.kind.version, "kind": self.kind.kind},
            "requestResource": {"group": self.resource.group, "version": self.resource.version, "resource": self.resource.resource},
            "requestSubResource": self.sub_resource,
            "name": self.name,
            "namespace": self.namespace.clone().unwrap_or_default(),
            "operation": self.operation.as_str(),
            "userInfo": {"username": self.user_info.username, "groups": self.user_info.groups},
            "dryRun": self.dry_run,
            "options": Json::Null,
        })
    }
}

/// `metadata.labels` of an object as a map.
pub(crate) fn labels_of(obj: Option<&Json>) -> BTreeMap<String, String> {
    obj.and_then(|o| o["metadata"]["labels"].as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Kind, resource and whether the object is namespaced.
fn identify(object: &Json) -> Result<(GroupVersionKind, GroupVersionResource, bool), Error> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(Error::NotAnObject {
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let (resource, namespaced) = resource_for_kind(group, kind);
    Ok((
        GroupVersionKind {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        },
        GroupVersionResource {
            group: group.to_string(),
            version: version.to_string(),
            resource,
        },
        namespaced,
    ))
}

/// Kinds whose objects are cluster-scoped, with the resource name where
/// the plural is irregular.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "CustomResourceDefinition",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "PriorityClass",
    "IngressClass",
    "APIService",
    "CSIDriver",
    "CSINode",
    "RuntimeClass",
    "VolumeAttachment",
    "CertificateSigningRequest",
    "ClusterIssuer",
];

/// The plural resource of a kind and whether it is namespaced, without a
/// discovery API: Kubernetes' own lower-case plural rules (the same ones
/// `kubectl` falls back to), plus the list of cluster-scoped built-ins.
/// Custom kinds are assumed namespaced unless listed.
pub fn resource_for_kind(_group: &str, kind: &str) -> (String, bool) {
    let lower = kind.to_ascii_lowercase();
    let plural = if lower == "endpoints" {
        lower
    } else if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if lower.ends_with('s')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
        || lower.ends_with('x')
    {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    };
    (plural, !CLUSTER_SCOPED.contains(&kind))
}

#[cfg(test)]
mod tests {
    use super::resource_for_kind;

    #[test]
    fn plural_resources_follow_kubernetes_rules() {
        assert_eq!(
            resource_for_kind("networking.k8s.io", "Ingress").0,
            "ingresses"
        );
        assert_eq!(
            resource_for_kind("networking.k8s.io", "NetworkPolicy").0,
            "networkpolicies"
        );
        assert_eq!(resource_for_kind("apps", "Deployment").0, "deployments");
        assert_eq!(resource_for_kind("", "Endpoints").0, "endpoints");
        assert_eq!(resource_for_kind("apps", "StatefulSet").0, "statefulsets");
        assert!(!resource_for_kind("", "Namespace").1);
        assert!(resource_for_kind("", "ConfigMap").1);
    }
}

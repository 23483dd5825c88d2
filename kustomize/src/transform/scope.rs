//! Which built-in kinds are cluster-scoped. kustomize asks its compiled-in
//! OpenAPI document; the list below is that document's cluster-scoped kinds.
//! Unknown kinds (custom resources) count as namespaced, as in kustomize.
//! ValidatingAdmissionPolicy and its binding are not in kustomize v5.5.0's
//! document, so it gives them the kustomization's namespace (checked with
//! kubectl v1.32.4, v1 and v1beta1 alike); Flotilla follows v5.5.0.

/// Kinds without a namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Whether objects of `kind` have no namespace.
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED.binary_search(&kind).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_scoped_list_is_sorted_for_binary_search() {
        assert!(super::CLUSTER_SCOPED.windows(2).all(|w| w[0] < w[1]));
    }
}

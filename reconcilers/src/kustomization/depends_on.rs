//! `spec.dependsOn`: a Kustomization waits until every Kustomization it depends on is Ready
//! at its latest generation, and (when both render the same source) has applied the same
//! revision this one is about to apply, as Flux does.

use crds::Kustomization;
use crds::conditions::{ConditionsExt, types};
use kube::{Api, ResourceExt};

/// Checks the dependencies of `ks`, which is about to apply `revision`. `Ok(None)` when all
/// are ready, `Ok(Some(message))` naming the first that is not.
pub async fn not_ready(
    client: &kube::Client,
    ks: &Kustomization,
    revision: &str,
) -> Result<Option<String>, kube::Error> {
    let own_namespace = ks.namespace().unwrap_or_default();
    for dependency in &ks.spec.depends_on {
        let namespace = dependency.namespace.as_deref().unwrap_or(&own_namespace);
        let api: Api<Kustomization> = Api::namespaced(client.clone(), namespace);
        let Some(other) = api.get_opt(&dependency.name).await? else {
            return Ok(Some(format!(
                "dependency '{namespace}/{}' not found",
                dependency.name
            )));
        };
        if let Some(message) = unready_reason(ks, &other, revision) {
            return Ok(Some(format!(
                "dependency '{namespace}/{}' is not ready: {message}",
                dependency.name
            )));
        }
    }
    Ok(None)
}

/// Why `other` does not satisfy `ks`'s dependency on it, if it does not.
pub fn unready_reason(ks: &Kustomization, other: &Kustomization, revision: &str) -> Option<String> {
    let status = other.status.clone().unwrap_or_default();
    if status.observed_generation != other.metadata.generation {
        return Some("its latest generation is not reconciled yet".to_owned());
    }
    if !status.conditions.condition_is_true(types::READY) {
        return Some(
            status
                .conditions
                .find_condition(types::READY)
                .map_or_else(|| "not reconciled yet".to_owned(), |c| c.message.clone()),
        );
    }
    let same_source = {
        let (a, b) = (&ks.spec.source_ref, &other.spec.source_ref);
        let ns_a = a.namespace.clone().or_else(|| ks.namespace());
        let ns_b = b.namespace.clone().or_else(|| other.namespace());
        a.kind == b.kind && a.name == b.name && ns_a == ns_b
    };
    if same_source && status.last_applied_revision.as_deref() != Some(revision) {
        return Some(format!(
            "it has not applied revision {revision} of the shared source yet"
        ));
    }
    None
}

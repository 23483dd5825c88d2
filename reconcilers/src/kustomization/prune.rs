//! Pruning: deleting objects a previous revision applied that the current one no longer
//! renders.
//!
//! Only objects that are still ours are deleted: the live object must carry this
//! Kustomization's ownership labels (so an object another Kustomization or a person took over
//! stays), and not the `flotilla.dev/prune: disabled` annotation. Objects already gone are
//! fine.

use crds::inventory::{ObjectId, ResourceInventory, ResourceRef};
use kube::api::DeleteParams;
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::apply::{NAME_LABEL, NAMESPACE_LABEL, Owner, display_id, dynamic_api, str_at};
use super::resources::Resources;

/// Annotation that keeps an object when it leaves the source.
pub const PRUNE_ANNOTATION: &str = "flotilla.dev/prune";
/// The value of [`PRUNE_ANNOTATION`] that keeps an object.
pub const PRUNE_DISABLED: &str = "disabled";

/// Why pruning failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// The stored inventory holds an id that does not parse.
    #[error("status.inventory: {0}")]
    Inventory(#[from] crds::Error),
    /// One or more deletions failed; each line names the object.
    #[error("{}", failures.join("\n"))]
    Failed {
        /// `Kind/namespace/name: message`, one per object.
        failures: Vec<String>,
    },
}

/// What pruning did to one stale inventory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Deleted.
    Deleted,
    /// Left alone: another owner, prune disabled, or already gone.
    Kept(&'static str),
}

/// The entries of `previous` that are not in `current`.
pub fn stale(previous: &ResourceInventory, current: &ResourceInventory) -> Vec<ResourceRef> {
    previous
        .entries
        .iter()
        .filter(|old| !current.entries.iter().any(|new| new.id == old.id))
        .cloned()
        .collect()
}

/// The Flux-style change line (`Kind/ns/name deleted`) of every deleted object in
/// `outcomes`, for Events.
pub fn deleted_lines(outcomes: &[(ObjectId, Outcome)]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == Outcome::Deleted)
        .map(|(id, _)| format!("{} deleted", display_id(id)))
        .collect()
}

/// Deletes the objects of `stale` that are still owned by `owner`. Returns what happened to
/// each, in order.
pub async fn prune(
    client: &kube::Client,
    resources: &Resources,
    owner: &Owner,
    stale: &[ResourceRef],
) -> Result<Vec<(ObjectId, Outcome)>, PruneError> {
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    // Reverse of the apply stages: a Namespace or CRD goes last, after what lived in it.
    let mut ordered: Vec<(ObjectId, &ResourceRef)> = Vec::with_capacity(stale.len());
    for entry in stale {
        ordered.push((entry.object()?, entry));
    }
    ordered.sort_by_key(|(id, _)| id.kind == "Namespace" || id.kind == "CustomResourceDefinition");
    for (id, entry) in ordered {
        match prune_one(client, resources, owner, &id, &entry.v).await {
            Ok(outcome) => outcomes.push((id, outcome)),
            Err(message) => failures.push(format!("{}: {message}", display_id(&id))),
        }
    }
    if failures.is_empty() {
        Ok(outcomes)
    } else {
        Err(PruneError::Failed { failures })
    }
}

async fn prune_one(
    client: &kube::Client,
    resources: &Resources,
    owner: &Owner,
    id: &ObjectId,
    version: &str,
) -> Result<Outcome, String> {
    let gvk = GroupVersionKind::gvk(&id.group, version, &id.kind);
    let resource = match resources.resolve(client, &gvk).await {
        Ok(resource) => resource,
        // The kind is gone (its CRD was pruned first): so are its objects.
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Ok(Outcome::Kept("kind no longer served"));
        }
        Err(e) if e.to_string().contains("not found") => {
            return Ok(Outcome::Kept("kind no longer served"));
        }
        Err(e) => return Err(e.to_string()),
    };
    let api = dynamic_api(client, &resource, &id.namespace);
    let live = match api.get_opt(&id.name).await {
        Ok(Some(live)) => serde_json::to_value(live).map_err(|e| e.to_string())?,
        Ok(None) => return Ok(Outcome::Kept("already gone")),
        Err(e) => return Err(e.to_string()),
    };
    if !owned_by(&live, owner) {
        return Ok(Outcome::Kept("not owned by this Kustomization"));
    }
    if live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PRUNE_ANNOTATION))
        .and_then(Value::as_str)
        == Some(PRUNE_DISABLED)
    {
        return Ok(Outcome::Kept("prune disabled by annotation"));
    }
    match api.delete(&id.name, &DeleteParams::background()).await {
        Ok(_) => Ok(Outcome::Deleted),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Outcome::Kept("already gone")),
        Err(kube::Error::Api(status)) => Err(status.message),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether `live` carries `owner`'s ownership labels.
pub fn owned_by(live: &Value, owner: &Owner) -> bool {
    let label = |key: &str| {
        live.pointer("/metadata/labels")
            .and_then(|labels| labels.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    label(NAME_LABEL) == owner.name
        && label(NAMESPACE_LABEL) == owner.namespace
        && !str_at(live, "/metadata/name").is_empty()
}

#[cfg(test)]
mod tests {
    use crds::inventory::{ResourceInventory, ResourceRef};

    use super::stale;

    fn entry(id: &str) -> ResourceRef {
        ResourceRef {
            id: id.to_owned(),
            v: "v1".to_owned(),
        }
    }

    #[test]
    fn stale_entries_are_those_missing_from_the_new_inventory() {
        let previous = ResourceInventory {
            entries: vec![entry("apps_a__ConfigMap"), entry("apps_b__ConfigMap")],
        };
        let current = ResourceInventory {
            entries: vec![entry("apps_a__ConfigMap")],
        };
        assert_eq!(stale(&previous, &current), vec![entry("apps_b__ConfigMap")]);
    }
}

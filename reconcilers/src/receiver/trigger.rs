//! Asking a Receiver's targets to reconcile now: a merge patch of the
//! `reconcile.flotilla.dev/requestedAt` annotation, the same request `flotilla reconcile` makes.

use crds::receiver::ReceiverTargetKind;
use crds::{GitRepository, Receiver, annotations};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use super::{Error, Result};

/// Sets the annotation on every GitRepository the Receiver names; returns
/// `namespace/name` of each. A named target that does not exist is skipped with a warning
/// (a Receiver may be created before its targets).
pub(super) async fn trigger(
    client: &kube::Client,
    receiver: &Receiver,
    requested_at: &str,
) -> Result<Vec<String>> {
    let own_namespace = receiver.metadata.namespace.clone().unwrap_or_default();
    let patch =
        json!({"metadata": {"annotations": {annotations::RECONCILE_REQUESTED_AT: requested_at}}});
    let mut triggered = Vec::new();
    for resource in &receiver.spec.resources {
        match resource.kind {
            ReceiverTargetKind::GitRepository => {}
        }
        let namespace = resource
            .namespace
            .clone()
            .unwrap_or_else(|| own_namespace.clone());
        let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
        let kube_error = |name: &str, source| Error::Kube {
            kind: "GitRepository",
            namespace: namespace.clone(),
            name: name.to_owned(),
            source,
        };
        let names = if resource.name == "*" {
            let selector = resource
                .match_labels
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            api.list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| kube_error("*", e))?
                .items
                .into_iter()
                .filter_map(|g| g.metadata.name)
                .collect()
        } else {
            vec![resource.name.clone()]
        };
        for name in names {
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => triggered.push(format!("{namespace}/{name}")),
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    tracing::warn!(target = %format!("{namespace}/{name}"), "Receiver target GitRepository not found");
                }
                Err(e) => return Err(kube_error(&name, e)),
            }
        }
    }
    Ok(triggered)
}

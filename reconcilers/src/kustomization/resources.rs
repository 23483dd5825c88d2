//! Which API resource serves a kind: a discovery cache per target cluster, so a reconcile of
//! a thousand objects asks the API server once per group-version, not once per object.
//!
//! A miss is looked up again (the kind may come from a CRD applied a moment ago); only hits
//! are cached.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};

/// An API resource and whether its objects live in namespaces.
#[derive(Clone, Debug)]
pub struct Resource {
    /// Group, version, kind and plural.
    pub api: ApiResource,
    /// True for namespaced kinds.
    pub namespaced: bool,
}

/// The discovery cache of one cluster.
#[derive(Debug, Default)]
pub struct Resources {
    known: Mutex<HashMap<GroupVersionKind, Resource>>,
}

impl Resources {
    /// The resource serving `gvk` in the cluster of `client`.
    pub async fn resolve(
        &self,
        client: &kube::Client,
        gvk: &GroupVersionKind,
    ) -> Result<Resource, kube::Error> {
        if let Some(hit) = self.known.lock().ok().and_then(|k| k.get(gvk).cloned()) {
            return Ok(hit);
        }
        let (api, capabilities) = kube::discovery::pinned_kind(client, gvk).await?;
        let resource = Resource {
            api,
            namespaced: capabilities.scope == Scope::Namespaced,
        };
        if let Ok(mut known) = self.known.lock() {
            known.insert(gvk.clone(), resource.clone());
        }
        Ok(resource)
    }

    /// Forgets every kind of `group` (after its CRD changed, its versions may have too).
    pub fn forget_group(&self, group: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.retain(|gvk, _| gvk.group != group);
        }
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

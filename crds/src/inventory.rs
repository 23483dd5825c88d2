//! The inventory: which objects a Kustomization applied, so that objects removed from the
//! source can be pruned and health-checked objects found again. Same encoding as Flux
//! (`status.inventory.entries[].id` = `<namespace>_<name>_<group>_<kind>`, `v` = version).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The objects applied by the last successful reconcile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceInventory {
    /// One entry per applied object, sorted by id.
    #[serde(default)]
    pub entries: Vec<ResourceRef>,
}

/// One applied object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub struct ResourceRef {
    /// `<namespace>_<name>_<group>_<kind>`; namespace and group are empty for cluster-scoped
    /// objects and the core group, e.g. `apps_podinfo_apps_Deployment`, `_apps__Namespace`.
    pub id: String,
    /// The object's API version (without group), e.g. `v1`.
    pub v: String,
}

/// An inventory id taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectId {
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// API group; empty for the core group.
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

impl ObjectId {
    /// The id string of this object.
    pub fn to_id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace, self.name, self.group, self.kind
        )
    }

    /// Parses an id. Namespaces, groups and kinds never contain `_`, so the name is whatever
    /// lies between the first and the second-to-last separator, even if it contains `_`
    /// (which some cluster-scoped names, e.g. of ClusterRoles, may).
    pub fn parse(id: &str) -> Result<Self> {
        let invalid = || Error::InvalidInventoryId { id: id.to_owned() };
        let (namespace, rest) = id.split_once('_').ok_or_else(invalid)?;
        let (rest, kind) = rest.rsplit_once('_').ok_or_else(invalid)?;
        let (name, group) = rest.rsplit_once('_').ok_or_else(invalid)?;
        if name.is_empty() || kind.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
        })
    }
}

impl ResourceRef {
    /// The entry for an object of `api_version` (`apps/v1` or `v1`).
    pub fn new(object: &ObjectId, api_version: &str) -> Self {
        let version = api_version
            .rsplit_once('/')
            .map_or(api_version, |(_, version)| version);
        Self {
            id: object.to_id(),
            v: version.to_owned(),
        }
    }

    /// The object this entry names.
    pub fn object(&self) -> Result<ObjectId> {
        ObjectId::parse(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(namespace: &str, name: &str, group: &str, kind: &str) -> ObjectId {
        ObjectId {
            namespace: namespace.into(),
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn ids_use_the_flux_layout() {
        let entry = ResourceRef::new(&object("apps", "podinfo", "apps", "Deployment"), "apps/v1");
        assert_eq!(entry.id, "apps_podinfo_apps_Deployment");
        assert_eq!(entry.v, "v1");
        let ns = ResourceRef::new(&object("", "apps", "", "Namespace"), "v1");
        assert_eq!(ns.id, "_apps__Namespace");
        assert_eq!(ns.v, "v1");
    }

    #[test]
    fn ids_round_trip_including_underscores_in_names() {
        for o in [
            object("apps", "podinfo", "apps", "Deployment"),
            object("", "apps", "", "Namespace"),
            object(
                "",
                "system_admin_role",
                "rbac.authorization.k8s.io",
                "ClusterRole",
            ),
        ] {
            assert_eq!(ObjectId::parse(&o.to_id()).unwrap(), o);
        }
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for id in ["", "podinfo", "a_b", "ns__apps_Deployment", "ns_name_apps_"] {
            assert!(
                matches!(ObjectId::parse(id), Err(Error::InvalidInventoryId { .. })),
                "{id:?} should be rejected"
            );
        }
    }
}

//! OpenAPI v3 documents, as kubectl 1.32 reads them.
//!
//! `GET /openapi/v3` answers an index of group-versions, each with a
//! `serverRelativeURL` carrying a content hash; `GET /openapi/v3/api/v1` (or
//! `/openapi/v3/apis/<group>/<version>`) answers that group-version's
//! document: `paths` for every resource (so kubectl finds the
//! `fieldValidation` parameter and the accepted patch types) and
//! `components.schemas` (built-in definitions from the schema catalog,
//! custom resources from their CRD) for `kubectl explain` and client-side
//! apply's strategic merge patches.
//!
//! Documents are cached per group-version and rebuilt when the resources of
//! that group-version change (a CRD added, updated or removed). The hash in
//! the URL is the document's content hash, so kubectl's disk cache never
//! serves a stale schema.
//!
//! `/openapi/v2` is not served: kubectl only wants it (in protobuf) when the
//! v3 documents lack what it needs.
//!
//! Boundaries: builds documents from a [`Registry`] snapshot; routing and
//! HTTP caching headers belong to the server.

mod paths;
mod schemas;

pub use paths::patch_media_types;
pub use schemas::{crd_definition_name, definition_name, to_openapi};

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceInfo};

/// A generated group-version document.
#[derive(Debug)]
pub struct Document {
    /// The JSON body.
    pub body: Arc<Vec<u8>>,
    /// Content hash, as used in `serverRelativeURL` and `ETag`.
    pub hash: String,
}

/// The key of a group-version in the index: `api/v1` or `apis/<group>/<version>`.
pub fn group_version_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Splits an index key back into group and version.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let key = key.trim_matches('/');
    if let Some(v) = key.strip_prefix("api/") {
        return (!v.contains('/')).then_some(("", v));
    }
    let rest = key.strip_prefix("apis/")?;
    let (g, v) = rest.split_once('/')?;
    (!v.contains('/')).then_some((g, v))
}

/// Cache of generated documents, keyed by group-version, invalidated by a
/// fingerprint of the resources served there.
#[derive(Debug, Default)]
pub struct OpenApiV3 {
    cache: Mutex<HashMap<String, (u64, Arc<Document>)>>,
}

fn fingerprint(resources: &[Arc<ResourceInfo>]) -> u64 {
    let mut h = DefaultHasher::new();
    for r in resources {
        // Debug output covers every field, the CRD schema included.
        format!("{r:?}").hash(&mut h);
    }
    h.finish()
}

impl OpenApiV3 {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The document of `group`/`version`, from cache when the served
    /// resources did not change. `None` when nothing is served there.
    pub fn document(
        &self,
        registry: &Registry,
        group: &str,
        version: &str,
    ) -> Option<Arc<Document>> {
        let resources = registry.group_version(group, version);
        if resources.is_empty() {
            return None;
        }
        let key = group_version_key(group, version);
        let fp = fingerprint(&resources);
        if let Ok(cache) = self.cache.lock()
            && let Some((f, doc)) = cache.get(&key)
            && *f == fp
        {
            return Some(doc.clone());
        }
        let value = build_document(&resources);
        // Serialising a `Value` cannot fail.
        let body = serde_json::to_vec(&value).unwrap_or_default();
        let mut h = DefaultHasher::new();
        body.hash(&mut h);
        let doc = Arc::new(Document {
            hash: format!("{:016X}", h.finish()),
            body: Arc::new(body),
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (fp, doc.clone()));
        }
        Some(doc)
    }

    /// The document at an index key or URL path (`api/v1`,
    /// `/openapi/v3/apis/apps/v1`).
    pub fn document_at(&self, registry: &Registry, path: &str) -> Option<Arc<Document>> {
        let key = path.trim_start_matches('/');
        let key = key.strip_prefix("openapi/v3/").unwrap_or(key);
        let (g, v) = parse_key(key)?;
        self.document(registry, g, v)
    }

    /// The `/openapi/v3` index: every served group-version with the URL of
    /// its document.
    pub fn index(&self, registry: &Registry) -> Value {
        let mut paths = Map::new();
        for group in registry.groups() {
            for version in &group.versions {
                if let Some(doc) = self.document(registry, &group.name, version) {
                    let key = group_version_key(&group.name, version);
                    paths.insert(
                        key.clone(),
                        json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.hash)}),
                    );
                }
            }
        }
        json!({ "paths": paths })
    }
}

/// The OpenAPI document of one group-version's resources.
pub fn build_document(resources: &[Arc<ResourceInfo>]) -> Value {
    let infos: Vec<&ResourceInfo> = resources.iter().map(Arc::as_ref).collect();
    let mut paths = Map::new();
    for info in &infos {
        paths::add_resource_paths(&mut paths, info);
    }
    let schemas: Map<String, Value> = schemas::component_schemas(&infos).into_iter().collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}}
        },
        "security": [{"BearerToken": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "description": "the spec", "properties": {"size": {"type": "integer"}}}}}}}]
            }
        })
    }

    fn doc(registry: &Registry, key: &str) -> Value {
        let api = OpenApiV3::new();
        let d = api.document_at(registry, key).expect("served");
        serde_json::from_slice(&d.body).expect("json")
    }

    #[test]
    fn the_index_lists_core_and_group_versions_with_hashes() {
        let api = OpenApiV3::new();
        let index = api.index(&Registry::builtin());
        let url = index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or("");
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        assert!(index["paths"]["apis/apps/v1"].is_object());
    }

    #[test]
    fn patch_on_an_item_declares_field_validation_with_its_gvk() {
        let d = doc(&Registry::builtin(), "api/v1");
        let patch = &d["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "", "version": "v1", "kind": "ConfigMap"})
        );
        let params = patch["parameters"].as_array().cloned().unwrap_or_default();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        assert!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object()
        );
    }

    #[test]
    fn kinds_carry_their_gvk_and_references_are_included() {
        let d = doc(&Registry::builtin(), "apis/apps/v1");
        let schemas = &d["components"]["schemas"];
        assert_eq!(
            schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
        assert!(schemas["io.k8s.api.core.v1.PodSpec"].is_object());
        assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    }

    #[test]
    fn every_reference_in_a_document_resolves() {
        for key in ["api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1"] {
            let d = doc(&Registry::builtin(), key);
            let schemas = d["components"]["schemas"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let refs = schemas::references(&d);
            for r in refs {
                assert!(schemas.contains_key(&r), "{key}: dangling $ref {r}");
            }
        }
    }

    #[test]
    fn a_crd_is_published_under_its_reversed_group_name_without_strategic_merge() {
        let mut reg = Registry::builtin();
        reg.add_crd(&crd()).expect("valid crd");
        let d = doc(&reg, "apis/example.com/v1");
        let w = &d["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            w["properties"]["spec"]["properties"]["size"]["type"],
            "integer"
        );
        assert!(w["properties"]["metadata"]["allOf"][0]["$ref"].is_string());
        let patch =
            &d["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_null()
        );
        assert!(patch["requestBody"]["content"]["application/merge-patch+json"].is_object());
    }

    #[test]
    fn a_changed_crd_changes_the_document_hash() {
        let api = OpenApiV3::new();
        let mut reg = Registry::builtin();
        reg.add_crd(&crd()).expect("valid crd");
        let before = api
            .document(&reg, "example.com", "v1")
            .expect("served")
            .hash
            .clone();
        let mut changed = crd();
        changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["color"] = json!({"type": "string"});
        reg.add_crd(&changed).expect("valid crd");
        let after = api
            .document(&reg, "example.com", "v1")
            .expect("served")
            .hash
            .clone();
        assert_ne!(before, after);
    }

    #[test]
    fn refs_with_siblings_become_allof_wrappers() {
        let out = to_openapi(&json!({"$ref": "#/components/schemas/x", "description": "d"}));
        assert_eq!(
            out,
            json!({"allOf": [{"$ref": "#/components/schemas/x"}], "description": "d"})
        );
    }
}

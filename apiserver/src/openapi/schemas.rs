//! The `components.schemas` of a group-version document: the definitions of
//! the kinds served there and everything they reference.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::registry::{ResourceInfo, SchemaSource};
use crate::schema::builtin::{self, OBJECT_META};
use crate::schema::node::{REF_PREFIX, ref_target};

/// The definition name Kubernetes gives a custom resource: the group
/// reversed, then version and kind (`com.example.v1.Widget`).
pub fn crd_definition_name(info: &ResourceInfo) -> String {
    let mut parts: Vec<&str> = info.group.split('.').collect();
    parts.reverse();
    format!("{}.{}.{}", parts.join("."), info.version, info.kind)
}

/// The definition name of a resource's kind in the documents.
pub fn definition_name(info: &ResourceInfo) -> String {
    match &info.schema {
        SchemaSource::BuiltIn { definition } => definition.clone(),
        SchemaSource::Crd { .. } => crd_definition_name(info),
    }
}

/// The kind of the `scale` subresource.
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

fn gvk(info: &ResourceInfo) -> Value {
    json!({"group": info.group, "version": info.version, "kind": info.kind})
}

/// Every schema a group-version document needs, keyed by definition name.
pub fn component_schemas(resources: &[&ResourceInfo]) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    for info in resources {
        let name = definition_name(info);
        let mut schema = match &info.schema {
            SchemaSource::BuiltIn { definition } => match builtin::catalog().get(definition) {
                Some(s) => to_openapi(s),
                None => continue,
            },
            SchemaSource::Crd { schema, .. } => crd_schema(schema.as_ref()),
        };
        collect_refs(&schema, &mut pending);
        if info.scale.is_some() {
            pending.push(SCALE.to_string());
        }
        // Several served kinds can share a definition (none today, but the
        // extension is a list for that reason).
        let gvks = out
            .get(&name)
            .and_then(|s| s.get("x-kubernetes-group-version-kind"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut gvks = gvks;
        gvks.push(gvk(info));
        if let Value::Object(m) = &mut schema {
            m.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
        }
        out.insert(name, schema);
    }
    while let Some(name) = pending.pop() {
        if out.contains_key(&name) {
            continue;
        }
        if let Some(def) = builtin::catalog().get(&name) {
            let schema = to_openapi(def);
            collect_refs(&schema, &mut pending);
            out.insert(name, schema);
        }
    }
    out
}

/// A CRD version's schema as Kubernetes publishes it: the standard
/// `apiVersion`, `kind` and `metadata` fields added.
fn crd_schema(schema: Option<&Value>) -> Value {
    let mut s = match schema {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert("type".into(), json!("object"));
            m.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            m
        }
    };
    let props = s
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = props {
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
        );
        props.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
        );
        props.insert(
            "metadata".into(),
            json!({"allOf": [{"$ref": format!("{REF_PREFIX}{OBJECT_META}")}],
                   "description": "Standard object's metadata."}),
        );
    }
    Value::Object(s)
}

/// Rewrites a catalog schema for publication: a `$ref` with siblings (a
/// description, an extension) becomes `allOf: [{$ref}]` plus the siblings,
/// the shape Kubernetes uses and OpenAPI 3.0 requires.
pub fn to_openapi(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                // Keys of `properties` are field names, not keywords: JSONSchemaProps has a
                // field named `$ref`, which must not become an `allOf`.
                let converted = match (k.as_str(), v) {
                    ("properties" | "patternProperties", Value::Object(fields)) => Value::Object(
                        fields
                            .iter()
                            .map(|(f, s)| (f.clone(), to_openapi(s)))
                            .collect(),
                    ),
                    _ => to_openapi(v),
                };
                out.insert(k.clone(), converted);
            }
            if out.len() > 1
                && let Some(r) = out.remove("$ref")
            {
                out.insert("allOf".into(), json!([{ "$ref": r }]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_openapi).collect()),
        other => other.clone(),
    }
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(m) => {
            if let Some(name) = ref_target(schema).filter(|_| m.contains_key("$ref")) {
                out.push(name.to_string());
            }
            for v in m.values() {
                collect_refs(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The definition names a schema references, directly.
#[cfg(test)]
pub fn references(schema: &Value) -> std::collections::BTreeSet<String> {
    let mut v = Vec::new();
    collect_refs(schema, &mut v);
    v.into_iter().collect()
}

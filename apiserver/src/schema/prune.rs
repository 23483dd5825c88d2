//! Pruning: dropping fields a schema does not declare, as Kubernetes does on
//! every write, and reporting them so `fieldValidation=Strict` can refuse
//! the request and `Warn` can say what was dropped.

use serde_json::Value;

use super::builtin::{self, OBJECT_META};
use super::node::Node;

/// How opaque `type: object` schemas (no properties, no
/// additionalProperties) are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// CRD structural schemas: such an object holds nothing; every field
    /// inside is pruned.
    Structural,
    /// Built-in schemas: such objects are Go `RawExtension`/`FieldsV1`
    /// blobs that hold anything.
    BuiltIn,
}

/// Removes undeclared fields from `value` (in place) and returns their paths
/// (`spec.foo`, `spec.items[0].bar`), in document order.
///
/// `root` says whether `value` is a whole object: then `apiVersion`, `kind`
/// are kept and `metadata` is pruned against ObjectMeta, whatever the schema
/// says, as Kubernetes does for custom resources.
pub fn prune(schema: Node<'_>, value: &mut Value, flavor: Flavor, root: bool) -> Vec<String> {
    let mut pruned = Vec::new();
    if root {
        prune_object_root(schema, value, flavor, "", &mut pruned);
    } else {
        walk(schema, value, flavor, "", &mut pruned);
    }
    pruned
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn prune_object_root(
    schema: Node<'_>,
    value: &mut Value,
    flavor: Flavor,
    path: &str,
    pruned: &mut Vec<String>,
) {
    let Value::Object(map) = value else { return };
    let meta = builtin::node(OBJECT_META);
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let child_path = join(path, &key);
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if let (Some(meta), Some(v)) = (meta, map.get_mut(&key)) {
                    walk(meta, v, Flavor::BuiltIn, &child_path, pruned);
                }
            }
            _ => match schema.property(&key) {
                Some(child) => {
                    if let Some(v) = map.get_mut(&key) {
                        walk(child, v, flavor, &child_path, pruned);
                    }
                }
                None if schema.preserves_unknown_fields() || schema.is_unconstrained() => {}
                None => {
                    map.remove(&key);
                    pruned.push(child_path);
                }
            },
        }
    }
}

fn walk(schema: Node<'_>, value: &mut Value, flavor: Flavor, path: &str, pruned: &mut Vec<String>) {
    if schema.embedded_resource() {
        prune_object_root(schema, value, flavor, path, pruned);
        return;
    }
    match value {
        Value::Object(map) => {
            let declared = schema.has_properties();
            let additional = schema.additional_properties();
            let keep_unknown = schema.preserves_unknown_fields()
                || schema.allows_any_additional()
                || schema.is_unconstrained()
                || (flavor == Flavor::BuiltIn && !declared && additional.is_none());
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child = schema.property(&key).or(additional);
                let child_path = join(path, &key);
                match child {
                    Some(child) => {
                        if let Some(v) = map.get_mut(&key) {
                            // Kubernetes drops nulls of non-nullable fields
                            // before defaulting and validation.
                            if v.is_null() && flavor == Flavor::Structural && !child.nullable() {
                                map.remove(&key);
                                continue;
                            }
                            walk(child, v, flavor, &child_path, pruned);
                        }
                    }
                    None if keep_unknown => {}
                    None => {
                        map.remove(&key);
                        pruned.push(child_path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.items() {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, flavor, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::node::Catalog;
    use serde_json::json;

    fn crd_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "opt": {"type": "string", "nullable": true},
                "req": {"type": "string"}
            }}
        }})
    }

    #[test]
    fn undeclared_fields_are_dropped_and_reported_with_paths() {
        let c = Catalog::default();
        let schema = crd_schema();
        let mut obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a", "bogus": 1},
            "spec": {"size": 1, "extra": true, "items": [{"name": "a", "nope": 1}]}, "status": {}});
        let pruned = prune(c.node_for(&schema), &mut obj, Flavor::Structural, true);
        assert_eq!(
            pruned,
            vec![
                "metadata.bogus",
                "spec.extra",
                "spec.items[0].nope",
                "status"
            ]
        );
        assert_eq!(obj["spec"], json!({"size": 1, "items": [{"name": "a"}]}));
        assert_eq!(obj["kind"], "W");
    }

    #[test]
    fn preserve_unknown_fields_and_maps_keep_everything() {
        let c = Catalog::default();
        let schema = crd_schema();
        let mut obj = json!({"spec": {"free": {"any": {"thing": 1}}, "labels": {"a": "b"}}});
        let pruned = prune(c.node_for(&schema), &mut obj, Flavor::Structural, true);
        assert!(pruned.is_empty(), "{pruned:?}");
        assert_eq!(obj["spec"]["free"]["any"]["thing"], 1);
    }

    #[test]
    fn nulls_of_non_nullable_fields_are_dropped_silently() {
        let c = Catalog::default();
        let schema = crd_schema();
        let mut obj = json!({"spec": {"opt": null, "req": null}});
        let pruned = prune(c.node_for(&schema), &mut obj, Flavor::Structural, true);
        assert!(pruned.is_empty());
        assert_eq!(obj["spec"], json!({"opt": null}));
    }

    #[test]
    fn built_in_unknown_fields_are_found_but_opaque_blobs_are_kept() {
        let pod = builtin::node("io.k8s.api.core.v1.Pod").expect("pod");
        let mut obj = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {}}}]},
            "spec": {"containers": [{"name": "a", "image": "i", "imagePullPolcy": "Always"}]}});
        let pruned = prune(pod, &mut obj, Flavor::BuiltIn, true);
        assert_eq!(pruned, vec!["spec.containers[0].imagePullPolcy"]);
        assert_eq!(
            obj["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {}})
        );
    }
}

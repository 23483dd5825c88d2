//! Defaulting from a structural schema's `default` values, applied as
//! Kubernetes does: after pruning, top-down, only where a field is absent
//! (an explicit `null` of a `nullable` field stays null), into every present
//! object, map value and list item.

use serde_json::Value;

use super::node::Node;

/// Fills in defaults in `value` (in place).
pub fn apply_defaults(schema: Node<'_>, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, prop) in schema.properties() {
                if map.contains_key(name) {
                    continue;
                }
                if let Some(default) = prop.get("default") {
                    map.insert(name.to_string(), default.clone());
                }
            }
            let additional = schema.additional_properties();
            for (key, child) in map.iter_mut() {
                if let Some(s) = schema.property(key).or(additional) {
                    apply_defaults(s, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.items() {
                for item in items {
                    apply_defaults(item_schema, item);
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

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "default": {}, "properties": {
            "size": {"type": "integer", "default": 3},
            "mode": {"type": "string", "nullable": true, "default": "auto"},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "protocol": {"type": "string", "default": "TCP"}}}}
        }}}})
    }

    #[test]
    fn absent_fields_get_their_defaults_recursively() {
        let c = Catalog::default();
        let s = schema();
        let mut obj = json!({});
        apply_defaults(c.node_for(&s), &mut obj);
        assert_eq!(obj, json!({"spec": {"size": 3, "mode": "auto"}}));
    }

    #[test]
    fn present_values_and_explicit_nulls_are_kept() {
        let c = Catalog::default();
        let s = schema();
        let mut obj = json!({"spec": {"size": 5, "mode": null}});
        apply_defaults(c.node_for(&s), &mut obj);
        assert_eq!(obj["spec"]["size"], 5);
        assert!(obj["spec"]["mode"].is_null());
    }

    #[test]
    fn list_items_are_defaulted() {
        let c = Catalog::default();
        let s = schema();
        let mut obj = json!({"spec": {"ports": [{}, {"protocol": "UDP"}]}});
        apply_defaults(c.node_for(&s), &mut obj);
        assert_eq!(
            obj["spec"]["ports"],
            json!([{"protocol": "TCP"}, {"protocol": "UDP"}])
        );
    }
}

//! Structural-schema validation of custom resources: types, required,
//! enum, pattern, bounds, lengths, item counts, list uniqueness, formats.
//! Messages follow Kubernetes' wording (`spec.size: Invalid value: "x":
//! spec.size in body must be of type integer: "string"`) because users and
//! tests compare against it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

use super::FieldError;
use super::node::{ListType, Node};

/// Validates `value` at `path` against `schema`, appending every problem.
pub fn validate(schema: Node<'_>, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !schema.nullable()
            && !schema.is_unconstrained()
            && !schema.preserves_unknown_fields()
            && let Some(t) = schema.type_name()
        {
            errors.push(type_error(path, value, t));
        }
        return;
    }
    if schema.int_or_string() {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            errors.push(FieldError::invalid(
                path,
                value,
                format!(
                    "{} in body must be of type integer,string: {:?}",
                    display_path(path),
                    json_type(value)
                ),
            ));
            return;
        }
    } else if let Some(t) = schema.type_name()
        && !type_matches(t, value)
    {
        errors.push(type_error(path, value, t));
        return;
    }
    check_enum(schema, value, path, errors);
    match value {
        Value::String(s) => check_string(schema, s, value, path, errors),
        Value::Number(_) => check_number(schema, value, path, errors),
        Value::Array(items) => check_array(schema, items, value, path, errors),
        Value::Object(map) => {
            if let Some(Value::Array(required)) = schema.get("required") {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        errors.push(FieldError::required(&join(path, r)));
                    }
                }
            }
            check_count(
                schema,
                map.len(),
                value,
                path,
                "minProperties",
                "maxProperties",
                "properties",
                errors,
            );
            let additional = schema.additional_properties();
            for (key, child) in map {
                if let Some(s) = schema.property(key).or(additional) {
                    validate(s, child, &join(path, key), errors);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `<root>` for the object itself, as Kubernetes prints an empty path.
fn display_path(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

/// The JSON type name Kubernetes prints for a value.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(t: &str, value: &Value) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

fn type_error(path: &str, value: &Value, t: &str) -> FieldError {
    FieldError {
        reason: "FieldValueTypeInvalid",
        field: path.to_string(),
        message: format!(
            "Invalid value: {:?}: {} in body must be of type {t}: {:?}",
            json_type(value),
            display_path(path),
            json_type(value)
        ),
    }
}

fn check_enum(schema: Node<'_>, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(Value::Array(allowed)) = schema.get("enum") else {
        return;
    };
    if allowed.contains(value) {
        return;
    }
    let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
    errors.push(FieldError {
        reason: "FieldValueNotSupported",
        field: path.to_string(),
        message: format!(
            "Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ),
    });
}

fn regex_cache(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = cache.lock().ok()?;
    guard
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok())
        .clone()
}

fn check_string(
    schema: Node<'_>,
    s: &str,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let len = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errors.push(FieldError {
            reason: "FieldValueTooLong",
            field: path.to_string(),
            message: format!("Too long: may not be more than {max} bytes"),
        });
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errors.push(FieldError::invalid(
            path,
            value,
            format!(
                "{} in body should be at least {min} chars long",
                display_path(path)
            ),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex_cache(pattern) {
            Some(re) if !re.is_match(s) => errors.push(FieldError::invalid(
                path,
                value,
                format!("{} in body should match '{pattern}'", display_path(path)),
            )),
            Some(_) => {}
            None => errors.push(FieldError::invalid(
                path,
                value,
                format!("the schema pattern '{pattern}' does not compile"),
            )),
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        let ok = match format {
            "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
            "uuid" => regex_cache(
                "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            )
            .is_some_and(|re| re.is_match(s)),
            // Other formats are accepted unchecked.
            _ => true,
        };
        if !ok {
            errors.push(FieldError::invalid(
                path,
                value,
                format!(
                    "{} in body must be of type {format}: {value}",
                    display_path(path)
                ),
            ));
        }
    }
}

fn check_number(schema: Node<'_>, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else { return };
    let exclusive_min = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
    let exclusive_max = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
    let p = display_path(path);
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        if exclusive_min && n <= min {
            errors.push(FieldError::invalid(
                path,
                value,
                format!("{p} in body should be greater than {}", num(min)),
            ));
        } else if n < min {
            errors.push(FieldError::invalid(
                path,
                value,
                format!(
                    "{p} in body should be greater than or equal to {}",
                    num(min)
                ),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        if exclusive_max && n >= max {
            errors.push(FieldError::invalid(
                path,
                value,
                format!("{p} in body should be less than {}", num(max)),
            ));
        } else if n > max {
            errors.push(FieldError::invalid(
                path,
                value,
                format!("{p} in body should be less than or equal to {}", num(max)),
            ));
        }
    }
    if let Some(m) = schema.get("multipleOf").and_then(Value::as_f64)
        && m > 0.0
        && (n / m).fract() != 0.0
    {
        errors.push(FieldError::invalid(
            path,
            value,
            format!("{p} in body should be a multiple of {}", num(m)),
        ));
    }
}

fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

#[allow(clippy::too_many_arguments)]
fn check_count(
    schema: Node<'_>,
    len: usize,
    value: &Value,
    path: &str,
    min_key: &str,
    max_key: &str,
    what: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(max) = schema.get(max_key).and_then(Value::as_u64)
        && len as u64 > max
    {
        errors.push(FieldError {
            reason: "FieldValueTooMany",
            field: path.to_string(),
            message: format!("Too many: {len}: must have at most {max} {what}"),
        });
    }
    if let Some(min) = schema.get(min_key).and_then(Value::as_u64)
        && (len as u64) < min
    {
        errors.push(FieldError::invalid(
            path,
            value,
            format!(
                "{} in body should have at least {min} {what}",
                display_path(path)
            ),
        ));
    }
}

fn check_array(
    schema: Node<'_>,
    items: &[Value],
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    check_count(
        schema,
        items.len(),
        value,
        path,
        "minItems",
        "maxItems",
        "items",
        errors,
    );
    match schema.list_type() {
        ListType::Set => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errors.push(FieldError::duplicate(&format!("{path}[{i}]"), item));
                }
            }
        }
        ListType::Map(keys) => {
            let key_of = |v: &Value| -> Vec<Value> {
                keys.iter()
                    .map(|k| v.get(k).cloned().unwrap_or(Value::Null))
                    .collect()
            };
            for (i, item) in items.iter().enumerate() {
                let k = key_of(item);
                if items[..i].iter().any(|o| key_of(o) == k) {
                    let shown: serde_json::Map<String, Value> = keys
                        .iter()
                        .cloned()
                        .zip(k)
                        .filter(|(_, v)| !v.is_null())
                        .collect();
                    errors.push(FieldError::duplicate(
                        &format!("{path}[{i}]"),
                        &Value::Object(shown),
                    ));
                }
            }
        }
        ListType::Atomic => {}
    }
    if let Some(item_schema) = schema.items() {
        for (i, item) in items.iter().enumerate() {
            validate(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::node::Catalog;
    use serde_json::json;

    fn errors_for(schema: Value, value: Value) -> Vec<FieldError> {
        let c = Catalog::default();
        let mut errs = Vec::new();
        validate(c.node_for(&schema), &value, "spec", &mut errs);
        errs
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn wrong_types_are_reported_like_kubernetes() {
        let errs = errors_for(
            json!({"type": "object", "properties": {"size": {"type": "integer"}}}),
            json!({"size": "big"}),
        );
        assert_eq!(
            messages(&errs),
            vec![
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
            ]
        );
    }

    #[test]
    fn missing_required_fields_are_required_values() {
        let errs = errors_for(json!({"type": "object", "required": ["image"]}), json!({}));
        assert_eq!(errs, vec![FieldError::required("spec.image")]);
        assert_eq!(errs[0].message, "Required value");
    }

    #[test]
    fn enum_lists_the_supported_values() {
        let errs = errors_for(json!({"type": "string", "enum": ["a", "b"]}), json!("c"));
        assert_eq!(
            messages(&errs),
            vec!["spec: Unsupported value: \"c\": supported values: \"a\", \"b\""]
        );
    }

    #[test]
    fn pattern_lengths_and_bounds_are_checked() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 3},
            "n": {"type": "integer", "minimum": 1, "maximum": 5, "exclusiveMaximum": true},
            "l": {"type": "array", "maxItems": 1, "items": {"type": "string"}}
        }});
        let errs = errors_for(schema, json!({"name": "AbcD", "n": 5, "l": ["a", "b"]}));
        let msgs = messages(&errs);
        assert!(
            msgs.contains(&"spec.name: Too long: may not be more than 3 bytes".to_string()),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(
                &"spec.name: Invalid value: \"AbcD\": spec.name in body should match '^[a-z]+$'"
                    .to_string()
            )
        );
        assert!(msgs.contains(
            &"spec.n: Invalid value: 5: spec.n in body should be less than 5".to_string()
        ));
        assert!(msgs.contains(&"spec.l: Too many: 2: must have at most 1 items".to_string()));
    }

    #[test]
    fn int_or_string_accepts_both_and_nothing_else() {
        let schema = json!({"x-kubernetes-int-or-string": true});
        assert!(errors_for(schema.clone(), json!(3)).is_empty());
        assert!(errors_for(schema.clone(), json!("50%")).is_empty());
        assert_eq!(errors_for(schema, json!(true)).len(), 1);
    }

    #[test]
    fn nullable_allows_null() {
        assert!(errors_for(json!({"type": "string", "nullable": true}), Value::Null).is_empty());
        assert_eq!(errors_for(json!({"type": "string"}), Value::Null).len(), 1);
    }

    #[test]
    fn list_map_keys_must_be_unique() {
        let schema = json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}}}});
        let errs = errors_for(schema, json!([{"name": "a"}, {"name": "a"}]));
        assert_eq!(
            messages(&errs),
            vec!["spec[1]: Duplicate value: {\"name\":\"a\"}"]
        );
    }

    #[test]
    fn date_time_format_is_checked() {
        let schema = json!({"type": "string", "format": "date-time"});
        assert!(errors_for(schema.clone(), json!("2024-01-02T03:04:05Z")).is_empty());
        assert_eq!(errors_for(schema, json!("yesterday")).len(), 1);
    }
}

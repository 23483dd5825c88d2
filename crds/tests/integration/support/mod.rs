//! Test support: the generated schema of each kind, and a validator that checks an object
//! against it the way the API server does (types, required fields, unknown fields, patterns,
//! enums, lengths, and the `x-kubernetes-validations` CEL rules, evaluated with Flotilla's
//! own CEL engine from the `policies` crate).
//!
//! Hand-written because no Rust crate validates Kubernetes structural schemas: JSON Schema
//! validators do not know `nullable`, `x-kubernetes-*` or CEL rules.

#![allow(dead_code)] // each test binary uses a different part

use serde_json::Value;

/// `openAPIV3Schema` of the CRD whose kind is `kind`.
pub fn schema_of(kind: &str) -> Value {
    let crd = crds::all_crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("every version has a schema");
    serde_json::to_value(schema).unwrap()
}

/// Every violation of `object` (a whole custom resource as JSON) against its kind's schema,
/// as `<json path>: <problem>` strings. Empty when the object is valid.
pub fn violations(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().expect("object has a kind");
    let schema = schema_of(kind);
    let mut errors = Vec::new();
    check(&schema, object, "", true, &mut errors);
    errors
}

/// Every violation of `value` against one schema node (e.g. a kind's `status` schema).
pub fn violations_of(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, "", false, &mut errors);
    errors
}

/// Parses YAML and returns its violations.
pub fn yaml_violations(yaml: &str) -> Vec<String> {
    let object: Value = serde_saphyr::from_str(yaml).expect("test YAML parses");
    violations(&object)
}

fn check(schema: &Value, value: &Value, path: &str, root: bool, errors: &mut Vec<String>) {
    let at = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            errors.push(format!("{at}: null is not allowed"));
        }
        return;
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        errors.push(format!("{at}: expected {}, got {value}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {}", schema["enum"]));
    }
    if let Some(s) = value.as_str() {
        if let Some(pattern) = schema["pattern"].as_str()
            && !regex::Regex::new(pattern).unwrap().is_match(s)
        {
            errors.push(format!("{at}: {s:?} does not match {pattern}"));
        }
        let len = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| len < min) {
            errors.push(format!("{at}: shorter than {}", schema["minLength"]));
        }
        if schema["maxLength"].as_u64().is_some_and(|max| len > max) {
            errors.push(format!("{at}: longer than {}", schema["maxLength"]));
        }
    }
    if let Some(items) = value.as_array() {
        if schema["minItems"]
            .as_u64()
            .is_some_and(|min| (items.len() as u64) < min)
        {
            errors.push(format!("{at}: fewer than {} items", schema["minItems"]));
        }
        for (i, item) in items.iter().enumerate() {
            check(
                &schema["items"],
                item,
                &format!("{path}[{i}]"),
                false,
                errors,
            );
        }
    }
    if let Some(fields) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            if !fields.contains_key(name) {
                errors.push(format!("{path}.{name}: required"));
            }
        }
        for (name, field) in fields {
            let field_path = format!("{path}.{name}");
            if let Some(field_schema) = schema["properties"].get(name) {
                check(field_schema, field, &field_path, false, errors);
            } else if schema["additionalProperties"].is_object() {
                check(
                    &schema["additionalProperties"],
                    field,
                    &field_path,
                    false,
                    errors,
                );
            } else if root && ["apiVersion", "kind", "metadata"].contains(&name.as_str()) {
                // Validated by the API server itself, not by the CRD schema.
            } else if schema["x-kubernetes-preserve-unknown-fields"] != Value::Bool(true) {
                errors.push(format!("{field_path}: unknown field"));
            }
        }
    }
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let source = rule["rule"].as_str().unwrap();
        match evaluate_rule(source, value) {
            Ok(true) => {}
            Ok(false) => errors.push(format!(
                "{at}: {}",
                rule["message"]
                    .as_str()
                    .map_or_else(|| format!("failed rule: {source}"), str::to_owned)
            )),
            Err(e) => errors.push(format!("{at}: rule {source:?} did not evaluate: {e}")),
        }
    }
}

/// Evaluates one `x-kubernetes-validations` rule with `self` bound to `value`.
pub fn evaluate_rule(source: &str, value: &Value) -> Result<bool, String> {
    let env = policies::cel::Env::new(["self"]);
    let program = policies::cel::compile(source, &env).map_err(|e| e.to_string())?;
    let mut activation = policies::cel::Activation::new();
    activation
        .insert_json("self", value)
        .map_err(|e| e.to_string())?;
    program
        .evaluate_bool(&activation)
        .map_err(|e| e.to_string())
}

/// Every `x-kubernetes-validations` rule in a schema, with the JSON path of its node.
pub fn all_rules(schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push((path.to_owned(), rule["rule"].as_str().unwrap().to_owned()));
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, sub) in properties {
            all_rules(sub, &format!("{path}.{name}"), out);
        }
    }
    if schema["items"].is_object() {
        all_rules(&schema["items"], &format!("{path}[]"), out);
    }
    if schema["additionalProperties"].is_object() {
        all_rules(&schema["additionalProperties"], &format!("{path}{{}}"), out);
    }
}

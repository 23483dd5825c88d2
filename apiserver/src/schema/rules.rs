//! `x-kubernetes-validations`: CEL rules in CRD schemas, evaluated with the
//! `policies` crate's CEL layer. `self` is the value at the rule's schema
//! node, `oldSelf` the same value in the old object; rules that mention
//! `oldSelf` (transition rules) run only on updates where an old value
//! exists. Old values are matched by property name and, in
//! `x-kubernetes-list-type: map` lists, by the map keys.
//!
//! Compiled programs are cached by expression text: a CRD's rules compile
//! once, not on every write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use policies::cel::{self, Activation, Env, Program};
use serde_json::Value;

use super::FieldError;
use super::node::{ListType, Node};

type Compiled = Result<Arc<Program>, String>;

fn compiled(expr: &str) -> Compiled {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(guard) = cache.lock()
        && let Some(hit) = guard.get(expr)
    {
        return hit.clone();
    }
    let env = Env::new(["self", "oldSelf"]);
    let result = cel::compile(expr, &env)
        .map(Arc::new)
        .map_err(|e| e.to_string());
    if let Ok(mut guard) = cache.lock() {
        guard.insert(expr.to_string(), result.clone());
    }
    result
}

/// Checks that every rule in a CRD version schema compiles; the errors name
/// the schema path of the rule (for rejecting a CRD at create/update).
pub fn check_rules_compile(schema: Node<'_>, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(Value::Array(rules)) = schema.raw().get("x-kubernetes-validations") {
        for (i, rule) in rules.iter().enumerate() {
            for key in ["rule", "messageExpression"] {
                if let Some(expr) = rule.get(key).and_then(Value::as_str)
                    && let Err(e) = compiled(expr)
                {
                    let field = format!("{path}.x-kubernetes-validations[{i}].{key}");
                    errors.push(FieldError {
                        reason: "FieldValueInvalid",
                        field: field.clone(),
                        message: format!("Invalid value: {expr:?}: compilation failed: {e}"),
                    });
                }
            }
        }
    }
    for (name, child) in schema.properties() {
        check_rules_compile(child, &format!("{path}.properties[{name}]"), errors);
    }
    if let Some(a) = schema.additional_properties() {
        check_rules_compile(a, &format!("{path}.additionalProperties"), errors);
    }
    if let Some(items) = schema.items() {
        check_rules_compile(items, &format!("{path}.items"), errors);
    }
}

/// Evaluates every rule under `schema` against `value` (and `old`).
pub fn evaluate(
    schema: Node<'_>,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if value.is_null() {
        return;
    }
    if let Some(Value::Array(rules)) = schema.get("x-kubernetes-validations") {
        for rule in rules {
            if let Some(e) = evaluate_rule(schema, rule, value, old, path) {
                errors.push(e);
            }
        }
    }
    match value {
        Value::Object(map) => {
            let additional = schema.additional_properties();
            for (key, child) in map {
                if let Some(s) = schema.property(key).or(additional) {
                    let old_child = old.and_then(|o| o.get(key));
                    let p = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    evaluate(s, child, old_child, &p, errors);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.items() else {
                return;
            };
            let keys = match schema.list_type() {
                ListType::Map(keys) => Some(keys),
                _ => None,
            };
            for (i, item) in items.iter().enumerate() {
                let old_item = match (&keys, old) {
                    (Some(keys), Some(Value::Array(olds))) => olds
                        .iter()
                        .find(|o| keys.iter().all(|k| o.get(k) == item.get(k))),
                    _ => None,
                };
                evaluate(item_schema, item, old_item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn evaluate_rule(
    schema: Node<'_>,
    rule: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
) -> Option<FieldError> {
    let expr = rule.get("rule").and_then(Value::as_str)?;
    let transition = expr.contains("oldSelf");
    let optional_old_self = rule.get("optionalOldSelf").and_then(Value::as_bool) == Some(true);
    if transition && old.is_none() && !optional_old_self {
        return None;
    }
    let shown_type = schema.type_name().unwrap_or("object");
    let field = match rule.get("fieldPath").and_then(Value::as_str) {
        Some(fp) => format!("{path}{fp}"),
        None => path.to_string(),
    };
    let reason = match rule.get("reason").and_then(Value::as_str) {
        Some("FieldValueRequired") => "FieldValueRequired",
        Some("FieldValueDuplicate") => "FieldValueDuplicate",
        Some("FieldValueForbidden") => "FieldValueForbidden",
        _ => "FieldValueInvalid",
    };
    let fail = |message: String| FieldError {
        reason,
        field: field.clone(),
        message: format!("Invalid value: {shown_type:?}: {message}"),
    };
    let program = match compiled(expr) {
        Ok(p) => p,
        Err(e) => return Some(fail(format!("compilation failed: {e}"))),
    };
    let mut activation = Activation::new();
    if activation.insert_json("self", value).is_err() {
        return Some(fail("cannot convert the value for CEL".to_string()));
    }
    match old {
        Some(o) if activation.insert_json("oldSelf", o).is_err() => {
            return Some(fail("cannot convert the old value for CEL".to_string()));
        }
        Some(_) => {}
        // optionalOldSelf: `oldSelf` is an absent optional; cel 0.15 has no
        // optional values here, so null stands in for "no old value".
        None if transition => {
            let _ = activation.insert_json("oldSelf", &Value::Null);
        }
        None => {}
    }
    match program.evaluate_bool(&activation) {
        Ok(true) => None,
        Ok(false) => Some(fail(rule_message(rule, &activation, expr))),
        Err(e) => Some(fail(format!("rule evaluation error: {e}"))),
    }
}

fn rule_message(rule: &Value, activation: &Activation, expr: &str) -> String {
    if let Some(me) = rule.get("messageExpression").and_then(Value::as_str)
        && let Ok(program) = compiled(me)
        && let Ok(cel::Value::String(s)) = program.evaluate(activation)
        && !s.trim().is_empty()
    {
        return s.to_string();
    }
    match rule.get("message").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => format!("failed rule: {expr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::node::Catalog;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.replicas <= self.max", "message": "replicas must not exceed max"},
            {"rule": "self.replicas >= oldSelf.replicas", "messageExpression": "'cannot scale down from ' + string(oldSelf.replicas)"}
        ],
        "properties": {
            "replicas": {"type": "integer"}, "max": {"type": "integer"},
            "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "name is immutable"}]}
        }}}})
    }

    fn run(obj: Value, old: Option<Value>) -> Vec<String> {
        let c = Catalog::default();
        let s = schema();
        let mut errs = Vec::new();
        evaluate(c.node_for(&s), &obj, old.as_ref(), "", &mut errs);
        errs.into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn a_false_rule_reports_its_message_at_the_schema_node() {
        assert_eq!(
            run(json!({"spec": {"replicas": 5, "max": 3}}), None),
            vec!["spec: Invalid value: \"object\": replicas must not exceed max"]
        );
    }

    #[test]
    fn transition_rules_run_only_on_update() {
        assert!(
            run(
                json!({"spec": {"replicas": 1, "max": 3, "name": "a"}}),
                None
            )
            .is_empty()
        );
        let errs = run(
            json!({"spec": {"replicas": 1, "max": 3, "name": "b"}}),
            Some(json!({"spec": {"replicas": 2, "max": 3, "name": "a"}})),
        );
        assert_eq!(
            errs,
            vec![
                "spec: Invalid value: \"object\": cannot scale down from 2",
                "spec.name: Invalid value: \"string\": name is immutable"
            ]
        );
    }

    #[test]
    fn rules_that_do_not_compile_are_found_with_their_schema_path() {
        let c = Catalog::default();
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "self.replicas >"}]}}});
        let mut errs = Vec::new();
        check_rules_compile(c.node_for(&s), "openAPIV3Schema", &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].field,
            "openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
        );
    }
}

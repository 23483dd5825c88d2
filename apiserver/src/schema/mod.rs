//! Object schemas: the built-in catalog (k8s-openapi plus Kubernetes' vendor
//! extensions), a cursor to walk any schema, and what the API server does
//! with schemas on writes: pruning of unknown fields, defaulting,
//! structural validation and `x-kubernetes-validations` CEL rules for
//! custom resources; unknown-field detection for built-ins.
//!
//! Boundaries: pure functions over `serde_json::Value`; the HTTP layer
//! decides when to call them and maps their errors to `Status` objects.
//!
//! Error mapping for the HTTP layer:
//! - [`Invalid`] → 422 `Invalid`, one `Status.details.causes` entry per
//!   [`FieldError`] (`reason`, `field`, `message`), message
//!   `<Kind>.<group> "<name>" is invalid: [<field>: <message>, ...]`;
//! - [`Checked::strict_error`] (unknown fields under
//!   `fieldValidation=Strict`) → 400 `BadRequest` with that message;
//! - [`Checked::warnings`] (under `Warn`) → one `Warning` header each.

pub mod builtin;
pub mod defaults;
pub mod node;
pub mod prune;
pub mod rules;
pub mod validate;

pub use node::{Catalog, ListType, Node};
pub use prune::Flavor;
pub use resource::{check_for_resource, resource_schema};

pub mod resource;

use serde_json::Value;

/// One field-level problem, as in `Status.details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Kubernetes' cause type: `FieldValueInvalid`, `FieldValueRequired`,
    /// `FieldValueNotSupported`, `FieldValueTypeInvalid`, `FieldValueTooLong`,
    /// `FieldValueTooMany`, `FieldValueDuplicate`, `FieldValueForbidden`.
    pub reason: &'static str,
    /// The field path, e.g. `spec.ports[1].port`.
    pub field: String,
    /// The message without the field, e.g. `Required value`.
    pub message: String,
}

impl FieldError {
    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(field: &str, value: &Value, detail: String) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.to_string(),
            message: format!("Invalid value: {}: {detail}", shown(value)),
        }
    }

    /// `Required value`.
    pub fn required(field: &str) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.to_string(),
            message: "Required value".to_string(),
        }
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: &str, value: &Value) -> Self {
        Self {
            reason: "FieldValueDuplicate",
            field: field.to_string(),
            message: format!("Duplicate value: {value}"),
        }
    }
}

/// How a value appears in a message: strings quoted, objects and lists by
/// their type, as Kubernetes prints them.
fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) => "\"object\"".to_string(),
        Value::Array(_) => "\"array\"".to_string(),
        other => other.to_string(),
    }
}

/// The object fails its schema (422 Invalid).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .errors.iter().map(|e| if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", e.field, e.message) }).collect::<Vec<_>>().join(", "))]
pub struct Invalid {
    /// Every problem found, in document order.
    pub errors: Vec<FieldError>,
}

/// What a successful check found: fields pruned because no schema declares
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Paths of dropped fields (`spec.foo`, `spec.items[0].bar`).
    pub unknown_fields: Vec<String>,
}

impl Checked {
    /// `Warning` header texts for `fieldValidation=Warn`.
    pub fn warnings(&self) -> Vec<String> {
        self.unknown_fields
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect()
    }

    /// The 400 message for `fieldValidation=Strict`, when anything was unknown.
    pub fn strict_error(&self) -> Option<String> {
        if self.unknown_fields.is_empty() {
            return None;
        }
        Some(format!(
            "strict decoding error: {}",
            self.warnings().join(", ")
        ))
    }
}

/// Prunes, defaults and validates a custom resource against its CRD
/// version's `openAPIV3Schema` (`None`: the CRD gives no schema and
/// anything is kept), then runs its `x-kubernetes-validations` rules
/// (`old` is the stored object on updates, for transition rules).
pub fn check_custom_resource(
    schema: Option<&Value>,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<Checked, Invalid> {
    let Some(schema) = schema else {
        return Ok(Checked::default());
    };
    let node = builtin::catalog().node_for(schema);
    let unknown_fields = prune::prune(node, obj, Flavor::Structural, true);
    defaults::apply_defaults(node, obj);
    let mut errors = Vec::new();
    validate_root(node, obj, &mut errors);
    rules::evaluate(node, obj, old, "", &mut errors);
    if errors.is_empty() {
        Ok(Checked { unknown_fields })
    } else {
        Err(Invalid { errors })
    }
}

/// Structural validation of a whole object: `apiVersion`, `kind` and
/// `metadata` belong to the server, the rest to the schema.
fn validate_root(node: Node<'_>, obj: &Value, errors: &mut Vec<FieldError>) {
    let Value::Object(map) = obj else {
        errors.push(FieldError::invalid(
            "",
            obj,
            "must be an object".to_string(),
        ));
        return;
    };
    if let Some(Value::Array(required)) = node.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                errors.push(FieldError::required(r));
            }
        }
    }
    for (key, value) in map {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(s) = node.property(key) {
            validate::validate(s, value, key, errors);
        }
    }
}

/// Prunes fields a built-in type does not declare (as decoding into the Go
/// type does in Kubernetes) and reports them for `fieldValidation`.
/// Unknown definitions are left alone.
pub fn check_builtin(definition: &str, obj: &mut Value) -> Checked {
    match builtin::node(definition) {
        Some(node) => Checked {
            unknown_fields: prune::prune(node, obj, Flavor::BuiltIn, true),
        },
        None => Checked::default(),
    }
}

/// Checks a CustomResourceDefinition's version schemas before it is stored:
/// every `x-kubernetes-validations` rule must compile. Field paths start at
/// `spec.versions[i].schema.openAPIV3Schema`.
pub fn check_crd(crd: &Value) -> Result<(), Invalid> {
    let mut errors = Vec::new();
    if let Some(Value::Array(versions)) = crd.pointer("/spec/versions") {
        for (i, v) in versions.iter().enumerate() {
            if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
                let node = builtin::catalog().node_for(schema);
                let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
                check_structural(schema, &path, true, &mut errors);
                rules::check_rules_compile(node, &path, &mut errors);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid { errors })
    }
}

/// The structural-schema rules Kubernetes enforces on CRD schemas (the
/// ones pruning and defaulting rely on): every node has a `type` (unless it
/// is int-or-string or preserves unknown fields), `properties` and
/// `additionalProperties` exclude each other, the root is an object.
fn check_structural(schema: &Value, path: &str, root: bool, errors: &mut Vec<FieldError>) {
    let Value::Object(m) = schema else { return };
    let flag = |k: &str| m.get(k).and_then(Value::as_bool) == Some(true);
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    if ty.is_empty()
        && !flag("x-kubernetes-int-or-string")
        && !flag("x-kubernetes-preserve-unknown-fields")
    {
        errors.push(FieldError {
            reason: "FieldValueRequired",
            field: format!("{path}.type"),
            message: "Required value: must not be empty for specified object fields".into(),
        });
    }
    if root && !ty.is_empty() && ty != "object" {
        errors.push(FieldError {
            reason: "FieldValueInvalid",
            field: format!("{path}.type"),
            message: format!("Invalid value: {ty:?}: must be object at the root"),
        });
    }
    if m.contains_key("properties")
        && matches!(m.get("additionalProperties"), Some(Value::Object(_)))
    {
        errors.push(FieldError {
            reason: "FieldValueForbidden",
            field: format!("{path}.additionalProperties"),
            message: "Forbidden: additionalProperties and properties are mutual exclusive".into(),
        });
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        for (name, child) in props {
            check_structural(child, &format!("{path}.properties[{name}]"), false, errors);
        }
    }
    if let Some(items) = m.get("items") {
        check_structural(items, &format!("{path}.items"), false, errors);
    }
    if let Some(additional @ Value::Object(_)) = m.get("additionalProperties") {
        check_structural(
            additional,
            &format!("{path}.additionalProperties"),
            false,
            errors,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["image"],
        "properties": {
            "image": {"type": "string"},
            "replicas": {"type": "integer", "default": 1, "minimum": 0}
        }}}})
    }

    #[test]
    fn a_custom_resource_is_pruned_defaulted_and_validated() {
        let s = schema();
        let mut obj = json!({"apiVersion": "e/v1", "kind": "W", "metadata": {"name": "w"},
                             "spec": {"image": "x", "colour": "red"}});
        let checked = check_custom_resource(Some(&s), &mut obj, None).expect("valid");
        assert_eq!(checked.unknown_fields, vec!["spec.colour"]);
        assert_eq!(obj["spec"], json!({"image": "x", "replicas": 1}));
        assert_eq!(checked.warnings(), vec!["unknown field \"spec.colour\""]);
        assert_eq!(
            checked.strict_error().as_deref(),
            Some("strict decoding error: unknown field \"spec.colour\"")
        );
    }

    #[test]
    fn an_invalid_custom_resource_lists_every_problem() {
        let s = schema();
        let mut obj = json!({"spec": {"replicas": -1}});
        let err = check_custom_resource(Some(&s), &mut obj, None).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "spec.image: Required value, spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
        );
    }

    #[test]
    fn without_a_schema_everything_is_kept() {
        let mut obj = json!({"spec": {"anything": 1}});
        assert_eq!(
            check_custom_resource(None, &mut obj, None),
            Ok(Checked::default())
        );
        assert_eq!(obj["spec"]["anything"], 1);
    }

    #[test]
    fn built_in_unknown_fields_are_reported() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}, "dta": {}});
        let checked = check_builtin("io.k8s.api.core.v1.ConfigMap", &mut cm);
        assert_eq!(checked.unknown_fields, vec!["dta"]);
        assert!(cm.get("dta").is_none());
    }

    #[test]
    fn a_crd_schema_node_without_a_type_is_not_structural() {
        let crd = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}},
                                             "free": {"x-kubernetes-preserve-unknown-fields": true}}}}}]}});
        let err = check_crd(&crd).expect_err("not structural");
        assert_eq!(err.errors.len(), 1);
        assert_eq!(
            err.to_string(),
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
        );
    }

    #[test]
    fn a_crd_with_a_broken_rule_is_rejected() {
        let crd = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object", "x-kubernetes-validations": [{"rule": "self.a ==="}]}}}]}});
        let err = check_crd(&crd).expect_err("broken rule");
        assert_eq!(
            err.errors[0].field,
            "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule"
        );
    }
}

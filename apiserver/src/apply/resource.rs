//! Apply and ownership tracking for a served resource: picks the schema
//! from the registry entry and maps errors to the crate's Kubernetes-shaped
//! [`Error`], so the HTTP layer's hooks are one call each.

use serde_json::Value;

use super::{ApplyError, ApplyOptions, server_side_apply, update_managed_fields};
use crate::error::{Cause, Error, Target};
use crate::registry::ResourceInfo;
use crate::schema::resource_schema;

/// The time managedFields record: RFC 3339, whole seconds, `Z`.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Maps an apply failure to the `Status` Kubernetes sends.
pub fn to_error(err: ApplyError, target: &Target) -> Error {
    match err {
        ApplyError::Conflicts(conflicts) => Error::ApplyConflict {
            target: target.clone(),
            causes: conflicts
                .iter()
                // Kubernetes' top-level message repeats each cause with its
                // field; A1's `Error` joins cause messages, so the cause
                // message carries the field too.
                .map(|c| Cause::new("FieldManagerConflict", &c.field, c.to_string()))
                .collect(),
        },
        ApplyError::Invalid(m) => Error::BadRequest(m),
    }
}

/// Server-side apply of `applied` by `manager` onto `live` (`None`: create)
/// of a resource; `subresource` is `Some("status")` for the status
/// subresource.
pub fn apply_to_resource(
    info: &ResourceInfo,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    target: &Target,
) -> Result<Value, Error> {
    let time = now();
    let api_version = info.api_version();
    let opts = ApplyOptions {
        manager,
        force,
        api_version: &api_version,
        subresource,
        has_status_subresource: info.status,
        time: &time,
    };
    server_side_apply(live, applied, resource_schema(info), &opts).map_err(|e| to_error(e, target))
}

/// Records a non-apply write by `manager` in `new`'s managedFields.
/// Unreadable stored managedFields are replaced rather than failing the
/// write: they are bookkeeping, not user data.
pub fn track_update_for_resource(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: Value,
    manager: &str,
    subresource: &str,
) -> Value {
    let time = now();
    let api_version = info.api_version();
    let opts = ApplyOptions {
        manager,
        force: false,
        api_version: &api_version,
        subresource: (!subresource.is_empty()).then_some(subresource),
        has_status_subresource: info.status,
        time: &time,
    };
    let schema = resource_schema(info);
    match update_managed_fields(old, new.clone(), schema, &opts) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, kind = %info.kind, "resetting unreadable managedFields");
            let mut fresh = new;
            if let Some(Value::Object(meta)) = fresh.get_mut("metadata") {
                meta.remove("managedFields");
            }
            update_managed_fields(None, fresh.clone(), schema, &opts).unwrap_or(fresh)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    #[test]
    fn a_conflict_becomes_a_409_with_field_manager_conflict_causes() {
        let reg = Registry::builtin();
        let info = reg.lookup("", "v1", "configmaps").expect("served");
        let target = Target::new("", "configmaps", "ConfigMap", "c");
        let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": v}});
        let live = track_update_for_resource(&info, None, cm("1"), "kubectl-client-side-apply", "");
        let err = apply_to_resource(
            &info,
            Some(&live),
            &cm("2"),
            "kubectl",
            false,
            None,
            &target,
        )
        .expect_err("conflict");
        assert_eq!(err.code(), 409);
        let status = err.to_status();
        assert_eq!(
            status["message"],
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.k"
        );
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldManagerConflict"
        );
        assert_eq!(status["details"]["causes"][0]["field"], ".data.k");
    }

    #[test]
    fn times_are_whole_seconds_in_utc() {
        let t = now();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
    }
}

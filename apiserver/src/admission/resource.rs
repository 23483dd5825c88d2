//! Admission for a served resource: builds the attributes from the
//! registry entry and the objects, and maps a denial to the crate's
//! Kubernetes-shaped [`Error`], so the HTTP layer's hook is one call.

use serde_json::Value;

use super::{Admission, Attributes, Lookup};
use crate::error::{Denial, Error, Target};
use crate::registry::ResourceInfo;
use policies::Operation;

/// Runs a write (`operation` `CREATE`, `UPDATE` or `DELETE`) through the
/// loaded policies; returns the `Warning` header texts.
///
/// `lookup` supplies Namespace objects (for `namespaceObject` and
/// namespace selectors) and params objects.
#[allow(clippy::too_many_arguments)]
pub fn admit_resource(
    admission: &Admission,
    info: &ResourceInfo,
    operation: &str,
    subresource: &str,
    new: Option<&Value>,
    old: Option<&Value>,
    user: &str,
    dry_run: bool,
    lookup: &dyn Lookup,
    target: &Target,
) -> Result<Vec<String>, Error> {
    let operation = match operation {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        "CONNECT" => Operation::Connect,
        other => {
            return Err(Error::Internal(format!(
                "unknown admission operation {other:?}"
            )));
        }
    };
    let obj = new.or(old);
    let name = obj
        .and_then(|o| o.pointer("/metadata/name"))
        .and_then(Value::as_str)
        .unwrap_or(&target.name);
    let namespace = obj
        .and_then(|o| o.pointer("/metadata/namespace"))
        .and_then(Value::as_str)
        .filter(|_| info.namespaced);
    let attrs = Attributes {
        operation,
        group: &info.group,
        version: &info.version,
        kind: &info.kind,
        resource: &info.plural,
        subresource,
        name,
        namespace,
        object: new,
        old_object: old,
        user,
        groups: &[],
        dry_run,
    };
    match admission.admit(&attrs, lookup) {
        Ok(admitted) => Ok(admitted.warnings),
        Err(denied) => Err(Error::Denied(Box::new(Denial {
            target: target.clone(),
            message: denied.message,
            reason: denied.reason,
            code: denied.code,
            // Kubernetes sends the policy's message as a cause with no
            // reason and no field.
            causes: vec![crate::error::Cause::new("", "", denied.cause)],
        }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use policies::ObjectSet;
    use serde_json::json;

    #[test]
    fn a_denied_configmap_is_a_422_status() {
        let adm = Admission::new();
        let errors = adm.load(&[
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": "no-secrets-in-cm"},
                "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                        "operations": ["CREATE"], "resources": ["configmaps"]}]},
                    "validations": [{"expression": "!has(object.data) || !('password' in object.data)"}]}}),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": "no-secrets-in-cm-binding"},
                "spec": {"policyName": "no-secrets-in-cm", "validationActions": ["Deny"]}}),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let reg = Registry::builtin();
        let info = reg.lookup("", "v1", "configmaps").expect("served");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
                        "data": {"password": "x"}});
        let target = Target::new("", "configmaps", "ConfigMap", "c");
        let err = admit_resource(
            &adm,
            &info,
            "CREATE",
            "",
            Some(&cm),
            None,
            "admin",
            false,
            &ObjectSet::default(),
            &target,
        )
        .expect_err("denied");
        assert_eq!(err.code(), 422);
        assert_eq!(
            err.to_string(),
            "configmaps \"c\" is forbidden: ValidatingAdmissionPolicy 'no-secrets-in-cm' with binding 'no-secrets-in-cm-binding' denied request: failed expression: !has(object.data) || !('password' in object.data)"
        );
    }
}

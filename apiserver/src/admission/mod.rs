//! Admission by the ValidatingAdmissionPolicies stored in the control
//! plane, through the same engine as `flotilla validate` (the `policies`
//! crate).
//!
//! The server keeps one [`Admission`]; whenever a policy or binding is
//! written or deleted it hands over the full current list ([`Admission::load`]).
//! Every write is then run through [`Admission::admit`]: `Deny` failures
//! reject it, `Warn` failures become `Warning` headers, `Audit` failures
//! and audit annotations are returned for the audit trail.
//!
//! Boundaries: no storage access; namespaces and params come through the
//! [`Lookup`] the caller implements over its store.
//!
//! Error mapping for the HTTP layer: [`Denied`] → a `Status` with
//! [`Denied::reason`] (`Invalid` unless the validation names another) and
//! [`Denied::code`] (422 for `Invalid`, 403 `Forbidden`, 401 `Unauthorized`,
//! 413 `RequestEntityTooLarge`), message [`Denied::message`], and one
//! `details.causes` entry whose message is [`Denied::cause`] (no field).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use policies::vap::{GroupVersionKind, GroupVersionResource, UserInfo};
use policies::{FailureKind, Operation, PolicySet, Request, ValidationAction, Verdict};
use serde_json::Value;

pub use policies::{Lookup, ObjectSet};

pub mod resource;

/// What is being written, as admission sees it.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    /// CREATE, UPDATE or DELETE.
    pub operation: Operation,
    /// API group (`""` for core).
    pub group: &'a str,
    /// API version of the request.
    pub version: &'a str,
    /// Kind of the object.
    pub kind: &'a str,
    /// Plural resource name.
    pub resource: &'a str,
    /// `status`, `scale` or empty.
    pub subresource: &'a str,
    /// Object name.
    pub name: &'a str,
    /// Namespace, for namespaced resources.
    pub namespace: Option<&'a str>,
    /// The new object (none on DELETE).
    pub object: Option<&'a Value>,
    /// The stored object (UPDATE, DELETE).
    pub old_object: Option<&'a Value>,
    /// Who asks.
    pub user: &'a str,
    /// Their groups.
    pub groups: &'a [String],
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// A write admission rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// `<resource>.<group> "<name>" is forbidden: ValidatingAdmissionPolicy
    /// '<policy>' with binding '<binding>' denied request: <message>`.
    pub message: String,
    /// The denial without the `... is forbidden: ` prefix, which Kubernetes
    /// also sends as the single `Status.details.causes` message (kubectl
    /// prints it: `The deployments "web" is invalid: : ValidatingAdmissionPolicy ...`).
    pub cause: String,
    /// The Status reason (`Invalid` by default).
    pub reason: String,
    /// The HTTP code for that reason.
    pub code: u16,
}

/// What an admitted write carries along.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    /// `Warning` header texts.
    pub warnings: Vec<String>,
    /// Audit annotations (`policy/key` → value), including failures of
    /// bindings whose action is `Audit`.
    pub audit_annotations: BTreeMap<String, String>,
}

/// The policies and bindings currently stored, compiled.
#[derive(Debug, Default)]
pub struct Admission {
    set: RwLock<Arc<PolicySet>>,
}

impl Admission {
    /// No policies: everything is admitted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the loaded policies and bindings with `objects` (every
    /// stored ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding).
    /// Returns one message per object that could not be loaded (such
    /// policies are skipped; their bindings then match nothing).
    pub fn load(&self, objects: &[Value]) -> Vec<String> {
        let mut set = PolicySet::new();
        let mut errors = Vec::new();
        for obj in objects {
            if let Err(e) = set.add(obj) {
                errors.push(e.to_string());
            }
        }
        if let Ok(mut guard) = self.set.write() {
            *guard = Arc::new(set);
        }
        errors
    }

    /// Runs a write through every matching binding.
    pub fn admit(&self, attrs: &Attributes<'_>, lookup: &dyn Lookup) -> Result<Admitted, Denied> {
        let set = match self.set.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(_) => return Ok(Admitted::default()),
        };
        if set.binding_count() == 0 {
            return Ok(Admitted::default());
        }
        let request = Request {
            operation: attrs.operation,
            kind: GroupVersionKind {
                group: attrs.group.to_string(),
                version: attrs.version.to_string(),
                kind: attrs.kind.to_string(),
            },
            resource: GroupVersionResource {
                group: attrs.group.to_string(),
                version: attrs.version.to_string(),
                resource: attrs.resource.to_string(),
            },
            sub_resource: attrs.subresource.to_string(),
            name: attrs.name.to_string(),
            namespace: attrs.namespace.map(str::to_string),
            object: attrs.object.cloned(),
            old_object: attrs.old_object.cloned(),
            user_info: UserInfo {
                username: attrs.user.to_string(),
                groups: attrs.groups.to_vec(),
            },
            dry_run: attrs.dry_run,
        };
        let verdicts = set.evaluate(&request, lookup).map_err(|e| {
            let cause = format!("admission evaluation failed: {e}");
            Denied {
                message: forbidden(attrs, &cause),
                cause,
                reason: "InternalError".into(),
                code: 500,
            }
        })?;
        decide(attrs, &verdicts)
    }
}

fn group_resource(attrs: &Attributes<'_>) -> String {
    if attrs.group.is_empty() {
        attrs.resource.to_string()
    } else {
        format!("{}.{}", attrs.resource, attrs.group)
    }
}

fn forbidden(attrs: &Attributes<'_>, detail: &str) -> String {
    format!(
        "{} {:?} is forbidden: {detail}",
        group_resource(attrs),
        attrs.name
    )
}

fn reason_code(reason: &str) -> u16 {
    match reason {
        "Forbidden" => 403,
        "Unauthorized" => 401,
        "RequestEntityTooLarge" => 413,
        _ => 422,
    }
}

/// Turns verdicts into a decision, as Kubernetes' dispatcher does: any
/// `Deny` failure rejects (the first one's reason decides the code).
fn decide(attrs: &Attributes<'_>, verdicts: &[Verdict]) -> Result<Admitted, Denied> {
    let mut out = Admitted::default();
    let mut denials: Vec<String> = Vec::new();
    let mut reason: Option<String> = None;
    for v in verdicts {
        for (k, val) in &v.audit_annotations {
            out.audit_annotations.insert(k.clone(), val.clone());
        }
        for f in &v.failures {
            if v.actions.contains(&ValidationAction::Deny) {
                denials.push(format!(
                    "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {}",
                    v.policy, v.binding, f.message
                ));
                if reason.is_none() {
                    reason = Some(match f.kind {
                        FailureKind::Validation if !f.reason.is_empty() => f.reason.clone(),
                        _ => "Invalid".to_string(),
                    });
                }
            }
            if v.actions.contains(&ValidationAction::Warn) {
                out.warnings.push(format!(
                    "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {}",
                    v.policy, v.binding, f.message
                ));
            }
            if v.actions.contains(&ValidationAction::Audit) {
                out.audit_annotations.insert(
                    "validation.policy.admission.k8s.io/validation_failure".into(),
                    format!(
                        "[{{\"message\":{:?},\"policy\":{:?},\"binding\":{:?},\"expressionIndex\":{},\"validationActions\":[\"Audit\"]}}]",
                        f.message,
                        v.policy,
                        v.binding,
                        f.validation.unwrap_or(0)
                    ),
                );
            }
        }
    }
    if denials.is_empty() {
        return Ok(out);
    }
    let reason = reason.unwrap_or_else(|| "Invalid".to_string());
    // Kubernetes reports the first denial only.
    let first = denials.swap_remove(0);
    Err(Denied {
        cause: first.clone(),
        message: forbidden(attrs, &first),
        code: reason_code(&reason),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use policies::ObjectSet;
    use serde_json::json;

    fn policy(action: &str) -> Vec<Value> {
        vec![
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": "max-replicas"},
                "spec": {"failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]},
                    "validations": [{"expression": "object.spec.replicas <= 5", "message": "too many replicas"}]}}),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": "max-replicas-binding"},
                "spec": {"policyName": "max-replicas", "validationActions": [action]}}),
        ]
    }

    fn deployment(replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"replicas": replicas}})
    }

    fn attrs<'a>(obj: &'a Value) -> Attributes<'a> {
        Attributes {
            operation: Operation::Create,
            group: "apps",
            version: "v1",
            kind: "Deployment",
            resource: "deployments",
            subresource: "",
            name: "web",
            namespace: Some("default"),
            object: Some(obj),
            old_object: None,
            user: "admin",
            groups: &[],
            dry_run: false,
        }
    }

    #[test]
    fn a_deny_binding_rejects_with_kubernetes_message_shape() {
        let adm = Admission::new();
        assert!(adm.load(&policy("Deny")).is_empty());
        let obj = deployment(10);
        let err = adm
            .admit(&attrs(&obj), &ObjectSet::default())
            .expect_err("denied");
        assert_eq!(
            err.message,
            "deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: too many replicas"
        );
        assert_eq!((err.reason.as_str(), err.code), ("Invalid", 422));
    }

    #[test]
    fn a_passing_object_is_admitted() {
        let adm = Admission::new();
        adm.load(&policy("Deny"));
        let obj = deployment(2);
        assert_eq!(
            adm.admit(&attrs(&obj), &ObjectSet::default()),
            Ok(Admitted::default())
        );
    }

    #[test]
    fn a_warn_binding_returns_a_warning_instead() {
        let adm = Admission::new();
        adm.load(&policy("Warn"));
        let obj = deployment(10);
        let ok = adm
            .admit(&attrs(&obj), &ObjectSet::default())
            .expect("admitted");
        assert_eq!(
            ok.warnings,
            vec![
                "Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding': too many replicas"
            ]
        );
    }

    #[test]
    fn unloading_policies_admits_everything() {
        let adm = Admission::new();
        adm.load(&policy("Deny"));
        adm.load(&[]);
        let obj = deployment(10);
        assert!(adm.admit(&attrs(&obj), &ObjectSet::default()).is_ok());
    }
}

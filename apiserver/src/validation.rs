//! Semantic validation of built-in kinds, beyond their schema: the rules of Kubernetes'
//! `pkg/apis/*/validation` that users meet most (workload selectors that must select their
//! pod template, immutable selectors, replica counts, pod security contexts), with its
//! field paths and wording so kubectl prints what it prints against kube-apiserver.
//!
//! Values inside messages are rendered as Kubernetes renders them: strings quoted, numbers
//! bare, objects as JSON (the internal Go structs, for security contexts, with Go's field
//! names).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::Cause;
use crate::registry::ResourceInfo;

const MAX_ID: i64 = 2_147_483_647;

/// The field errors of `obj` (a create when `old` is `None`).
pub fn check(info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    match (info.group.as_str(), info.kind.as_str()) {
        ("apps", kind @ ("Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")) => {
            workload(kind, obj, &mut out);
            if let Some(old) = old
                && old.pointer("/spec/selector") != obj.pointer("/spec/selector")
            {
                out.push(invalid(
                    "spec.selector",
                    &render(obj.pointer("/spec/selector").unwrap_or(&Value::Null)),
                    "field is immutable",
                ));
            }
        }
        ("batch", "Job") => {
            if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
                selector_selects_template(obj, &mut out);
            }
            pod_spec(
                obj.pointer("/spec/template/spec"),
                "spec.template.spec",
                &mut out,
            );
        }
        ("", "Pod") => pod_spec(obj.get("spec"), "spec", &mut out),
        _ => {}
    }
    out
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {value}: {detail}"),
    )
}

/// A JSON value as Kubernetes prints a bad value: objects with sorted keys.
fn render(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let b: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::to_value(b).unwrap_or(Value::Null)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(v)).unwrap_or_default()
}

fn workload(kind: &str, obj: &Value, out: &mut Vec<Cause>) {
    let selector = obj.pointer("/spec/selector").filter(|v| !v.is_null());
    match selector {
        None => out.push(Cause::new(
            "FieldValueRequired",
            "spec.selector",
            "Required value",
        )),
        Some(sel) if selector_is_empty(sel) => {
            // kube-apiserver names ReplicaSets "deployment" in this message too.
            let noun = match kind {
                "StatefulSet" => "statefulset",
                "DaemonSet" => "daemonset",
                _ => "deployment",
            };
            out.push(invalid(
                "spec.selector",
                &render(sel),
                &format!("empty selector is invalid for {noun}"),
            ));
        }
        Some(_) => {}
    }
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && r < 0
    {
        out.push(invalid(
            "spec.replicas",
            &r.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    if selector.is_none_or(|s| !selector_is_empty(s)) {
        selector_selects_template(obj, out);
    }
    pod_spec(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
        out,
    );
}

fn selector_is_empty(sel: &Value) -> bool {
    let none = |k: &str| match sel.get(k) {
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => true,
    };
    none("matchLabels") && none("matchExpressions")
}

fn selector_selects_template(obj: &Value, out: &mut Vec<Cause>) {
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let selected = obj
        .pointer("/spec/selector")
        .filter(|v| !v.is_null())
        .is_some_and(|sel| selects(sel, &labels));
    if !selected {
        out.push(invalid(
            "spec.template.metadata.labels",
            &render(&labels),
            "`selector` does not match template `labels`",
        ));
    }
}

/// Whether a LabelSelector (matchLabels and matchExpressions) selects `labels`.
pub fn selects(sel: &Value, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let by_labels = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    let by_expressions = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|es| {
            es.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match e.get("operator").and_then(Value::as_str) {
                    Some("In") => get(key).is_some_and(|v| values.contains(&v)),
                    Some("NotIn") => get(key).is_none_or(|v| !values.contains(&v)),
                    Some("Exists") => get(key).is_some(),
                    Some("DoesNotExist") => get(key).is_none(),
                    _ => false,
                }
            })
        });
    by_labels && by_expressions
}

fn id_range(v: Option<&Value>, field: &str, out: &mut Vec<Cause>) {
    if let Some(n) = v.and_then(Value::as_i64)
        && !(0..=MAX_ID).contains(&n)
    {
        out.push(invalid(
            field,
            &n.to_string(),
            &format!("must be between 0 and {MAX_ID}, inclusive"),
        ));
    }
}

fn pod_spec(spec: Option<&Value>, path: &str, out: &mut Vec<Cause>) {
    let Some(spec) = spec else {
        return;
    };
    for group in ["initContainers", "containers"] {
        let Some(cs) = spec.get(group).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in cs.iter().enumerate() {
            if let Some(sc) = c.get("securityContext").filter(|v| v.is_object()) {
                container_security(sc, &format!("{path}.{group}[{i}].securityContext"), out);
            }
        }
    }
    if let Some(psc) = spec.get("securityContext") {
        let p = format!("{path}.securityContext");
        id_range(psc.get("fsGroup"), &format!("{p}.fsGroup"), out);
        id_range(psc.get("runAsUser"), &format!("{p}.runAsUser"), out);
        id_range(psc.get("runAsGroup"), &format!("{p}.runAsGroup"), out);
        if let Some(groups) = psc.get("supplementalGroups").and_then(Value::as_array) {
            for (i, g) in groups.iter().enumerate() {
                id_range(Some(g), &format!("{p}.supplementalGroups[{i}]"), out);
            }
        }
    }
}

fn container_security(sc: &Value, path: &str, out: &mut Vec<Cause>) {
    id_range(sc.get("runAsUser"), &format!("{path}.runAsUser"), out);
    id_range(sc.get("runAsGroup"), &format!("{path}.runAsGroup"), out);
    if sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
        if sc.get("privileged").and_then(Value::as_bool) == Some(true) {
            out.push(invalid(
                path,
                &internal_security_context(sc),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = sc
            .pointer("/capabilities/add")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|c| c.as_str() == Some("CAP_SYS_ADMIN")));
        if adds_sys_admin {
            out.push(invalid(
                path,
                &internal_security_context(sc),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
}

/// The container SecurityContext as kube-apiserver prints it: its internal Go struct
/// marshalled with Go field names, in declaration order, unset pointers as `null`.
fn internal_security_context(sc: &Value) -> String {
    fn obj(v: Option<&Value>, fields: &[(&str, &str)]) -> String {
        match v.filter(|v| v.is_object()) {
            None => "null".into(),
            Some(v) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(go, json_name)| {
                        format!(
                            "\"{go}\":{}",
                            serde_json::to_string(v.get(*json_name).unwrap_or(&Value::Null))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
        }
    }
    let plain =
        |k: &str| serde_json::to_string(sc.get(k).unwrap_or(&Value::Null)).unwrap_or_default();
    let fields = [
        (
            "Capabilities",
            obj(sc.get("capabilities"), &[("Add", "add"), ("Drop", "drop")]),
        ),
        ("Privileged", plain("privileged")),
        (
            "SELinuxOptions",
            obj(
                sc.get("seLinuxOptions"),
                &[
                    ("User", "user"),
                    ("Role", "role"),
                    ("Type", "type"),
                    ("Level", "level"),
                ],
            ),
        ),
        (
            "WindowsOptions",
            obj(
                sc.get("windowsOptions"),
                &[
                    ("GMSACredentialSpecName", "gmsaCredentialSpecName"),
                    ("GMSACredentialSpec", "gmsaCredentialSpec"),
                    ("RunAsUserName", "runAsUserName"),
                    ("HostProcess", "hostProcess"),
                ],
            ),
        ),
        ("RunAsUser", plain("runAsUser")),
        ("RunAsGroup", plain("runAsGroup")),
        ("RunAsNonRoot", plain("runAsNonRoot")),
        ("ReadOnlyRootFilesystem", plain("readOnlyRootFilesystem")),
        (
            "AllowPrivilegeEscalation",
            plain("allowPrivilegeEscalation"),
        ),
        ("ProcMount", plain("procMount")),
        (
            "SeccompProfile",
            obj(
                sc.get("seccompProfile"),
                &[("Type", "type"), ("LocalhostProfile", "localhostProfile")],
            ),
        ),
        (
            "AppArmorProfile",
            obj(
                sc.get("appArmorProfile"),
                &[("Type", "type"), ("LocalhostProfile", "localhostProfile")],
            ),
        ),
    ];
    let parts: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn info(group: &str, plural: &str) -> std::sync::Arc<ResourceInfo> {
        Registry::builtin()
            .lookup(group, "v1", plural)
            .expect("served")
    }

    fn messages(causes: &[Cause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_replicaset_whose_selector_misses_its_template_is_invalid() {
        let rs = json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        assert_eq!(
            messages(&check(&info("apps", "replicasets"), &rs, None)),
            [
                "spec.template.metadata.labels: Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`"
            ]
        );
    }

    #[test]
    fn a_deployment_without_selector_reports_both_errors_in_kubernetes_order() {
        let d = json!({"spec": {"template": {"metadata": {"labels": {"app": "b"}}}}});
        assert_eq!(
            messages(&check(&info("apps", "deployments"), &d, None)),
            [
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`"
            ]
        );
    }

    #[test]
    fn privileged_without_privilege_escalation_and_negative_uids_are_invalid() {
        let pod = json!({"spec": {"securityContext": {"runAsUser": -5}, "containers": [{"name": "c", "image": "nginx",
            "securityContext": {"privileged": true, "allowPrivilegeEscalation": false, "runAsUser": -5}}]}});
        assert_eq!(
            messages(&check(&info("", "pods"), &pod, None)),
            [
                "spec.containers[0].securityContext.runAsUser: Invalid value: -5: must be between 0 and 2147483647, inclusive",
                "spec.containers[0].securityContext: Invalid value: {\"Capabilities\":null,\"Privileged\":true,\"SELinuxOptions\":null,\"WindowsOptions\":null,\"RunAsUser\":-5,\"RunAsGroup\":null,\"RunAsNonRoot\":null,\"ReadOnlyRootFilesystem\":null,\"AllowPrivilegeEscalation\":false,\"ProcMount\":null,\"SeccompProfile\":null,\"AppArmorProfile\":null}: cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                "spec.securityContext.runAsUser: Invalid value: -5: must be between 0 and 2147483647, inclusive",
            ]
        );
    }

    #[test]
    fn a_changed_deployment_selector_is_immutable() {
        let old = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a", "b": "c"}}}}});
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "a", "b": "c"}});
        assert_eq!(
            messages(&check(&info("apps", "deployments"), &new, Some(&old))),
            [
                "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"a\",\"b\":\"c\"}}: field is immutable"
            ]
        );
    }
}

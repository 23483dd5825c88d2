//! Reports of verdicts: the `{"results": [...]}` JSON of
//! `flotilla validate --output json`, `wgpolicyk8s.io/v1alpha2`
//! PolicyReport / ClusterPolicyReport objects, and the text for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use crate::vap::{FailureKind, ValidationAction, Verdict};

/// Identifies an object in reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// The reference of a manifest object.
    pub fn of(object: &Json, namespace: Option<String>) -> ObjectRef {
        ObjectRef {
            api_version: object["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kind: object["kind"].as_str().unwrap_or_default().to_string(),
            namespace,
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }

    fn to_json(&self) -> Json {
        json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace.clone().unwrap_or_default(),
            "name": self.name,
        })
    }
}

/// The verdicts for one object, and where the object came from.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The object.
    pub object: ObjectRef,
    /// Where it was read from (a file path, or `kustomize DIR`).
    pub source: String,
    /// Verdicts of every matching binding, passing ones included.
    pub verdicts: Vec<Verdict>,
}

/// Whether any failure carries the `Deny` action.
pub fn denied(evaluated: &[Evaluated]) -> bool {
    evaluated
        .iter()
        .any(|e| e.verdicts.iter().any(Verdict::denies))
}

fn action_names(actions: &[ValidationAction]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            ValidationAction::Deny => "Deny",
            ValidationAction::Warn => "Warn",
            ValidationAction::Audit => "Audit",
        })
        .collect()
}

/// `{"results": [...]}`: one entry per failed validation (or evaluation
/// error under `failurePolicy: Fail`), per binding, per object.
pub fn results_json(evaluated: &[Evaluated]) -> Json {
    let mut results = Vec::new();
    for e in evaluated {
        for v in &e.verdicts {
            for f in &v.failures {
                results.push(json!({
                    "policy": v.policy,
                    "binding": v.binding,
                    "actions": action_names(&v.actions),
                    "object": e.object.to_json(),
                    "message": f.message,
                    "reason": f.reason,
                }));
            }
        }
    }
    json!({ "results": results })
}

/// The PolicyReport result of one verdict: `pass`, `fail` (Deny or Audit),
/// `warn` (Warn only) or `error` (an evaluation error).
fn outcome(v: &Verdict) -> &'static str {
    if v.passed() {
        "pass"
    } else if v.failures.iter().any(|f| f.kind == FailureKind::Error) {
        "error"
    } else if v.actions.contains(&ValidationAction::Deny)
        || !v.actions.contains(&ValidationAction::Warn)
    {
        "fail"
    } else {
        "warn"
    }
}

/// PolicyReports (one per namespace) and a ClusterPolicyReport (for
/// cluster-scoped objects), in `wgpolicyk8s.io/v1alpha2`.
pub fn policy_reports(evaluated: &[Evaluated]) -> Vec<Json> {
    let mut by_scope: BTreeMap<Option<String>, Vec<Json>> = BTreeMap::new();
    let mut summaries: BTreeMap<Option<String>, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for e in evaluated {
        for v in &e.verdicts {
            let result = outcome(v);
            let message = if v.passed() {
                "validation passed".to_string()
            } else {
                v.failures
                    .iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            by_scope
                .entry(e.object.namespace.clone())
                .or_default()
                .push(json!({
                    "policy": v.policy,
                    "rule": v.binding,
                    "result": result,
                    "message": message,
                    "source": "flotilla",
                    "scored": true,
                    "resources": [e.object.to_json()],
                    "properties": {
                        "binding": v.binding,
                        "actions": action_names(&v.actions).join(","),
                    },
                }));
            *summaries
                .entry(e.object.namespace.clone())
                .or_default()
                .entry(result)
                .or_default() += 1;
        }
    }
    by_scope
        .into_iter()
        .map(|(ns, results)| {
            let counts = summaries.remove(&ns).unwrap_or_default();
            let count = |k: &str| counts.get(k).copied().unwrap_or(0);
            let summary = json!({
                "pass": count("pass"), "fail": count("fail"), "warn": count("warn"),
                "error": count("error"), "skip": 0,
            });
            match ns {
                Some(ns) => json!({
                    "apiVersion": "wgpolicyk8s.io/v1alpha2",
                    "kind": "PolicyReport",
                    "metadata": {"name": "flotilla-validate", "namespace": ns},
                    "summary": summary,
                    "results": results,
                }),
                None => json!({
                    "apiVersion": "wgpolicyk8s.io/v1alpha2",
                    "kind": "ClusterPolicyReport",
                    "metadata": {"name": "flotilla-validate"},
                    "summary": summary,
                    "results": results,
                }),
            }
        })
        .collect()
}

/// Text for people: failures grouped by object, with source and policy,
/// then a summary line.
pub fn text(evaluated: &[Evaluated]) -> String {
    let mut out = String::new();
    let (mut objects, mut failed, mut denied_count) = (0, 0, 0);
    for e in evaluated {
        objects += 1;
        let failing: Vec<&Verdict> = e.verdicts.iter().filter(|v| !v.passed()).collect();
        if failing.is_empty() {
            continue;
        }
        let ns = e
            .object
            .namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} {}{} ({})",
            e.object.kind, ns, e.object.name, e.source
        );
        for v in failing {
            for f in &v.failures {
                failed += 1;
                if v.denies() {
                    denied_count += 1;
                }
                let actions = action_names(&v.actions).join(",");
                let label = if f.kind == FailureKind::Error {
                    "error"
                } else {
                    "fail"
                };
                let _ = writeln!(
                    out,
                    "  {label} [{actions}] {} (binding {}): {} ({})",
                    v.policy, v.binding, f.message, f.reason
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "{objects} object(s) checked, {failed} failure(s), {denied_count} denying"
    );
    out
}

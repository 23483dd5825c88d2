//! Evaluating a [`PolicySet`] against one request, the way the API
//! server's validating admission policy plugin does: for each binding whose
//! policy and `matchResources` match, for each params object, evaluate
//! `matchConditions`, then `validations` and `auditAnnotations`, with
//! composition variables computed on first use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::objects::{Key, Map};
use serde_json::{Value as Json, json};

use crate::Error;
use crate::cel::{Activation, EvalError, Value, cel_to_json};

use super::compile::{CompiledPolicy, Expr};
use super::matching::{matches, selector_matches};
use super::request::{Request, labels_of};
use super::types::{
    FailurePolicy, ParameterNotFoundAction, ValidatingAdmissionPolicyBinding, ValidationAction,
};
use super::{Lookup, PolicySet};

/// What went wrong in a failed verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum FailureKind {
    /// A validation evaluated to false.
    Validation,
    /// An expression could not be evaluated, under `failurePolicy: Fail`.
    Error,
}

/// One failure of a binding on a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// Validation failure or evaluation error.
    pub kind: FailureKind,
    /// The message: the validation's message, or the evaluation error.
    pub message: String,
    /// `Invalid`, `Forbidden`, … (`Invalid` by default).
    pub reason: String,
    /// Index of the validation, when one failed.
    pub validation: Option<usize>,
}

/// The outcome of one binding (with one params object) on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The policy name.
    pub policy: String,
    /// The binding name.
    pub binding: String,
    /// `namespace/name` of the params object, if any.
    pub params: Option<String>,
    /// The binding's validation actions.
    pub actions: Vec<ValidationAction>,
    /// Failures; empty when the request passes.
    pub failures: Vec<Failure>,
    /// Evaluation errors ignored under `failurePolicy: Ignore`.
    pub ignored_errors: Vec<String>,
    /// Audit annotations, keyed `policy/key`.
    pub audit_annotations: BTreeMap<String, String>,
}

impl Verdict {
    /// Whether the request passes this binding.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Whether a failure here rejects the request.
    pub fn denies(&self) -> bool {
        !self.failures.is_empty() && self.actions.contains(&ValidationAction::Deny)
    }
}

impl PolicySet {
    /// Evaluates every matching binding against `req`. Params and
    /// namespaces come from `lookup`. Returns one verdict per matching
    /// binding and params object, passing ones included.
    pub fn evaluate(&self, req: &Request, lookup: &dyn Lookup) -> Result<Vec<Verdict>, Error> {
        let _span =
            tracing::debug_span!("admission", kind = %req.kind.kind, name = %req.name).entered();
        let mut namespace_object: Option<Json> =
            match (&req.namespace, req.resource.resource.as_str()) {
                (Some(ns), _) => Some(lookup.namespace(ns).cloned().unwrap_or_else(|| {
                    // A namespace that is not given exists, without labels.
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                })),
                (None, _) => None,
            };
        let namespace_labels = if req.resource.resource == "namespaces" {
            req.object_labels()
        } else {
            labels_of(namespace_object.as_ref())
        };

        let mut activation: Option<Activation> = None;
        // Whether `params` holds a params object rather than null: rebinding
        // null for every policy without params cost a conversion each.
        let mut params_bound = true;
        let mut verdicts = Vec::new();
        for (binding, policy) in &self.bindings {
            let Some(policy) = policy else {
                continue;
            };
            let Some(constraints) = &policy.policy.spec.match_constraints else {
                continue;
            };
            if !matches(constraints, req, &namespace_labels) {
                continue;
            }
            if let Some(m) = &binding.spec.match_resources
                && !matches(m, req, &namespace_labels)
            {
                continue;
            }
            if activation.is_none() {
                activation = Some(self.base_activation(req, namespace_object.take())?);
            }
            let Some(act) = activation.as_mut() else {
                continue;
            };
            let verdict = |params: Option<String>| Verdict {
                policy: policy.name().to_string(),
                binding: binding.metadata.name.clone(),
                params,
                actions: binding.spec.validation_actions.clone(),
                failures: Vec::new(),
                ignored_errors: Vec::new(),
                audit_annotations: BTreeMap::new(),
            };
            match resolve_params(policy, binding, req, lookup) {
                Params::None => {
                    if params_bound {
                        act.insert("params", Value::Null)
                            .map_err(Error::Evaluation)?;
                        params_bound = false;
                    }
                    let mut v = verdict(None);
                    if run_policy(policy, act, &mut v)? {
                        verdicts.push(v);
                    }
                }
                Params::Found(list) => {
                    for (id, p) in list {
                        act.insert_json("params", p).map_err(Error::Evaluation)?;
                        params_bound = true;
                        let mut v = verdict(Some(id));
                        if run_policy(policy, act, &mut v)? {
                            verdicts.push(v);
                        }
                    }
                }
                Params::NotFoundAllowed => {}
                Params::Error(message) => {
                    let mut v = verdict(None);
                    fail_or_ignore(policy.failure_policy, &mut v, message, None);
                    verdicts.push(v);
                }
            }
        }
        Ok(verdicts)
    }
}

impl PolicySet {
    fn base_activation(
        &self,
        req: &Request,
        namespace_object: Option<Json>,
    ) -> Result<Activation, Error> {
        let mut act = Activation::new();
        let null = Json::Null;
        act.insert_json("object", req.object.as_ref().unwrap_or(&null))
            .map_err(Error::Evaluation)?;
        act.insert_json_lazy("oldObject", req.old_object.clone().unwrap_or(Json::Null));
        act.insert_json_lazy("request", req.to_cel_json());
        act.insert_json_lazy("namespaceObject", namespace_object.unwrap_or(Json::Null));
        if let Some(rules) = &self.authorizer {
            let authz =
                crate::cel::lib::authz::Authorizer::new(Arc::clone(rules), &req.user_info.username);
            act.insert("authorizer", authz.into_value())
                .map_err(Error::Evaluation)?;
        }
        Ok(act)
    }
}

enum Params<'a> {
    /// The policy takes no params.
    None,
    /// Params objects to evaluate with, with their `namespace/name`.
    Found(Vec<(String, &'a Json)>),
    /// None found and `parameterNotFoundAction: Allow`.
    NotFoundAllowed,
    /// A configuration error, treated as an evaluation error.
    Error(String),
}

fn resolve_params<'a>(
    policy: &CompiledPolicy,
    binding: &ValidatingAdmissionPolicyBinding,
    req: &Request,
    lookup: &'a dyn Lookup,
) -> Params<'a> {
    let Some(kind) = &policy.policy.spec.param_kind else {
        return Params::None;
    };
    let Some(param_ref) = &binding.spec.param_ref else {
        return Params::Error(format!(
            "policy {} has paramKind {} but binding {} has no paramRef",
            policy.name(),
            kind.kind,
            binding.metadata.name
        ));
    };
    let wanted_ns = param_ref
        .namespace
        .clone()
        .or_else(|| req.namespace.clone());
    let found: Vec<(String, &Json)> = lookup
        .objects_of_kind(&kind.api_version, &kind.kind)
        .into_iter()
        .filter(|p| {
            // Cluster-scoped params (no namespace) are found from anywhere;
            // namespaced ones only in paramRef.namespace or the request's.
            match p["metadata"]["namespace"].as_str() {
                None | Some("") => true,
                Some(ns) => wanted_ns.as_deref() == Some(ns),
            }
        })
        .filter(|p| match (&param_ref.name, &param_ref.selector) {
            (Some(name), _) => p["metadata"]["name"] == name.as_str(),
            (None, Some(sel)) => selector_matches(sel, &labels_of(Some(p))),
            (None, None) => false,
        })
        .map(|p| {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            let id = if ns.is_empty() {
                name.to_string()
            } else {
                format!("{ns}/{name}")
            };
            (id, p)
        })
        .collect();
    if !found.is_empty() {
        return Params::Found(found);
    }
    match param_ref
        .parameter_not_found_action
        .unwrap_or(ParameterNotFoundAction::Deny)
    {
        ParameterNotFoundAction::Allow => Params::NotFoundAllowed,
        ParameterNotFoundAction::Deny => Params::Error(format!(
            "no params found for policy binding with `Deny` parameterNotFoundAction (binding {}, {} {})",
            binding.metadata.name,
            kind.kind,
            param_ref.name.as_deref().unwrap_or("by selector")
        )),
    }
}

/// Records an evaluation error as a failure (`Fail`) or an ignored error.
fn fail_or_ignore(fp: FailurePolicy, v: &mut Verdict, message: String, validation: Option<usize>) {
    match fp {
        FailurePolicy::Fail => v.failures.push(Failure {
            kind: FailureKind::Error,
            message,
            reason: "Invalid".to_string(),
            validation,
        }),
        FailurePolicy::Ignore => v.ignored_errors.push(message),
    }
}

/// Composition variables of one evaluation, computed on first use.
struct Variables {
    results: Vec<Option<Result<Value, EvalError>>>,
    bound: Vec<bool>,
}

impl Variables {
    fn new(n: usize) -> Self {
        Variables {
            results: vec![None; n],
            bound: vec![false; n],
        }
    }

    /// Computes the variables `needs` lists and binds `variables` to the
    /// map of those that evaluated.
    fn prepare(
        &mut self,
        policy: &CompiledPolicy,
        needs: &[usize],
        act: &mut Activation,
    ) -> Result<(), Error> {
        if policy.variables.is_empty() {
            return Ok(());
        }
        let mut changed = false;
        for &i in needs {
            if self.results[i].is_none() {
                let (_, expr) = &policy.variables[i];
                self.bind(policy, act)?;
                self.results[i] = Some(expr.program.evaluate(act));
            }
            changed |= !self.bound[i];
        }
        if changed || !act_has_variables(act) {
            self.bind(policy, act)?;
        }
        Ok(())
    }

    fn bind(&mut self, policy: &CompiledPolicy, act: &mut Activation) -> Result<(), Error> {
        let mut map = HashMap::new();
        for (i, r) in self.results.iter().enumerate() {
            self.bound[i] = r.is_some();
            if let Some(Ok(v)) = r {
                map.insert(
                    Key::String(Arc::new(policy.variables[i].0.clone())),
                    v.clone(),
                );
            }
        }
        act.insert("variables", Value::Map(Map { map: Arc::new(map) }))
            .map_err(Error::Evaluation)
    }

    /// The error of a needed variable that failed, if any: it explains an
    /// expression's failure better than the missing key does.
    fn error_for(&self, policy: &CompiledPolicy, needs: &[usize]) -> Option<String> {
        needs.iter().find_map(|&i| match &self.results[i] {
            Some(Err(e)) => Some(format!(
                "composited variable \"{}\" fails to evaluate: {e}",
                policy.variables[i].0
            )),
            _ => None,
        })
    }
}

fn act_has_variables(act: &Activation) -> bool {
    use cel::context::VariableResolver;
    act.resolve("variables").is_some()
}

fn eval_bool(
    expr: &Expr,
    vars: &mut Variables,
    policy: &CompiledPolicy,
    act: &mut Activation,
) -> Result<Result<bool, String>, Error> {
    vars.prepare(policy, &expr.needs, act)?;
    Ok(expr.program.evaluate_bool(act).map_err(|e| {
        vars.error_for(policy, &expr.needs).unwrap_or_else(|| {
            format!(
                "expression '{}' resulted in error: {e}",
                expr.program.source()
            )
        })
    }))
}

/// Evaluates one policy; returns whether it applies (its match
/// conditions hold or could not be evaluated).
fn run_policy(
    policy: &CompiledPolicy,
    act: &mut Activation,
    v: &mut Verdict,
) -> Result<bool, Error> {
    let mut vars = Variables::new(policy.variables.len());
    act.remove("variables");
    // Match conditions: any false skips the policy, even if others erred.
    let mut condition_error = None;
    for (name, expr) in &policy.conditions {
        match eval_bool(expr, &mut vars, policy, act)? {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                condition_error
                    .get_or_insert(format!("failed to evaluate match condition {name}: {e}"));
            }
        }
    }
    if let Some(e) = condition_error {
        fail_or_ignore(policy.failure_policy, v, e, None);
        return Ok(true);
    }
    for (i, val) in policy.validations.iter().enumerate() {
        match eval_bool(&val.expr, &mut vars, policy, act)? {
            Ok(true) => {}
            Ok(false) => {
                let message = message_for(val, &mut vars, policy, act)?;
                v.failures.push(Failure {
                    kind: FailureKind::Validation,
                    message,
                    reason: val.reason.clone(),
                    validation: Some(i),
                });
            }
            Err(e) => fail_or_ignore(policy.failure_policy, v, e, Some(i)),
        }
    }
    for (key, expr) in &policy.annotations {
        vars.prepare(policy, &expr.needs, act)?;
        match expr.program.evaluate(act) {
            Ok(Value::Null) => {}
            Ok(Value::String(s)) => {
                v.audit_annotations
                    .insert(format!("{}/{key}", policy.name()), s.to_string());
            }
            Ok(other) => fail_or_ignore(
                policy.failure_policy,
                v,
                format!(
                    "valueExpression of audit annotation {key} must be a string or null, got {}",
                    cel_to_json(&other)
                ),
                None,
            ),
            Err(e) => fail_or_ignore(
                policy.failure_policy,
                v,
                format!(
                    "valueExpression '{}' resulted in error: {e}",
                    expr.program.source()
                ),
                None,
            ),
        }
    }
    Ok(true)
}

/// The failure message: `messageExpression` when it yields a non-empty
/// single-line string, else `message`, else `failed expression: EXPR`.
fn message_for(
    val: &super::compile::CompiledValidation,
    vars: &mut Variables,
    policy: &CompiledPolicy,
    act: &mut Activation,
) -> Result<String, Error> {
    if let Some(me) = &val.message_expression {
        vars.prepare(policy, &me.needs, act)?;
        match me.program.evaluate(act) {
            Ok(Value::String(s)) if !s.trim().is_empty() && !s.contains('\n') => {
                return Ok(s.to_string());
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "messageExpression failed; using message"),
        }
    }
    Ok(val
        .message
        .clone()
        .unwrap_or_else(|| format!("failed expression: {}", val.expr.program.source())))
}

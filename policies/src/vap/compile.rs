//! Compiling a `ValidatingAdmissionPolicy`: every expression once, with
//! the environment Kubernetes gives it, and the variable dependencies
//! needed to evaluate composition variables lazily.

use std::collections::BTreeSet;

use crate::Error;
use crate::cel::{self, Env, Program};

use super::types::{FailurePolicy, ValidatingAdmissionPolicy};

/// Top-level CEL variables of admission policies.
pub(crate) const VARIABLES: &[&str] = &[
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
];

/// Why `authorizer` cannot be used offline.
const NO_AUTHORIZER: &str =
    "authorization checks need a cluster; Flotilla evaluates policies offline";

/// An expression with the composition variables (indices into
/// [`CompiledPolicy::variables`], transitively, in order) it needs.
#[derive(Debug)]
pub(crate) struct Expr {
    pub(crate) program: Program,
    pub(crate) needs: Vec<usize>,
}

/// A compiled validation.
#[derive(Debug)]
pub(crate) struct CompiledValidation {
    pub(crate) expr: Expr,
    pub(crate) message: Option<String>,
    pub(crate) message_expression: Option<Expr>,
    pub(crate) reason: String,
}

/// A compiled policy, ready to evaluate.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub(crate) policy: ValidatingAdmissionPolicy,
    pub(crate) failure_policy: FailurePolicy,
    pub(crate) conditions: Vec<(String, Expr)>,
    pub(crate) variables: Vec<(String, Expr)>,
    pub(crate) validations: Vec<CompiledValidation>,
    pub(crate) annotations: Vec<(String, Expr)>,
}

impl CompiledPolicy {
    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.policy.metadata.name
    }

    /// Compiles every expression of `policy`. Errors name the policy and the
    /// field, e.g. `spec.validations[2].expression`, and the position.
    /// With `authorizer`, the `authorizer` variable is declared (the caller
    /// binds it to a rule set); without, using it is a compile error.
    pub fn compile(
        policy: ValidatingAdmissionPolicy,
        cost_limit: u64,
        authorizer: bool,
    ) -> Result<CompiledPolicy, Error> {
        let name = policy.metadata.name.clone();
        let spec = &policy.spec;
        let base = if authorizer {
            Env::new(VARIABLES.iter().copied().chain(["authorizer"]))
        } else {
            Env::new(VARIABLES.iter().copied()).with_unavailable("authorizer", NO_AUTHORIZER)
        }
        .with_cost_limit(cost_limit);
        let fail = |field: String| {
            let name = name.clone();
            move |error| Error::Compile {
                policy: name,
                field,
                error,
            }
        };

        // Variables see only the variables declared before them.
        let mut variables: Vec<(String, Expr)> = Vec::new();
        for (i, v) in spec.variables.iter().enumerate() {
            let env = base
                .clone()
                .with_composition_variables(spec.variables[..i].iter().map(|v| v.name.clone()));
            let program = cel::compile(&v.expression, &env)
                .map_err(fail(format!("spec.variables[{i}].expression")))?;
            let needs = closure(&program, &spec.variables[..i], &variables);
            variables.push((v.name.clone(), Expr { program, needs }));
        }
        let all_names: Vec<String> = spec.variables.iter().map(|v| v.name.clone()).collect();
        let env = base.clone().with_composition_variables(all_names);
        let compile_expr = |src: &str, field: String| -> Result<Expr, Error> {
            let program = cel::compile(src, &env).map_err(fail(field))?;
            let needs = closure(&program, &spec.variables, &variables);
            Ok(Expr { program, needs })
        };

        let mut conditions = Vec::new();
        for (i, c) in spec.match_conditions.iter().enumerate() {
            conditions.push((
                c.name.clone(),
                compile_expr(
                    &c.expression,
                    format!("spec.matchConditions[{i}].expression"),
                )?,
            ));
        }
        let mut validations = Vec::new();
        for (i, v) in spec.validations.iter().enumerate() {
            let expr = compile_expr(&v.expression, format!("spec.validations[{i}].expression"))?;
            let message_expression = match &v.message_expression {
                Some(m) => Some(compile_expr(
                    m,
                    format!("spec.validations[{i}].messageExpression"),
                )?),
                None => None,
            };
            validations.push(CompiledValidation {
                expr,
                message: v.message.clone(),
                message_expression,
                reason: v.reason.clone().unwrap_or_else(|| "Invalid".to_string()),
            });
        }
        let mut annotations = Vec::new();
        for (i, a) in spec.audit_annotations.iter().enumerate() {
            annotations.push((
                a.key.clone(),
                compile_expr(
                    &a.value_expression,
                    format!("spec.auditAnnotations[{i}].valueExpression"),
                )?,
            ));
        }
        Ok(CompiledPolicy {
            failure_policy: spec.failure_policy.unwrap_or(FailurePolicy::Fail),
            policy,
            conditions,
            variables,
            validations,
            annotations,
        })
    }
}

/// The indices of the variables `program` needs, directly or through other
/// variables, in declaration order.
fn closure(
    program: &Program,
    declared: &[super::types::NamedExpression],
    compiled: &[(String, Expr)],
) -> Vec<usize> {
    let mut needs = BTreeSet::new();
    for name in program.composition_refs() {
        if let Some(i) = declared.iter().position(|v| &v.name == name) {
            needs.insert(i);
            if let Some((_, e)) = compiled.get(i) {
                needs.extend(e.needs.iter().copied());
            }
        }
    }
    needs.into_iter().collect()
}

//! The way back into the `cel` interpreter: an operation whose operands
//! the fast paths do not handle is evaluated by the interpreter itself, as
//! a small expression over variables `@0`, `@1`… bound to the operands.
//! Names starting with `@` cannot be written in CEL source, so they never
//! clash with user variables.

use std::sync::Arc;

use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, ExecutionError, IdedExpr, Value};

use super::Bridge;

/// Operands bound to `@0`, `@1`…
struct Operands(Vec<Box<dyn Val>>);

impl VariableResolver for Operands {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let i: usize = variable.strip_prefix('@')?.parse().ok()?;
        self.0.get(i).map(|v| CowVal::Borrowed(v.as_ref()))
    }
}

fn context() -> Context<'static, 'static> {
    Context::with_env(Arc::clone(crate::cel::cel_env()))
}

/// Runs `bridge` on `operands`.
pub(crate) fn run(bridge: &Bridge, operands: Vec<Value>) -> Result<Value, Box<ExecutionError>> {
    let vals = operands
        .into_iter()
        .map(|v| Box::<dyn Val>::try_from(super::object::materialize(v)))
        .collect::<Result<Vec<_>, _>>()?;
    let resolver = Operands(vals);
    let mut ctx = context();
    ctx.set_variable_resolver(&resolver);
    Ok(Value::resolve(&bridge.0, &ctx)?)
}

/// The value of a literal, as the interpreter makes it.
pub(crate) fn literal(e: &IdedExpr) -> Option<Value> {
    Value::resolve(e, &context()).ok()
}

/// The interpreter's name for the type of `v`, for error messages.
pub(crate) fn type_name(v: &Value) -> String {
    match Box::<dyn Val>::try_from(super::object::materialize(v.clone())) {
        Ok(val) => val.get_type().name().to_string(),
        Err(_) => v.type_of().to_string(),
    }
}

/// The elements the interpreter iterates for a value that is neither a
/// list nor a map, or its error.
pub(crate) fn iterate(v: &Value) -> Result<Vec<Value>, ExecutionError> {
    let val = Box::<dyn Val>::try_from(super::object::materialize(v.clone()))?;
    let Some(iterable) = val.as_iterable() else {
        return Err(ExecutionError::UnexpectedType {
            got: val.get_type().name().to_owned(),
            want: "iterable".to_owned(),
        });
    };
    let mut out = Vec::new();
    let mut items = iterable.iter();
    while let Some(item) = items.next() {
        out.push(Value::try_from(item)?);
    }
    Ok(out)
}

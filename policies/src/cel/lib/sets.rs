//! Kubernetes sets library (cel-go `ext.Sets`): `sets.contains`,
//! `sets.equivalent`, `sets.intersects` over lists.

use cel::common::types::LIST_TYPE;
use cel::{ExecutionError, Value};

use super::{Registrar, fail, value_fn};

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global("sets.contains", vec![LIST_TYPE, LIST_TYPE], contains_fn);
    r.global("sets.equivalent", vec![LIST_TYPE, LIST_TYPE], equivalent_fn);
    r.global("sets.intersects", vec![LIST_TYPE, LIST_TYPE], intersects_fn);
}

value_fn!(contains_fn, |a: &[Value]| {
    let (x, y) = lists("sets.contains", a)?;
    Ok(Value::Bool(y.iter().all(|v| x.contains(v))))
});
value_fn!(equivalent_fn, |a: &[Value]| {
    let (x, y) = lists("sets.equivalent", a)?;
    Ok(Value::Bool(
        y.iter().all(|v| x.contains(v)) && x.iter().all(|v| y.contains(v)),
    ))
});
value_fn!(intersects_fn, |a: &[Value]| {
    let (x, y) = lists("sets.intersects", a)?;
    Ok(Value::Bool(y.iter().any(|v| x.contains(v))))
});

fn lists<'a>(
    function: &str,
    args: &'a [Value],
) -> Result<(&'a [Value], &'a [Value]), ExecutionError> {
    match (args.first(), args.get(1)) {
        (Some(Value::List(a)), Some(Value::List(b))) => Ok((a.as_slice(), b.as_slice())),
        _ => Err(fail(function, "arguments must be lists")),
    }
}

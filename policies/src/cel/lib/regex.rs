//! Kubernetes regex library: `string.find(regex)` and
//! `string.findAll(regex[, limit])` (`matches` is in the standard library).

use std::sync::Arc;

use cel::common::types::{INT_TYPE, STRING_TYPE};
use cel::{ExecutionError, Value};

use super::{Registrar, fail, str_arg, value_fn};

pub(super) fn register(r: &mut Registrar<'_>) {
    r.member("find", STRING_TYPE, vec![STRING_TYPE], find_fn);
    r.member("findAll", STRING_TYPE, vec![STRING_TYPE], find_all_fn);
    r.member(
        "findAll",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        find_all_limit_fn,
    );
}

value_fn!(find_fn, find);
value_fn!(find_all_fn, |a: &[Value]| find_all(a, -1));
value_fn!(find_all_limit_fn, |a: &[Value]| match a.get(2) {
    Some(Value::Int(n)) => find_all(a, *n),
    _ => Err(fail("findAll", "limit must be an int")),
});

fn compile(function: &str, pattern: &str) -> Result<regex::Regex, ExecutionError> {
    regex::Regex::new(pattern)
        .map_err(|e| fail(function, format!("invalid regex {pattern:?}: {e}")))
}

/// The first match, or the empty string.
fn find(args: &[Value]) -> Result<Value, ExecutionError> {
    let s = str_arg("find", args, 0)?;
    let re = compile("find", str_arg("find", args, 1)?)?;
    Ok(Value::String(Arc::new(
        re.find(s)
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
    )))
}

/// All matches; a negative limit means all, zero means none.
fn find_all(args: &[Value], limit: i64) -> Result<Value, ExecutionError> {
    let s = str_arg("findAll", args, 0)?;
    let re = compile("findAll", str_arg("findAll", args, 1)?)?;
    let take = if limit < 0 {
        usize::MAX
    } else {
        limit as usize
    };
    let found = re
        .find_iter(s)
        .take(take)
        .map(|m| Value::String(Arc::new(m.as_str().to_string())))
        .collect();
    Ok(Value::List(Arc::new(found)))
}

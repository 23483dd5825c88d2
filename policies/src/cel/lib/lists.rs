//! Kubernetes list library: `isSorted`, `sum`, `min`, `max`, `indexOf`,
//! `lastIndexOf`, `first`, `last` on lists. (`distinct`, `flatten`, `slice`, `sort`,
//! `reverse`, `lists.range` come from the `cel` crate's lists extension.)

use std::cmp::Ordering;

use cel::common::types::{DYN_TYPE, LIST_TYPE};
use cel::{ExecutionError, Value};

use super::{Registrar, fail, value_fn};

pub(super) fn register(r: &mut Registrar<'_>) {
    r.member("isSorted", LIST_TYPE, vec![], is_sorted_fn);
    r.member("sum", LIST_TYPE, vec![], sum_fn);
    r.member("min", LIST_TYPE, vec![], min_fn);
    r.member("max", LIST_TYPE, vec![], max_fn);
    r.member("indexOf", LIST_TYPE, vec![DYN_TYPE], index_of_fn);
    r.member("lastIndexOf", LIST_TYPE, vec![DYN_TYPE], last_index_of_fn);
    r.member("first", LIST_TYPE, vec![], first_fn);
    r.member("last", LIST_TYPE, vec![], last_fn);
}

/// An optional of the list's first or last element (cel-go lists
/// extension, version 3): `optional.none()` for an empty list.
fn end(function: &str, args: &[Value], first: bool) -> Result<Value, ExecutionError> {
    let items = list(function, args)?;
    let item = if first { items.first() } else { items.last() };
    let optional = match item {
        Some(v) => cel::objects::OptionalValue::of(v.clone()),
        None => cel::objects::OptionalValue::none(),
    };
    Ok(Value::Opaque(std::sync::Arc::new(optional)))
}

value_fn!(is_sorted_fn, is_sorted);
value_fn!(first_fn, |a: &[Value]| end("first", a, true));
value_fn!(last_fn, |a: &[Value]| end("last", a, false));
value_fn!(sum_fn, sum);
value_fn!(min_fn, |a: &[Value]| extreme("min", a, Ordering::Less));
value_fn!(max_fn, |a: &[Value]| extreme("max", a, Ordering::Greater));
value_fn!(index_of_fn, |a: &[Value]| index_of(a, false));
value_fn!(last_index_of_fn, |a: &[Value]| index_of(a, true));

fn list<'a>(function: &str, args: &'a [Value]) -> Result<&'a [Value], ExecutionError> {
    match args.first() {
        Some(Value::List(items)) => Ok(items.as_slice()),
        _ => Err(fail(function, "receiver must be a list")),
    }
}

fn compare(function: &str, a: &Value, b: &Value) -> Result<Ordering, ExecutionError> {
    a.partial_cmp(b).ok_or_else(|| {
        fail(
            function,
            format!("cannot compare {} and {}", a.type_of(), b.type_of()),
        )
    })
}

fn is_sorted(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = list("isSorted", args)?;
    for pair in items.windows(2) {
        if compare("isSorted", &pair[0], &pair[1])? == Ordering::Greater {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn sum(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = list("sum", args)?;
    let Some(first) = items.first() else {
        return Ok(Value::Int(0));
    };
    let mut total = first.clone();
    for item in &items[1..] {
        total = match (&total, item) {
            (Value::Int(a), Value::Int(b)) => Value::Int(
                a.checked_add(*b)
                    .ok_or_else(|| fail("sum", "integer overflow"))?,
            ),
            (Value::UInt(a), Value::UInt(b)) => Value::UInt(
                a.checked_add(*b)
                    .ok_or_else(|| fail("sum", "integer overflow"))?,
            ),
            (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
            (Value::Duration(a), Value::Duration(b)) => Value::Duration(*a + *b),
            (a, b) => {
                return Err(fail(
                    "sum",
                    format!("cannot add {} and {}", a.type_of(), b.type_of()),
                ));
            }
        };
    }
    Ok(total)
}

fn extreme(function: &str, args: &[Value], want: Ordering) -> Result<Value, ExecutionError> {
    let items = list(function, args)?;
    let Some(mut best) = items.first() else {
        return Err(fail(function, "list is empty"));
    };
    for item in &items[1..] {
        if compare(function, item, best)? == want {
            best = item;
        }
    }
    Ok(best.clone())
}

fn index_of(args: &[Value], last: bool) -> Result<Value, ExecutionError> {
    let items = list("indexOf", args)?;
    let needle = args
        .get(1)
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?;
    let found = if last {
        items.iter().rposition(|v| v == needle)
    } else {
        items.iter().position(|v| v == needle)
    };
    Ok(Value::Int(found.map_or(-1, |i| i as i64)))
}

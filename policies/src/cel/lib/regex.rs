//! Kubernetes regex library: `string.find(regex)` and
//! `string.findAll(regex[, limit])` (`matches` is in the standard library).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use cel::common::types::{CelBool, INT_TYPE, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{ExecutionError, Value};

use super::{Registrar, cow_str_arg, fail, str_arg, value_fn};

/// The internal function `matches` calls are rewritten to (see
/// [`rewrite_matches`]): the same semantics with compiled patterns cached.
pub(crate) const MATCHES_FUNCTION: &str = "@matches";

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global(MATCHES_FUNCTION, vec![STRING_TYPE, STRING_TYPE], matches_fn);
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

/// `@matches(s, pattern)`, on the interpreter's values directly: it runs in
/// many policies, and [`super::adapt`] would copy both strings on each call.
fn matches_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = cow_str_arg("matches", &args, 0)?;
    let re = compile("matches", cow_str_arg("matches", &args, 1)?)?;
    Ok(CowVal::Borrowed(if re.is_match(s) {
        &CelBool::TRUE
    } else {
        &CelBool::FALSE
    }))
}

/// Most patterns kept per thread; policies use a handful each.
const CACHE_SIZE: usize = 512;

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<regex::Regex>>> = RefCell::new(HashMap::new());
}

/// Compiles `pattern`, from a per-thread cache: the `cel` crate's own
/// `matches` compiles the pattern on every call, which dominated
/// evaluation time (about 20 µs per call).
fn compile(function: &str, pattern: &str) -> Result<Rc<regex::Regex>, ExecutionError> {
    if let Some(re) = CACHE.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(re);
    }
    // Shared, not cloned: a cloned `Regex` starts with an empty match cache.
    let re = Rc::new(
        regex::Regex::new(pattern)
            .map_err(|e| fail(function, format!("invalid regex {pattern:?}: {e}")))?,
    );
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_SIZE {
            c.clear();
        }
        c.insert(pattern.to_string(), Rc::clone(&re));
    });
    Ok(re)
}

/// Rewrites `s.matches(p)` and `matches(s, p)` into `@matches(s, p)`.
pub(crate) fn rewrite_matches(e: &mut cel::common::ast::IdedExpr) {
    use cel::common::ast::{EntryExpr, Expr};
    match &mut e.expr {
        Expr::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                rewrite_matches(t);
            }
            c.args.iter_mut().for_each(rewrite_matches);
            if c.func_name == "matches" {
                match (c.target.take(), c.args.len()) {
                    (Some(t), 1) => {
                        c.args.insert(0, *t);
                        c.func_name = MATCHES_FUNCTION.to_string();
                    }
                    (None, 2) => c.func_name = MATCHES_FUNCTION.to_string(),
                    (t, _) => c.target = t,
                }
            }
        }
        Expr::Comprehension(c) => {
            for x in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                rewrite_matches(x);
            }
        }
        Expr::Select(s) => rewrite_matches(&mut s.operand),
        Expr::List(l) => l.elements.iter_mut().for_each(rewrite_matches),
        Expr::Map(m) => {
            for entry in &mut m.entries {
                if let EntryExpr::MapEntry(me) = &mut entry.expr {
                    rewrite_matches(&mut me.key);
                    rewrite_matches(&mut me.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(f) = &mut entry.expr {
                    rewrite_matches(&mut f.value);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
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

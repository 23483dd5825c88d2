//! cel-go's two-variable comprehensions (`ext.TwoVarComprehensions`, in
//! Kubernetes' environment since 1.32): `all(k, v, p)`, `exists(k, v, p)`,
//! `existsOne(k, v, p)`, `transformList(k, v, [filter,] e)`,
//! `transformMap(k, v, [filter,] e)` and `transformMapEntry(k, v, [filter,] e)`,
//! over lists (index, element) and maps (key, value).
//!
//! The `cel` crate's interpreter binds one loop variable only, so the macros
//! expand into ordinary one-variable comprehensions over `@entries(range)`,
//! a list of `[key, value]` pairs, with `k` and `v` in the body rewritten to
//! `@kvN[0]` and `@kvN[1]` (N the node id, unique per comprehension). The
//! folds and their error absorption are then the standard macros' own.
//! Map keys are visited in sorted order: Kubernetes visits a literal map in
//! its written order and an object's map in Go's (unspecified) order.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, operators,
};
use cel::common::types::DYN_TYPE;
use cel::objects::{Key, Map};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{Env, ExecutionError, Value};

use super::{Registrar, fail, value_fn};

/// The internal functions the expansions call.
pub(crate) const ENTRIES: &str = "@entries";
pub(crate) const MAP_INSERT: &str = "@mapInsert";
pub(crate) const MAP_MERGE: &str = "@mapMerge";

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global(ENTRIES, vec![DYN_TYPE], entries_fn);
    r.global(MAP_INSERT, vec![DYN_TYPE, DYN_TYPE, DYN_TYPE], insert_fn);
    r.global(MAP_MERGE, vec![DYN_TYPE, DYN_TYPE], merge_fn);
}

#[derive(Clone, Copy)]
enum Kind {
    All,
    Exists,
    ExistsOne,
    TransformList,
    TransformMap,
    TransformMapEntry,
}

/// Declares the macros on `env`.
pub(super) fn add_macros(env: &mut Env) -> Vec<cel::DeclarationError> {
    let mut errors = Vec::new();
    let forms: [(&str, usize, Kind); 9] = [
        ("all", 3, Kind::All),
        ("exists", 3, Kind::Exists),
        ("existsOne", 3, Kind::ExistsOne),
        ("transformList", 3, Kind::TransformList),
        ("transformList", 4, Kind::TransformList),
        ("transformMap", 3, Kind::TransformMap),
        ("transformMap", 4, Kind::TransformMap),
        ("transformMapEntry", 3, Kind::TransformMapEntry),
        ("transformMapEntry", 4, Kind::TransformMapEntry),
    ];
    for (name, arity, kind) in forms {
        let m = Macro::receiver(name, arity, move |helper, target, args| {
            expand(kind, helper, target, args).map(Some)
        });
        if let Err(e) = env.add_macro(m) {
            errors.push(e);
        }
    }
    errors
}

fn ident_name(e: &IdedExpr, helper: &MacroExprHelper<'_>) -> Result<String, ParseError> {
    match &e.expr {
        Expr::Ident(n) => Ok(n.clone()),
        _ => Err(helper.new_error(e.id, "argument must be a simple name")),
    }
}

fn call(helper: &mut MacroExprHelper<'_>, name: &str, args: Vec<IdedExpr>) -> IdedExpr {
    helper.next_expr(Expr::Call(CallExpr {
        func_name: name.to_string(),
        target: None,
        args,
    }))
}

fn ident(helper: &mut MacroExprHelper<'_>, name: &str) -> IdedExpr {
    helper.next_expr(Expr::Ident(name.to_string()))
}

fn int(helper: &mut MacroExprHelper<'_>, i: i64) -> IdedExpr {
    helper.next_expr(Expr::Literal(LiteralValue::Int(i.into())))
}

fn boolean(helper: &mut MacroExprHelper<'_>, b: bool) -> IdedExpr {
    helper.next_expr(Expr::Literal(LiteralValue::Boolean(b.into())))
}

fn expand(
    kind: Kind,
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<IdedExpr, ParseError> {
    let Some(range) = target.take() else {
        return Err(helper.new_error(0, "a two-variable comprehension needs a receiver"));
    };
    let k = ident_name(&args[0], helper)?;
    let v = ident_name(&args[1], helper)?;
    if k == v {
        return Err(helper.new_error(args[1].id, format!("duplicate variable name: {v}")));
    }
    let mut rest: Vec<IdedExpr> = args.drain(2..).collect();
    args.clear();
    let range = call(helper, ENTRIES, vec![range]);
    let pair_holder = helper.next_expr(Expr::Unspecified);
    let pair = format!("@kv{}", pair_holder.id);
    let mut body: Vec<IdedExpr> = Vec::with_capacity(rest.len());
    for e in rest.drain(..) {
        body.push(substitute(e, &k, &v, &pair, helper));
    }
    let accu = "@result";
    let (init, cond, step, result) = match kind {
        Kind::All | Kind::Exists => {
            let all = matches!(kind, Kind::All);
            let init = boolean(helper, all);
            let a = ident(helper, accu);
            let cond = if all {
                call(helper, operators::NOT_STRICTLY_FALSE, vec![a])
            } else {
                let not = call(helper, operators::LOGICAL_NOT, vec![a]);
                call(helper, operators::NOT_STRICTLY_FALSE, vec![not])
            };
            let a = ident(helper, accu);
            let op = if all {
                operators::LOGICAL_AND
            } else {
                operators::LOGICAL_OR
            };
            let pred = body.remove(0);
            let step = call(helper, op, vec![a, pred]);
            let result = ident(helper, accu);
            (init, cond, step, result)
        }
        Kind::ExistsOne => {
            let init = int(helper, 0);
            let cond = boolean(helper, true);
            let a = ident(helper, accu);
            let one = int(helper, 1);
            let plus = call(helper, operators::ADD, vec![a, one]);
            let same = ident(helper, accu);
            let pred = body.remove(0);
            let step = call(helper, operators::CONDITIONAL, vec![pred, plus, same]);
            let a = ident(helper, accu);
            let one = int(helper, 1);
            let result = call(helper, operators::EQUALS, vec![a, one]);
            (init, cond, step, result)
        }
        Kind::TransformList | Kind::TransformMap | Kind::TransformMapEntry => {
            let init = match kind {
                Kind::TransformList => helper.next_expr(Expr::List(cel::common::ast::ListExpr {
                    elements: Vec::new(),
                    optional_indices: Vec::new(),
                })),
                _ => helper.next_expr(Expr::Map(cel::common::ast::MapExpr {
                    entries: Vec::new(),
                })),
            };
            let cond = boolean(helper, true);
            let transform = body
                .pop()
                .unwrap_or_else(|| helper.next_expr(Expr::Unspecified));
            let filter = body.pop();
            let a = ident(helper, accu);
            let grown = match kind {
                Kind::TransformList => {
                    let one = helper.next_expr(Expr::List(cel::common::ast::ListExpr {
                        elements: vec![transform],
                        optional_indices: Vec::new(),
                    }));
                    call(helper, operators::ADD, vec![a, one])
                }
                Kind::TransformMap => {
                    let p = ident(helper, &pair);
                    let zero = int(helper, 0);
                    let key = call(helper, operators::INDEX, vec![p, zero]);
                    call(helper, MAP_INSERT, vec![a, key, transform])
                }
                _ => call(helper, MAP_MERGE, vec![a, transform]),
            };
            let step = match filter {
                Some(f) => {
                    let same = ident(helper, accu);
                    call(helper, operators::CONDITIONAL, vec![f, grown, same])
                }
                None => grown,
            };
            let result = ident(helper, accu);
            (init, cond, step, result)
        }
    };
    Ok(
        helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
            iter_range: range,
            iter_var: pair,
            iter_var2: None,
            accu_var: accu.to_string(),
            accu_init: init,
            loop_cond: cond,
            loop_step: step,
            result,
        }))),
    )
}

/// `e` with free uses of `k` and `v` replaced by `pair[0]` and `pair[1]`.
fn substitute(
    e: IdedExpr,
    k: &str,
    v: &str,
    pair: &str,
    helper: &mut MacroExprHelper<'_>,
) -> IdedExpr {
    let id = e.id;
    let expr = match e.expr {
        Expr::Ident(name) if name == k || name == v => {
            let p = ident(helper, pair);
            let i = int(helper, if name == k { 0 } else { 1 });
            return call(helper, operators::INDEX, vec![p, i]);
        }
        Expr::Select(mut s) => {
            let operand = std::mem::take(&mut *s.operand);
            *s.operand = substitute(operand, k, v, pair, helper);
            Expr::Select(s)
        }
        Expr::Call(mut c) => {
            c.target = c
                .target
                .map(|t| Box::new(substitute(*t, k, v, pair, helper)));
            c.args = c
                .args
                .into_iter()
                .map(|a| substitute(a, k, v, pair, helper))
                .collect();
            Expr::Call(c)
        }
        Expr::List(mut l) => {
            l.elements = l
                .elements
                .into_iter()
                .map(|a| substitute(a, k, v, pair, helper))
                .collect();
            Expr::List(l)
        }
        Expr::Map(mut m) => {
            for entry in &mut m.entries {
                if let EntryExpr::MapEntry(me) = &mut entry.expr {
                    let key = std::mem::take(&mut me.key);
                    me.key = substitute(key, k, v, pair, helper);
                    let value = std::mem::take(&mut me.value);
                    me.value = substitute(value, k, v, pair, helper);
                }
            }
            Expr::Map(m)
        }
        Expr::Comprehension(mut c) => {
            let range = std::mem::take(&mut c.iter_range);
            c.iter_range = substitute(range, k, v, pair, helper);
            let init = std::mem::take(&mut c.accu_init);
            c.accu_init = substitute(init, k, v, pair, helper);
            // Names the inner loop binds shadow ours inside it; the
            // empty name matches no identifier.
            let bound =
                |n: &str| c.iter_var == n || c.accu_var == n || c.iter_var2.as_deref() == Some(n);
            let (k2, v2) = (if bound(k) { "" } else { k }, if bound(v) { "" } else { v });
            for part in [&mut c.loop_cond, &mut c.loop_step, &mut c.result] {
                let x = std::mem::take(part);
                *part = substitute(x, k2, v2, pair, helper);
            }
            Expr::Comprehension(c)
        }
        other => other,
    };
    IdedExpr { id, expr }
}

value_fn!(entries_fn, |a: &[Value]| {
    match a.first() {
        Some(Value::List(items)) => Ok(Value::List(Arc::new(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    Value::List(Arc::new(vec![
                        Value::Int(i64::try_from(i).unwrap_or(i64::MAX)),
                        x.clone(),
                    ]))
                })
                .collect(),
        ))),
        Some(Value::Map(m)) => {
            let mut entries: Vec<(&Key, &Value)> = m.map.iter().collect();
            entries.sort_by(|x, y| key_order(x.0, y.0));
            Ok(Value::List(Arc::new(
                entries
                    .into_iter()
                    .map(|(k, x)| Value::List(Arc::new(vec![key_value(k), x.clone()])))
                    .collect(),
            )))
        }
        Some(other) => Err(ExecutionError::no_such_overload(
            "comprehension",
            vec![other.type_of().to_string()],
        )),
        None => Err(ExecutionError::invalid_argument_count(1, 0)),
    }
});

fn key_order(a: &Key, b: &Key) -> std::cmp::Ordering {
    let rank = |k: &Key| match k {
        Key::Bool(_) => 0,
        Key::Int(_) => 1,
        Key::Uint(_) => 2,
        Key::String(_) => 3,
    };
    match (a, b) {
        (Key::Bool(x), Key::Bool(y)) => x.cmp(y),
        (Key::Int(x), Key::Int(y)) => x.cmp(y),
        (Key::Uint(x), Key::Uint(y)) => x.cmp(y),
        (Key::String(x), Key::String(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn key_value(k: &Key) -> Value {
    match k {
        Key::Int(i) => Value::Int(*i),
        Key::Uint(u) => Value::UInt(*u),
        Key::Bool(b) => Value::Bool(*b),
        Key::String(s) => Value::String(Arc::clone(s)),
    }
}

fn key_of(v: &Value) -> Result<Key, ExecutionError> {
    Ok(match v {
        Value::Int(i) => Key::Int(*i),
        Value::UInt(u) => Key::Uint(*u),
        Value::Bool(b) => Key::Bool(*b),
        Value::String(s) => Key::String(Arc::clone(s)),
        other => {
            return Err(fail(
                "transformMap",
                format!("unsupported key type: {}", other.type_of()),
            ));
        }
    })
}

fn map_of(v: Option<&Value>) -> Result<&HashMap<Key, Value>, ExecutionError> {
    match v {
        Some(Value::Map(m)) => Ok(&m.map),
        _ => Err(fail("transformMap", "internal: accumulator is not a map")),
    }
}

value_fn!(insert_fn, |a: &[Value]| {
    let mut map = map_of(a.first())?.clone();
    let key = key_of(a.get(1).unwrap_or(&Value::Null))?;
    map.insert(key, a.get(2).cloned().unwrap_or(Value::Null));
    Ok(Value::Map(Map { map: Arc::new(map) }))
});

value_fn!(merge_fn, |a: &[Value]| {
    let mut map = map_of(a.first())?.clone();
    let Some(Value::Map(entry)) = a.get(1) else {
        return Err(fail("transformMapEntry", "the transform must give a map"));
    };
    for (k, v) in entry.map.iter() {
        if map.contains_key(k) {
            return Err(fail(
                "transformMapEntry",
                format!("insert failed: key {k} already exists"),
            ));
        }
        map.insert(k.clone(), v.clone());
    }
    Ok(Value::Map(Map { map: Arc::new(map) }))
});

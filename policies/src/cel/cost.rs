//! The runtime cost bound.
//!
//! The `cel` crate has no cost accounting and no step limit: a nested
//! comprehension over a large list runs for as long as it takes. Kubernetes
//! bounds every expression (`PerCallLimit`, 1,000,000 units). Without the
//! schemas Kubernetes uses for its static estimate (`maxItems`, `maxLength`)
//! a static bound would reject nearly every loop, so Flotilla bounds cost
//! at run time instead:
//!
//! - At compile time, [`instrument`] wraps the range of every comprehension
//!   (what `all`, `exists`, `exists_one`, `map`, `filter` expand to) in a
//!   call to the internal function `@cost`. Names starting with `@` cannot be
//!   written in CEL source, so users cannot call or shadow it.
//! - At run time `@cost` charges the size of the range plus one to a
//!   per-thread budget before the loop starts, and fails the evaluation
//!   once the budget is spent. Nested loops are charged for every inner
//!   loop they run, so the charge grows as the real work does.
//!
//! Costs are counted in iterations, close to Kubernetes' units for list
//! traversal; string functions and literal construction are not charged.
//! A per-thread budget keeps the shared `cel::Env` immutable, so programs can
//! be evaluated on many threads at once.

use std::cell::Cell;

use cel::ExecutionError;
use cel::common::ast::{CallExpr, Expr, IdedExpr};
use cel::common::types::{CelList, CelMap};
use cel::common::value::CowVal;

/// The internal function name charged for each comprehension.
pub(crate) const COST_FUNCTION: &str = "@cost";

thread_local! {
    static REMAINING: Cell<u64> = const { Cell::new(u64::MAX) };
    static EXCEEDED: Cell<bool> = const { Cell::new(false) };
}

/// The budget of one evaluation on this thread; restores the previous one
/// when dropped, so a nested evaluation does not reset an outer one.
pub(crate) struct Budget {
    previous_remaining: u64,
    previous_exceeded: bool,
}

impl Budget {
    pub(crate) fn start(limit: u64) -> Budget {
        Budget {
            previous_remaining: REMAINING.with(|r| r.replace(limit)),
            previous_exceeded: EXCEEDED.with(|e| e.replace(false)),
        }
    }

    pub(crate) fn exceeded(&self) -> bool {
        EXCEEDED.with(Cell::get)
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        REMAINING.with(|r| r.set(self.previous_remaining));
        EXCEEDED.with(|e| e.set(self.previous_exceeded));
    }
}

/// Wraps every comprehension range in a `@cost(...)` call.
pub(crate) fn instrument(e: &mut IdedExpr) {
    match &mut e.expr {
        Expr::Comprehension(c) => {
            instrument(&mut c.iter_range);
            instrument(&mut c.accu_init);
            instrument(&mut c.loop_cond);
            instrument(&mut c.loop_step);
            instrument(&mut c.result);
            let range = std::mem::take(&mut c.iter_range);
            c.iter_range = IdedExpr {
                id: range.id,
                expr: Expr::Call(CallExpr {
                    func_name: COST_FUNCTION.to_string(),
                    target: None,
                    args: vec![range],
                }),
            };
        }
        Expr::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                instrument(t);
            }
            c.args.iter_mut().for_each(instrument);
        }
        Expr::Select(s) => instrument(&mut s.operand),
        Expr::List(l) => l.elements.iter_mut().for_each(instrument),
        Expr::Map(m) => {
            for entry in &mut m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &mut entry.expr {
                    instrument(&mut me.key);
                    instrument(&mut me.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let cel::common::ast::EntryExpr::StructField(f) = &mut entry.expr {
                    instrument(&mut f.value);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// `@cost(range)`: charges `size(range) + 1` and hands the range back.
pub(crate) fn charge<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let range = args
        .pop()
        .ok_or_else(|| ExecutionError::function_error(COST_FUNCTION, "missing range"))?;
    let size = if let Some(l) = range.downcast_ref::<CelList>() {
        l.inner().len() as u64
    } else if let Some(m) = range.downcast_ref::<CelMap>() {
        m.inner().len() as u64
    } else {
        0
    };
    let cost = size.saturating_add(1);
    let ok = REMAINING.with(|r| match r.get().checked_sub(cost) {
        Some(left) => {
            r.set(left);
            true
        }
        None => false,
    });
    if ok {
        Ok(range)
    } else {
        EXCEEDED.with(|e| e.set(true));
        Err(ExecutionError::function_error(
            "cost",
            "operation cancelled: actual cost limit exceeded",
        ))
    }
}

//! Evaluating a compiled tree. Every fast path returns exactly what the
//! interpreter would; anything else goes through [`bridge::run`].

use std::sync::Arc;

use cel::objects::{AsKeyRef, Key, KeyRef, Map};
use cel::{ExecutionError, Value};

use super::{BinOp, Bridge, Comprehension, Fold, Native, Node, bridge, object};

/// Errors are boxed: `ExecutionError` is large, and every node's result
/// is moved up the tree.
pub(crate) type Error = Box<ExecutionError>;
type R = Result<Value, Error>;

/// The state of one evaluation: the top-level variables, the
/// comprehension variables and the remaining cost budget.
pub(crate) struct Frame<'a> {
    names: &'a [String],
    globals: &'a [Option<&'a Value>],
    locals: &'a mut [Value],
    remaining: u64,
    /// Set when the cost budget ran out.
    pub(crate) exceeded: bool,
}

fn key_ref(s: &str) -> KeyRef<'_> {
    KeyRef::String(s)
}

fn map_get<'m>(m: &'m Map, field: &str) -> Option<&'m Value> {
    m.map.get(&key_ref(field) as &dyn AsKeyRef)
}

/// Field `name` of a map or object: `None` when `v` is neither, `Some(None)`
/// when it has no such field.
#[inline]
fn field<'v>(v: &'v Value, name: &str) -> Option<Option<&'v Value>> {
    match v {
        Value::Map(m) => Some(map_get(m, name)),
        Value::Opaque(_) => object::as_object(v).map(|o| o.get(name)),
        _ => None,
    }
}

/// [`field`] for an interned name, as field selections have.
#[inline]
fn interned_field<'v>(v: &'v Value, name: &super::Field) -> Option<Option<&'v Value>> {
    match v {
        Value::Map(m) => Some(map_get(m, name)),
        Value::Opaque(_) => object::as_object(v).map(|o| o.get_interned(name)),
        _ => None,
    }
}

fn no_such_key(field: &str) -> Error {
    Box::new(ExecutionError::NoSuchKey(Arc::new(field.to_owned())))
}

/// The interpreter's `try_bool`.
fn try_bool(v: R) -> Result<bool, Error> {
    match v {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(Box::new(ExecutionError::UnexpectedType {
            got: bridge::type_name(&other),
            want: "bool".to_owned(),
        })),
        Err(e) => Err(e),
    }
}

/// The interpreter's `boolean_operator_error`.
fn boolean_operator_error(operator: &str, left: Result<bool, Error>, right: &Value) -> Error {
    let right_type = bridge::type_name(right);
    match left.map_err(|e| *e) {
        Err(ExecutionError::UnexpectedType { got, want }) if want == "bool" => Box::new(
            ExecutionError::no_such_overload(operator, vec![got, right_type]),
        ),
        Err(error) => Box::new(error),
        Ok(_) => Box::new(ExecutionError::no_such_overload(
            operator,
            vec!["bool".to_owned(), right_type],
        )),
    }
}

fn key_to_value(k: &Key) -> Value {
    match k {
        Key::Int(i) => Value::Int(*i),
        Key::Uint(u) => Value::UInt(*u),
        Key::Bool(b) => Value::Bool(*b),
        Key::String(s) => Value::String(Arc::clone(s)),
    }
}

impl<'a> Frame<'a> {
    pub(crate) fn new(
        names: &'a [String],
        globals: &'a [Option<&'a Value>],
        locals: &'a mut [Value],
        budget: u64,
    ) -> Self {
        Frame {
            names,
            globals,
            locals,
            remaining: budget,
            exceeded: false,
        }
    }

    fn global(&self, i: usize) -> Result<&'a Value, Error> {
        self.globals.get(i).copied().flatten().ok_or_else(|| {
            let name = self.names.get(i).cloned().unwrap_or_default();
            Box::new(ExecutionError::UndeclaredReference(Arc::new(name)))
        })
    }

    /// Evaluates `node`.
    pub(crate) fn eval(&mut self, node: &Node) -> R {
        match node {
            Node::Lit(v) => Ok(v.clone()),
            Node::Global(i) => self.global(*i).cloned(),
            Node::Local(i) => Ok(self.locals[*i].clone()),
            Node::Path {
                root,
                fields,
                bridges,
            } => self.path(root, fields, bridges),
            Node::Has {
                operand,
                field,
                bridge,
            } => {
                let v = self.eval(operand)?;
                match interned_field(&v, field) {
                    Some(found) => Ok(Value::Bool(found.is_some())),
                    None => bridge::run(bridge, vec![v]),
                }
            }
            Node::And(a, b) => {
                let left = try_bool(self.eval(a));
                if matches!(left, Ok(false)) {
                    return Ok(Value::Bool(false));
                }
                let right_value = self.eval(b)?;
                let right = match right_value {
                    Value::Bool(b) => Some(b),
                    _ => None,
                };
                match (left, right) {
                    (Ok(true), Some(r)) => Ok(Value::Bool(r)),
                    (Err(_), Some(false)) => Ok(Value::Bool(false)),
                    (left, _) => Err(boolean_operator_error("_&&_", left, &right_value)),
                }
            }
            Node::Or(a, b) => {
                let left = try_bool(self.eval(a));
                if matches!(left, Ok(true)) {
                    return Ok(Value::Bool(true));
                }
                let right_value = self.eval(b)?;
                let right = match right_value {
                    Value::Bool(b) => Some(b),
                    _ => None,
                };
                match (left, right) {
                    (Ok(false), Some(r)) => Ok(Value::Bool(r)),
                    (Err(_), Some(true)) => Ok(Value::Bool(true)),
                    (left, _) => Err(boolean_operator_error("_||_", left, &right_value)),
                }
            }
            Node::Cond(parts) => {
                let [c, t, f] = &**parts;
                if try_bool(self.eval(c))? {
                    self.eval(t)
                } else {
                    self.eval(f)
                }
            }
            Node::NotStrictlyFalse(a) => Ok(Value::Bool(try_bool(self.eval(a)).unwrap_or(true))),
            Node::Not(a, bridge) => match self.eval(a)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => bridge::run(bridge, vec![other]),
            },
            Node::Neg(a, bridge) => match self.eval(a)? {
                Value::Int(i) if i != i64::MIN => Ok(Value::Int(-i)),
                Value::Float(f) => Ok(Value::Float(-f)),
                other => bridge::run(bridge, vec![other]),
            },
            Node::Binary { op, args, bridge } => {
                let a = self.eval(&args[0])?;
                let b = self.eval(&args[1])?;
                binary(*op, a, b, bridge)
            }
            Node::Call {
                f,
                args,
                regex,
                bridge,
            } => self.with_args(args, |values| native(*f, values, regex.as_deref(), bridge)),
            Node::Direct {
                overloads,
                args,
                bridge,
            } => self.with_args(args, |values| {
                match overloads.iter().find(|d| d.accepts(values)) {
                    Some(d) => (d.f)(values).map_err(Box::new),
                    None => bridge::run(bridge, values.to_vec()),
                }
            }),
            Node::Bridged { args, bridge } => {
                let values = self.eval_all(args)?;
                bridge::run(bridge, values)
            }
            Node::List(items) => Ok(Value::List(Arc::new(self.eval_all(items)?))),
            Node::Map { entries, bridge } => self.map(entries, bridge),
            Node::Cost(range) => {
                let range = self.eval(range)?;
                let size = match &range {
                    Value::List(l) => l.len() as u64,
                    Value::Map(m) => m.map.len() as u64,
                    other => object::as_object(other).map_or(0, |o| o.len() as u64),
                };
                match self.remaining.checked_sub(size.saturating_add(1)) {
                    Some(left) => {
                        self.remaining = left;
                        Ok(range)
                    }
                    None => {
                        self.exceeded = true;
                        Err(Box::new(ExecutionError::function_error(
                            "cost",
                            "operation cancelled: actual cost limit exceeded",
                        )))
                    }
                }
            }
            Node::Comprehension(c) => self.comprehension(c),
        }
    }

    /// Evaluates `nodes` and hands their values to `f`; up to three on the
    /// stack, as nearly every call has.
    fn with_args(&mut self, nodes: &[Node], f: impl FnOnce(&[Value]) -> R) -> R {
        if nodes.len() > 3 {
            let values = self.eval_all(nodes)?;
            return f(&values);
        }
        let mut values = [Value::Null, Value::Null, Value::Null];
        for (slot, n) in values.iter_mut().zip(nodes) {
            *slot = self.eval(n)?;
        }
        f(&values[..nodes.len()])
    }

    fn eval_all(&mut self, nodes: &[Node]) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(nodes.len());
        for n in nodes {
            out.push(self.eval(n)?);
        }
        Ok(out)
    }

    /// `root.a.b…`: walks maps by reference, so only the selected value is
    /// copied (a reference count for containers and strings).
    fn path(&mut self, root: &Node, fields: &[super::Field], bridges: &[Bridge]) -> R {
        let owned;
        let mut current: &Value = match root {
            Node::Global(i) => self.global(*i)?,
            Node::Local(i) => &self.locals[*i],
            other => {
                owned = self.eval(other)?;
                &owned
            }
        };
        for (i, name) in fields.iter().enumerate() {
            match interned_field(current, name) {
                Some(Some(v)) => current = v,
                Some(None) => return Err(no_such_key(name)),
                None => {
                    // Not a map: the interpreter selects the rest.
                    let mut value = bridge::run(&bridges[i], vec![current.clone()])?;
                    for (name, bridge) in fields.iter().zip(bridges).skip(i + 1) {
                        value = match interned_field(&value, name) {
                            Some(Some(v)) => v.clone(),
                            Some(None) => return Err(no_such_key(name)),
                            None => bridge::run(bridge, vec![value])?,
                        };
                    }
                    return Ok(value);
                }
            }
        }
        Ok(current.clone())
    }

    fn map(&mut self, entries: &[(Node, Node)], bridge: &Bridge) -> R {
        let mut pairs = Vec::with_capacity(entries.len() * 2);
        for (k, v) in entries {
            pairs.push(self.eval(k)?);
            pairs.push(self.eval(v)?);
        }
        let mut map = std::collections::HashMap::with_capacity(entries.len());
        for pair in pairs.chunks(2) {
            let key = match &pair[0] {
                Value::String(s) => Key::String(Arc::clone(s)),
                Value::Int(i) => Key::Int(*i),
                Value::UInt(u) => Key::Uint(*u),
                Value::Bool(b) => Key::Bool(*b),
                _ => return bridge::run(bridge, pairs),
            };
            if map.insert(key, pair[1].clone()).is_some() {
                // Duplicate keys: the interpreter's error.
                return bridge::run(bridge, pairs);
            }
        }
        Ok(Value::Map(Map { map: Arc::new(map) }))
    }

    fn comprehension(&mut self, c: &Comprehension) -> R {
        let init = self.eval(&c.init)?;
        let range = self.eval(&c.range)?;
        let items: Vec<Value>;
        let items: &[Value] = match &range {
            Value::List(l) => l,
            Value::Map(m) => {
                items = m.map.keys().map(key_to_value).collect();
                &items
            }
            other => {
                items = match object::as_object(other) {
                    Some(o) => o.keys().collect(),
                    None => bridge::iterate(other)?,
                };
                &items
            }
        };
        if let Some((guard, append)) = &c.append
            && matches!(&init, Value::List(l) if l.is_empty())
        {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if !try_bool(self.eval(&c.cond))? {
                    break;
                }
                self.locals[c.iter_slot] = item.clone();
                if let Some(g) = guard
                    && !try_bool(self.eval(g))?
                {
                    continue;
                }
                for a in append {
                    let v = self.eval(a)?;
                    out.push(v);
                }
            }
            return Ok(Value::List(Arc::new(out)));
        }
        self.locals[c.accu_slot] = init;
        let mut pending: Option<Error> = None;
        for item in items {
            if !try_bool(self.eval(&c.cond))? {
                break;
            }
            self.locals[c.iter_slot] = item.clone();
            let step = self.eval(&c.step);
            match (step, c.fold) {
                (Err(err), Some(_)) => pending = Some(err),
                (Err(err), None) => return Err(err),
                (Ok(accu), Some(fold))
                    if pending.is_some()
                        && !matches!(accu, Value::Bool(b) if b == (fold == Fold::Or)) => {}
                (Ok(accu), _) => {
                    pending = None;
                    self.locals[c.accu_slot] = accu;
                }
            }
        }
        if let Some(err) = pending {
            return Err(err);
        }
        self.eval(&c.result)
    }
}

fn binary(op: BinOp, a: Value, b: Value, bridge: &Bridge) -> R {
    use Value::{Bool, Float, Int, List, Map as M, Null, String as S, UInt};
    use std::cmp::Ordering;
    let ordering = |o: Option<Ordering>| -> Option<bool> {
        let o = o?;
        Some(match op {
            BinOp::Lt => o == Ordering::Less,
            BinOp::Le => o != Ordering::Greater,
            BinOp::Gt => o == Ordering::Greater,
            BinOp::Ge => o != Ordering::Less,
            _ => return None,
        })
    };
    let fast: Option<Value> = match (op, &a, &b) {
        (BinOp::Add, Int(x), Int(y)) => x.checked_add(*y).map(Int),
        (BinOp::Sub, Int(x), Int(y)) => x.checked_sub(*y).map(Int),
        (BinOp::Mul, Int(x), Int(y)) => x.checked_mul(*y).map(Int),
        (BinOp::Div, Int(x), Int(y)) => x.checked_div(*y).map(Int),
        (BinOp::Rem, Int(x), Int(y)) => x.checked_rem(*y).map(Int),
        (BinOp::Add, UInt(x), UInt(y)) => x.checked_add(*y).map(UInt),
        (BinOp::Sub, UInt(x), UInt(y)) => x.checked_sub(*y).map(UInt),
        (BinOp::Mul, UInt(x), UInt(y)) => x.checked_mul(*y).map(UInt),
        (BinOp::Add, Float(x), Float(y)) => Some(Float(x + y)),
        (BinOp::Sub, Float(x), Float(y)) => Some(Float(x - y)),
        (BinOp::Mul, Float(x), Float(y)) => Some(Float(x * y)),
        (BinOp::Add, S(x), S(y)) => Some(S(Arc::new(format!("{x}{y}")))),
        (BinOp::Add, List(x), List(y)) => {
            Some(List(Arc::new(x.iter().chain(y.iter()).cloned().collect())))
        }
        (BinOp::Eq | BinOp::Ne, _, _) => {
            let eq = match (&a, &b) {
                (Int(x), Int(y)) => Some(x == y),
                (UInt(x), UInt(y)) => Some(x == y),
                (S(x), S(y)) => Some(x == y),
                (Bool(x), Bool(y)) => Some(x == y),
                (Null, Null) => Some(true),
                (Null, Int(_) | UInt(_) | S(_) | Bool(_) | List(_) | M(_))
                | (Int(_) | UInt(_) | S(_) | Bool(_) | List(_) | M(_), Null) => Some(false),
                _ => None,
            };
            eq.map(|e| Bool(e == (op == BinOp::Eq)))
        }
        (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, Int(x), Int(y)) => {
            ordering(Some(x.cmp(y))).map(Bool)
        }
        (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, UInt(x), UInt(y)) => {
            ordering(Some(x.cmp(y))).map(Bool)
        }
        (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge, S(x), S(y)) => {
            ordering(Some(x.cmp(y))).map(Bool)
        }
        (BinOp::In, S(needle), M(_) | Value::Opaque(_)) => {
            field(&b, needle).map(|found| Bool(found.is_some()))
        }
        (BinOp::In, S(needle), List(items)) => items
            .iter()
            .try_fold(false, |found, item| match item {
                S(s) => Some(found || s == needle),
                Int(_) | UInt(_) | Float(_) | Bool(_) | Null => Some(found),
                _ => None,
            })
            .map(Bool),
        (BinOp::In, Int(needle), List(items)) => items
            .iter()
            .try_fold(false, |found, item| match item {
                Int(i) => Some(found || i == needle),
                S(_) | Bool(_) | Null => Some(found),
                _ => None,
            })
            .map(Bool),
        (BinOp::Index, List(items), Int(i)) => {
            usize::try_from(*i).ok().and_then(|i| items.get(i)).cloned()
        }
        (BinOp::Index, M(_) | Value::Opaque(_), S(k)) => field(&a, k).flatten().cloned(),
        _ => None,
    };
    match fast {
        Some(v) => Ok(v),
        None => bridge::run(bridge, vec![a, b]),
    }
}

fn native(f: Native, args: &[Value], regex: Option<&regex::Regex>, bridge: &Bridge) -> R {
    let fast = match (f, args) {
        (Native::Size, [Value::String(s)]) => Some(Value::Int(s.chars().count() as i64)),
        (Native::Size, [Value::List(l)]) => Some(Value::Int(l.len() as i64)),
        (Native::Size, [Value::Map(m)]) => Some(Value::Int(m.map.len() as i64)),
        (Native::Size, [v @ Value::Opaque(_)]) => {
            object::as_object(v).map(|o| Value::Int(o.len() as i64))
        }
        (Native::StartsWith, [Value::String(s), Value::String(p)]) => {
            Some(Value::Bool(s.starts_with(p.as_str())))
        }
        (Native::EndsWith, [Value::String(s), Value::String(p)]) => {
            Some(Value::Bool(s.ends_with(p.as_str())))
        }
        (Native::Contains, [Value::String(s), Value::String(p)]) => {
            Some(Value::Bool(s.contains(p.as_str())))
        }
        (Native::Matches, [Value::String(s), Value::String(_)]) => {
            regex.map(|re| Value::Bool(re.is_match(s)))
        }
        _ => None,
    };
    match fast {
        Some(v) => Ok(v),
        None => bridge::run(bridge, args.to_vec()),
    }
}

//! A partial static type check, the part of cel-go's checker that needs no
//! schema: the types of literals, of what is built from them, and of the
//! functions whose result type is fixed. Kubernetes declares `object`,
//! `oldObject` and `params` as `dyn`; anything this module cannot type is
//! `Unknown` and never the cause of an error, so an expression Kubernetes
//! accepts is not refused here (the differential corpus checks both ways).
//!
//! What it refuses, as Kubernetes' environment does at compile time:
//! non-homogeneous list and map literals (`[1, 'a']`, `[1, dyn(2)]`:
//! Kubernetes enables `HomogeneousAggregateLiterals`), and operators applied
//! to operand types no overload takes (`1 == 1u`, `[1] == [1.0]`,
//! `'a' < 1`, `[1][0u]`, `2u in [1]`). Ordering between `int`, `uint` and
//! `double` is allowed (`CrossTypeNumericComparisons`).

use std::fmt;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

/// A static type; `Unknown` is "not worked out here" and matches anything.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum T {
    Unknown,
    Dyn,
    Int,
    Uint,
    Double,
    String,
    Bool,
    Bytes,
    Null,
    Duration,
    Timestamp,
    List(Box<T>),
    Map(Box<T>, Box<T>),
    Optional(Box<T>),
    /// A `[key, value]` pair of `@entries`, the expansion of two-variable
    /// comprehensions.
    Pair(Box<T>, Box<T>),
}

impl fmt::Display for T {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            T::Unknown => write!(f, "_"),
            T::Dyn => write!(f, "dyn"),
            T::Int => write!(f, "int"),
            T::Uint => write!(f, "uint"),
            T::Double => write!(f, "double"),
            T::String => write!(f, "string"),
            T::Bool => write!(f, "bool"),
            T::Bytes => write!(f, "bytes"),
            T::Null => write!(f, "null_type"),
            T::Duration => write!(f, "google.protobuf.Duration"),
            T::Timestamp => write!(f, "google.protobuf.Timestamp"),
            T::List(e) => write!(f, "list({e})"),
            T::Map(k, v) => write!(f, "map({k}, {v})"),
            T::Optional(e) => write!(f, "optional_type({e})"),
            T::Pair(k, v) => write!(f, "pair({k}, {v})"),
        }
    }
}

impl T {
    fn is_number(&self) -> bool {
        matches!(self, T::Int | T::Uint | T::Double)
    }

    /// Fully known: no `Unknown` and no `dyn` anywhere inside.
    fn concrete(&self) -> bool {
        match self {
            T::Unknown | T::Dyn => false,
            T::List(e) | T::Optional(e) => e.concrete(),
            T::Map(k, v) | T::Pair(k, v) => k.concrete() && v.concrete(),
            _ => true,
        }
    }

    /// The same type, `Unknown` matching anything (homogeneous literals:
    /// `dyn` is a type of its own there, as in cel-go's validator).
    fn same(&self, other: &T) -> bool {
        match (self, other) {
            (T::Unknown, _) | (_, T::Unknown) => true,
            (T::List(a), T::List(b)) | (T::Optional(a), T::Optional(b)) => a.same(b),
            (T::Map(a, b), T::Map(c, d)) => a.same(c) && b.same(d),
            (a, b) => a == b,
        }
    }

    /// Whether the checker could unify the two (`dyn` unifies with all).
    fn assignable(&self, other: &T) -> bool {
        match (self, other) {
            (T::Unknown | T::Dyn, _) | (_, T::Unknown | T::Dyn) => true,
            (T::List(a), T::List(b)) | (T::Optional(a), T::Optional(b)) => a.assignable(b),
            (T::Map(a, b), T::Map(c, d)) => a.assignable(c) && b.assignable(d),
            (a, b) => a == b,
        }
    }

    /// The more precise of two types that are [`T::same`].
    fn merge(self, other: T) -> T {
        match (self, other) {
            (T::Unknown, b) => b,
            (a, T::Unknown) => a,
            (T::List(a), T::List(b)) => T::List(Box::new(a.merge(*b))),
            (T::Optional(a), T::Optional(b)) => T::Optional(Box::new(a.merge(*b))),
            (T::Map(a, b), T::Map(c, d)) => T::Map(Box::new(a.merge(*c)), Box::new(b.merge(*d))),
            (a, _) => a,
        }
    }
}

/// A type error: the message and the node it is about.
pub(crate) struct TypeError {
    pub(crate) message: String,
    pub(crate) id: u64,
}

type R = Result<T, TypeError>;

/// Types `e`; `var` gives the type of a declared top-level variable, and
/// `scopes` the comprehension variables in scope (innermost last).
pub(crate) struct Typer<'a> {
    pub(crate) var: &'a dyn Fn(&str) -> T,
    scopes: Vec<(String, T)>,
    /// Inside a call of `format`, whose arguments cel-go exempts from the
    /// homogeneous-literal rule (`'%s: %d'.format(['a', 1])`).
    exempt: usize,
}

impl<'a> Typer<'a> {
    pub(crate) fn new(var: &'a dyn Fn(&str) -> T) -> Self {
        Typer {
            var,
            scopes: Vec::new(),
            exempt: 0,
        }
    }

    pub(crate) fn check(&mut self, e: &IdedExpr) -> R {
        match &e.expr {
            Expr::Literal(l) => Ok(match l {
                LiteralValue::Int(_) => T::Int,
                LiteralValue::UInt(_) => T::Uint,
                LiteralValue::Double(_) => T::Double,
                LiteralValue::String(_) => T::String,
                LiteralValue::Bytes(_) => T::Bytes,
                LiteralValue::Boolean(_) => T::Bool,
                LiteralValue::Null => T::Null,
            }),
            Expr::Ident(name) => Ok(self
                .scopes
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| (self.var)(name))),
            Expr::Select(s) => {
                let operand = self.check(&s.operand)?;
                if !s.test && operand.concrete() && !matches!(operand, T::Map(..)) {
                    return Err(TypeError {
                        message: format!("type '{operand}' does not support field selection"),
                        id: e.id,
                    });
                }
                Ok(match (s.test, operand) {
                    (true, _) => T::Bool,
                    (false, T::Dyn) => T::Dyn,
                    (false, T::Map(_, v)) => *v,
                    _ => T::Unknown,
                })
            }
            Expr::List(l) => {
                let mut element = T::Unknown;
                for (i, x) in l.elements.iter().enumerate() {
                    let mut t = self.check(x)?;
                    if l.optional_indices.contains(&i) {
                        t = match t {
                            T::Optional(inner) => *inner,
                            _ => T::Unknown,
                        };
                    }
                    if !element.same(&t) {
                        if self.exempt > 0 {
                            return Ok(T::List(Box::new(T::Unknown)));
                        }
                        return Err(TypeError {
                            message: format!("expected type '{element}' but found '{t}'"),
                            id: x.id,
                        });
                    }
                    element = element.merge(t);
                }
                Ok(T::List(Box::new(element)))
            }
            Expr::Map(m) => {
                let (mut key, mut value) = (T::Unknown, T::Unknown);
                for entry in &m.entries {
                    let EntryExpr::MapEntry(me) = &entry.expr else {
                        return Ok(T::Unknown);
                    };
                    let k = self.check(&me.key)?;
                    let mut v = self.check(&me.value)?;
                    if me.optional {
                        v = match v {
                            T::Optional(inner) => *inner,
                            _ => T::Unknown,
                        };
                    }
                    for (seen, t, node) in [(&key, &k, &me.key), (&value, &v, &me.value)] {
                        if !seen.same(t) {
                            if self.exempt > 0 {
                                return Ok(T::Unknown);
                            }
                            return Err(TypeError {
                                message: format!("expected type '{seen}' but found '{t}'"),
                                id: node.id,
                            });
                        }
                    }
                    key = key.merge(k);
                    value = value.merge(v);
                }
                Ok(T::Map(Box::new(key), Box::new(value)))
            }
            Expr::Struct(_) | Expr::Unspecified => Ok(T::Unknown),
            Expr::Comprehension(c) => {
                let range = self.check(&c.iter_range)?;
                let element = match range {
                    T::List(e) => *e,
                    T::Map(k, _) => *k,
                    T::Dyn => T::Dyn,
                    T::Unknown => T::Unknown,
                    other => {
                        return Err(TypeError {
                            message: format!(
                                "expression of type '{other}' cannot be range of a comprehension (must be list, map, or dynamic)"
                            ),
                            id: c.iter_range.id,
                        });
                    }
                };
                let init = self.check(&c.accu_init)?;
                let before = self.scopes.len();
                self.scopes.push((c.iter_var.clone(), element));
                if let Some(v2) = &c.iter_var2 {
                    self.scopes.push((v2.clone(), T::Unknown));
                }
                self.scopes.push((c.accu_var.clone(), init.clone()));
                let result = (|| {
                    self.check(&c.loop_cond)?;
                    let step = self.check(&c.loop_step)?;
                    let accu = if init.same(&step) {
                        init.merge(step)
                    } else {
                        T::Unknown
                    };
                    if let Some(slot) = self.scopes.last_mut() {
                        slot.1 = accu;
                    }
                    self.check(&c.result)
                })();
                self.scopes.truncate(before);
                result
            }
            Expr::Call(call) => {
                // `strings.quote(x)`: a namespace, not a receiver.
                if let Some(t) = call.target.as_deref()
                    && let Expr::Ident(ns) = &t.expr
                    && NAMESPACES.contains(&ns.as_str())
                    && !self.scopes.iter().any(|(n, _)| n == ns)
                {
                    let mut args = Vec::with_capacity(call.args.len());
                    for a in &call.args {
                        args.push(self.check(a)?);
                    }
                    let name = format!("{ns}.{}", call.func_name);
                    return call_type(&name, false, &args)
                        .map_err(|message| TypeError { message, id: e.id });
                }
                if call.func_name == operators::INDEX
                    && let [pair, index] = call.args.as_slice()
                    && let Expr::Literal(LiteralValue::Int(i)) = &index.expr
                    && let T::Pair(k, v) = self.check(pair)?
                {
                    return Ok(if **i == 0 { *k } else { *v });
                }
                let exempt = usize::from(call.func_name == "format");
                self.exempt += exempt;
                let args = self.call_args(call);
                self.exempt -= exempt;
                let args = args?;
                call_type(&call.func_name, call.target.is_some(), &args)
                    .map_err(|message| TypeError { message, id: e.id })
            }
        }
    }
}

impl Typer<'_> {
    fn call_args(&mut self, call: &cel::common::ast::CallExpr) -> Result<Vec<T>, TypeError> {
        let mut args = Vec::with_capacity(call.args.len() + 1);
        if let Some(t) = &call.target {
            args.push(self.check(t)?);
        }
        for a in &call.args {
            args.push(self.check(a)?);
        }
        Ok(args)
    }
}

/// Receivers that are library namespaces rather than values.
const NAMESPACES: &[&str] = &[
    "strings", "sets", "lists", "optional", "format", "math", "base64",
];

fn no_overload(name: &str, args: &[T]) -> String {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    format!(
        "found no matching overload for '{name}' applied to '({})'",
        args.join(", ")
    )
}

/// The result type of a call, or why no overload takes these arguments.
fn call_type(name: &str, member: bool, args: &[T]) -> Result<T, String> {
    use T::*;
    let fail = || Err(no_overload(name, args));
    let both_concrete = || args.iter().all(T::concrete);
    match (name, args) {
        (operators::LOGICAL_AND | operators::LOGICAL_OR | operators::LOGICAL_NOT, _) => Ok(Bool),
        (operators::EQUALS | operators::NOT_EQUALS, [a, b]) => {
            if both_concrete() && !a.assignable(b) && *a != Null && *b != Null {
                return fail();
            }
            Ok(Bool)
        }
        (
            operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS,
            [a, b],
        ) => {
            let orderable = |t: &T| {
                matches!(
                    t,
                    Int | Uint | Double | String | Bytes | Bool | Duration | Timestamp
                )
            };
            let ok = match (a, b) {
                (Unknown | Dyn, _) | (_, Unknown | Dyn) => [a, b]
                    .iter()
                    .all(|t| matches!(t, Unknown | Dyn) || orderable(t)),
                (x, y) if x.is_number() && y.is_number() => true,
                (x, y) => x == y && orderable(x),
            };
            if ok { Ok(Bool) } else { fail() }
        }
        (operators::ADD, [a, b]) => arithmetic(name, a, b, |x, y| match (x, y) {
            (Int, Int) => Some(Int),
            (Uint, Uint) => Some(Uint),
            (Double, Double) => Some(Double),
            (String, String) => Some(String),
            (Bytes, Bytes) => Some(Bytes),
            (Duration, Duration) => Some(Duration),
            (Timestamp, Duration) | (Duration, Timestamp) => Some(Timestamp),
            (List(p), List(q)) if p.same(q) => {
                Some(List(Box::new((**p).clone().merge((**q).clone()))))
            }
            _ => None,
        }),
        (operators::SUBSTRACT, [a, b]) => arithmetic(name, a, b, |x, y| match (x, y) {
            (Int, Int) => Some(Int),
            (Uint, Uint) => Some(Uint),
            (Double, Double) => Some(Double),
            (Duration, Duration) | (Timestamp, Timestamp) => Some(Duration),
            (Timestamp, Duration) => Some(Timestamp),
            _ => None,
        }),
        (operators::MULTIPLY | operators::DIVIDE, [a, b]) => {
            arithmetic(name, a, b, |x, y| match (x, y) {
                (Int, Int) => Some(Int),
                (Uint, Uint) => Some(Uint),
                (Double, Double) => Some(Double),
                _ => None,
            })
        }
        (operators::MODULO, [a, b]) => arithmetic(name, a, b, |x, y| match (x, y) {
            (Int, Int) => Some(Int),
            (Uint, Uint) => Some(Uint),
            _ => None,
        }),
        (operators::NEGATE, [a]) => match a {
            Int | Double => Ok(a.clone()),
            Unknown | Dyn => Ok(Unknown),
            _ => fail(),
        },
        (operators::INDEX, [c, i]) => match c {
            List(e) => match i {
                Int | Unknown | Dyn => Ok((**e).clone()),
                _ => fail(),
            },
            Map(k, v) => {
                if k.concrete() && i.concrete() && !k.assignable(i) {
                    return fail();
                }
                Ok((**v).clone())
            }
            Dyn => Ok(Dyn),
            Unknown => Ok(Unknown),
            _ => fail(),
        },
        (operators::IN, [x, c]) => {
            let inner = match c {
                List(e) => Some(&**e),
                Map(k, _) => Some(&**k),
                Unknown | Dyn => None,
                _ => return fail(),
            };
            if let Some(inner) = inner
                && x.concrete()
                && inner.concrete()
                && !x.assignable(inner)
            {
                return fail();
            }
            Ok(Bool)
        }
        (operators::CONDITIONAL, [c, a, b]) => {
            if !matches!(c, Bool | Unknown | Dyn) || !a.assignable(b) {
                return fail();
            }
            Ok(if a.same(b) {
                a.clone().merge(b.clone())
            } else {
                Unknown
            })
        }
        (_, [receiver, ..]) if member && !receiver_ok(name, receiver) => fail(),
        ("find" | "getHost" | "getHostname" | "getScheme" | "getPort" | "getEscapedPath", _)
            if member =>
        {
            Ok(String)
        }
        ("findAll", _) if member => Ok(List(Box::new(String))),
        (
            "asInteger" | "compareTo" | "getFullYear" | "getMonth" | "getDate" | "getDayOfMonth"
            | "getDayOfWeek" | "getDayOfYear" | "getHours" | "getMinutes" | "getSeconds"
            | "getMilliseconds",
            _,
        ) if member => Ok(Int),
        ("asApproximateFloat", _) if member => Ok(Double),
        ("isInteger" | "isLessThan" | "isGreaterThan", _) if member => Ok(Bool),
        ("size", [a]) => match a {
            String | Bytes | List(_) | Map(..) | Unknown | Dyn => Ok(Int),
            _ => fail(),
        },
        ("int", [a]) if !member => accepting(
            name,
            a,
            &[Int, Uint, Double, String, Timestamp, Duration],
            Int,
        ),
        ("uint", [a]) if !member => accepting(name, a, &[Int, Uint, Double, String], Uint),
        ("double", [a]) if !member => accepting(name, a, &[Int, Uint, Double, String], Double),
        ("string", [a]) if !member => accepting(
            name,
            a,
            &[Int, Uint, Double, String, Bool, Bytes, Timestamp, Duration],
            String,
        ),
        ("bytes", [a]) if !member => accepting(name, a, &[String, Bytes], Bytes),
        ("bool", [a]) if !member => accepting(name, a, &[Bool, String], Bool),
        ("duration", [a]) if !member => accepting(name, a, &[String, Duration], Duration),
        ("timestamp", [a]) if !member => accepting(name, a, &[String, Int, Timestamp], Timestamp),
        ("isURL" | "isIP" | "isCIDR" | "isQuantity" | "ip.isCanonical", [a]) if !member => {
            accepting(name, a, &[String], Bool)
        }
        ("url" | "ip" | "cidr" | "quantity", [a]) if !member => {
            accepting(name, a, &[String], Unknown)
        }
        ("indexOf" | "lastIndexOf", [String, ..]) if member => Ok(Int),
        (
            "charAt" | "lowerAscii" | "upperAscii" | "trim" | "substring" | "replace" | "format",
            [String, ..],
        ) if member => Ok(String),
        ("join", [List(e), ..]) if member => match **e {
            String | Unknown | Dyn => Ok(String),
            _ => fail(),
        },
        ("sort" | "distinct" | "reverse" | "slice", [List(e), ..]) if member => Ok(List(e.clone())),
        ("first" | "last", [List(e)]) if member => Ok(Optional(e.clone())),
        ("lists.range", [_]) => Ok(List(Box::new(Int))),
        (super::lib::ENTRIES, [range]) => match range {
            List(e) => Ok(List(Box::new(Pair(Box::new(Int), e.clone())))),
            Map(k, v) => Ok(List(Box::new(Pair(k.clone(), v.clone())))),
            Unknown | Dyn => Ok(Unknown),
            other => Err(format!(
                "expression of type '{other}' cannot be range of a comprehension (must be list, map, or dynamic)"
            )),
        },
        (super::lib::MAP_INSERT, [accu, k, v]) => {
            let grown = Map(Box::new(k.clone()), Box::new(v.clone()));
            Ok(if accu.same(&grown) {
                accu.clone().merge(grown)
            } else {
                Unknown
            })
        }
        (super::lib::MAP_MERGE, [accu, entry]) => match entry {
            Map(..) if accu.same(entry) => Ok(accu.clone().merge(entry.clone())),
            Map(..) | Unknown | Dyn => Ok(Unknown),
            _ => fail(),
        },
        ("strings.quote", [_]) => Ok(String),
        ("split", [String, ..]) if member => Ok(List(Box::new(String))),
        ("sum" | "min" | "max", [List(e)]) if member && e.is_number() => Ok((**e).clone()),
        ("isSorted", [List(_)]) if member => Ok(Bool),
        // The strings extension at version 2 (Kubernetes') has no
        // `reverse`; the lists extension has.
        ("reverse", [String]) if member => fail(),
        ("sets.contains" | "sets.equivalent" | "sets.intersects", [a, b]) => {
            let list_like = |t: &T| matches!(t, List(_) | Unknown | Dyn);
            if list_like(a) && list_like(b) {
                Ok(Bool)
            } else {
                fail()
            }
        }
        ("dyn", [_]) if !member => Ok(Dyn),
        ("contains" | "startsWith" | "endsWith" | "matches", _) => Ok(Bool),
        ("optional.of", [a]) => Ok(Optional(Box::new(a.clone()))),
        ("optional.none", []) => Ok(Optional(Box::new(Unknown))),
        _ => Ok(Unknown),
    }
}

/// `Ok(result)` if the argument is of one of the accepted types (or not
/// known), else no overload.
fn accepting(name: &str, arg: &T, accepted: &[T], result: T) -> Result<T, String> {
    if matches!(arg, T::Unknown | T::Dyn) || accepted.contains(arg) {
        Ok(result)
    } else {
        Err(no_overload(name, std::slice::from_ref(arg)))
    }
}

/// Types a binary operator from its overloads (`rule`). With one operand
/// of unknown or dynamic type, the known one must still fit some overload,
/// and when all the overloads it fits give one result type, that is the
/// type (`3 * dyn` is an `int`), as cel-go's overload resolution does.
fn arithmetic(name: &str, a: &T, b: &T, rule: impl Fn(&T, &T) -> Option<T>) -> Result<T, String> {
    let open = |t: &T| matches!(t, T::Unknown | T::Dyn);
    let error = || Err(no_overload(name, &[a.clone(), b.clone()]));
    match (open(a), open(b)) {
        (false, false) => rule(a, b).map_or_else(error, Ok),
        (true, true) => Ok(T::Unknown),
        (a_open, _) => {
            let results: Vec<T> = partners()
                .iter()
                .filter_map(|p| if a_open { rule(p, b) } else { rule(a, p) })
                .collect();
            match results.split_first() {
                None => error(),
                Some((first, rest)) if rest.iter().all(|r| r == first) && first.concrete() => {
                    Ok(first.clone())
                }
                Some(_) if matches!(a, T::Dyn) || matches!(b, T::Dyn) => Ok(T::Dyn),
                Some(_) => Ok(T::Unknown),
            }
        }
    }
}

/// One type of each kind, the possible partners of a known operand.
fn partners() -> [T; 11] {
    [
        T::Int,
        T::Uint,
        T::Double,
        T::String,
        T::Bool,
        T::Bytes,
        T::Null,
        T::Duration,
        T::Timestamp,
        T::List(Box::new(T::Unknown)),
        T::Map(Box::new(T::Unknown), Box::new(T::Unknown)),
    ]
}

/// Member functions that need a receiver of one kind: the string, list and
/// time functions. A receiver of a known other kind has no overload.
fn receiver_ok(name: &str, receiver: &T) -> bool {
    use T::*;
    if matches!(receiver, Unknown | Dyn) {
        return true;
    }
    match name {
        "charAt" | "lowerAscii" | "upperAscii" | "replace" | "split" | "substring" | "trim"
        | "startsWith" | "endsWith" | "contains" | "matches" | "find" | "findAll" | "format" => {
            *receiver == String
        }
        "indexOf" | "lastIndexOf" => matches!(receiver, String | List(_)),
        "isSorted" | "sum" | "min" | "max" | "distinct" | "flatten" | "slice" | "sort"
        | "reverse" | "first" | "last" | "join" => matches!(receiver, List(_)),
        "getFullYear" | "getMonth" | "getDate" | "getDayOfMonth" | "getDayOfWeek"
        | "getDayOfYear" => *receiver == Timestamp,
        "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => {
            matches!(receiver, Timestamp | Duration)
        }
        _ => true,
    }
}

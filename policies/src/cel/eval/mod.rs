//! Flotilla's own CEL evaluator: each expression is compiled once into a
//! tree of [`Node`]s with names and operators resolved ahead of time.
//!
//! Why hand-written: the `cel` 0.15 interpreter walks the parser's AST on
//! every evaluation and resolves everything dynamically each time: it
//! matches function names as strings, joins dotted names and looks them up
//! scope by scope, allocates a child scope (a `BTreeMap`) per comprehension
//! and boxes a copy of every loop element. That cost 3 µs per policy
//! evaluation, three times Flotilla's budget. No maintained Rust crate
//! compiles CEL ahead of time (cel-rust and its older `cel-interpreter`
//! name both interpret the AST).
//!
//! The boundary with the crate is kept narrow, so semantics stay the
//! crate's:
//!
//! - Evaluation order, short-circuits and error absorption of `&&`, `||`,
//!   `?:`, `@not_strictly_false` and comprehensions (the deferred errors of
//!   `all`/`exists`) mirror the interpreter's code line by line.
//! - Operators and functions have fast paths only for the operand types
//!   policies use all the time (ints, strings, maps, lists); any other
//!   operand, and every error, is handed to the interpreter itself through a
//!   [`bridge`] expression (`@0 + @1`, `@0.f(@1)`…) over the already
//!   evaluated operands. So corner cases (mixed numeric types, overflow,
//!   durations, optionals, library functions) behave and fail exactly as
//!   the interpreter's.
//! - What the tree does not model at all (type names such as `int`,
//!   struct literals, optional field selection and entries, two-variable
//!   comprehensions) makes [`compile`] return `None`, and the expression
//!   runs on the interpreter as before.
//!
//! A differential test (`tests/evaluator_parity.rs`) runs every expression
//! of the test suite and the examples through both paths.

mod bridge;
pub(crate) mod object;
mod run;

use std::sync::Arc;

use cel::Value;
use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, ListExpr, SelectExpr, operators};

pub(crate) use run::Frame;

use super::cost::COST_FUNCTION;
use super::lib::regex::MATCHES_FUNCTION;

/// A compiled expression.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) root: Node,
    /// Top-level variable names, indexed by [`Node::Global`].
    pub(crate) globals: Vec<String>,
    /// Comprehension variable slots needed.
    pub(crate) locals: usize,
}

/// A field name selected on a map, interned (see [`object::intern`]).
pub(crate) type Field = Arc<str>;

/// An expression over the interpreter, built at compile time, whose
/// operands are the variables `@0`, `@1`…
#[derive(Debug)]
pub(crate) struct Bridge(pub(crate) IdedExpr);

/// Binary operators with fast paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Index,
}

/// Functions with fast paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Native {
    Size,
    StartsWith,
    EndsWith,
    Contains,
    Matches,
}

/// One node of a compiled expression.
#[derive(Debug)]
pub(crate) enum Node {
    Lit(Value),
    Global(usize),
    Local(usize),
    /// `root.a.b.c`: borrows through maps, copies only the last value.
    Path {
        root: Box<Node>,
        fields: Vec<Field>,
        /// `@0.f` for a field of something that is not a map.
        bridges: Vec<Bridge>,
    },
    Has {
        operand: Box<Node>,
        field: Field,
        bridge: Bridge,
    },
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<[Node; 3]>),
    NotStrictlyFalse(Box<Node>),
    Not(Box<Node>, Bridge),
    Neg(Box<Node>, Bridge),
    Binary {
        op: BinOp,
        args: Box<[Node; 2]>,
        bridge: Bridge,
    },
    Call {
        f: Native,
        /// The receiver first, for member calls.
        args: Vec<Node>,
        /// A precompiled pattern for `matches` with a literal pattern.
        regex: Option<Arc<regex::Regex>>,
        bridge: Bridge,
    },
    /// A library function called directly, with the overloads that fit its
    /// name and arity; the interpreter's when none accepts the arguments.
    Direct {
        overloads: Vec<&'static crate::cel::lib::Direct>,
        args: Vec<Node>,
        bridge: Bridge,
    },
    /// Any other function: evaluated by the interpreter.
    Bridged {
        args: Vec<Node>,
        bridge: Bridge,
    },
    List(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        bridge: Bridge,
    },
    /// `@cost(range)`: charges `size + 1` (see [`super::cost`]).
    Cost(Box<Node>),
    Comprehension(Box<Comprehension>),
}

/// A comprehension, as the macros expand.
#[derive(Debug)]
pub(crate) struct Comprehension {
    pub(crate) range: Node,
    pub(crate) iter_slot: usize,
    pub(crate) accu_slot: usize,
    pub(crate) init: Node,
    pub(crate) cond: Node,
    pub(crate) step: Node,
    pub(crate) result: Node,
    /// `accu && x` / `accu || x`: errors are deferred as the interpreter does.
    pub(crate) fold: Option<Fold>,
    /// `map`/`filter`: the guard and the appended items.
    pub(crate) append: Option<(Option<Node>, Vec<Node>)>,
}

/// The connective of an `all()` / `exists()` loop step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    And,
    Or,
}

/// Compiles `expr` (already checked, instrumented for cost and with
/// `matches` rewritten). `declared` says which identifiers are top-level
/// variables. `None`: the expression uses something the tree does not
/// model; it runs on the interpreter.
pub(crate) fn compile(expr: &IdedExpr, declared: &dyn Fn(&str) -> bool) -> Option<Compiled> {
    let mut c = Compiler {
        declared,
        globals: Vec::new(),
        scopes: Vec::new(),
        max_locals: 0,
    };
    let root = c.node(expr)?;
    Some(Compiled {
        root,
        globals: c.globals,
        locals: c.max_locals,
    })
}

struct Compiler<'a> {
    declared: &'a dyn Fn(&str) -> bool,
    globals: Vec<String>,
    /// Comprehension variables in scope, innermost last, with their slots.
    scopes: Vec<(String, usize)>,
    max_locals: usize,
}

fn ident(name: &str) -> IdedExpr {
    IdedExpr {
        id: 0,
        expr: Expr::Ident(name.to_string()),
    }
}

/// `@i` for i in `range`.
fn operands(range: std::ops::Range<usize>) -> Vec<IdedExpr> {
    range.map(|i| ident(&format!("@{i}"))).collect()
}

fn call_bridge(func: &str, target: Option<IdedExpr>, args: Vec<IdedExpr>) -> Bridge {
    Bridge(IdedExpr {
        id: 0,
        expr: Expr::Call(CallExpr {
            func_name: func.to_string(),
            target: target.map(Box::new),
            args,
        }),
    })
}

fn select_bridge(field: &str, test: bool) -> Bridge {
    Bridge(IdedExpr {
        id: 0,
        expr: Expr::Select(SelectExpr {
            operand: Box::new(ident("@0")),
            field: field.to_string(),
            test,
        }),
    })
}

/// `a.b.c` as a dotted name, when the expression is only identifiers and
/// field selections.
fn qualified_name(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Ident(n) => Some(n.clone()),
        Expr::Select(s) if !s.test => {
            qualified_name(&s.operand).map(|q| format!("{q}.{}", s.field))
        }
        _ => None,
    }
}

fn root_ident(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Expr::Ident(n) => Some(n),
        Expr::Select(s) => root_ident(&s.operand),
        _ => None,
    }
}

impl Compiler<'_> {
    fn is_variable(&self, name: &str) -> bool {
        self.scopes.iter().any(|(n, _)| n == name) || (self.declared)(name)
    }

    fn ident(&mut self, name: &str) -> Option<Node> {
        if let Some((_, slot)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Some(Node::Local(*slot));
        }
        if !(self.declared)(name) {
            // Type names, undeclared names: the interpreter's business.
            return None;
        }
        let i = match self.globals.iter().position(|g| g == name) {
            Some(i) => i,
            None => {
                self.globals.push(name.to_string());
                self.globals.len() - 1
            }
        };
        Some(Node::Global(i))
    }

    fn node(&mut self, e: &IdedExpr) -> Option<Node> {
        let node = match &e.expr {
            Expr::Literal(_) => Node::Lit(bridge::literal(e)?),
            Expr::Ident(name) => self.ident(name)?,
            Expr::Select(s) if s.test => Node::Has {
                operand: Box::new(self.node(&s.operand)?),
                field: object::intern(&s.field),
                bridge: select_bridge(&s.field, true),
            },
            Expr::Select(s) => {
                let operand = self.node(&s.operand)?;
                let field = object::intern(&s.field);
                let bridge = select_bridge(&s.field, false);
                match operand {
                    Node::Path {
                        root,
                        mut fields,
                        mut bridges,
                    } => {
                        fields.push(field);
                        bridges.push(bridge);
                        Node::Path {
                            root,
                            fields,
                            bridges,
                        }
                    }
                    other => Node::Path {
                        root: Box::new(other),
                        fields: vec![field],
                        bridges: vec![bridge],
                    },
                }
            }
            Expr::Call(c) => self.call(c)?,
            Expr::List(l) => self.list(l)?,
            Expr::Map(m) => {
                let mut entries = Vec::new();
                for entry in &m.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(me) if !me.optional => {
                            entries.push((self.node(&me.key)?, self.node(&me.value)?));
                        }
                        _ => return None,
                    }
                }
                let n = entries.len();
                let ops = operands(0..2 * n);
                let bridge = Bridge(IdedExpr {
                    id: 0,
                    expr: Expr::Map(cel::common::ast::MapExpr {
                        entries: (0..n)
                            .map(|i| {
                                cel::common::ast::EntryExpr::MapEntry(
                                    cel::common::ast::MapEntryExpr {
                                        key: ops[2 * i].clone(),
                                        value: ops[2 * i + 1].clone(),
                                        optional: false,
                                    },
                                )
                            })
                            .map(|expr| cel::common::ast::IdedEntryExpr { id: 0, expr })
                            .collect(),
                    }),
                });
                Node::Map { entries, bridge }
            }
            Expr::Comprehension(c) => {
                if c.iter_var2.is_some() {
                    return None;
                }
                let range = self.node(&c.iter_range)?;
                let init = self.node(&c.accu_init)?;
                let before = self.scopes.len();
                let iter_slot = before;
                let accu_slot = before + 1;
                self.max_locals = self.max_locals.max(accu_slot + 1);
                // The interpreter binds the accumulator, then the element, in
                // one inner scope: the element shadows an equally named
                // accumulator.
                self.scopes.push((c.accu_var.clone(), accu_slot));
                self.scopes.push((c.iter_var.clone(), iter_slot));
                let body = (|| {
                    Some((
                        self.node(&c.loop_cond)?,
                        self.node(&c.loop_step)?,
                        self.node(&c.result)?,
                        self.append_step(c)?,
                    ))
                })();
                self.scopes.truncate(before);
                let (cond, step, result, append) = body?;
                let fold = match &c.loop_step.expr {
                    Expr::Call(call)
                        if call.target.is_none()
                            && matches!(call.args.first().map(|a| &a.expr),
                                Some(Expr::Ident(n)) if *n == c.accu_var) =>
                    {
                        match call.func_name.as_str() {
                            operators::LOGICAL_AND => Some(Fold::And),
                            operators::LOGICAL_OR => Some(Fold::Or),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                Node::Comprehension(Box::new(Comprehension {
                    range,
                    iter_slot,
                    accu_slot,
                    init,
                    cond,
                    step,
                    result,
                    fold,
                    append,
                }))
            }
            Expr::Struct(_) | Expr::Unspecified => return None,
        };
        Some(fold_constant(node))
    }

    fn list(&mut self, l: &ListExpr) -> Option<Node> {
        if !l.optional_indices.is_empty() {
            return None;
        }
        Some(Node::List(
            l.elements
                .iter()
                .map(|x| self.node(x))
                .collect::<Option<_>>()?,
        ))
    }

    /// The `map`/`filter` shape the interpreter builds in place (its
    /// `AppendStep`): `@result + [x]`, maybe guarded by `cond ? … : @result`,
    /// a literal loop condition and `@result` as the result. `Some(None)`:
    /// not that shape.
    #[allow(clippy::option_option)]
    fn append_step(
        &mut self,
        c: &cel::common::ast::ComprehensionExpr,
    ) -> Option<Option<(Option<Node>, Vec<Node>)>> {
        let accu = c.accu_var.as_str();
        let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if n == accu);
        let items_of = |e: &IdedExpr| -> Option<ListExpr> {
            match &e.expr {
                Expr::Call(call) if call.func_name == operators::ADD && call.target.is_none() => {
                    match call.args.as_slice() {
                        [lhs, rhs] if is_accu(lhs) => match &rhs.expr {
                            Expr::List(l) if l.optional_indices.is_empty() => Some(l.clone()),
                            _ => None,
                        },
                        _ => None,
                    }
                }
                _ => None,
            }
        };
        if !is_accu(&c.result) || !matches!(c.loop_cond.expr, Expr::Literal(_)) {
            return Some(None);
        }
        let (guard, items) = match &c.loop_step.expr {
            Expr::Call(call)
                if call.func_name == operators::CONDITIONAL && call.target.is_none() =>
            {
                match call.args.as_slice() {
                    [guard, step, otherwise] if is_accu(otherwise) => match items_of(step) {
                        Some(items) => (Some(guard), items),
                        None => return Some(None),
                    },
                    _ => return Some(None),
                }
            }
            _ => match items_of(&c.loop_step) {
                Some(items) => (None, items),
                None => return Some(None),
            },
        };
        let guard = match guard {
            Some(g) => Some(self.node(g)?),
            None => None,
        };
        let items = items
            .elements
            .iter()
            .map(|x| self.node(x))
            .collect::<Option<Vec<_>>>()?;
        Some(Some((guard, items)))
    }

    fn call(&mut self, c: &CallExpr) -> Option<Node> {
        let name = c.func_name.as_str();
        let arity = c.args.len();
        if c.target.is_none() {
            let two = |s: &mut Self| -> Option<Box<[Node; 2]>> {
                Some(Box::new([s.node(&c.args[0])?, s.node(&c.args[1])?]))
            };
            let binary = |s: &mut Self, op: BinOp| -> Option<Node> {
                Some(Node::Binary {
                    op,
                    args: two(s)?,
                    bridge: call_bridge(name, None, operands(0..2)),
                })
            };
            match (name, arity) {
                (operators::LOGICAL_AND, 2) => {
                    let [a, b] = *two(self)?;
                    return Some(Node::And(Box::new(a), Box::new(b)));
                }
                (operators::LOGICAL_OR, 2) => {
                    let [a, b] = *two(self)?;
                    return Some(Node::Or(Box::new(a), Box::new(b)));
                }
                (operators::CONDITIONAL, 3) => {
                    return Some(Node::Cond(Box::new([
                        self.node(&c.args[0])?,
                        self.node(&c.args[1])?,
                        self.node(&c.args[2])?,
                    ])));
                }
                (operators::NOT_STRICTLY_FALSE, 1) => {
                    return Some(Node::NotStrictlyFalse(Box::new(self.node(&c.args[0])?)));
                }
                (operators::LOGICAL_NOT, 1) => {
                    return Some(Node::Not(
                        Box::new(self.node(&c.args[0])?),
                        call_bridge(name, None, operands(0..1)),
                    ));
                }
                (operators::NEGATE, 1) => {
                    return Some(Node::Neg(
                        Box::new(self.node(&c.args[0])?),
                        call_bridge(name, None, operands(0..1)),
                    ));
                }
                (COST_FUNCTION, 1) => return Some(Node::Cost(Box::new(self.node(&c.args[0])?))),
                (operators::ADD, 2) => return binary(self, BinOp::Add),
                (operators::SUBSTRACT, 2) => return binary(self, BinOp::Sub),
                (operators::MULTIPLY, 2) => return binary(self, BinOp::Mul),
                (operators::DIVIDE, 2) => return binary(self, BinOp::Div),
                (operators::MODULO, 2) => return binary(self, BinOp::Rem),
                (operators::EQUALS, 2) => return binary(self, BinOp::Eq),
                (operators::NOT_EQUALS, 2) => return binary(self, BinOp::Ne),
                (operators::LESS, 2) => return binary(self, BinOp::Lt),
                (operators::LESS_EQUALS, 2) => return binary(self, BinOp::Le),
                (operators::GREATER, 2) => return binary(self, BinOp::Gt),
                (operators::GREATER_EQUALS, 2) => return binary(self, BinOp::Ge),
                (operators::IN, 2) => return binary(self, BinOp::In),
                (operators::INDEX, 2) => return binary(self, BinOp::Index),
                (operators::OPT_INDEX | operators::OPT_SELECT, _) => return None,
                (MATCHES_FUNCTION, 2) => {
                    let regex = match &c.args[1].expr {
                        Expr::Literal(cel::common::ast::LiteralValue::String(p)) => {
                            regex::Regex::new(p.inner()).ok().map(Arc::new)
                        }
                        _ => None,
                    };
                    return Some(Node::Call {
                        f: Native::Matches,
                        args: vec![self.node(&c.args[0])?, self.node(&c.args[1])?],
                        regex,
                        bridge: call_bridge(name, None, operands(0..2)),
                    });
                }
                ("size", 1) => {
                    return Some(Node::Call {
                        f: Native::Size,
                        args: vec![self.node(&c.args[0])?],
                        regex: None,
                        bridge: call_bridge(name, None, operands(0..1)),
                    });
                }
                // The result is a type value, which `Value` cannot hold.
                ("type", _) => return None,
                _ => {}
            }
            let args = c
                .args
                .iter()
                .map(|a| self.node(a))
                .collect::<Option<Vec<_>>>()?;
            let bridge = call_bridge(name, None, operands(0..arity));
            return Some(bridged(name, false, args, bridge));
        }
        let target = c.target.as_deref()?;
        // `optional.of(x)`, `math.abs(x)`, `format.named(x)`: a function
        // named by a qualified name, unless the root is a variable.
        if let Some(q) = qualified_name(target)
            && root_ident(target).is_some_and(|r| !self.is_variable(r))
            && super::check::KNOWN_FUNCTIONS.contains(&format!("{q}.{name}").as_str())
        {
            let args = c
                .args
                .iter()
                .map(|a| self.node(a))
                .collect::<Option<Vec<_>>>()?;
            let bridge = call_bridge(name, Some(target.clone()), operands(0..arity));
            return Some(bridged(&format!("{q}.{name}"), false, args, bridge));
        }
        let mut args = vec![self.node(target)?];
        for a in &c.args {
            args.push(self.node(a)?);
        }
        let bridge = call_bridge(name, Some(ident("@0")), operands(1..arity + 1));
        let native = match (name, arity) {
            ("size", 0) => Some(Native::Size),
            ("startsWith", 1) => Some(Native::StartsWith),
            ("endsWith", 1) => Some(Native::EndsWith),
            ("contains", 1) => Some(Native::Contains),
            ("type", _) => return None,
            _ => None,
        };
        Some(match native {
            Some(f) => Node::Call {
                f,
                args,
                regex: None,
                bridge,
            },
            None => bridged(name, true, args, bridge),
        })
    }
}

/// A call of a library function: direct when it has direct overloads.
fn bridged(name: &str, member: bool, args: Vec<Node>, bridge: Bridge) -> Node {
    let overloads = crate::cel::lib::direct(name, member, args.len());
    if overloads.is_empty() {
        Node::Bridged { args, bridge }
    } else {
        Node::Direct {
            overloads,
            args,
            bridge,
        }
    }
}

/// Evaluates, at compile time, an operation whose operands are all
/// literals, such as `quantity('4Gi')`; keeps the node when it fails (the
/// error belongs to run time, and may be in a branch that never runs).
fn fold_constant(node: Node) -> Node {
    let all_lit = |args: &[Node]| args.iter().all(|a| matches!(a, Node::Lit(_)));
    let foldable = match &node {
        Node::Binary { args, .. } => all_lit(&args[..]),
        Node::Call { args, .. } | Node::Bridged { args, .. } | Node::Direct { args, .. } => {
            all_lit(args)
        }
        Node::Not(a, _) | Node::Neg(a, _) => matches!(**a, Node::Lit(_)),
        Node::List(items) => !items.is_empty() && all_lit(items),
        _ => false,
    };
    if !foldable {
        return node;
    }
    let compiled = Compiled {
        root: node,
        globals: Vec::new(),
        locals: 0,
    };
    let mut frame = Frame::new(&[], &[], &mut [], u64::MAX);
    match frame.eval(&compiled.root) {
        Ok(v) => Node::Lit(v),
        Err(_) => compiled.root,
    }
}

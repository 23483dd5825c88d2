//! A general CEL layer: compile once, evaluate many times, with a cost limit.
//!
//! Built on the `cel` crate (cel-rust), whose parser and interpreter it
//! uses. This module adds what Kubernetes needs and the crate lacks:
//! load-time checks ([`check`]), a runtime cost bound ([`cost`]), JSON
//! conversion with Kubernetes number semantics ([`json`]), the Kubernetes
//! CEL libraries ([`lib`]), and a compiled evaluator (`eval`) that runs
//! expressions several times faster than the interpreter, which stays the
//! reference and handles what the evaluator does not model.
//!
//! Users: the VAP layer of this crate, the local control plane (admission and
//! CRD `x-kubernetes-validations` rules with `self`/`oldSelf`).

mod check;
pub mod cost;
mod eval;
pub mod json;
pub mod lib;
mod shared;
mod typing;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{Expr, IdedExpr, SourceInfo};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, ExecutionError};

pub use cel::Value;
pub use json::{cel_to_json, json_to_cel};

/// The Kubernetes per-expression runtime cost limit (`PerCallLimit`).
pub const DEFAULT_COST_LIMIT: u64 = 1_000_000;

/// Deepest nesting the parser accepts; deeper input is rejected, not
/// evaluated, so recursion in the interpreter stays bounded.
const MAX_RECURSION_DEPTH: u16 = 100;

/// Most AST nodes an expression may have (cel-go's parser has a similar
/// limit; the `cel` 0.15 parser has none, so [`check`] counts).
const MAX_NODES: usize = 10_000;

/// Where in an expression something was found: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why an expression does not compile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    /// The expression is not valid CEL syntax.
    #[error("syntax error: {message}")]
    Syntax {
        /// The parser's message, with its positions.
        message: String,
    },
    /// An identifier that is neither a declared variable nor bound by a macro.
    #[error("undeclared reference to '{name}' at {position}")]
    UndeclaredReference {
        /// The identifier.
        name: String,
        /// Where it is used.
        position: Position,
    },
    /// A function that no library of this environment declares.
    #[error("undeclared function '{name}' at {position}")]
    UndeclaredFunction {
        /// The function name.
        name: String,
        /// Where it is called.
        position: Position,
    },
    /// A `variables.NAME` reference to a variable not declared before this
    /// expression.
    #[error(
        "reference to variables.{name} at {position}, which is not declared before this expression"
    )]
    UndeclaredVariable {
        /// The composition variable name.
        name: String,
        /// Where it is used.
        position: Position,
    },
    /// A sub-expression made only of literals that can never evaluate, e.g.
    /// `1 + 'a'`: the closest we get to type errors without schemas.
    #[error("type error at {position}: {message}")]
    Type {
        /// The evaluation error of the constant sub-expression.
        message: String,
        /// Where the sub-expression starts.
        position: Position,
    },
    /// The expression is too large.
    #[error("expression has more than {max} nodes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// A binding this environment does not offer, such as `authorizer`
    /// when evaluating offline.
    #[error("'{name}' at {position} is not available: {why}")]
    Unavailable {
        /// The binding.
        name: String,
        /// Where it is used.
        position: Position,
        /// Why it is missing.
        why: String,
    },
}

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// CEL raised an error, such as `no such key: replicas`.
    #[error("{0}")]
    Execution(String),
    /// The expression spent more than its cost budget.
    #[error("operation cancelled: actual cost limit exceeded (limit {limit})")]
    CostLimit {
        /// The budget that was exceeded.
        limit: u64,
    },
    /// A value could not be handed to CEL.
    #[error("cannot convert value: {0}")]
    Conversion(String),
}

/// The declarations an expression is compiled against: which top-level
/// variables exist, which `variables.NAME` composition variables are
/// declared, and the cost limit.
#[derive(Debug, Clone)]
pub struct Env {
    variables: BTreeSet<String>,
    composition: Option<BTreeSet<String>>,
    unavailable: Vec<(String, String)>,
    cost_limit: u64,
}

impl Env {
    /// An environment declaring the given top-level variables, with the
    /// Kubernetes libraries and the default cost limit.
    pub fn new<I, S>(variables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Env {
            variables: variables.into_iter().map(Into::into).collect(),
            composition: None,
            unavailable: Vec::new(),
            cost_limit: DEFAULT_COST_LIMIT,
        }
    }

    /// Declares `variables` as the map of composition variables, holding the
    /// given names; references to other names are compile errors.
    pub fn with_composition_variables<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.variables.insert("variables".to_string());
        self.composition = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Marks a top-level name as known but not available, so using it is a
    /// compile error that says why (e.g. `authorizer` offline).
    pub fn with_unavailable(mut self, name: &str, why: &str) -> Self {
        self.unavailable.push((name.to_string(), why.to_string()));
        self
    }

    /// Sets the runtime cost limit.
    pub fn with_cost_limit(mut self, limit: u64) -> Self {
        self.cost_limit = limit;
        self
    }
}

/// A compiled expression, ready to evaluate many times.
#[derive(Debug)]
pub struct Program {
    expr: IdedExpr,
    /// The expression compiled for Flotilla's evaluator; `None` when it
    /// uses something only the interpreter handles (see [`eval`]).
    compiled: Option<eval::Compiled>,
    source: String,
    cost_limit: u64,
    composition_refs: BTreeSet<String>,
}

/// Compiles `source` against `env`: parses, checks, instruments for cost.
pub fn compile(source: &str, env: &Env) -> Result<Program, CompileError> {
    let (mut expr, info) = cel_env()
        .parser()
        .max_recursion_depth(MAX_RECURSION_DEPTH)
        .parse_with_source_info(source)
        .map_err(|e| CompileError::Syntax {
            message: e.to_string(),
        })?;
    let composition_refs = check::check(&expr, &info, env)?;
    cost::instrument(&mut expr);
    lib::regex::rewrite_matches(&mut expr);
    let compiled = eval::compile(&expr, &|name| env.variables.contains(name));
    Ok(Program {
        expr,
        compiled,
        source: source.to_string(),
        cost_limit: env.cost_limit,
        composition_refs,
    })
}

impl Program {
    /// The source text this program was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The composition variables (`variables.NAME`) this expression uses.
    pub fn composition_refs(&self) -> &BTreeSet<String> {
        &self.composition_refs
    }

    /// Whether this program runs on Flotilla's compiled evaluator (else on
    /// the `cel` interpreter).
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// Evaluates against `activation`, within the cost limit.
    pub fn evaluate(&self, activation: &Activation) -> Result<Value, EvalError> {
        let Some(compiled) = &self.compiled else {
            return self.evaluate_interpreted(activation);
        };
        // Variables and loop slots live on the stack for the usual sizes.
        let mut global_buf: [Option<&Value>; 8] = [None; 8];
        let global_vec: Vec<Option<&Value>>;
        let globals: &[Option<&Value>] = if compiled.globals.len() <= global_buf.len() {
            for (slot, name) in global_buf.iter_mut().zip(&compiled.globals) {
                *slot = activation.value(name);
            }
            &global_buf[..compiled.globals.len()]
        } else {
            global_vec = compiled
                .globals
                .iter()
                .map(|name| activation.value(name))
                .collect();
            &global_vec
        };
        let mut local_buf: [Value; 6] = std::array::from_fn(|_| Value::Null);
        let mut local_vec: Vec<Value>;
        let locals: &mut [Value] = if compiled.locals <= local_buf.len() {
            &mut local_buf[..compiled.locals]
        } else {
            local_vec = vec![Value::Null; compiled.locals];
            &mut local_vec
        };
        let mut frame = eval::Frame::new(&compiled.globals, globals, locals, self.cost_limit);
        let result = frame.eval(&compiled.root);
        match result {
            _ if frame.exceeded => Err(EvalError::CostLimit {
                limit: self.cost_limit,
            }),
            Ok(v) => Ok(eval::object::materialize(v)),
            Err(e) => Err(EvalError::Execution(describe(&e))),
        }
    }

    /// Evaluates with the `cel` crate's interpreter, whatever
    /// [`Program::is_compiled`] says: the reference the compiled evaluator
    /// is tested against.
    pub fn evaluate_interpreted(&self, activation: &Activation) -> Result<Value, EvalError> {
        let mut ctx = Context::with_env(Arc::clone(cel_env()));
        ctx.set_variable_resolver(activation);
        let guard = cost::Budget::start(self.cost_limit);
        let result = Value::resolve(&self.expr, &ctx);
        let exceeded = guard.exceeded();
        match result {
            _ if exceeded => Err(EvalError::CostLimit {
                limit: self.cost_limit,
            }),
            Ok(v) => Ok(v),
            Err(e) => Err(EvalError::Execution(describe(&e))),
        }
    }

    /// Evaluates and requires a boolean result.
    pub fn evaluate_bool(&self, activation: &Activation) -> Result<bool, EvalError> {
        match self.evaluate(activation)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError::Execution(format!(
                "expression must evaluate to bool, got {}",
                other.type_of()
            ))),
        }
    }
}

/// Kubernetes-style wording for the crate's errors, where they differ.
fn describe(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::FunctionError { function, message } => format!("{function}: {message}"),
        other => other.to_string(),
    }
}

/// The variables an evaluation sees, as values the compiled evaluator
/// borrows. The interpreter's form of a value is made on first use by an
/// interpreted program, once per binding.
#[derive(Debug, Default)]
pub struct Activation {
    vars: Vec<Binding>,
}

#[derive(Debug)]
struct Binding {
    name: String,
    /// A JSON document not converted yet: converted on first read, as most
    /// requests bind `request`, `oldObject` and `namespaceObject` but few
    /// policies read them.
    json: Option<serde_json::Value>,
    value: OnceLock<Value>,
    interpreted: OnceLock<Option<Box<dyn Val>>>,
}

impl Binding {
    fn value(&self) -> &Value {
        self.value.get_or_init(|| match &self.json {
            Some(json) => eval::object::from_json(json),
            None => Value::Null,
        })
    }
}

impl Activation {
    /// An empty activation.
    pub fn new() -> Self {
        Self::default()
    }

    fn bind(&mut self, binding: Binding) {
        match self.vars.iter_mut().find(|b| b.name == binding.name) {
            Some(slot) => *slot = binding,
            None => self.vars.push(binding),
        }
    }

    /// Binds `name` to `value`, replacing an earlier binding.
    pub fn insert(&mut self, name: &str, value: Value) -> Result<(), EvalError> {
        if let Value::Function(..) = value {
            return Err(EvalError::Conversion(format!(
                "{name}: a function is not a value"
            )));
        }
        self.bind(Binding {
            name: name.to_string(),
            json: None,
            value: OnceLock::from(value),
            interpreted: OnceLock::new(),
        });
        Ok(())
    }

    /// Binds `name` to a JSON value (integers become CEL `int`).
    pub fn insert_json(&mut self, name: &str, value: &serde_json::Value) -> Result<(), EvalError> {
        self.insert(name, eval::object::from_json(value))
    }

    /// Binds `name` to a JSON value, converted only if an expression reads
    /// it.
    pub fn insert_json_lazy(&mut self, name: &str, value: serde_json::Value) {
        self.bind(Binding {
            name: name.to_string(),
            json: Some(value),
            value: OnceLock::new(),
            interpreted: OnceLock::new(),
        });
    }

    /// The value bound to `name`, in the evaluator's form.
    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.vars
            .iter()
            .find(|b| b.name == name)
            .map(Binding::value)
    }

    /// Removes a binding.
    pub fn remove(&mut self, name: &str) {
        self.vars.retain(|b| b.name != name);
    }
}

impl VariableResolver for Activation {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let b = self.vars.iter().find(|b| b.name == variable)?;
        b.interpreted
            .get_or_init(|| shared::value_to_val(b.value()))
            .as_deref()
            .map(CowVal::Borrowed)
    }
}

/// The one `cel::Env` every program runs in: the standard library, the
/// extensions Kubernetes enables, and the Kubernetes libraries. Built once.
fn cel_env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(lib::build_env()))
}

/// 1-based line and column of a node, from the parser's offsets.
fn position(info: &SourceInfo, source: &str, id: u64) -> Position {
    let offset = info
        .offset_for(id)
        .map(|(start, _)| start as usize)
        .unwrap_or(0);
    let mut line = 1;
    let mut column = 1;
    for c in source.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Position { line, column }
}

/// Whether an expression reads no variables at all, so it can be evaluated
/// at load time.
fn is_constant(e: &IdedExpr) -> bool {
    match &e.expr {
        Expr::Literal(_) => true,
        Expr::Ident(_) | Expr::Comprehension(_) | Expr::Struct(_) | Expr::Unspecified => false,
        Expr::Select(s) => is_constant(&s.operand),
        Expr::List(l) => l.elements.iter().all(is_constant),
        Expr::Map(m) => m.entries.iter().all(|entry| match &entry.expr {
            cel::common::ast::EntryExpr::MapEntry(me) => {
                is_constant(&me.key) && is_constant(&me.value)
            }
            cel::common::ast::EntryExpr::StructField(_) => false,
        }),
        Expr::Call(c) => {
            c.target.as_deref().is_none_or(is_constant) && c.args.iter().all(is_constant)
        }
    }
}

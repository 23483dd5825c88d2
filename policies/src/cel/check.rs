//! Load-time checks of an expression.
//!
//! Kubernetes type-checks every expression against the OpenAPI schema of
//! the objects it will see. cel-rust is dynamically typed and Flotilla has no
//! schemas offline, so this module checks what it can without them:
//!
//! - every identifier is a declared variable, a macro-bound variable or a
//!   type name (`int`, `string`, …);
//! - every function is declared by one of the environment's libraries;
//! - `variables.NAME` names a composition variable declared earlier;
//! - sub-expressions made only of literals are evaluated once, so
//!   `1 + 'a'` or `'abc'.startsWith(1)` fail at load with their position;
//! - the expression is not larger than [`super::MAX_NODES`].
//!
//! Not checked: field names and types of `object`, `params` and friends
//! (they need schemas), argument types other than literals, arity of
//! functions that also have other overloads.

use std::collections::BTreeSet;

use cel::ExecutionError;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, SourceInfo};

use super::typing::{T, Typer};
use super::{CompileError, Env, position};

/// Identifiers that name types and type-conversion functions.
const TYPE_NAMES: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
    "duration",
    "timestamp",
    "optional_type",
];

/// Functions of Kubernetes' ValidatingAdmissionPolicy environment: the CEL
/// standard library, the strings (version 2), lists and sets extensions,
/// two-variable comprehensions, and the Kubernetes libraries. The `cel`
/// crate's math and base64 extensions and `jsonpatch.escapeKey` (which only
/// mutating policies see) are registered but not in that environment, so
/// they are refused like any unknown function.
pub(crate) const KNOWN_FUNCTIONS: &[&str] = &[
    // standard library
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "dyn",
    "type",
    "duration",
    "timestamp",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "hasValue",
    "value",
    "or",
    "orValue",
    // strings extension
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "substring",
    "trim",
    "join",
    "format",
    "strings.quote",
    "reverse",
    // lists extension
    "distinct",
    "flatten",
    "lists.range",
    "slice",
    "sort",
    // Kubernetes lists
    "isSorted",
    "sum",
    "min",
    "max",
    "first",
    "last",
    // Kubernetes regex
    "find",
    "findAll",
    // Kubernetes URLs
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    // Kubernetes quantity
    "quantity",
    "isQuantity",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "compareTo",
    "isGreaterThan",
    "isLessThan",
    // Kubernetes IP and CIDR
    "ip",
    "isIP",
    "ip.isCanonical",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "cidr",
    "isCIDR",
    "containsIP",
    "containsCIDR",
    "masked",
    "prefixLength",
    // Kubernetes sets (cel-go ext.Sets)
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
    // Kubernetes format
    "format.dns1123Label",
    "format.dns1123Subdomain",
    "format.dns1035Label",
    "format.qualifiedName",
    "format.labelValue",
    "format.uuid",
    "format.dns1123LabelPrefix",
    "format.dns1123SubdomainPrefix",
    "format.dns1035LabelPrefix",
    "format.uri",
    "format.byte",
    "format.date",
    "format.datetime",
    "format.named",
    "validate",
    // Kubernetes semver
    "semver",
    "isSemver",
    "major",
    "minor",
    "patch",
    // Kubernetes authorizer (with a rule set)
    "group",
    "serviceAccount",
    "path",
    "resource",
    "subresource",
    "namespace",
    "name",
    "check",
    "allowed",
    "reason",
    "errored",
    "error",
];

struct Checker<'a> {
    env: &'a Env,
    info: &'a SourceInfo,
    nodes: usize,
    scopes: Vec<String>,
    composition_refs: BTreeSet<String>,
}

/// Checks `expr`; returns the composition variables it references.
pub(crate) fn check(
    expr: &IdedExpr,
    info: &SourceInfo,
    env: &Env,
) -> Result<BTreeSet<String>, CompileError> {
    let mut checker = Checker {
        env,
        info,
        nodes: 0,
        scopes: Vec::new(),
        composition_refs: BTreeSet::new(),
    };
    checker.walk(expr)?;
    // Kubernetes declares these as `dyn`; the others (`request`,
    // `namespaceObject`, CRD rules' `self`) have schema types unknown here.
    let var_type = |name: &str| match name {
        "object" | "oldObject" | "params" => T::Dyn,
        _ => T::Unknown,
    };
    if let Err(err) = Typer::new(&var_type).check(expr) {
        return Err(CompileError::Type {
            message: err.message,
            position: position(info, &info.source, err.id),
        });
    }
    Ok(checker.composition_refs)
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

impl Checker<'_> {
    fn pos(&self, e: &IdedExpr) -> super::Position {
        position(self.info, &self.info.source, e.id)
    }

    fn walk(&mut self, e: &IdedExpr) -> Result<(), CompileError> {
        self.nodes += 1;
        if self.nodes > super::MAX_NODES {
            return Err(CompileError::TooLarge {
                max: super::MAX_NODES,
            });
        }
        match &e.expr {
            Expr::Ident(name) => self.ident(name, e),
            Expr::Literal(_) | Expr::Unspecified => Ok(()),
            Expr::Select(s) => {
                if let Expr::Ident(root) = &s.operand.expr
                    && root == "variables"
                    && !self.scopes.iter().any(|n| n == "variables")
                    && let Some(declared) = &self.env.composition
                {
                    if !declared.contains(&s.field) {
                        return Err(CompileError::UndeclaredVariable {
                            name: s.field.clone(),
                            position: self.pos(e),
                        });
                    }
                    self.composition_refs.insert(s.field.clone());
                }
                self.walk(&s.operand)
            }
            Expr::Call(c) => {
                if is_operator(&c.func_name) {
                    if let Some(t) = c.target.as_deref() {
                        self.walk(t)?;
                    }
                    for a in &c.args {
                        self.walk(a)?;
                    }
                    return self.constant(e);
                }
                let qualified = c
                    .target
                    .as_deref()
                    .and_then(qualified_name)
                    .map(|q| format!("{q}.{}", c.func_name))
                    .filter(|q| KNOWN_FUNCTIONS.contains(&q.as_str()));
                if qualified.is_none() {
                    // The receiver first, so `authorizer.x()` reports the
                    // unavailable binding rather than the function.
                    if let Some(t) = c.target.as_deref() {
                        self.walk(t)?;
                    }
                    if !KNOWN_FUNCTIONS.contains(&c.func_name.as_str()) {
                        return Err(CompileError::UndeclaredFunction {
                            name: c.func_name.clone(),
                            position: self.pos(e),
                        });
                    }
                }
                for a in &c.args {
                    self.walk(a)?;
                }
                self.regex_literal(c, e)?;
                self.constant(e)
            }
            Expr::List(l) => l.elements.iter().try_for_each(|x| self.walk(x)),
            Expr::Map(m) => m.entries.iter().try_for_each(|entry| match &entry.expr {
                EntryExpr::MapEntry(me) => {
                    self.walk(&me.key)?;
                    self.walk(&me.value)
                }
                EntryExpr::StructField(f) => self.walk(&f.value),
            }),
            Expr::Struct(s) => s.entries.iter().try_for_each(|entry| match &entry.expr {
                EntryExpr::MapEntry(me) => {
                    self.walk(&me.key)?;
                    self.walk(&me.value)
                }
                EntryExpr::StructField(f) => self.walk(&f.value),
            }),
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range)?;
                self.walk(&c.accu_init)?;
                let before = self.scopes.len();
                self.scopes.push(c.iter_var.clone());
                if let Some(v2) = &c.iter_var2 {
                    self.scopes.push(v2.clone());
                }
                self.scopes.push(c.accu_var.clone());
                let r = self
                    .walk(&c.loop_cond)
                    .and_then(|_| self.walk(&c.loop_step))
                    .and_then(|_| self.walk(&c.result));
                self.scopes.truncate(before);
                r
            }
        }
    }

    fn ident(&self, name: &str, e: &IdedExpr) -> Result<(), CompileError> {
        if self.scopes.iter().any(|n| n == name)
            || self.env.variables.contains(name)
            || TYPE_NAMES.contains(&name)
            || name.starts_with('@')
        {
            return Ok(());
        }
        if let Some((_, why)) = self.env.unavailable.iter().find(|(n, _)| n == name) {
            return Err(CompileError::Unavailable {
                name: name.to_string(),
                position: self.pos(e),
                why: why.clone(),
            });
        }
        Err(CompileError::UndeclaredReference {
            name: name.to_string(),
            position: self.pos(e),
        })
    }

    /// A literal pattern given to `matches`, `find` or `findAll` must be a
    /// valid regular expression, as Kubernetes checks when a policy loads.
    fn regex_literal(
        &self,
        c: &cel::common::ast::CallExpr,
        e: &IdedExpr,
    ) -> Result<(), CompileError> {
        if !["matches", "find", "findAll"].contains(&c.func_name.as_str()) {
            return Ok(());
        }
        let pattern = if c.target.is_some() {
            c.args.first()
        } else {
            c.args.get(1)
        };
        if let Some(IdedExpr {
            expr: Expr::Literal(cel::common::ast::LiteralValue::String(p)),
            ..
        }) = pattern
            && let Err(err) = regex::Regex::new(p.inner())
        {
            return Err(CompileError::Type {
                message: format!("invalid regular expression: {err}"),
                position: self.pos(e),
            });
        }
        Ok(())
    }

    /// Evaluates a call made only of literals; an error can never go away
    /// at run time, so it is a load-time type error.
    fn constant(&self, e: &IdedExpr) -> Result<(), CompileError> {
        if !super::is_constant(e) {
            return Ok(());
        }
        let ctx = cel::Context::with_env(std::sync::Arc::clone(super::cel_env()));
        let _budget = super::cost::Budget::start(super::DEFAULT_COST_LIMIT);
        // Only errors a type checker would raise; `1 / 0` is well typed and
        // may sit in a branch that never runs.
        let Expr::Call(call) = &e.expr else {
            return Ok(());
        };
        // The ordering of numbers was decided by `typing`; `NaN < 1` is
        // well typed and fails at run time.
        if RELATIONS.contains(&call.func_name.as_str()) {
            return Ok(());
        }
        let result = cel::Value::resolve(e, &ctx);
        // Kubernetes programs are planned with cel-go's `OptOptimize`,
        // which runs type conversions of literals (`int('x')`,
        // `duration('1d')`) when the program is built: their errors are
        // compile errors. The `format` validator of cel-go checks
        // literal format strings against literal arguments the same way.
        if folded_conversion(e) {
            if let Err(err) = result {
                return Err(CompileError::Type {
                    message: super::describe(&err),
                    position: self.pos(e),
                });
            }
            return Ok(());
        }
        if call.func_name == "format" && call.target.is_some() {
            return match result {
                Err(err @ ExecutionError::NoSuchOverload(_)) => Err(CompileError::Type {
                    message: super::describe(&err),
                    position: self.pos(e),
                }),
                Err(err @ ExecutionError::FunctionError { .. })
                    if err_function(&err) == "format" =>
                {
                    Err(CompileError::Type {
                        message: super::describe(&err),
                        position: self.pos(e),
                    })
                }
                _ => Ok(()),
            };
        }
        match result {
            Err(
                err @ (ExecutionError::NoSuchOverload(_)
                | ExecutionError::UnexpectedType { .. }
                | ExecutionError::InvalidArgumentCount { .. }),
            ) => Err(CompileError::Type {
                message: super::describe(&err),
                position: self.pos(e),
            }),
            _ => Ok(()),
        }
    }
}

/// Whether cel-go folds this call when it plans the program: a type
/// conversion whose argument is a literal or itself such a conversion.
fn folded_conversion(e: &IdedExpr) -> bool {
    let Expr::Call(c) = &e.expr else {
        return false;
    };
    CONVERSIONS.contains(&c.func_name.as_str())
        && c.target.is_none()
        && c.args.len() == 1
        && (matches!(c.args[0].expr, Expr::Literal(_)) || folded_conversion(&c.args[0]))
}

fn err_function(e: &ExecutionError) -> &str {
    match e {
        ExecutionError::FunctionError { function, .. } => function,
        _ => "",
    }
}

/// Type conversion functions, folded when their argument is a literal.
const CONVERSIONS: &[&str] = &[
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "duration",
    "timestamp",
    "dyn",
    "type",
];

const RELATIONS: &[&str] = &["_<_", "_<=_", "_>_", "_>=_"];

/// Operators (`_+_`, `-_`, `!_`, `@in`…) and internal functions, whose
/// names are not identifiers.
fn is_operator(name: &str) -> bool {
    !name.starts_with(|c: char| c.is_ascii_alphabetic()) || name.contains('@')
}

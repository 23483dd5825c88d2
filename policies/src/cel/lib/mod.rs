//! The Kubernetes CEL libraries, written against `cel` 0.15.
//!
//! `kube-cel` has these functions but is pinned to `cel` 0.13, whose value
//! model and function registration differ from 0.15; so they are written
//! here. Each submodule is one Kubernetes library. Functions are written over
//! the crate's plain [`Value`] enum and registered through [`adapt`], which
//! converts arguments and results; opaque types (quantity, IP, CIDR, URL)
//! implement [`cel::objects::Opaque`].

pub mod authz;
mod comprehensions;
pub(crate) use comprehensions::{ENTRIES, MAP_INSERT, MAP_MERGE};
mod format;
mod ip;
mod jsonpatch;
mod lists;
mod quantity;
pub(crate) mod regex;
pub mod semver;
mod sets;
mod url;

use cel::common::types::Type;
use cel::common::value::{CowVal, Val};
use cel::{Env, ExecutionError, Value};

use super::cost;

/// Builds the environment every program runs in.
pub(crate) fn build_env() -> Env {
    let mut env = Env::stdlib();
    let register = |r: Result<(), cel::DeclarationError>| {
        // Registration only fails on duplicate declarations, which is a bug in
        // this module caught by every test; log rather than panic.
        if let Err(e) = r {
            tracing::error!(error = %e, "declaring a CEL function");
        }
    };
    for e in comprehensions::add_macros(&mut env) {
        tracing::error!(error = %e, "declaring a CEL macro");
    }
    register(env.add_extension(cel::extensions::strings));
    register(env.add_extension(cel::extensions::lists));
    // Not the `cel` crate's math and encoders extensions: Kubernetes'
    // environment has neither (`math.greatest`, `base64.encode` do not
    // compile there).
    register(env.add_overload(
        cost::COST_FUNCTION,
        "flotilla_cost",
        vec![cel::common::types::DYN_TYPE],
        cost::charge,
    ));
    let mut reg = Registrar {
        env: &mut env,
        errors: Vec::new(),
    };
    comprehensions::register(&mut reg);
    lists::register(&mut reg);
    regex::register(&mut reg);
    url::register(&mut reg);
    quantity::register(&mut reg);
    ip::register(&mut reg);
    sets::register(&mut reg);
    format::register(&mut reg);
    semver::register(&mut reg);
    jsonpatch::register(&mut reg);
    authz::register(&mut reg);
    for e in reg.errors {
        tracing::error!(error = %e, "declaring a CEL function");
    }
    env
}

/// A function over plain values.
pub(crate) type ValueFn = fn(&[Value]) -> Result<Value, ExecutionError>;

/// What an argument of a [`Direct`] overload must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arg {
    /// A string.
    String,
    /// An int.
    Int,
    /// A bool.
    Bool,
    /// An opaque value of this type name.
    Opaque(&'static str),
}

impl Arg {
    fn accepts(self, v: &Value) -> bool {
        match (self, v) {
            (Arg::String, Value::String(_))
            | (Arg::Int, Value::Int(_))
            | (Arg::Bool, Value::Bool(_)) => true,
            (Arg::Opaque(name), Value::Opaque(o)) => o.runtime_type_name() == name,
            _ => false,
        }
    }
}

/// An overload of a library function that the compiled evaluator calls
/// directly, without the interpreter: the same [`ValueFn`] the interpreter
/// runs through [`adapt`], declared with the same signature, so the
/// overload chosen is the interpreter's.
#[derive(Debug)]
pub(crate) struct Direct {
    pub(crate) name: &'static str,
    /// A member function: `args[0]` is the receiver.
    pub(crate) member: bool,
    pub(crate) args: &'static [Arg],
    pub(crate) f: ValueFn,
}

impl Direct {
    pub(crate) const fn global(name: &'static str, args: &'static [Arg], f: ValueFn) -> Direct {
        Direct {
            name,
            member: false,
            args,
            f,
        }
    }

    pub(crate) const fn member(name: &'static str, args: &'static [Arg], f: ValueFn) -> Direct {
        Direct {
            name,
            member: true,
            args,
            f,
        }
    }

    /// Whether `args` (receiver first) match this overload.
    pub(crate) fn accepts(&self, args: &[Value]) -> bool {
        args.len() == self.args.len() && self.args.iter().zip(args).all(|(a, v)| a.accepts(v))
    }
}

/// The direct overloads of `name` called with `arity` arguments
/// (receiver included).
pub(crate) fn direct(name: &str, member: bool, arity: usize) -> Vec<&'static Direct> {
    [quantity::DIRECT, semver::DIRECT, jsonpatch::DIRECT]
        .into_iter()
        .flatten()
        .filter(|d| d.name == name && d.member == member && d.args.len() == arity)
        .collect()
}

/// Runs a [`ValueFn`] on the interpreter's arguments.
pub(crate) fn adapt<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    f: ValueFn,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    // Most library functions take one or two arguments: convert those on
    // the stack rather than into a fresh `Vec` on every call.
    let value = |i: usize| Value::try_from(args[i].as_ref());
    let out = match args.len() {
        0 => f(&[])?,
        1 => f(&[value(0)?])?,
        2 => f(&[value(0)?, value(1)?])?,
        _ => f(&args
            .iter()
            .map(|a| Value::try_from(a.as_ref()))
            .collect::<Result<Vec<_>, _>>()?)?,
    };
    let boxed: Box<dyn Val> = out.try_into()?;
    Ok(CowVal::Owned(boxed))
}

/// Declares `fn $name` as an interpreter overload running the [`ValueFn`] `$imp`.
macro_rules! value_fn {
    ($name:ident, $imp:expr) => {
        fn $name<'b, 'v>(
            args: Vec<cel::common::value::CowVal<'b, 'v>>,
        ) -> Result<cel::common::value::CowVal<'b, 'v>, cel::ExecutionError> {
            $crate::cel::lib::adapt(args, $imp)
        }
    };
}
pub(crate) use value_fn;

/// Collects declarations and their errors.
pub(crate) struct Registrar<'a> {
    env: &'a mut Env,
    errors: Vec<cel::DeclarationError>,
}

impl Registrar<'_> {
    /// A global function `name(args...)`.
    pub(crate) fn global(
        &mut self,
        name: &str,
        args: Vec<Type>,
        f: cel::common::functions::Function,
    ) {
        let id = overload_id(name, None, &args);
        if let Err(e) = self.env.add_overload(name, &id, args, f) {
            self.errors.push(e);
        }
    }

    /// A member function `target.name(args...)`.
    pub(crate) fn member(
        &mut self,
        name: &str,
        target: Type,
        args: Vec<Type>,
        f: cel::common::functions::Function,
    ) {
        let id = overload_id(name, Some(&target), &args);
        if let Err(e) = self.env.add_member_overload(name, &id, target, args, f) {
            self.errors.push(e);
        }
    }
}

fn overload_id(name: &str, target: Option<&Type>, args: &[Type]) -> String {
    let args: Vec<&str> = args.iter().map(|t| t.name()).collect();
    match target {
        Some(t) => format!("k8s_{}.{name}({})", t.name(), args.join(",")),
        None => format!("k8s_{name}({})", args.join(",")),
    }
}

/// An error raised by a library function, in Kubernetes' wording.
pub(crate) fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// The string at `args[i]`.
pub(crate) fn str_arg<'a>(
    function: &str,
    args: &'a [Value],
    i: usize,
) -> Result<&'a str, ExecutionError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(other) => Err(fail(
            function,
            format!("expected string, got {}", other.type_of()),
        )),
        None => Err(ExecutionError::invalid_argument_count(i + 1, args.len())),
    }
}

/// The string at `args[i]` of an interpreter call, borrowed: for the hot
/// functions that skip [`adapt`] and its copy of every string argument.
pub(crate) fn cow_str_arg<'a>(
    function: &str,
    args: &'a [CowVal<'_, '_>],
    i: usize,
) -> Result<&'a str, ExecutionError> {
    match args.get(i) {
        Some(v) => match v.downcast_ref::<cel::common::types::CelString>() {
            Some(s) => Ok(s.inner()),
            None => Err(fail(
                function,
                format!(
                    "expected string, got {}",
                    Value::try_from(v.as_ref()).map_or_else(
                        |_| v.get_type().name().to_string(),
                        |v| v.type_of().to_string()
                    )
                ),
            )),
        },
        None => Err(ExecutionError::invalid_argument_count(i + 1, args.len())),
    }
}

/// The opaque value of type `T` at `args[i]`.
pub(crate) fn opaque_arg<'a, T: 'static>(
    function: &str,
    args: &'a [Value],
    i: usize,
) -> Result<&'a T, ExecutionError> {
    match args.get(i) {
        Some(Value::Opaque(o)) => o.downcast_ref::<T>().ok_or_else(|| {
            fail(
                function,
                format!("unexpected argument type {}", o.runtime_type_name()),
            )
        }),
        Some(other) => Err(fail(
            function,
            format!("unexpected argument type {}", other.type_of()),
        )),
        None => Err(ExecutionError::invalid_argument_count(i + 1, args.len())),
    }
}

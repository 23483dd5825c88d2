//! Kubernetes semver library: `semver(s)`, `semver(s, normalize)`,
//! `isSemver(s)`, `isSemver(s, normalize)`, and on versions `major()`,
//! `minor()`, `patch()`, `compareTo(v)`, `isLessThan(v)`, `isGreaterThan(v)`.
//!
//! Parsing is strict Semantic Versioning 2.0 (the `semver` crate, as
//! Kubernetes uses blang/semver's strict `Parse`); comparison is by
//! precedence, so build metadata is ignored. With `normalize`, a leading
//! `v` is dropped, missing minor and patch numbers become 0 and leading
//! zeros are removed, as Kubernetes' `normalizeAndParse` does.

use std::cmp::Ordering;
use std::sync::Arc;

use cel::common::types::{BOOL_TYPE, STRING_TYPE, Type};
use cel::objects::Opaque;
use cel::{ExecutionError, Value};

use super::{Arg, Direct, Registrar, fail, opaque_arg, str_arg, value_fn};

const TYPE_NAME: &str = "kubernetes.Semver";

/// A semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver(semver::Version);

impl Opaque for Semver {
    fn runtime_type_name(&self) -> &str {
        TYPE_NAME
    }
}

fn t() -> Type {
    Type::new_opaque_type(TYPE_NAME)
}

const S: Arg = Arg::Opaque(TYPE_NAME);

pub(super) fn register(r: &mut Registrar<'_>) {
    r.global("semver", vec![STRING_TYPE], semver_fn);
    r.global("semver", vec![STRING_TYPE, BOOL_TYPE], semver_fn);
    r.global("isSemver", vec![STRING_TYPE], is_semver_fn);
    r.global("isSemver", vec![STRING_TYPE, BOOL_TYPE], is_semver_fn);
    r.member("major", t(), vec![], major_fn);
    r.member("minor", t(), vec![], minor_fn);
    r.member("patch", t(), vec![], patch_fn);
    r.member("compareTo", t(), vec![t()], compare_fn);
    r.member("isGreaterThan", t(), vec![t()], greater_fn);
    r.member("isLessThan", t(), vec![t()], less_fn);
}

value_fn!(semver_fn, semver);
value_fn!(is_semver_fn, is_semver);
value_fn!(major_fn, major);
value_fn!(minor_fn, minor);
value_fn!(patch_fn, patch);
value_fn!(compare_fn, compare_to);
value_fn!(greater_fn, is_greater_than);
value_fn!(less_fn, is_less_than);

/// The functions the compiled evaluator calls directly.
pub(super) const DIRECT: &[Direct] = &[
    Direct::global("semver", &[Arg::String], semver),
    Direct::global("semver", &[Arg::String, Arg::Bool], semver),
    Direct::global("isSemver", &[Arg::String], is_semver),
    Direct::global("isSemver", &[Arg::String, Arg::Bool], is_semver),
    Direct::member("major", &[S], major),
    Direct::member("minor", &[S], minor),
    Direct::member("patch", &[S], patch),
    Direct::member("compareTo", &[S, S], compare_to),
    Direct::member("isGreaterThan", &[S, S], is_greater_than),
    Direct::member("isLessThan", &[S, S], is_less_than),
];

/// Parses `s`, normalising first when asked.
pub fn parse(s: &str, normalize: bool) -> Result<semver::Version, String> {
    let text = if normalize {
        normalized(s)?
    } else {
        s.to_string()
    };
    semver::Version::parse(&text).map_err(|e| format!("invalid semantic version {s:?}: {e}"))
}

/// Kubernetes' normalisation: no `v` prefix, no leading zeros, minor and
/// patch filled in. A short version cannot carry pre-release or build
/// metadata.
fn normalized(s: &str) -> Result<String, String> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts: Vec<String> = s.splitn(3, '.').map(str::to_string).collect();
    for p in &mut parts {
        if p.len() > 1 {
            let trimmed = p.trim_start_matches('0');
            *p = if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
                trimmed.to_string()
            } else {
                format!("0{trimmed}")
            };
        }
    }
    if parts.len() < 3 {
        if parts
            .last()
            .is_some_and(|p| p.contains('+') || p.contains('-'))
        {
            return Err("short version cannot contain PreRelease/Build meta data".to_string());
        }
        while parts.len() < 3 {
            parts.push("0".to_string());
        }
    }
    Ok(parts.join("."))
}

fn normalize_arg(function: &str, a: &[Value]) -> Result<bool, ExecutionError> {
    match a.get(1) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(fail(
            function,
            format!("normalize must be a bool, got {}", other.type_of()),
        )),
    }
}

fn semver(a: &[Value]) -> Result<Value, ExecutionError> {
    let v = parse(str_arg("semver", a, 0)?, normalize_arg("semver", a)?)
        .map_err(|e| fail("semver", e))?;
    Ok(Value::Opaque(Arc::new(Semver(v))))
}

fn is_semver(a: &[Value]) -> Result<Value, ExecutionError> {
    let ok = parse(str_arg("isSemver", a, 0)?, normalize_arg("isSemver", a)?).is_ok();
    Ok(Value::Bool(ok))
}

fn this<'a>(function: &str, a: &'a [Value]) -> Result<&'a semver::Version, ExecutionError> {
    opaque_arg::<Semver>(function, a, 0).map(|v| &v.0)
}

fn other<'a>(function: &str, a: &'a [Value]) -> Result<&'a semver::Version, ExecutionError> {
    opaque_arg::<Semver>(function, a, 1).map(|v| &v.0)
}

fn int(function: &str, n: u64) -> Result<Value, ExecutionError> {
    i64::try_from(n)
        .map(Value::Int)
        .map_err(|_| fail(function, "version number out of int range"))
}

fn major(a: &[Value]) -> Result<Value, ExecutionError> {
    int("major", this("major", a)?.major)
}

fn minor(a: &[Value]) -> Result<Value, ExecutionError> {
    int("minor", this("minor", a)?.minor)
}

fn patch(a: &[Value]) -> Result<Value, ExecutionError> {
    int("patch", this("patch", a)?.patch)
}

/// Precedence order: build metadata does not count.
fn compare(function: &str, a: &[Value]) -> Result<Ordering, ExecutionError> {
    Ok(this(function, a)?.cmp_precedence(other(function, a)?))
}

fn compare_to(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(match compare("compareTo", a)? {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

fn is_greater_than(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        compare("isGreaterThan", a)? == Ordering::Greater,
    ))
}

fn is_less_than(a: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(compare("isLessThan", a)? == Ordering::Less))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn normalisation_fills_in_and_strips() {
        for (input, want) in [
            ("v1.0.0", "1.0.0"),
            ("1.0", "1.0.0"),
            ("1", "1.0.0"),
            ("01.01.01", "1.1.1"),
            ("v1.2.3-rc.1+build", "1.2.3-rc.1+build"),
        ] {
            assert_eq!(parse(input, true).map(|v| v.to_string()), Ok(want.into()));
        }
        assert!(parse("1.0-rc", true).is_err());
        assert!(parse("v1.0.0", false).is_err());
        assert!(parse("01.1.1", false).is_err());
    }
}

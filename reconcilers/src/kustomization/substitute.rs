//! Post-build variable substitution (`spec.postBuild`), with the syntax Flux takes from
//! bash/envsubst: `${var}`, `${var:=default}` / `${var:-default}` (default when unset or
//! empty), `${var=default}` / `${var-default}` (default when unset), and `$${var}` for a
//! literal `${var}`. A bare `$var` is left alone, so shell scripts embedded in ConfigMaps keep
//! working, as in Flux.
//!
//! Differences from Flux, on purpose: a variable that is unset and has no default is an error
//! naming the object, field and variable (Flux's `StrictPostBuildSubstitutions` behaviour)
//! instead of silently becoming empty; `$$` only escapes before `{`, so a `$$` elsewhere (a
//! shell's PID) survives.
//!
//! Flux substitutes in the YAML text of each object; this module walks the object's strings
//! instead, so errors can name the field. A string that is exactly one `${…}` is re-read as a
//! YAML scalar after substitution (`replicas: ${REPLICAS}` becomes a number), which is what
//! Flux's re-parse of the text does; a string with other text around the variable stays a
//! string.
//!
//! Hand-written: the envsubst crates on crates.io either expand `$var` too (breaking embedded
//! scripts) or lack the `:=`/`:-` defaults and the `$${}` escape.

use std::collections::BTreeMap;

use serde_json::Value;

/// Objects with this annotation set to `disabled` are not substituted.
pub const DISABLE_ANNOTATION: &str = "flotilla.dev/substitute";
/// Flux's annotation with the same meaning, honoured so Flux repositories carry over.
pub const FLUX_DISABLE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// What Flux accepts as a variable name.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Substitution failed in one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field}: {message}")]
pub struct SubstituteError {
    /// `Kind namespace/name` (or `Kind name`) of the object.
    pub object: String,
    /// Path of the field, e.g. `spec.template.spec.containers[0].image`.
    pub field: String,
    /// What is wrong, naming the variable.
    pub message: String,
}

/// Whether `object` opted out of substitution with the annotation.
pub fn is_disabled(object: &Value) -> bool {
    let annotations = &object["metadata"]["annotations"];
    [DISABLE_ANNOTATION, FLUX_DISABLE_ANNOTATION]
        .iter()
        .any(|key| annotations[*key].as_str() == Some("disabled"))
}

/// Substitutes `vars` into every string (values and keys) of `object`, in place.
pub fn substitute_object(
    object: &mut Value,
    vars: &BTreeMap<String, String>,
) -> Result<(), SubstituteError> {
    if is_disabled(object) {
        return Ok(());
    }
    let mut field = String::new();
    // Described after the walk: `metadata` is substituted before `spec`, so an error further
    // down names the object by its final namespace and name.
    walk(object, vars, &mut field).map_err(|(field, message)| SubstituteError {
        object: describe(object),
        field,
        message,
    })
}

/// `Kind namespace/name` for messages.
pub fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or("<no kind>");
    let name = object["metadata"]["name"].as_str().unwrap_or("<no name>");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

fn walk(
    value: &mut Value,
    vars: &BTreeMap<String, String>,
    field: &mut String,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) if s.contains('$') => {
            let replaced = expand(s, vars).map_err(|m| (display_field(field), m))?;
            if replaced != *s {
                *value = retype(s, replaced);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = field.len();
                field.push_str(&format!("[{i}]"));
                walk(item, vars, field)?;
                field.truncate(len);
            }
        }
        Value::Object(map) => {
            if map.keys().any(|k| k.contains("${")) {
                let mut renamed = serde_json::Map::with_capacity(map.len());
                for (key, v) in std::mem::take(map) {
                    let key = if key.contains('$') {
                        expand(&key, vars).map_err(|m| (display_field(field), m))?
                    } else {
                        key
                    };
                    renamed.insert(key, v);
                }
                *map = renamed;
            }
            for (key, item) in map.iter_mut() {
                let len = field.len();
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
                walk(item, vars, field)?;
                field.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn display_field(field: &str) -> String {
    if field.is_empty() {
        "<root>".to_owned()
    } else {
        field.to_owned()
    }
}

/// A string that was exactly one `${…}` takes the YAML type of what replaced it.
fn retype(original: &str, replaced: String) -> Value {
    let single = original.starts_with("${")
        && original.ends_with('}')
        && find_close(original, 2) == Some(original.len() - 1);
    if !single || replaced.contains('\n') {
        return Value::String(replaced);
    }
    // The renderer's YAML reader, so typing matches what a re-parse of kustomize's output gives.
    match kustomize::yaml::parse_one(replaced.as_bytes(), std::path::Path::new("postBuild")) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        Ok(Value::String(s)) => Value::String(s),
        _ => Value::String(replaced),
    }
}

/// Index of the `}` closing the `${` whose content starts at `start`, counting nested `${`.
fn find_close(s: &str, start: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Expands every `${…}` of `s`.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if after.starts_with("$${") {
            // The escape: `$${x}` is the literal `${x}`.
            out.push('$');
            rest = &after[2..];
            if let Some(close) = find_close(rest, 1) {
                out.push_str(&rest[..=close]);
                rest = &rest[close + 1..];
            }
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            continue;
        }
        let Some(close) = find_close(after, 2) else {
            return Err(format!("unclosed \"${{\" in {s:?}"));
        };
        out.push_str(&evaluate(&after[2..close], vars)?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `${…}` body, e.g. `var`, `var:=default`.
fn evaluate(body: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let name_end = body
        .bytes()
        .position(|b| !(b == b'_' || b.is_ascii_alphanumeric()))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_end);
    if !is_valid_name(name) {
        return Err(format!(
            "\"${{{body}}}\": invalid variable name, must match ^[_a-zA-Z][_a-zA-Z0-9]*$"
        ));
    }
    let value = vars.get(name);
    let default = |d: &str| expand(d, vars);
    match op {
        "" => value.cloned().ok_or_else(|| {
            format!("variable {name:?} is not set and \"${{{name}}}\" has no default (use \"${{{name}:=default}}\")")
        }),
        _ if op.starts_with(":=") || op.starts_with(":-") => match value {
            Some(v) if !v.is_empty() => Ok(v.clone()),
            _ => default(&op[2..]),
        },
        _ if op.starts_with('=') || op.starts_with('-') => match value {
            Some(v) => Ok(v.clone()),
            None => default(&op[1..]),
        },
        _ => Err(format!(
            "\"${{{body}}}\": unsupported operator {op:?} (supported: ${{{name}}}, ${{{name}:=default}}, ${{{name}:-default}})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn plain_variable() {
        assert_eq!(expand("a-${x}-b", &vars(&[("x", "1")])).unwrap(), "a-1-b");
    }

    #[test]
    fn colon_defaults_apply_when_unset_or_empty() {
        let v = vars(&[("empty", "")]);
        assert_eq!(expand("${missing:=d}", &v).unwrap(), "d");
        assert_eq!(expand("${empty:-d}", &v).unwrap(), "d");
        assert_eq!(expand("${empty-d}", &v).unwrap(), "");
        assert_eq!(expand("${missing-d}", &v).unwrap(), "d");
    }

    #[test]
    fn default_may_hold_another_variable() {
        let v = vars(&[("b", "B")]);
        assert_eq!(expand("${a:=${b}}", &v).unwrap(), "B");
    }

    #[test]
    fn escape_and_bare_dollar_are_kept() {
        let v = vars(&[("x", "1")]);
        assert_eq!(expand("$${x} $x $$ $", &v).unwrap(), "${x} $x $$ $");
    }

    #[test]
    fn unset_without_default_names_the_variable() {
        let err = expand("${region}", &vars(&[])).unwrap_err();
        assert!(err.contains("\"region\""), "{err}");
    }

    #[test]
    fn bad_names_and_operators_are_errors() {
        assert!(expand("${1x}", &vars(&[])).is_err());
        assert!(expand("${x/a/b}", &vars(&[("x", "a")])).is_err());
        assert!(expand("${x", &vars(&[])).is_err());
    }
}

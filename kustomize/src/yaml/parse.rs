//! Parsing YAML into JSON values.
//!
//! kustomize reads YAML with go-yaml v3 and converts it to JSON before
//! printing, so a value's identity is its JSON form: `1.0` becomes `1`, keys
//! lose their order, comments go. `serde-saphyr` gives us the same JSON view
//! and enforces a budget on events and alias expansion (alias bombs).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

fn options() -> serde_saphyr::Options {
    // The default budget bounds alias expansion and nesting; that is what
    // stops a "billion laughs" file from eating the machine. kustomize reads
    // with go-yaml v3: only true/false are booleans (`yes` stays a string),
    // but a leading 0 still means octal (`0644` is 420).
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.legacy_octal_numbers = true;
    // One-line messages: the file and line are enough in a CLI error.
    options.with_snippet = false;
    // The default budget is sized for config files; CRD bundles and
    // generated manifests are far bigger (thousands of documents, millions
    // of nodes). Raise the size limits; alias replay stays capped at the
    // default 1,000,000 events in total, which is what bounds a bomb.
    let mut budget = options.budget.clone().unwrap_or_default();
    budget.max_documents = 100_000;
    budget.max_events = 50_000_000;
    budget.max_nodes = 20_000_000;
    budget.max_depth = 256;
    options.budget = Some(budget);
    options
}

fn yaml_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Yaml {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

/// All documents of `bytes`, empty documents (and `null` ones) dropped.
pub fn parse_documents(bytes: &[u8], path: &Path) -> Result<Vec<Value>> {
    let text = std::str::from_utf8(bytes).map_err(|e| yaml_error(path, e))?;
    if let Some(docs) = super::fast::parse_documents(text, &resolve_scalar) {
        return Ok(docs);
    }
    parse_documents_full(text, path)
}

/// [`parse_documents`] with serde-saphyr only (no fast reader), for files
/// the fast reader declines and for tests that compare the two.
pub fn parse_documents_full(text: &str, path: &Path) -> Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, options())
        .map_err(|e| yaml_error(path, e))?;
    Ok(docs
        .into_iter()
        .map(normalize_numbers)
        .filter(|d| !d.is_null())
        .collect())
}

/// Exactly one document (a kustomization, a patch); `null` when empty.
pub fn parse_one(bytes: &[u8], path: &Path) -> Result<Value> {
    let mut docs = parse_documents(bytes, path)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(Error::Yaml {
            path: path.to_path_buf(),
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

/// A kustomization file: like [`parse_one`], but a key given twice keeps its
/// last value, as kustomize's reader for kustomization files does (resource
/// files still refuse duplicates, as kustomize does).
pub fn parse_kustomization(bytes: &[u8], path: &Path) -> Result<Value> {
    let text = std::str::from_utf8(bytes).map_err(|e| yaml_error(path, e))?;
    let mut options = options();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let mut docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, options)
        .map_err(|e| yaml_error(path, e))?;
    docs.retain(|d| !d.is_null());
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(normalize_numbers(docs.remove(0))),
        n => Err(Error::Yaml {
            path: path.to_path_buf(),
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

/// One plain scalar the fast reader could not type (`0644`, `1.0`, `~`),
/// read alone with the full reader's rules.
pub(super) fn resolve_scalar(scalar: &str) -> Option<Value> {
    serde_saphyr::from_str_with_options::<Value>(scalar, options())
        .ok()
        .map(normalize_numbers)
}

/// Integral floats become integers, as they do when kustomize marshals a
/// float64 to JSON and reads it back (`replicas: 1.0` prints as `1`).
fn normalize_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => {
            if n.is_f64()
                && let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // The range check keeps the cast exact.
                #[allow(clippy::cast_possible_truncation)]
                return Value::from(f as i64);
            }
            Value::Number(n)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

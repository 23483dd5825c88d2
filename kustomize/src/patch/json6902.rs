//! JSON 6902 patches with the semantics kustomize v5.5.0 gets from
//! evanphx/json-patch v4 (`Patch.Apply` with default options): negative array
//! indices count from the end, `replace` and `remove` need the target to exist,
//! `add` needs the parent to exist.
//!
//! Hand-written rather than taken from the `json-patch` crate because that crate
//! follows RFC 6902 strictly (no negative indices, different errors) and its
//! error messages cannot name the operation the way ours must.

use super::PatchError;
use serde_json::Value;

/// One decoded operation.
#[derive(Debug, Clone)]
struct Operation {
    op: String,
    path: String,
    from: Option<String>,
    value: Option<Value>,
}

/// Applies `ops` (a JSON array of operations, as parsed from YAML or JSON) to `doc`.
pub fn json6902(doc: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = decode(ops)?;
    for (index, op) in ops.iter().enumerate() {
        apply_one(doc, op).map_err(|reason| PatchError::Json6902 {
            index,
            op: op.op.clone(),
            path: op.path.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn invalid(reason: impl Into<String>) -> PatchError {
    PatchError::InvalidJson6902 {
        reason: reason.into(),
    }
}

fn decode(ops: &Value) -> Result<Vec<Operation>, PatchError> {
    let Value::Array(items) = ops else {
        return Err(invalid("expected a list of operations"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(invalid(format!("operation {i} is not a map")));
        };
        let text = |key: &str| -> Result<Option<String>, PatchError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(format!(
                    "operation {i}: '{key}' must be a string, got {other}"
                ))),
            }
        };
        let op = text("op")?.ok_or_else(|| invalid(format!("operation {i} has no 'op'")))?;
        let path =
            text("path")?.ok_or_else(|| invalid(format!("operation {i} ({op}) has no 'path'")))?;
        out.push(Operation {
            from: text("from")?,
            value: map.get("value").cloned(),
            op,
            path,
        });
    }
    Ok(out)
}

/// Splits a JSON pointer into unescaped tokens.
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("path '{pointer}' does not start with '/'"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn apply_one(doc: &mut Value, op: &Operation) -> Result<(), String> {
    match op.op.as_str() {
        "add" => add(doc, &op.path, value_of(op)),
        "remove" => remove(doc, &op.path).map(|_| ()),
        "replace" => replace(doc, &op.path, value_of(op)),
        "move" => {
            let from = from_of(op)?;
            let v = remove(doc, &from)?;
            add(doc, &op.path, v)
        }
        "copy" => {
            let from = from_of(op)?;
            let v = get(doc, &from)?.clone();
            add(doc, &op.path, v)
        }
        "test" => {
            let actual = get(doc, &op.path).ok();
            let expected = op.value.as_ref().unwrap_or(&Value::Null);
            match actual {
                Some(v) if v == expected => Ok(()),
                None if expected.is_null() => Ok(()),
                Some(v) => Err(format!(
                    "testing value failed: found {v}, expected {expected}"
                )),
                None => Err("testing value failed: path does not exist".to_string()),
            }
        }
        other => Err(format!("unknown operation '{other}'")),
    }
}

/// A missing `value` reads as `null`, as in json-patch v4.
fn value_of(op: &Operation) -> Value {
    op.value.clone().unwrap_or(Value::Null)
}

fn from_of(op: &Operation) -> Result<String, String> {
    op.from
        .clone()
        .ok_or_else(|| format!("'{}' needs a 'from' path", op.op))
}

/// Resolves an array index token; `allow_end` admits `len` and `-` (for add).
fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if token == "-" && allow_end {
        return Ok(len);
    }
    let i: i64 = token
        .parse()
        .map_err(|_| format!("'{token}' is not an array index"))?;
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    // json-patch v4 resolves a negative `add` index against the list as it
    // will be after the insert, so `-1` appends.
    let span = if allow_end { len_i + 1 } else { len_i };
    let resolved = if i < 0 {
        if i < -span {
            return Err(format!("index {i} out of bounds for a list of {len}"));
        }
        i + span
    } else {
        i
    };
    let max = if allow_end { len_i } else { len_i - 1 };
    if resolved > max {
        return Err(format!("index {i} out of bounds for a list of {len}"));
    }
    usize::try_from(resolved).map_err(|_| format!("index {i} out of bounds"))
}

fn get<'a>(doc: &'a Value, pointer: &str) -> Result<&'a Value, String> {
    let mut cur = doc;
    for token in tokens(pointer)? {
        cur = match cur {
            Value::Object(m) => m
                .get(&token)
                .ok_or_else(|| format!("path '{pointer}' does not exist (missing '{token}')"))?,
            Value::Array(a) => &a[array_index(&token, a.len(), false)?],
            _ => {
                return Err(format!(
                    "path '{pointer}' does not exist (no container at '{token}')"
                ));
            }
        };
    }
    Ok(cur)
}

/// The container holding the last token of `pointer`, and that token.
fn parent_mut<'a>(doc: &'a mut Value, pointer: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(pointer)?;
    let Some(last) = toks.pop() else {
        return Err("the document root cannot be the target".to_string());
    };
    let mut cur = doc;
    for token in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(&token).ok_or_else(|| {
                format!("parent of '{pointer}' does not exist (missing '{token}')")
            })?,
            Value::Array(a) => {
                let i = array_index(&token, a.len(), false)?;
                &mut a[i]
            }
            _ => {
                return Err(format!(
                    "parent of '{pointer}' does not exist (no container at '{token}')"
                ));
            }
        };
    }
    Ok((cur, last))
}

fn add(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    if pointer.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_mut(doc, pointer)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(&last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("parent of '{pointer}' is not a map or list")),
    }
}

fn remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let (parent, last) = parent_mut(doc, pointer)?;
    match parent {
        Value::Object(m) => m
            .remove(&last)
            .ok_or_else(|| format!("path '{pointer}' does not exist (missing '{last}')")),
        Value::Array(a) => {
            let i = array_index(&last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(format!("parent of '{pointer}' is not a map or list")),
    }
}

fn replace(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    if pointer.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_mut(doc, pointer)?;
    match parent {
        Value::Object(m) => match m.get_mut(&last) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(format!(
                "path '{pointer}' does not exist (missing '{last}')"
            )),
        },
        Value::Array(a) => {
            let i = array_index(&last, a.len(), false)?;
            a[i] = value;
            Ok(())
        }
        _ => Err(format!("parent of '{pointer}' is not a map or list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(mut doc: Value, ops: Value) -> Result<Value, PatchError> {
        json6902(&mut doc, &ops)?;
        Ok(doc)
    }

    #[test]
    fn add_appends_with_dash_and_inserts_at_index() {
        let out = patched(
            json!({"a": [1, 3]}),
            json!([{"op": "add", "path": "/a/-", "value": 4}, {"op": "add", "path": "/a/1", "value": 2}]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": [1, 2, 3, 4]}));
    }

    #[test]
    fn negative_index_counts_from_the_end() {
        let out = patched(
            json!({"a": [1, 2, 3]}),
            json!([{"op": "replace", "path": "/a/-1", "value": 9}]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": [1, 2, 9]}));
    }

    #[test]
    fn negative_add_index_counts_from_the_end_of_the_grown_list() {
        let out = patched(
            json!({"a": [1]}),
            json!([{"op": "add", "path": "/a/-1", "value": 2}]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": [1, 2]}));
    }

    #[test]
    fn replace_of_a_missing_field_fails_and_names_the_operation() {
        let err = patched(
            json!({"a": {}}),
            json!([{"op": "replace", "path": "/a/b", "value": 1}]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("replace /a/b"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn add_needs_the_parent() {
        let err = patched(
            json!({}),
            json!([{"op": "add", "path": "/a/b", "value": 1}]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("parent of '/a/b' does not exist"),
            "{err}"
        );
    }

    #[test]
    fn escaped_tokens_address_keys_with_slashes() {
        let out = patched(
            json!({"metadata": {"annotations": {}}}),
            json!([{"op": "add", "path": "/metadata/annotations/example.com~1a~0b", "value": "x"}]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"annotations": {"example.com/a~b": "x"}}})
        );
    }

    #[test]
    fn move_and_copy_take_from() {
        let out = patched(
            json!({"a": 1, "b": {}}),
            json!([{"op": "copy", "from": "/a", "path": "/b/c"}, {"op": "move", "from": "/a", "path": "/d"}]),
        )
        .unwrap();
        assert_eq!(out, json!({"b": {"c": 1}, "d": 1}));
    }

    #[test]
    fn failed_test_stops_the_patch() {
        let err = patched(
            json!({"a": 1}),
            json!([{"op": "test", "path": "/a", "value": 2}]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("testing value failed"), "{err}");
    }

    #[test]
    fn remove_of_a_missing_field_fails() {
        assert!(patched(json!({}), json!([{"op": "remove", "path": "/x"}])).is_err());
    }

    #[test]
    fn unknown_operation_is_rejected() {
        let err = patched(json!({}), json!([{"op": "frobnicate", "path": "/x"}])).unwrap_err();
        assert!(
            err.to_string().contains("unknown operation 'frobnicate'"),
            "{err}"
        );
    }
}

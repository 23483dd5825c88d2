//! Strategic merge patch, as kustomize v5.5.0 applies it (kyaml `merge2` walking
//! base and patch together), on `serde_json::Value`.
//!
//! This is not the API server's strategic merge: kustomize prepends list
//! elements that only the patch has, keeps the base element when a patch element
//! says `$patch: replace`, merges lists of custom resources by replacing them, and
//! has peculiar outcomes for lists keyed by two fields (container ports). Users
//! compare our output with `kubectl kustomize`, so those outcomes are reproduced
//! on purpose; comments point at the kyaml behaviour each one follows.
//! `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` are not
//! directives to kustomize either: they stay as plain fields.

use super::PatchError;
use super::merge_keys::Schema;
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";

/// Applies the strategic merge `patch` to `base` in place.
///
/// Returns `Ok(false)` when the patch deletes the whole object (`$patch: delete`
/// at the top level); `base` is then left as `null`.
pub fn strategic_merge(base: &mut Value, patch: &Value) -> Result<bool, PatchError> {
    let dest = std::mem::take(base);
    let mut path = Vec::new();
    match walk(Some(dest), Some(patch.clone()), Schema::Absent, &mut path)? {
        Some(w) if !is_null_or_missing(Some(&w.value)) => {
            *base = w.value;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Which source node the result of a walk is. kyaml mutates the base node in
/// place and later puts base list elements back over merged ones, so whether a
/// result *is* the base element decides what survives (see `merge_list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ident {
    Dest,
    Origin,
    /// A `null` the base set explicitly and the patch does not mention: kept.
    KeptNull,
}

struct Walked {
    value: Value,
    ident: Ident,
}

impl Walked {
    fn dest(value: Value) -> Self {
        Walked {
            value,
            ident: Ident::Dest,
        }
    }
    fn origin(value: Value) -> Self {
        Walked {
            value,
            ident: Ident::Origin,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
    Scalar,
}

fn kind_of(v: &Value) -> Option<Kind> {
    match v {
        Value::Null => None,
        Value::Object(_) => Some(Kind::Map),
        Value::Array(_) => Some(Kind::Seq),
        _ => Some(Kind::Scalar),
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Map => "a map",
        Kind::Seq => "a list",
        Kind::Scalar => "a scalar",
    }
}

fn is_null_or_missing(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn field_path(path: &[String]) -> String {
    if path.is_empty() {
        "(root)".to_string()
    } else {
        path.join(".")
    }
}

fn merge_error(path: &[String], reason: impl Into<String>) -> PatchError {
    PatchError::Merge {
        field: field_path(path),
        reason: reason.into(),
    }
}

/// The text kyaml compares list keys by: a scalar's YAML text, `""` otherwise.
pub(super) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        _ => String::new(),
    }
}

/// A merge key value kyaml writes back as an untagged YAML scalar, which
/// resolves to a number or boolean when it reads like one.
fn scalar_from_text(s: &str) -> Value {
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(s.to_string()),
    }
}

fn walk(
    dest: Option<Value>,
    origin: Option<Value>,
    schema: Schema,
    path: &mut Vec<String>,
) -> Result<Option<Walked>, PatchError> {
    let schema = schema.resolve([dest.as_ref(), origin.as_ref()]);
    let kind = [dest.as_ref(), origin.as_ref()]
        .into_iter()
        .flatten()
        .find_map(kind_of);
    if let Some(kind) = kind {
        let base = dest.as_ref().and_then(kind_of).unwrap_or(kind);
        let patch = origin.as_ref().and_then(kind_of).unwrap_or(kind);
        if base != patch {
            return Err(merge_error(
                path,
                format!("cannot merge {} into {}", kind_name(patch), kind_name(base)),
            ));
        }
    }
    match kind {
        Some(Kind::Map) | None => walk_map(dest, origin, schema, path),
        Some(Kind::Seq) => match schema.merge_keys() {
            Some(keys) => walk_assoc_list(dest, origin, schema, keys, path),
            // A list without a merge strategy is replaced by the patch's list.
            None => Ok(match origin {
                Some(o) => Some(Walked::origin(o)),
                None => dest.map(Walked::dest),
            }),
        },
        Some(Kind::Scalar) => Ok(match origin {
            Some(o) => Some(Walked::origin(o)),
            None => dest.map(Walked::dest),
        }),
    }
}

/// Reads and removes a map's `$patch` directive.
fn map_directive(origin: &mut Option<Value>, path: &[String]) -> Result<Directive, PatchError> {
    let Some(Value::Object(map)) = origin else {
        return Ok(Directive::Merge);
    };
    let Some(v) = map.get(DIRECTIVE) else {
        return Ok(Directive::Merge);
    };
    let d = match v.as_str() {
        Some("delete") => Directive::Delete,
        Some("replace") => Directive::Replace,
        Some("merge") => Directive::Merge,
        _ => {
            return Err(merge_error(
                path,
                format!("unknown patch strategy '{}'", scalar_text(v)),
            ));
        }
    };
    map.remove(DIRECTIVE);
    Ok(d)
}

/// Reads and removes a list's directive: an element that is exactly
/// `{$patch: <directive>}`.
fn list_directive(origin: &mut Option<Value>, path: &[String]) -> Result<Directive, PatchError> {
    let Some(Value::Array(items)) = origin else {
        return Ok(Directive::Merge);
    };
    let Some(element) = items
        .iter()
        .find(|e| e.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)))
    else {
        return Ok(Directive::Merge);
    };
    let Some(map) = element.as_object() else {
        return Ok(Directive::Merge);
    };
    if map.len() > 1 {
        return Ok(Directive::Merge);
    }
    let value = map.get(DIRECTIVE).map(scalar_text).unwrap_or_default();
    let d = match value.as_str() {
        "delete" => Directive::Delete,
        "replace" => Directive::Replace,
        "merge" => Directive::Merge,
        _ => {
            return Err(merge_error(
                path,
                format!("unknown patch strategy '{value}'"),
            ));
        }
    };
    element_setter(
        items,
        None,
        &[DIRECTIVE.to_string()],
        std::slice::from_ref(&value),
        path,
    )?;
    Ok(d)
}

fn walk_map(
    dest: Option<Value>,
    mut origin: Option<Value>,
    schema: Schema,
    path: &mut Vec<String>,
) -> Result<Option<Walked>, PatchError> {
    let (mut target, ident) = if is_null_or_missing(dest.as_ref()) {
        // The base lacks this map: the patch's map is added.
        let directive = map_directive(&mut origin, path).unwrap_or(Directive::Merge);
        if directive == Directive::Delete {
            return Ok(None);
        }
        if origin.is_none() && dest.is_some() {
            return Ok(Some(Walked {
                value: Value::Null,
                ident: Ident::KeptNull,
            }));
        }
        match origin.clone() {
            Some(o) => (o, Ident::Origin),
            None => return Ok(None),
        }
    } else if matches!(origin, Some(Value::Null)) {
        return Ok(None);
    } else {
        match map_directive(&mut origin, path)? {
            Directive::Delete => return Ok(None),
            Directive::Replace => match origin.clone() {
                Some(o) => (o, Ident::Origin),
                None => return Ok(None),
            },
            Directive::Merge => match dest {
                Some(d) => (d, Ident::Dest),
                None => return Ok(None),
            },
        }
    };

    if let Value::Object(target_map) = &mut target {
        let origin_map = match &origin {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        let mut names: Vec<String> = target_map.keys().cloned().collect();
        if let Some(m) = origin_map {
            names.extend(m.keys().filter(|k| !target_map.contains_key(*k)).cloned());
        }
        // kyaml visits fields sorted by name; the order matters only for which
        // error is reported first.
        names.sort();
        for name in names {
            let d = target_map.remove(&name);
            let o = origin_map.and_then(|m| m.get(&name)).cloned();
            path.push(name.clone());
            let walked = walk(d, o, schema.field(&name), path)?;
            path.pop();
            set_field(target_map, name, walked);
        }
    }
    Ok(Some(Walked {
        value: target,
        ident,
    }))
}

/// kyaml's FieldSetter: nothing or a plain `null` removes the field.
fn set_field(map: &mut Map<String, Value>, name: String, walked: Option<Walked>) {
    match walked {
        None => {}
        Some(Walked {
            value: Value::Null,
            ident: Ident::Dest | Ident::Origin,
        }) => {}
        Some(w) => {
            map.insert(name, w.value);
        }
    }
}

fn walk_assoc_list(
    dest: Option<Value>,
    mut origin: Option<Value>,
    schema: Schema,
    keys: &'static [&'static str],
    path: &mut Vec<String>,
) -> Result<Option<Walked>, PatchError> {
    let target = if is_null_or_missing(dest.as_ref()) {
        match origin.clone() {
            Some(o) => o,
            None => return Ok(None),
        }
    } else if matches!(origin, Some(Value::Null)) {
        return Ok(None);
    } else {
        match list_directive(&mut origin, path)? {
            Directive::Delete => return Ok(None),
            Directive::Replace => match origin.clone() {
                Some(o) => o,
                None => return Ok(None),
            },
            Directive::Merge => match dest {
                Some(d) => d,
                None => return Ok(None),
            },
        }
    };
    let Value::Array(target) = target else {
        return Ok(Some(Walked::origin(target)));
    };
    let origin_items: Vec<Value> = match origin {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let elements = schema.elements();

    let values = element_values(&keys, &origin_items, &target);
    let merged = if !values.is_empty() || !keys.is_empty() {
        merge_list(values, &keys, target, &origin_items, elements, path)?
    } else {
        let values = primitive_values(&origin_items, &target);
        merge_list(
            values,
            &[String::new()],
            target,
            &origin_items,
            elements,
            path,
        )?
    };
    Ok(Some(Walked::origin(Value::Array(merged))))
}

/// The merge-key values of every element, patch elements first (kustomize
/// prepends what the patch adds), without repeats.
fn element_values(keys: &[String], origin: &[Value], dest: &[Value]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for list in [origin, dest] {
        for element in list {
            let values: Vec<String> = keys
                .iter()
                .map(|k| match element.get(k) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::Object(m)) if m.is_empty() => String::new(),
                    Some(Value::Array(a)) if a.is_empty() => String::new(),
                    Some(v) => scalar_text(v),
                })
                .collect();
            if values.is_empty() || out.contains(&values) {
                continue;
            }
            out.push(values);
        }
    }
    out
}

fn primitive_values(origin: &[Value], dest: &[Value]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for list in [origin, dest] {
        for element in list {
            let v = vec![scalar_text_or_empty(element)];
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

fn scalar_text_or_empty(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => String::new(),
        other => scalar_text(other),
    }
}

/// Two key tuples are the same element when they share a value and differ only
/// where one side is empty (a port with and one without `protocol`).
fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        for j in 0..list.len() {
            if let Some(merged) = match_values(&list[i], &list[j]) {
                list[i] = merged.clone();
                list[j] = merged;
            }
        }
    }
}

fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if !x.is_empty() {
            out.push(x.clone());
        } else {
            out.push(y.clone());
        }
    }
    common.then_some(out)
}

/// Restricts keys to those that have a value somewhere in `list`.
fn validate_keys(
    list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut valid = vec![false; keys.len()];
    for entry in list {
        for (i, v) in entry.iter().enumerate() {
            if !v.is_empty() && i < valid.len() {
                valid[i] = true;
            }
        }
    }
    if !valid.iter().any(|v| *v) {
        return (keys.to_vec(), values.to_vec());
    }
    let valid_keys = keys
        .iter()
        .zip(&valid)
        .filter(|(_, ok)| **ok)
        .map(|(k, _)| k.clone())
        .collect();
    let valid_values = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() || valid.get(*i).copied().unwrap_or(false))
        .map(|(_, v)| v.clone())
        .collect();
    (valid_keys, valid_values)
}

/// kyaml's field match: present, and equal unless `value` is empty.
fn field_matches(element: &Value, key: &str, value: &str) -> bool {
    if key.is_empty() {
        return !element.is_null() && scalar_text_or_empty(element) == value;
    }
    match element.get(key) {
        Some(v) => value.is_empty() || scalar_text_or_empty(v) == value,
        None => false,
    }
}

/// The first element whose keys match (kyaml `ElementList`).
fn element_index(list: &[Value], keys: &[String], values: &[String]) -> Option<usize> {
    let first_key = keys.first().map(String::as_str).unwrap_or("");
    let first_value = values.first().map(String::as_str).unwrap_or("");
    if first_key.is_empty() {
        return list
            .iter()
            .position(|e| scalar_text_or_empty(e) == first_value);
    }
    if keys.len() != values.len() {
        return None;
    }
    list.iter()
        .position(|e| e.is_object() && keys.iter().zip(values).all(|(k, v)| field_matches(e, k, v)))
}

fn is_empty_map(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

/// kyaml's `ElementSetter`: replaces the elements matching `keys`/`values` with
/// `element` (or removes them when `None`), appending when none matched. Like
/// kyaml it also drops `null` and `{}` elements, and — when given fewer values
/// than keys — every element that does not match.
fn element_setter(
    list: &mut Vec<Value>,
    element: Option<&Value>,
    keys: &[String],
    values: &[String],
    path: &[String],
) -> Result<(), PatchError> {
    let empty_key = [String::new()];
    let keys = if keys.is_empty() {
        &empty_key[..]
    } else {
        keys
    };
    let mapping_setter = !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
    let mut kept = Vec::with_capacity(list.len() + 1);
    let mut matched = false;
    for item in list.drain(..) {
        if item.is_null() || is_empty_map(&item) {
            continue;
        }
        if !item.is_object() && mapping_setter {
            kept.push(item);
            continue;
        }
        let mut found = true;
        let mut last = false;
        for (j, key) in keys.iter().enumerate() {
            if let Some(value) = values.get(j) {
                if !key.is_empty() && !item.is_object() {
                    return Err(merge_error(
                        path,
                        format!("list element {item} is not a map but the list merges by '{key}'"),
                    ));
                }
                last = field_matches(&item, key, value);
            }
            if !last {
                found = false;
                break;
            }
        }
        if !found {
            if !values.is_empty() {
                kept.push(item);
            }
            continue;
        }
        matched = true;
        if let Some(e) = element {
            kept.push(e.clone());
        }
    }
    *list = kept;
    if let Some(e) = element
        && !matched
        && !e.is_null()
    {
        list.push(e.clone());
    }
    Ok(())
}

/// kyaml's `setAssociativeSequenceElements` with patch elements prepended.
fn merge_list(
    mut values_list: Vec<Vec<String>>,
    keys: &[String],
    mut dest: Vec<Value>,
    origin: &[Value],
    elements: Schema,
    path: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    let mut items: Vec<Value> = Vec::new();
    if keys.len() > 1 {
        merge_values(&mut values_list);
    }
    let mut valid_keys: Vec<String> = Vec::new();
    for values in &values_list {
        if values.is_empty() {
            continue;
        }
        let (vk, vv) = validate_keys(&values_list, values, keys);
        valid_keys = vk.clone();
        let (ek, ev) = validate_keys(std::slice::from_ref(&vv), &vv, &vk);
        let dest_index = element_index(&dest, &ek, &ev);
        let origin_element = element_index(origin, &ek, &ev).map(|i| origin[i].clone());
        let label = vv.join(",");
        path.push(format!("[{label}]"));
        let walked = walk(
            dest_index.map(|i| dest[i].clone()),
            origin_element,
            elements,
            path,
        )?;
        let Some(mut walked) = walked.filter(|w| !w.value.is_null() && !is_empty_map(&w.value))
        else {
            element_setter(&mut dest, None, &vk, &vv, path)?;
            path.pop();
            continue;
        };
        for (key, value) in vk.iter().zip(&vv) {
            if value.is_empty() || key.is_empty() {
                continue;
            }
            match &mut walked.value {
                Value::Object(m) => {
                    m.entry(key.clone())
                        .or_insert_with(|| scalar_from_text(value));
                }
                other => {
                    return Err(merge_error(
                        path,
                        format!("list element {other} is not a map but the list merges by '{key}'"),
                    ));
                }
            }
        }
        // The merge changed the base element itself; kyaml puts base elements
        // back over the merged ones below, so only this write keeps the merge.
        if walked.ident == Ident::Dest
            && let Some(i) = dest_index
        {
            dest[i] = walked.value.clone();
        }
        element_setter(&mut items, Some(&walked.value), &vk, &vv, path)?;
        path.pop();
    }
    if values_list.is_empty() {
        return Ok(dest);
    }
    append_list(items, dest, &valid_keys, path)
}

/// kyaml's `appendListNode(items, dest)`: base elements replace their merged
/// copies in `items` or are appended.
fn append_list(
    mut items: Vec<Value>,
    dest: Vec<Value>,
    keys: &[String],
    path: &[String],
) -> Result<Vec<Value>, PatchError> {
    let first_key = keys.first().map(String::as_str).unwrap_or("");
    for element in dest {
        if first_key.is_empty() {
            let v = scalar_text_or_empty(&element);
            element_setter(&mut items, Some(&element), &[String::new()], &[v], path)?;
            continue;
        }
        let Some(map) = element.as_object() else {
            return Err(merge_error(
                path,
                format!("list element {element} is not a map but the list merges by '{first_key}'"),
            ));
        };
        let mut v = Vec::with_capacity(keys.len());
        for key in keys {
            match map.get(key) {
                // kyaml appends an element lacking a key straight away, then
                // carries on with the keys it has.
                None => items.push(element.clone()),
                Some(value) => v.push(scalar_text_or_empty(value)),
            }
        }
        if keys.len() > 1 {
            element_setter(&mut items, None, keys, &v, path)?;
        }
        element_setter(&mut items, Some(&element), keys, &v, path)?;
    }
    Ok(items)
}

#[cfg(test)]
mod tests;

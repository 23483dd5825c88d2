//! Kubernetes strategic merge patch, as the API server applies it to
//! built-in objects.
//!
//! Like a JSON merge patch, except that lists whose schema says
//! `x-kubernetes-patch-strategy: merge` are merged: lists of objects by
//! their `x-kubernetes-patch-merge-key`, lists of scalars as sets. The
//! directives Kubernetes clients send are honoured: `$patch: replace|delete|merge`
//! (on maps and as list items), `$retainKeys`, `$deleteFromPrimitiveList/<field>`
//! and `$setElementOrder/<field>`.
//!
//! Hand-written because no Rust crate implements the API server's flavour;
//! kustomize's patches (in the kustomize crate) differ in error handling.

use serde_json::{Map, Value};

use super::{PatchError, Result};
use crate::schema::Node;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies a strategic merge patch to `live`. `schema` is the object's
/// built-in schema; without it (or for undeclared fields) lists replace.
pub fn strategic_merge_patch(
    live: &Value,
    patch: &Value,
    schema: Option<Node<'_>>,
) -> Result<Value> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed(
            "a strategic merge patch must be a JSON object".to_string(),
        ));
    };
    let mut doc = match live {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    match merge_map(&mut doc, patch, schema, "")? {
        Outcome::Keep => Ok(Value::Object(doc)),
        Outcome::Delete => Ok(Value::Object(Map::new())),
    }
}

/// What became of a map after its patch: kept, or deleted by `$patch: delete`.
#[derive(Debug, PartialEq)]
enum Outcome {
    Keep,
    Delete,
}

fn field_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn merge_map(
    doc: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<Node<'_>>,
    path: &str,
) -> Result<Outcome> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(s)) if s == "merge" => {}
        Some(Value::String(s)) if s == "delete" => return Ok(Outcome::Delete),
        Some(Value::String(s)) if s == "replace" => {
            *doc = Map::new();
            let mut rest = patch.clone();
            rest.remove(PATCH);
            return merge_map(doc, &rest, schema, path);
        }
        Some(other) => {
            return Err(PatchError::Malformed(format!(
                "Unknown patch type: {other} in {}",
                if path.is_empty() { "the object" } else { path }
            )));
        }
    }

    let mut orders: Vec<(&str, &Value)> = Vec::new();
    // `$setElementOrder` interleaves by live positions: keep the lists as
    // they were before this patch.
    let live_lists: Vec<(String, Vec<Value>)> = patch
        .keys()
        .filter_map(|k| k.strip_prefix(SET_ELEMENT_ORDER))
        .filter_map(|f| match doc.get(f) {
            Some(Value::Array(a)) => Some((f.to_string(), a.clone())),
            _ => None,
        })
        .collect();
    for (key, value) in patch {
        if key == PATCH || key == RETAIN_KEYS {
            continue;
        }
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            orders.push((field, value));
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_primitive_list(doc, field, value, path)?;
            continue;
        }
        let child_schema = schema.and_then(|s| s.child(key));
        let child_path = field_path(path, key);
        match value {
            Value::Null => {
                doc.remove(key);
            }
            Value::Object(p) => {
                let mut child = match doc.remove(key) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                if merge_map(&mut child, p, child_schema, &child_path)? == Outcome::Keep {
                    doc.insert(key.clone(), Value::Object(child));
                }
            }
            Value::Array(items) => {
                let merged = match child_schema {
                    Some(s) if s.patch_strategies().contains(&"merge") => {
                        merge_list(doc.get(key), items, s, &child_path)?
                    }
                    _ => replace_list(items, child_schema.and_then(|s| s.items()), &child_path)?,
                };
                doc.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                doc.insert(key.clone(), scalar.clone());
            }
        }
    }

    for (field, order) in orders {
        let merge_key = schema
            .and_then(|s| s.child(field))
            .and_then(|s| s.patch_merge_key());
        let live = live_lists
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[]);
        if let Some(Value::Array(items)) = doc.get_mut(field) {
            apply_element_order(items, order, live, merge_key, &field_path(path, field))?;
        }
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(keep) = retain else {
            return Err(PatchError::Malformed(format!(
                "invalid patch at {}: $retainKeys must be a list of strings",
                if path.is_empty() { "the object" } else { path }
            )));
        };
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        // Kubernetes rejects a patch that sets a field it also asks to drop.
        if let Some(k) = patch.keys().find(|k| {
            !k.starts_with('$') && !patch[k.as_str()].is_null() && !keep.contains(&k.as_str())
        }) {
            return Err(PatchError::Failed(format!(
                "the patch has field {:?} at {} which is not in $retainKeys",
                k,
                if path.is_empty() { "the object" } else { path }
            )));
        }
        doc.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(Outcome::Keep)
}

/// A list under a non-merge strategy: the patch's list replaces the live
/// one, with directives stripped from its items.
fn replace_list(items: &[Value], item_schema: Option<Node<'_>>, path: &str) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Object(m) => {
                let mut fresh = Map::new();
                if merge_map(&mut fresh, m, item_schema, &format!("{path}[{i}]"))? == Outcome::Keep
                {
                    out.push(Value::Object(fresh));
                }
            }
            other => out.push(other.clone()),
        }
    }
    Ok(out)
}

fn is_directive_item(item: &Value, directive: &str) -> bool {
    item.get(PATCH).and_then(Value::as_str) == Some(directive)
}

fn merge_list(
    live: Option<&Value>,
    items: &[Value],
    schema: Node<'_>,
    path: &str,
) -> Result<Vec<Value>> {
    // `[{"$patch": "replace"}, ...rest]` replaces the list with the rest.
    if items.iter().any(|i| is_directive_item(i, "replace")) {
        let rest: Vec<Value> = items
            .iter()
            .filter(|i| !is_directive_item(i, "replace"))
            .cloned()
            .collect();
        return replace_list(&rest, schema.items(), path);
    }
    let mut out: Vec<Value> = match live {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let objects = items.iter().any(Value::is_object);
    if !objects {
        // A set of scalars: union, keeping live order and appending new values.
        for item in items {
            if !out.contains(item) {
                out.push(item.clone());
            }
        }
        return Ok(normalize_order(out, items, live_items(live), None));
    }
    let Some(merge_key) = schema.patch_merge_key() else {
        return replace_list(items, schema.items(), path);
    };
    let item_schema = schema.items();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(p) = item else {
            return Err(PatchError::Malformed(format!(
                "{path}[{i}]: a list merged by {merge_key:?} may only hold objects"
            )));
        };
        let key = p.get(merge_key).ok_or_else(|| {
            PatchError::Malformed(format!(
                "{path}[{i}]: map does not contain declared merge key: {merge_key}"
            ))
        })?;
        let pos = out.iter().position(|o| o.get(merge_key) == Some(key));
        if is_directive_item(item, "delete") {
            out.retain(|o| o.get(merge_key) != Some(key));
            continue;
        }
        let item_path = format!("{path}[{merge_key}={}]", display_key(key));
        match pos {
            Some(pos) => {
                let mut target = match out[pos].take() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                if merge_map(&mut target, p, item_schema, &item_path)? == Outcome::Keep {
                    out[pos] = Value::Object(target);
                } else {
                    out.remove(pos);
                }
            }
            None => {
                let mut fresh = Map::new();
                if merge_map(&mut fresh, p, item_schema, &item_path)? == Outcome::Keep {
                    out.push(Value::Object(fresh));
                }
            }
        }
    }
    let order: Vec<Value> = items
        .iter()
        .filter(|i| !is_directive_item(i, "delete"))
        .cloned()
        .collect();
    Ok(normalize_order(
        out,
        &order,
        live_items(live),
        Some(merge_key),
    ))
}

fn live_items(live: Option<&Value>) -> &[Value] {
    match live {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

fn display_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn delete_from_primitive_list(
    doc: &mut Map<String, Value>,
    field: &str,
    values: &Value,
    path: &str,
) -> Result<()> {
    let Value::Array(values) = values else {
        return Err(PatchError::Malformed(format!(
            "{}: $deleteFromPrimitiveList must hold a list",
            field_path(path, field)
        )));
    };
    if let Some(Value::Array(items)) = doc.get_mut(field) {
        items.retain(|i| !values.contains(i));
    }
    Ok(())
}

/// The identity of a list item: its merge key value, or itself for scalars.
fn key_of(v: &Value, merge_key: Option<&str>) -> Option<Value> {
    match merge_key {
        Some(k) => v.get(k).cloned(),
        None => Some(v.clone()),
    }
}

/// Orders a merged list as Kubernetes does: the items named by `order`
/// (the patch's own list, or its `$setElementOrder`) sorted by it; the
/// other, server-only items in their live order; the two interleaved by
/// live position, items new to the server first when positions cannot be
/// compared.
fn normalize_order(
    merged: Vec<Value>,
    order: &[Value],
    live: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let order_keys: Vec<Option<Value>> = order.iter().map(|o| key_of(o, merge_key)).collect();
    let live_keys: Vec<Option<Value>> = live.iter().map(|o| key_of(o, merge_key)).collect();
    let index_in = |keys: &[Option<Value>], v: &Value| -> Option<usize> {
        let k = key_of(v, merge_key)?;
        keys.iter().position(|o| o.as_ref() == Some(&k))
    };
    let (mut patched, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| index_in(&order_keys, v).is_some());
    patched.sort_by_key(|v| index_in(&order_keys, v));
    server_only.sort_by_key(|v| index_in(&live_keys, v));
    let mut out = Vec::with_capacity(patched.len() + server_only.len());
    let (mut left, mut right) = (
        server_only.into_iter().peekable(),
        patched.into_iter().peekable(),
    );
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (index_in(&live_keys, l), index_in(&live_keys, r)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Applies `$setElementOrder/<field>` to an already merged list.
fn apply_element_order(
    items: &mut Vec<Value>,
    order: &Value,
    live: &[Value],
    merge_key: Option<&str>,
    path: &str,
) -> Result<()> {
    let Value::Array(order) = order else {
        return Err(PatchError::Malformed(format!(
            "{path}: $setElementOrder must hold a list"
        )));
    };
    let merged = std::mem::take(items);
    *items = normalize_order(merged, order, live, merge_key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin;
    use serde_json::json;

    fn pod() -> Option<Node<'static>> {
        builtin::node("io.k8s.api.core.v1.Pod")
    }

    fn deployment() -> Option<Node<'static>> {
        builtin::node("io.k8s.api.apps.v1.Deployment")
    }

    fn live_pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "1"}, "finalizers": ["x"]},
            "spec": {"containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "side:1"}
            ]}
        })
    }

    #[test]
    fn containers_merge_by_name() {
        let patch = json!({"spec": {"containers": [{"name": "app", "image": "app:2"}]}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(out["spec"]["containers"][0]["image"], "app:2");
        assert_eq!(out["spec"]["containers"][0]["env"][0]["name"], "A");
        assert_eq!(out["spec"]["containers"][1]["name"], "side");
    }

    #[test]
    fn a_new_merge_key_appends_an_item() {
        let patch = json!({"spec": {"containers": [{"name": "new", "image": "n:1"}]}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        let names: Vec<_> = out["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].clone())
            .collect();
        // Kubernetes puts items new to the server first.
        assert_eq!(names, vec![json!("new"), json!("app"), json!("side")]);
    }

    #[test]
    fn patch_delete_removes_a_list_item_by_merge_key() {
        let patch = json!({"spec": {"containers": [{"name": "side", "$patch": "delete"}]}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(out["spec"]["containers"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn patch_replace_as_a_list_item_replaces_the_list() {
        let patch = json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "only", "image": "o:1"}])
        );
    }

    #[test]
    fn patch_replace_on_a_map_replaces_the_map() {
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "b": "2"}}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    }

    #[test]
    fn patch_delete_on_a_map_removes_it() {
        let patch = json!({"metadata": {"labels": {"$patch": "delete"}}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert!(out["metadata"].get("labels").is_none());
    }

    #[test]
    fn null_deletes_a_field() {
        let patch = json!({"metadata": {"labels": {"a": null}}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(out["metadata"]["labels"], json!({}));
    }

    #[test]
    fn merge_strategy_scalar_lists_union() {
        let patch = json!({"metadata": {"finalizers": ["y", "x"]}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(out["metadata"]["finalizers"], json!(["y", "x"]));
    }

    #[test]
    fn delete_from_primitive_list_removes_values() {
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(out["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn merged_items_keep_their_live_position_among_server_only_items() {
        let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let patch = json!({"spec": {"containers": [{"name": "c", "image": "c:2"}, {"name": "a", "image": "a:2"}]}});
        let out = strategic_merge_patch(&live, &patch, pod()).expect("applies");
        let names: Vec<_> = out["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].clone())
            .collect();
        // Patched items keep the patch's order (c, a); the server-only b is
        // placed by comparing live positions with the next patched item (c),
        // as Kubernetes' mergeSortedSlice does.
        assert_eq!(names, vec![json!("b"), json!("c"), json!("a")]);
    }

    #[test]
    fn lists_without_merge_strategy_replace() {
        let live = json!({"spec": {"containers": [{"name": "app", "args": ["a", "b"]}]}});
        let patch = json!({"spec": {"containers": [{"name": "app", "args": ["c"]}]}});
        let out = strategic_merge_patch(&live, &patch, pod()).expect("applies");
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["c"]));
    }

    #[test]
    fn set_element_order_reorders_merged_items() {
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
            "containers": [{"name": "side", "image": "side:2"}]
        }});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert_eq!(out["spec"]["containers"][0]["name"], "side");
        assert_eq!(out["spec"]["containers"][0]["image"], "side:2");
        assert_eq!(out["spec"]["containers"][1]["name"], "app");
    }

    #[test]
    fn retain_keys_drops_fields_not_listed() {
        let live = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let out = strategic_merge_patch(&live, &patch, deployment()).expect("applies");
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn retain_keys_must_list_every_field_the_patch_sets() {
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
        assert!(matches!(
            strategic_merge_patch(&json!({}), &patch, deployment()),
            Err(PatchError::Failed(_))
        ));
    }

    #[test]
    fn a_merge_list_item_without_its_merge_key_is_malformed() {
        let patch = json!({"spec": {"containers": [{"image": "x"}]}});
        assert!(matches!(
            strategic_merge_patch(&live_pod(), &patch, pod()),
            Err(PatchError::Malformed(_))
        ));
    }

    #[test]
    fn an_unknown_patch_directive_is_malformed() {
        let patch = json!({"metadata": {"$patch": "explode"}});
        assert!(matches!(
            strategic_merge_patch(&live_pod(), &patch, pod()),
            Err(PatchError::Malformed(_))
        ));
    }

    #[test]
    fn directives_never_reach_the_stored_object() {
        let patch =
            json!({"spec": {"containers": [{"name": "new", "$patch": "merge", "image": "n"}]}});
        let out = strategic_merge_patch(&live_pod(), &patch, pod()).expect("applies");
        assert!(out["spec"]["containers"][0].get("$patch").is_none());
    }
}

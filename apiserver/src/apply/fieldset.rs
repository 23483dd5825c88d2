//! Field sets: which fields of an object a manager owns, and their wire
//! form, `FieldsV1` (`{"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}`).
//!
//! Path elements are fields (`f:name`), list items keyed by their map keys
//! (`k:{"name":"app"}`), set members (`v:"x"`) and, rarely, list indexes
//! (`i:0`). A path is in a set when that node is owned; `.` marks an owned
//! node that also has owned children.
//!
//! Hand-written: Kubernetes' structured-merge-diff has no Rust port.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::schema::{ListType, Node};

/// One step in a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    /// An object field.
    Field(String),
    /// A list item, by the canonical JSON of its map keys.
    Key(String),
    /// A set member, by its canonical JSON.
    Value(String),
    /// A list item by position (atomic-less lists without keys).
    Index(usize),
}

/// A path from the object root.
pub type Path = Vec<Element>;

/// A set of owned paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Every owned node.
    pub paths: BTreeSet<Path>,
}

/// Why a `fieldsV1` document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fieldsV1: {0}")]
pub struct DecodeError(pub String);

impl FieldSet {
    /// Whether nothing is owned.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Whether `path` is owned.
    pub fn contains(&self, path: &Path) -> bool {
        self.paths.contains(path)
    }

    /// Whether `path` or anything below it is owned.
    pub fn touches(&self, path: &Path) -> bool {
        self.paths.iter().any(|p| p.starts_with(path))
    }

    /// Removes every path in `other`.
    pub fn remove_all(&mut self, other: &BTreeSet<Path>) {
        self.paths.retain(|p| !other.contains(p));
    }

    /// Encodes as `fieldsV1`.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.paths {
            insert_path(&mut root, path);
        }
        collapse(&mut root);
        Value::Object(root)
    }

    /// Decodes `fieldsV1`.
    pub fn from_fields_v1(value: &Value) -> Result<Self, DecodeError> {
        let mut set = FieldSet::default();
        let Value::Object(map) = value else {
            return Err(DecodeError("must be an object".into()));
        };
        decode(map, &mut Vec::new(), &mut set.paths)?;
        Ok(set)
    }
}

fn insert_path(node: &mut Map<String, Value>, path: &[Element]) {
    match path.split_first() {
        None => {
            node.insert(".".into(), Value::Object(Map::new()));
        }
        Some((first, rest)) => {
            let entry = node
                .entry(encode_element(first))
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(next) = entry {
                insert_path(next, rest);
            }
        }
    }
}

/// A node whose only entry is `.` is a plain owned leaf: `{}`.
fn collapse(map: &mut Map<String, Value>) {
    for (k, v) in map.iter_mut() {
        if k == "." {
            continue;
        }
        if let Value::Object(child) = v {
            if child.len() == 1 && child.contains_key(".") {
                child.clear();
            } else {
                collapse(child);
            }
        }
    }
}

fn encode_element(el: &Element) -> String {
    match el {
        Element::Field(f) => format!("f:{f}"),
        Element::Key(k) => format!("k:{k}"),
        Element::Value(v) => format!("v:{v}"),
        Element::Index(i) => format!("i:{i}"),
    }
}

fn decode(
    map: &Map<String, Value>,
    path: &mut Path,
    out: &mut BTreeSet<Path>,
) -> Result<(), DecodeError> {
    for (k, v) in map {
        if k == "." {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            continue;
        }
        let el = if let Some(f) = k.strip_prefix("f:") {
            Element::Field(f.to_string())
        } else if let Some(key) = k.strip_prefix("k:") {
            let parsed: Value =
                serde_json::from_str(key).map_err(|e| DecodeError(format!("{k}: {e}")))?;
            Element::Key(parsed.to_string())
        } else if let Some(val) = k.strip_prefix("v:") {
            let parsed: Value =
                serde_json::from_str(val).map_err(|e| DecodeError(format!("{k}: {e}")))?;
            Element::Value(parsed.to_string())
        } else if let Some(i) = k.strip_prefix("i:") {
            Element::Index(
                i.parse()
                    .map_err(|_| DecodeError(format!("{k}: not an index")))?,
            )
        } else {
            return Err(DecodeError(format!("unknown path element {k:?}")));
        };
        let Value::Object(child) = v else {
            return Err(DecodeError(format!("{k}: must be an object")));
        };
        path.push(el);
        if child.is_empty() {
            out.insert(path.clone());
        } else {
            decode(child, path, out)?;
        }
        path.pop();
    }
    Ok(())
}

/// The canonical key of a list-map item: its key fields as compact JSON
/// with sorted names (`{"name":"app"}`).
pub fn item_key(item: &Value, keys: &[String]) -> String {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = key_field(item, k) {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m).to_string()
}

/// The value of key field `key` of a list-map item, defaulted as Kubernetes defaults it
/// before merging: every defaulted key of the built-in API is a `protocol` (Service,
/// container and endpoint ports), which is `TCP` when left out. Without this, applying a
/// Service whose port omits `protocol` would not find the stored (defaulted) port and
/// would add a second copy on every apply.
pub fn key_field<'v>(item: &'v Value, key: &str) -> Option<&'v Value> {
    match item.get(key) {
        Some(v) => Some(v),
        None if key == "protocol" && item.is_object() => Some(tcp()),
        None => None,
    }
}

fn tcp() -> &'static Value {
    static VALUE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    VALUE.get_or_init(|| Value::String("TCP".to_owned()))
}

/// Whether list-map item `item` has every key field of `want` (a decoded key).
fn matches_key(item: &Value, want: &Map<String, Value>) -> bool {
    want.iter().all(|(k, v)| key_field(item, k) == Some(v))
}

/// How a node merges, from its schema (`None`: untyped, objects granular
/// and lists atomic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Replaced as a whole (scalars, atomic lists and maps, opaque blobs).
    Atomic,
    /// Object merged field by field.
    Granular,
    /// List of objects keyed by these fields.
    ListMap(Vec<String>),
    /// List of scalars as a set.
    ListSet,
}

/// The shape of `value` under `schema`.
pub fn shape(schema: Option<Node<'_>>, value: &Value) -> Shape {
    match value {
        Value::Object(_) => match schema {
            Some(s) if s.atomic_map() => Shape::Atomic,
            Some(s)
                if s.type_name() == Some("object")
                    && !s.has_properties()
                    && s.additional_properties().is_none()
                    && !s.preserves_unknown_fields()
                    && !s.allows_any_additional() =>
            {
                Shape::Atomic
            }
            _ => Shape::Granular,
        },
        Value::Array(_) => match schema.map(|s| s.list_type()) {
            Some(ListType::Map(keys)) if !keys.is_empty() => Shape::ListMap(keys),
            Some(ListType::Set) => Shape::ListSet,
            _ => Shape::Atomic,
        },
        _ => Shape::Atomic,
    }
}

fn child_schema<'a>(schema: Option<Node<'a>>, el: &Element) -> Option<Node<'a>> {
    match el {
        Element::Field(f) => schema.and_then(|s| s.child(f)),
        _ => schema.and_then(|s| s.items()),
    }
}

/// Every node of `value` (each field, item and set member, recursively).
pub fn fields_of(value: &Value, schema: Option<Node<'_>>) -> FieldSet {
    let mut set = FieldSet::default();
    collect(value, schema, &mut Vec::new(), &mut set.paths);
    set
}

fn collect(value: &Value, schema: Option<Node<'_>>, path: &mut Path, out: &mut BTreeSet<Path>) {
    if !path.is_empty() {
        out.insert(path.clone());
    }
    match (shape(schema, value), value) {
        (Shape::Granular, Value::Object(map)) => {
            for (k, v) in map {
                let el = Element::Field(k.clone());
                let cs = child_schema(schema, &el);
                path.push(el);
                collect(v, cs, path, out);
                path.pop();
            }
        }
        (Shape::ListMap(keys), Value::Array(items)) => {
            let cs = schema.and_then(|s| s.items());
            for item in items {
                path.push(Element::Key(item_key(item, &keys)));
                collect(item, cs, path, out);
                path.pop();
            }
        }
        (Shape::ListSet, Value::Array(items)) => {
            for item in items {
                path.push(Element::Value(item.to_string()));
                out.insert(path.clone());
                path.pop();
            }
        }
        _ => {}
    }
}

/// The value at `path` in `value`.
pub fn get_at<'v>(value: &'v Value, path: &[Element]) -> Option<&'v Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match (first, value) {
        (Element::Field(f), Value::Object(m)) => m.get(f),
        (Element::Key(k), Value::Array(items)) => {
            let want: Value = serde_json::from_str(k).ok()?;
            let want = want.as_object()?;
            items.iter().find(|i| matches_key(i, want))
        }
        (Element::Value(v), Value::Array(items)) => {
            let want: Value = serde_json::from_str(v).ok()?;
            items.iter().find(|i| **i == want)
        }
        (Element::Index(i), Value::Array(items)) => items.get(*i),
        _ => None,
    }?;
    get_at(next, rest)
}

/// Removes the node at `path` from `value`; returns whether it was there.
pub fn remove_at(value: &mut Value, path: &[Element]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let Some(parent) = get_at_mut(value, parent_path) else {
        return false;
    };
    match (last, parent) {
        (Element::Field(f), Value::Object(m)) => m.remove(f).is_some(),
        (Element::Key(k), Value::Array(items)) => {
            let Ok(Value::Object(want)) = serde_json::from_str::<Value>(k) else {
                return false;
            };
            let before = items.len();
            items.retain(|i| !matches_key(i, &want));
            items.len() != before
        }
        (Element::Value(v), Value::Array(items)) => {
            let Ok(want) = serde_json::from_str::<Value>(v) else {
                return false;
            };
            let before = items.len();
            items.retain(|i| *i != want);
            items.len() != before
        }
        (Element::Index(i), Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
            true
        }
        _ => false,
    }
}

fn get_at_mut<'v>(value: &'v mut Value, path: &[Element]) -> Option<&'v mut Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match (first, value) {
        (Element::Field(f), Value::Object(m)) => m.get_mut(f),
        (Element::Key(k), Value::Array(items)) => {
            let want: Value = serde_json::from_str(k).ok()?;
            let want = want.as_object()?.clone();
            items.iter_mut().find(|i| matches_key(i, &want))
        }
        (Element::Value(v), Value::Array(items)) => {
            let want: Value = serde_json::from_str(v).ok()?;
            items.iter_mut().find(|i| **i == want)
        }
        (Element::Index(i), Value::Array(items)) => items.get_mut(*i),
        _ => None,
    }?;
    get_at_mut(next, rest)
}

/// A path as Kubernetes prints it in conflicts: `.spec.containers[name="app"].image`.
pub fn display_path(path: &[Element]) -> String {
    let mut out = String::new();
    for el in path {
        match el {
            Element::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            Element::Key(k) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    _ => vec![k.clone()],
                };
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            Element::Value(v) => out.push_str(&format!("[={v}]")),
            Element::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_with_dot_markers() {
        let wire = json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}});
        let set = FieldSet::from_fields_v1(&wire).expect("valid");
        assert!(set.contains(&vec![Element::Field("data".into())]));
        assert!(!set.contains(&vec![Element::Field("metadata".into())]));
        assert_eq!(set.to_fields_v1(), wire);
    }

    #[test]
    fn list_map_items_are_keyed_by_their_merge_keys() {
        let pod = builtin::node("io.k8s.api.core.v1.Pod");
        let value = json!({"spec": {"containers": [{"name": "app", "image": "x"}]}});
        let set = fields_of(&value, pod);
        let wire = set.to_fields_v1();
        assert_eq!(
            wire,
            json!({"f:spec": {".": {}, "f:containers": {".": {}, "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}})
        );
    }

    #[test]
    fn set_members_are_values() {
        let pod = builtin::node("io.k8s.api.core.v1.Pod");
        let value = json!({"metadata": {"finalizers": ["a"]}});
        let wire = fields_of(&value, pod).to_fields_v1();
        assert_eq!(
            wire,
            json!({"f:metadata": {".": {}, "f:finalizers": {".": {}, "v:\"a\"": {}}}})
        );
    }

    #[test]
    fn paths_display_like_kubernetes_conflicts() {
        let path = vec![
            Element::Field("spec".into()),
            Element::Field("containers".into()),
            Element::Key("{\"name\":\"app\"}".into()),
            Element::Field("image".into()),
        ];
        assert_eq!(display_path(&path), ".spec.containers[name=\"app\"].image");
    }

    #[test]
    fn values_are_found_and_removed_by_path() {
        let mut v = json!({"l": [{"name": "a", "x": 1}, {"name": "b"}]});
        let path = vec![
            Element::Field("l".into()),
            Element::Key("{\"name\":\"a\"}".into()),
            Element::Field("x".into()),
        ];
        assert_eq!(get_at(&v, &path), Some(&json!(1)));
        assert!(remove_at(&mut v, &path));
        assert_eq!(v, json!({"l": [{"name": "a"}, {"name": "b"}]}));
    }
}

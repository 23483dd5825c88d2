//! JSON objects as the compiled evaluator reads them.
//!
//! `cel::Value::Map` is a `HashMap` with the standard library's SipHash,
//! and every field selection hashed its key: a third of evaluation time.
//! Objects bound from JSON are kept instead as [`Object`]: fields sorted by
//! name in a vector, found by comparing names, without hashing. An
//! `Object` travels inside `Value::Opaque` only within the evaluator; it is
//! turned into a plain map ([`materialize`]) before any value leaves it (a
//! result, an operand handed to the interpreter), so neither callers nor
//! the interpreter ever see one.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, RwLock};

use cel::Value;
use cel::objects::{Key, Map, Opaque, OpaqueEq};

const TYPE_NAME: &str = "flotilla.internal.Object";

/// Field names that compiled expressions select. An object key equal to
/// one of them shares its allocation, so a selection finds its field by
/// comparing pointers. Only names from expressions are kept, so the set
/// stays as small as the policies loaded; other keys are not interned.
static INTERNED: LazyLock<RwLock<HashSet<Arc<str>>>> = LazyLock::new(Default::default);

/// The interned copy of a field name an expression selects.
pub(crate) fn intern(name: &str) -> Arc<str> {
    let mut set = INTERNED.write().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = set.get(name) {
        return Arc::clone(found);
    }
    let name: Arc<str> = Arc::from(name);
    set.insert(Arc::clone(&name));
    name
}

/// A JSON object's fields, sorted by name. Names are `Arc<str>`, whose
/// length sits in the pointer, so most mismatches are seen without
/// reading the name.
#[derive(Debug, PartialEq)]
pub(crate) struct Object {
    keys: Vec<Arc<str>>,
    values: Vec<Value>,
}

impl Opaque for Object {
    fn runtime_type_name(&self) -> &str {
        TYPE_NAME
    }
}

impl OpaqueEq for Object {
    fn opaque_eq(&self, other: &dyn Opaque) -> bool {
        other.downcast_ref::<Object>().is_some_and(|o| o == self)
    }
}

impl Object {
    /// The value of field `name`.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        // Objects are small: a scan beats a binary search up to a dozen
        // fields.
        let i = if self.keys.len() <= 12 {
            let first = name.as_bytes().first();
            self.keys.iter().position(|k| {
                k.len() == name.len() && k.as_bytes().first() == first && **k == *name
            })?
        } else {
            self.keys.binary_search_by(|k| (**k).cmp(name)).ok()?
        };
        self.values.get(i)
    }

    /// The value of field `name`, an [`intern`]ed name: found by pointer
    /// when the object was converted after the name was interned, by
    /// comparing names otherwise.
    #[inline]
    pub(crate) fn get_interned(&self, name: &Arc<str>) -> Option<&Value> {
        match self
            .keys
            .iter()
            .position(|k| std::ptr::addr_eq(Arc::as_ptr(k), Arc::as_ptr(name)))
        {
            Some(i) => self.values.get(i),
            None => self.get(name),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The field names, as CEL iterates a map.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Value> + '_ {
        self.keys
            .iter()
            .map(|k| Value::String(Arc::new(k.to_string())))
    }
}

/// The object inside `v`, if it holds one.
pub(crate) fn as_object(v: &Value) -> Option<&Object> {
    match v {
        Value::Opaque(o) => o.downcast_ref::<Object>(),
        _ => None,
    }
}

/// Converts JSON with the number semantics of [`crate::cel::json_to_cel`],
/// objects becoming [`Object`]s.
pub(crate) fn from_json(v: &serde_json::Value) -> Value {
    let interned = INTERNED.read().unwrap_or_else(|e| e.into_inner());
    convert(v, &interned)
}

fn convert(v: &serde_json::Value, interned: &HashSet<Arc<str>>) -> Value {
    match v {
        serde_json::Value::Object(fields) => {
            let mut fields: Vec<(Arc<str>, Value)> = fields
                .iter()
                .map(|(k, v)| {
                    let key = match interned.get(k.as_str()) {
                        Some(name) => Arc::clone(name),
                        None => Arc::from(k.as_str()),
                    };
                    (key, convert(v, interned))
                })
                .collect();
            // serde_json's map is sorted unless `preserve_order` is on.
            if !fields.is_sorted_by(|a, b| a.0 <= b.0) {
                fields.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let (keys, values) = fields.into_iter().unzip();
            Value::Opaque(Arc::new(Object { keys, values }))
        }
        // Not `from_json`: taking the read lock again while holding it
        // deadlocks once a writer (a compile interning a name) is queued.
        serde_json::Value::Array(items) => Value::List(Arc::new(
            items.iter().map(|item| convert(item, interned)).collect(),
        )),
        other => crate::cel::json_to_cel(other),
    }
}

/// Whether `v` holds an [`Object`] anywhere.
fn holds_object(v: &Value) -> bool {
    match v {
        Value::Opaque(_) => as_object(v).is_some(),
        Value::List(items) => items.iter().any(holds_object),
        Value::Map(m) => m.map.values().any(holds_object),
        _ => false,
    }
}

/// `v` with every [`Object`] turned into a plain map.
pub(crate) fn materialize(v: Value) -> Value {
    if !holds_object(&v) {
        return v;
    }
    deep(&v)
}

fn deep(v: &Value) -> Value {
    if let Some(o) = as_object(v) {
        let map = o
            .keys
            .iter()
            .zip(&o.values)
            .map(|(k, v)| (Key::String(Arc::new(k.to_string())), deep(v)))
            .collect();
        return Value::Map(Map { map: Arc::new(map) });
    }
    match v {
        Value::List(items) => Value::List(Arc::new(items.iter().map(deep).collect())),
        Value::Map(m) => Value::Map(Map {
            map: Arc::new(m.map.iter().map(|(k, v)| (k.clone(), deep(v))).collect()),
        }),
        other => other.clone(),
    }
}

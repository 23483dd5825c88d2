//! JSON ⇄ CEL values with Kubernetes number semantics.
//!
//! Written by hand because the `cel` crate's serde path turns JSON integers
//! into `uint`, so `object.spec.replicas + 1` fails with "add UInt Int".
//! Kubernetes treats JSON integers as `int`, and so do we.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Value;
use cel::objects::{Key, Map};

/// Converts JSON to a CEL value: integers become `int` (or `double` when
/// they do not fit in 64 bits), objects become `map(string, dyn)`.
pub fn json_to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_cel).collect()))
        }
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// Converts a CEL value back to JSON, for `messageExpression` results,
/// `auditAnnotations` and reports. Values without a JSON form (functions,
/// opaque values) become their debug text.
pub fn cel_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Bytes(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(cel_to_json).collect()),
        Value::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m.map.iter() {
                let key = match k {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                out.insert(key, cel_to_json(v));
            }
            serde_json::Value::Object(out)
        }
        Value::Duration(d) => {
            serde_json::Value::String(format!("{}s", d.num_milliseconds() as f64 / 1000.0))
        }
        Value::Timestamp(t) => serde_json::Value::String(t.to_rfc3339()),
        other => serde_json::Value::String(format!("{other:?}")),
    }
}

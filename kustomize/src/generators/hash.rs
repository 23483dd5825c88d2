//! kustomize's content hash for generated names (`name-<hash>`).
//!
//! kustomize v5.5.0 hashes a JSON encoding of the kind, data and type of a
//! ConfigMap or Secret. Its name lookup uses the path `metadata/name` as a
//! single field name, finds nothing, and so always hashes an empty name;
//! we reproduce that, since users compare generated names with kubectl's.
//! The JSON must be byte-identical to Go's `encoding/json` (sorted keys, HTML
//! characters escaped), hence the small encoder below: serde_json escapes
//! differently.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The 10-character suffix kustomize appends to a generated object's name.
pub fn suffix(object: &Value) -> String {
    let encoded = encode_for_hash(object);
    let digest = hex::encode(Sha256::digest(encoded.as_bytes()));
    // Same substitutions as kubectl's hash: avoid characters that could make
    // the suffix read as a number or a bad word.
    digest
        .chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

fn encode_for_hash(object: &Value) -> String {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let field = |name: &str| -> Value {
        match object.get(name) {
            None | Some(Value::Null) => Value::String(String::new()),
            Some(v) => v.clone(),
        }
    };
    let mut m = Map::new();
    match kind {
        "ConfigMap" => {
            m.insert("kind".into(), Value::String("ConfigMap".into()));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), field("data"));
            if let Some(bin @ Value::Object(_)) = object.get("binaryData") {
                m.insert("binaryData".into(), bin.clone());
            }
        }
        "Secret" => {
            m.insert("kind".into(), Value::String("Secret".into()));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), field("data"));
            m.insert("type".into(), field("type"));
            if let Some(sd @ Value::Object(_)) = object.get("stringData") {
                m.insert("stringData".into(), sd.clone());
            }
        }
        _ => return go_json(object),
    }
    go_json(&Value::Object(m))
}

/// `value` as Go's `json.Marshal` writes it.
fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(value, &mut out);
    out
}

fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(key, out);
                out.push(':');
                write_go_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Expected suffixes are what `kubectl kustomize` (kustomize v5.5.0) printed.

    #[test]
    fn configmap_without_data_hashes_like_kustomize() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}});
        assert_eq!(suffix(&cm), "6ct58987ht");
    }

    #[test]
    fn configmap_hash_ignores_the_name() {
        let a = json!({"kind": "ConfigMap", "metadata": {"name": "one"}, "data": {"a": "b"}});
        let b = json!({"kind": "ConfigMap", "metadata": {"name": "two"}, "data": {"a": "b"}});
        assert_eq!(suffix(&a), "4h2mbtbbt6");
        assert_eq!(suffix(&b), "4h2mbtbbt6");
    }

    #[test]
    fn empty_secret_hashes_like_kustomize() {
        let s =
            json!({"kind": "Secret", "metadata": {"name": "empty"}, "data": {}, "type": "Opaque"});
        assert_eq!(suffix(&s), "46f8b28mk5");
    }

    #[test]
    fn labels_do_not_change_the_hash() {
        let a = json!({"kind": "ConfigMap", "data": {"a": "b"}});
        let b =
            json!({"kind": "ConfigMap", "data": {"a": "b"}, "metadata": {"labels": {"x": "y"}}});
        assert_eq!(suffix(&a), suffix(&b));
    }

    #[test]
    fn go_json_escapes_html_characters() {
        assert_eq!(
            go_json(&json!({"b": "<&>", "a": "\u{1}\n"})),
            r#"{"a":"\u0001\n","b":"\u003c\u0026\u003e"}"#
        );
    }
}

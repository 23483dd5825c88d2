//! The JSONPath subset CRD printer columns use (`.spec.replicas`,
//! `.status.conditions[?(@.type=="Ready")].status`, `.spec.items[0].name`,
//! `.metadata.labels['app.kubernetes.io/name']`), and the typed cell of a column.
//!
//! As in kube-apiserver, only the first result counts and a missing key gives an empty
//! (`null`) cell.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    /// `[?(@.a.b == "x")]` (or `!=`); `None` value means "exists".
    Filter {
        path: Vec<String>,
        negate: bool,
        value: Option<Value>,
    },
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name == "*" {
                    steps.push(Step::All);
                } else if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let close = find_close(&chars, i)?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(bracket(inner.trim())?);
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut depth = 0;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> Option<&str> {
    let s = s.trim();
    s.strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
}

fn bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::All);
    }
    if let Some(name) = unquote(inner) {
        return Some(Step::Field(name.to_string()));
    }
    if let Ok(n) = inner.parse::<i64>() {
        return Some(Step::Index(n));
    }
    let expr = inner.strip_prefix('?')?.trim();
    let expr = expr
        .strip_prefix('(')
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or(expr);
    let (lhs, negate, rhs) = if let Some((l, r)) = expr.split_once("!=") {
        (l, true, Some(r))
    } else if let Some((l, r)) = expr.split_once("==") {
        (l, false, Some(r))
    } else {
        (expr, false, None)
    };
    let lhs = lhs.trim().strip_prefix('@')?;
    let path = lhs
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let value = match rhs {
        None => None,
        Some(r) => Some(match unquote(r) {
            Some(s) => Value::String(s.to_string()),
            None => serde_json::from_str(r.trim()).ok()?,
        }),
    };
    Some(Step::Filter {
        path,
        negate,
        value,
    })
}

fn eval<'a>(steps: &[Step], root: &'a Value) -> Vec<&'a Value> {
    let mut cur = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            match step {
                Step::Field(f) => next.extend(v.get(f)),
                Step::Index(n) => {
                    if let Some(a) = v.as_array() {
                        let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                        next.extend(usize::try_from(idx).ok().and_then(|i| a.get(i)));
                    }
                }
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter {
                    path,
                    negate,
                    value,
                } => {
                    let items: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for item in items {
                        let found = path.iter().try_fold(item, |acc, k| acc.get(k));
                        let keep = match (found, value) {
                            (Some(_), None) => true,
                            (Some(f), Some(want)) => (f == want) != *negate,
                            (None, Some(_)) => *negate,
                            (None, None) => false,
                        };
                        if keep {
                            next.push(item);
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// The first value `path` selects in `obj`.
pub fn first<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let steps = parse(path)?;
    eval(&steps, obj).into_iter().next()
}

/// The cell of a CRD column of type `kind` (`string`, `integer`, `number`, `boolean`, `date`).
pub fn cell(obj: &Value, path: &str, kind: &str, now: DateTime<Utc>) -> Value {
    let Some(v) = first(obj, path) else {
        return Value::Null;
    };
    match kind {
        "string" => match v {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            Value::Number(_) | Value::Bool(_) => json!(v.to_string()),
            other => json!(serde_json::to_string(other).unwrap_or_default()),
        },
        "integer" => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map_or(Value::Null, |i| json!(i)),
        "number" => v.as_f64().map_or(Value::Null, |f| json!(f)),
        "boolean" => v.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => match v.as_str() {
            Some(s) => match super::parse_time(s) {
                Some(t) => json!(super::human_duration(now.signed_duration_since(t))),
                None => json!("<invalid>"),
            },
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj() -> Value {
        json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"size": 3, "items": [{"name": "a"}, {"name": "b"}]},
            "status": {"conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True"}
            ]}
        })
    }

    #[test]
    fn dotted_paths_select_fields() {
        assert_eq!(first(&obj(), ".spec.size"), Some(&json!(3)));
    }

    #[test]
    fn filters_pick_the_matching_list_item() {
        assert_eq!(
            first(&obj(), r#".status.conditions[?(@.type=="Ready")].status"#),
            Some(&json!("True"))
        );
    }

    #[test]
    fn indexes_and_quoted_keys_work() {
        assert_eq!(first(&obj(), ".spec.items[1].name"), Some(&json!("b")));
        assert_eq!(
            first(&obj(), ".metadata.labels['app.kubernetes.io/name']"),
            Some(&json!("web"))
        );
    }

    #[test]
    fn a_missing_key_is_an_empty_cell() {
        assert_eq!(
            cell(&obj(), ".spec.color", "string", Utc::now()),
            Value::Null
        );
    }

    #[test]
    fn an_integer_printed_in_a_string_column_is_its_text() {
        assert_eq!(cell(&obj(), ".spec.size", "string", Utc::now()), json!("3"));
    }
}

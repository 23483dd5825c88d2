//! Label and field selectors of list and watch requests.
//!
//! Label selectors follow Kubernetes' grammar: equality (`a=b`, `a==b`,
//! `a!=b`), sets (`a in (x,y)`, `a notin (x)`), existence (`a`, `!a`), joined
//! by commas. Field selectors support `=`, `==` and `!=` on any dotted path
//! of the object (`metadata.name`, `status.phase`, `spec.nodeName`, …), which
//! covers the fields the built-in types index and more.

use serde_json::Value;

use crate::error::Error;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_set(key: &str, rest: &str, selector: &str) -> Result<Vec<String>, Error> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "unable to parse requirement: {selector:?}: set for {key:?} must be in parentheses"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses a `labelSelector` query value.
    pub fn parse(selector: &str) -> Result<Self, Error> {
        let mut reqs = Vec::new();
        for term in split_terms(selector) {
            let req = if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(idx) = term.find(" notin ") {
                let key = term[..idx].trim();
                Requirement::NotIn(key.into(), parse_set(key, &term[idx + 7..], selector)?)
            } else if let Some(idx) = term.find(" in ") {
                let key = term[..idx].trim();
                Requirement::In(key.into(), parse_set(key, &term[idx + 4..], selector)?)
            } else if term
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement::Exists(term.to_string())
            } else {
                return Err(Error::BadRequest(format!(
                    "unable to parse requirement: found '{term}', expected: in, notin, =, ==, !=, or end of string"
                )));
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses a `fieldSelector` query value.
    pub fn parse(selector: &str) -> Result<Self, Error> {
        let mut reqs = Vec::new();
        for term in split_terms(selector) {
            let (field, eq, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(Error::BadRequest(format!(
                    "invalid selector: '{selector}'; can't understand '{term}'"
                )));
            };
            reqs.push((field.trim().to_string(), eq, value.trim().to_string()));
        }
        Ok(Self(reqs))
    }

    /// The name this selector pins (`metadata.name=x`), letting a list or
    /// watch skip every other object.
    pub fn name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| *eq && f == "metadata.name")
            .map(|(_, _, v)| v.as_str())
    }

    /// Whether the object's fields satisfy every requirement. A missing
    /// field compares as the empty string, as in Kubernetes.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, eq, want)| {
            let mut cur = Some(obj);
            for part in field.split('.') {
                cur = cur.and_then(|c| c.get(part));
            }
            let have = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (have == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn equality_and_set_based_label_requirements_combine() {
        let sel = LabelSelector::parse("app=web,tier in (front, back),!legacy").expect("parses");
        assert!(sel.matches(&obj(json!({"app": "web", "tier": "front"}))));
        assert!(!sel.matches(&obj(json!({"app": "web", "tier": "db"}))));
        assert!(!sel.matches(&obj(json!({"app": "web", "tier": "front", "legacy": "1"}))));
    }

    #[test]
    fn notin_matches_objects_without_the_label() {
        let sel = LabelSelector::parse("env notin (prod)").expect("parses");
        assert!(sel.matches(&obj(json!({}))));
        assert!(!sel.matches(&obj(json!({"env": "prod"}))));
    }

    #[test]
    fn field_selectors_compare_dotted_paths() {
        let sel = FieldSelector::parse("metadata.name=a,status.phase!=Pending").expect("parses");
        assert!(sel.matches(&obj(json!({}))));
        assert_eq!(sel.name(), Some("a"));
        assert!(
            !FieldSelector::parse("metadata.namespace=other")
                .expect("parses")
                .matches(&obj(json!({})))
        );
    }
}

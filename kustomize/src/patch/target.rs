//! Patch targets: which resources a `target:` selects, with kustomize's
//! semantics (anchored regular expressions for group, version, kind, name and
//! namespace; Kubernetes label-selector syntax for labels and annotations).
//!
//! Compiled once per patch and then tested against each resource, so selecting
//! over n resources is O(n) with no regex compilation in the loop.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `target:` (kustomize `types.Selector`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// API group regex (`""` is the core group; empty matches any group).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version regex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Kind regex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name regex, tested against the original and the current name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace regex, tested against the original and the current namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Label selector, e.g. `app=web,tier in (a,b),!legacy`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label_selector: String,
    /// Annotation selector, same syntax as `labelSelector`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub annotation_selector: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (k, v) in [
            ("group", &self.group),
            ("version", &self.version),
            ("kind", &self.kind),
            ("name", &self.name),
            ("namespace", &self.namespace),
            ("labelSelector", &self.label_selector),
            ("annotationSelector", &self.annotation_selector),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={v}"));
            }
        }
        if parts.is_empty() {
            f.write_str("{any}")
        } else {
            write!(f, "{{{}}}", parts.join(" "))
        }
    }
}

/// What a selector needs to know about a resource.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The object.
    pub object: &'a Value,
    /// Namespaces the resource is known by (original and current), already
    /// made effective: `"default"` for an unset namespace, `""` when cluster-scoped.
    pub namespaces: [&'a str; 2],
    /// Names the resource is known by (original and current).
    pub names: [&'a str; 2],
}

/// A compiled target.
#[derive(Debug)]
pub struct Selector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

fn anchored(field: &str, pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| format!("{field} '{pattern}' is not a valid regular expression: {e}"))
}

impl Selector {
    /// Compiles `target`; the error names the bad field.
    pub fn new(target: &Target) -> Result<Self, String> {
        Ok(Selector {
            group: anchored("group", &target.group)?,
            version: anchored("version", &target.version)?,
            kind: anchored("kind", &target.kind)?,
            name: anchored("name", &target.name)?,
            namespace: anchored("namespace", &target.namespace)?,
            labels: if target.label_selector.is_empty() {
                None
            } else {
                Some(
                    LabelSelector::parse(&target.label_selector)
                        .map_err(|e| format!("labelSelector: {e}"))?,
                )
            },
            annotations: if target.annotation_selector.is_empty() {
                None
            } else {
                Some(
                    LabelSelector::parse(&target.annotation_selector)
                        .map_err(|e| format!("annotationSelector: {e}"))?,
                )
            },
        })
    }

    /// Whether an id (any the object has had) matches group, version, kind,
    /// name and namespace; the namespace is compared as written.
    pub fn matches_id(&self, id: &crate::resource::ResId) -> bool {
        let checks = [
            (&self.group, id.group.as_str()),
            (&self.version, id.version.as_str()),
            (&self.kind, id.kind.as_str()),
            (&self.name, id.name.as_str()),
            (&self.namespace, id.namespace.as_str()),
        ];
        checks
            .iter()
            .all(|(re, value)| re.as_ref().is_none_or(|re| re.is_match(value)))
    }

    /// Whether the object's labels and annotations satisfy the selectors.
    pub fn matches_object(&self, object: &Value) -> bool {
        let metadata = object.get("metadata");
        self.labels
            .as_ref()
            .is_none_or(|s| s.matches(metadata.and_then(|m| m.get("labels"))))
            && self
                .annotations
                .as_ref()
                .is_none_or(|s| s.matches(metadata.and_then(|m| m.get("annotations"))))
    }

    /// Whether the resource is selected.
    pub fn matches(&self, c: &Candidate<'_>) -> bool {
        if let Some(re) = &self.namespace
            && !c.namespaces.iter().any(|n| re.is_match(n))
        {
            return false;
        }
        if let Some(re) = &self.name
            && !c.names.iter().any(|n| re.is_match(n))
        {
            return false;
        }
        let api_version = c
            .object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let kind = c.object.get("kind").and_then(Value::as_str).unwrap_or("");
        for (re, value) in [
            (&self.group, group),
            (&self.version, version),
            (&self.kind, kind),
        ] {
            if let Some(re) = re
                && !re.is_match(value)
            {
                return false;
            }
        }
        let metadata = c.object.get("metadata");
        if let Some(sel) = &self.labels
            && !sel.matches(metadata.and_then(|m| m.get("labels")))
        {
            return false;
        }
        if let Some(sel) = &self.annotations
            && !sel.matches(metadata.and_then(|m| m.get("annotations")))
        {
            return false;
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed Kubernetes label selector string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector(requirements))
    }

    /// Whether a `metadata.labels`-style map satisfies every requirement.
    pub fn matches(&self, map: Option<&Value>) -> bool {
        let get = |k: &str| map.and_then(|m| m.get(k)).map(label_text);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k).as_deref() == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k).as_deref() != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

fn label_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' in '{text}'"))?;
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in '{text}'"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn check_key(key: &str, whole: &str) -> Result<String, String> {
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("invalid key in requirement '{whole}'"));
    }
    Ok(key.to_string())
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(rest) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(check_key(rest, part)?));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            check_key(k, part)?,
            v.trim().to_string(),
        ));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement::Equals(
            check_key(k, part)?,
            v.trim().to_string(),
        ));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement::Equals(
            check_key(k, part)?,
            v.trim().to_string(),
        ));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim_start();
        let (op, list) = if let Some(l) = rest.strip_prefix("notin") {
            ("notin", l)
        } else if let Some(l) = rest.strip_prefix("in") {
            ("in", l)
        } else {
            return Err(format!("unknown operator in requirement '{part}'"));
        };
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| format!("expected '(values)' after '{op}' in '{part}'"))?;
        let values: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let key = check_key(words[0], part)?;
        return Ok(if op == "in" {
            Requirement::In(key, values)
        } else {
            Requirement::NotIn(key, values)
        });
    }
    Ok(Requirement::Exists(check_key(part, part)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn candidate(object: &Value) -> Candidate<'_> {
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        Candidate {
            object,
            namespaces: ["default", "default"],
            names: [name, name],
        }
    }

    fn deployment(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels}})
    }

    #[test]
    fn name_regex_is_anchored() {
        let sel = Selector::new(&Target {
            name: "web".into(),
            ..Target::default()
        })
        .unwrap();
        assert!(sel.matches(&candidate(&deployment("web", json!({})))));
        assert!(!sel.matches(&candidate(&deployment("web-2", json!({})))));
        let sel = Selector::new(&Target {
            name: "web.*".into(),
            ..Target::default()
        })
        .unwrap();
        assert!(sel.matches(&candidate(&deployment("web-2", json!({})))));
    }

    #[test]
    fn group_and_kind_come_from_api_version() {
        let sel = Selector::new(&Target {
            group: "apps".into(),
            kind: "Deploy.*".into(),
            ..Target::default()
        })
        .unwrap();
        assert!(sel.matches(&candidate(&deployment("a", json!({})))));
        let core = Selector::new(&Target {
            group: "apps".into(),
            ..Target::default()
        })
        .unwrap();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        assert!(!core.matches(&candidate(&cm)));
    }

    #[test]
    fn label_selector_supports_set_based_requirements() {
        let sel = LabelSelector::parse("app in (web, api),tier!=db,!legacy,team").unwrap();
        assert!(sel.matches(Some(&json!({"app": "web", "team": "x"}))));
        assert!(!sel.matches(Some(&json!({"app": "web", "team": "x", "legacy": "1"}))));
        assert!(!sel.matches(Some(&json!({"app": "web", "team": "x", "tier": "db"}))));
        assert!(!sel.matches(Some(&json!({"app": "cli", "team": "x"}))));
        assert!(!sel.matches(None));
    }

    #[test]
    fn notin_matches_when_the_label_is_absent() {
        let sel = LabelSelector::parse("env notin (prod)").unwrap();
        assert!(sel.matches(None));
        assert!(!sel.matches(Some(&json!({"env": "prod"}))));
    }

    #[test]
    fn bad_regex_is_reported_with_its_field() {
        let err = Selector::new(&Target {
            kind: "(".into(),
            ..Target::default()
        })
        .unwrap_err();
        assert!(err.starts_with("kind '('"), "{err}");
    }

    #[test]
    fn unbalanced_selector_is_rejected() {
        assert!(LabelSelector::parse("a in (b").is_err());
    }
}

//! `replacements`: copy a field of one object into fields of others, with
//! kustomize v5.5.0 semantics.
//!
//! API (for the pipeline):
//! - serde types [`ReplacementField`] (a kustomization entry: inline, or
//!   `path:` to a file holding one replacement or a list), [`Replacement`],
//!   [`Source`], [`TargetSelector`], [`FieldOptions`];
//! - [`apply`]: loads `path:` entries through the [`Loader`] and applies every
//!   replacement in order.
//!
//! Semantics worth knowing (all checked against `kubectl kustomize`): the
//! source is found by exact group/version/kind/name/namespace, the targets by
//! anchored regular expressions; `[name=x]` in a target field path is an
//! *unanchored* regular expression on the element's field (so `[name=app]`
//! also hits `myapp`), while in a source path it is an exact match; writing
//! into an existing scalar keeps that scalar's type (`replicas: 1` stays a
//! number), a created scalar takes the type its text reads as.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Loader;
use crate::patch::Target;
use crate::patch::{Selector, effective_namespace};
use crate::resource::{ResId, Resource};

/// One entry of `replacements:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementField {
    /// A file holding one replacement or a list of them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Inline: where the value comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Inline: where it goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetSelector>,
}

/// One replacement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    /// Where the value comes from.
    #[serde(default)]
    pub source: Option<Source>,
    /// Where it goes.
    #[serde(default)]
    pub targets: Vec<TargetSelector>,
}

/// The source object and field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// API group (exact).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version (exact).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Kind (exact).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name (exact; matches current or earlier names).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace (exact).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Dotted path, default `metadata.name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_path: String,
    /// Delimiter/index to take part of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<FieldOptions>,
}

/// Which objects and fields receive the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSelector {
    /// Objects to include (required).
    #[serde(default)]
    pub select: Option<Target>,
    /// Objects to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reject: Vec<Target>,
    /// Dotted paths, default `metadata.name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_paths: Vec<String>,
    /// Delimiter/index/create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<FieldOptions>,
}

/// `options:` of a source or target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldOptions {
    /// Split (source) or split-and-join (target) the value on this.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delimiter: String,
    /// Which part; in a target, below 0 prepends and past the end appends.
    #[serde(default)]
    pub index: i64,
    /// Accepted and ignored, as kustomize does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub encoding: String,
    /// Create missing target fields.
    #[serde(default)]
    pub create: bool,
}

/// Errors from replacements; each names the replacement and, where there is
/// one, the object and field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplacementError {
    /// The replacement itself is malformed.
    #[error("{replacement}: {reason}")]
    Invalid {
        /// `replacements[0]`, or the replacement file.
        replacement: String,
        /// What is wrong.
        reason: String,
    },
    /// A replacement file could not be read or parsed.
    #[error("{replacement}: {source}")]
    Load {
        /// The entry.
        replacement: String,
        /// The loader's or parser's error (names the file).
        #[source]
        source: Box<crate::Error>,
    },
    /// No object or several objects match the source.
    #[error("{replacement}: source {selector}: {reason}")]
    Source {
        /// The entry.
        replacement: String,
        /// The source selector.
        selector: String,
        /// "nothing selected" or "multiple matches".
        reason: String,
    },
    /// The source field is missing or empty.
    #[error("{replacement}: fieldPath `{field}` is missing in source {object}")]
    MissingSourceField {
        /// The entry.
        replacement: String,
        /// The source field path.
        field: String,
        /// kind/namespace/name of the source object.
        object: String,
    },
    /// A target field could not be found (or created) or written.
    #[error("{replacement}: target {object}: field {field}: {reason}")]
    Target {
        /// The entry.
        replacement: String,
        /// kind/namespace/name of the target object.
        object: String,
        /// The target field path.
        field: String,
        /// What went wrong.
        reason: String,
    },
}

/// Loads the `path:` entries and applies every replacement in order.
pub fn apply(
    resources: &mut [Resource],
    fields: &[ReplacementField],
    loader: &Loader,
) -> Result<(), ReplacementError> {
    for (label, replacement) in load(fields, loader)? {
        apply_one(resources, &replacement, &label)?;
    }
    Ok(())
}

fn load(
    fields: &[ReplacementField],
    loader: &Loader,
) -> Result<Vec<(String, Replacement)>, ReplacementError> {
    let mut out = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        // The caller prefixes the kustomization file.
        let label = format!("replacements[{i}]");
        if field.path.is_empty() {
            out.push((
                label,
                Replacement {
                    source: field.source.clone(),
                    targets: field.targets.clone(),
                },
            ));
            continue;
        }
        if field.source.is_some() || !field.targets.is_empty() {
            return Err(ReplacementError::Invalid {
                replacement: label,
                reason: "cannot specify both path and inline replacement".into(),
            });
        }
        let file = loader.display(&field.path);
        let file_label = file.display().to_string();
        let bytes = loader
            .read(&field.path)
            .map_err(|e| ReplacementError::Load {
                replacement: label.clone(),
                source: Box::new(e),
            })?;
        let doc = crate::yaml::parse_one(&bytes, &file).map_err(|e| ReplacementError::Load {
            replacement: label.clone(),
            source: Box::new(e),
        })?;
        let parsed: Result<Vec<Replacement>, serde_json::Error> = match doc {
            Value::Array(_) => serde_json::from_value(doc),
            Value::Object(_) => serde_json::from_value(doc).map(|r| vec![r]),
            _ => {
                return Err(ReplacementError::Invalid {
                    replacement: file_label,
                    reason: "expected a replacement or a list of replacements".into(),
                });
            }
        };
        let list = parsed.map_err(|e| ReplacementError::Invalid {
            replacement: file_label.clone(),
            reason: e.to_string(),
        })?;
        out.extend(list.into_iter().map(|r| (file_label.clone(), r)));
    }
    Ok(out)
}

/// The ids an object answers to: current and earlier ones.
fn ids(r: &Resource) -> Vec<ResId> {
    let mut out = vec![r.id()];
    out.extend(r.previous.iter().cloned());
    out
}

fn api_version(id: &ResId) -> String {
    if id.group.is_empty() {
        id.version.clone()
    } else {
        format!("{}/{}", id.group, id.version)
    }
}

fn source_selects(source: &Source, id: &ResId) -> bool {
    let ns_ok = source.namespace.is_empty() || {
        let av = api_version(id);
        // The selector's own namespace made effective as if it were this kind.
        effective_namespace(&av, &id.kind, &source.namespace)
            == effective_namespace(&av, &id.kind, &id.namespace)
    };
    (source.name.is_empty() || source.name == id.name)
        && ns_ok
        && (source.group.is_empty() || source.group == id.group)
        && (source.version.is_empty() || source.version == id.version)
        && (source.kind.is_empty() || source.kind == id.kind)
}

fn source_text(s: &Source) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("group", &s.group),
        ("version", &s.version),
        ("kind", &s.kind),
        ("name", &s.name),
        ("namespace", &s.namespace),
    ] {
        if !v.is_empty() {
            parts.push(format!("{k}={v}"));
        }
    }
    format!("{{{}}}", parts.join(" "))
}

fn apply_one(
    resources: &mut [Resource],
    replacement: &Replacement,
    label: &str,
) -> Result<(), ReplacementError> {
    let Some(source) = &replacement.source else {
        return Err(ReplacementError::Invalid {
            replacement: label.to_string(),
            reason: "replacements must specify a source and at least one target".into(),
        });
    };
    if replacement.targets.is_empty() {
        return Err(ReplacementError::Invalid {
            replacement: label.to_string(),
            reason: "replacements must specify a source and at least one target".into(),
        });
    }
    let value = source_value(resources, source, label)?;
    for target in &replacement.targets {
        let Some(select) = &target.select else {
            return Err(ReplacementError::Invalid {
                replacement: label.to_string(),
                reason: "target must specify resources to select".into(),
            });
        };
        let invalid = |reason: String| ReplacementError::Invalid {
            replacement: label.to_string(),
            reason: format!("target: {reason}"),
        };
        let selector = Selector::new(&Target {
            label_selector: String::new(),
            annotation_selector: String::new(),
            ..select.clone()
        })
        .map_err(invalid)?;
        let labels = Selector::new(&Target {
            label_selector: select.label_selector.clone(),
            annotation_selector: select.annotation_selector.clone(),
            ..Target::default()
        })
        .map_err(invalid)?;
        let mut id_rejects = Vec::new();
        let mut label_rejects = Vec::new();
        for reject in &target.reject {
            let has_id = !(reject.group.is_empty()
                && reject.version.is_empty()
                && reject.kind.is_empty()
                && reject.name.is_empty()
                && reject.namespace.is_empty());
            if has_id {
                id_rejects.push(
                    Selector::new(&Target {
                        label_selector: String::new(),
                        annotation_selector: String::new(),
                        ..reject.clone()
                    })
                    .map_err(invalid)?,
                );
            }
            if !reject.label_selector.is_empty() || !reject.annotation_selector.is_empty() {
                label_rejects.push(
                    Selector::new(&Target {
                        label_selector: reject.label_selector.clone(),
                        annotation_selector: reject.annotation_selector.clone(),
                        ..Target::default()
                    })
                    .map_err(invalid)?,
                );
            }
        }
        let default_paths = ["metadata.name".to_string()];
        let paths: &[String] = if target.field_paths.is_empty() {
            &default_paths
        } else {
            &target.field_paths
        };
        for r in resources.iter_mut() {
            if !labels.matches_object(&r.object)
                || label_rejects.iter().any(|s| s.matches_object(&r.object))
            {
                continue;
            }
            let ids = ids(r);
            if id_rejects
                .iter()
                .any(|s| ids.iter().any(|id| s.matches_id(id)))
            {
                continue;
            }
            if !ids.iter().any(|id| selector.matches_id(id)) {
                continue;
            }
            let object = r.id().describe();
            for path in paths {
                write_target(&mut r.object, path, &value, target.options.as_ref()).map_err(
                    |reason| ReplacementError::Target {
                        replacement: label.to_string(),
                        object: object.clone(),
                        field: path.clone(),
                        reason,
                    },
                )?;
            }
        }
    }
    Ok(())
}

fn source_value(
    resources: &[Resource],
    source: &Source,
    label: &str,
) -> Result<Value, ReplacementError> {
    let mut found: Option<&Resource> = None;
    for r in resources {
        if ids(r).iter().any(|id| source_selects(source, id)) {
            if found.is_some() {
                return Err(ReplacementError::Source {
                    replacement: label.to_string(),
                    selector: source_text(source),
                    reason: "multiple matches".into(),
                });
            }
            found = Some(r);
        }
    }
    let Some(r) = found else {
        return Err(ReplacementError::Source {
            replacement: label.to_string(),
            selector: source_text(source),
            reason: "nothing selected".into(),
        });
    };
    let field_path = if source.field_path.is_empty() {
        "metadata.name"
    } else {
        &source.field_path
    };
    let missing = || ReplacementError::MissingSourceField {
        replacement: label.to_string(),
        field: field_path.to_string(),
        object: r.id().describe(),
    };
    let value = lookup(&r.object, &split_path(field_path)).ok_or_else(missing)?;
    let empty = match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if empty {
        return Err(missing());
    }
    match source.options.as_ref().filter(|o| !o.delimiter.is_empty()) {
        None => Ok(value.clone()),
        Some(options) => {
            if value.is_object() || value.is_array() {
                return Err(ReplacementError::Invalid {
                    replacement: label.to_string(),
                    reason: "delimiter option can only be used with scalar nodes".into(),
                });
            }
            let text = scalar_text(value);
            let parts: Vec<&str> = text.split(options.delimiter.as_str()).collect();
            let part = usize::try_from(options.index)
                .ok()
                .and_then(|i| parts.get(i))
                .ok_or_else(|| ReplacementError::Invalid {
                    replacement: label.to_string(),
                    reason: format!(
                        "options.index {} is out of bounds for value {text}",
                        options.index
                    ),
                })?;
            // The part keeps the source scalar's type.
            retype_like(value, part).map_err(|reason| ReplacementError::Invalid {
                replacement: label.to_string(),
                reason: format!("source {}: {reason}", r.id().describe()),
            })
        }
    }
}

/// kyaml's path splitting: `.`-separated, `\.` escapes a dot, brackets keep dots.
fn split_path(path: &str) -> Vec<String> {
    let raw: Vec<&str> = path.split('.').collect();
    let raw = if raw.len() > 1 && raw[0].is_empty() {
        &raw[1..]
    } else {
        &raw[..]
    };
    let mut escaped: Vec<String> = Vec::new();
    for part in raw {
        match escaped.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(part);
            }
            _ => escaped.push(part.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < escaped.len() {
        let elem = &escaped[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut joined = elem.clone();
            while i + 1 < escaped.len() {
                i += 1;
                joined.push('.');
                joined.push_str(&escaped[i]);
                if escaped[i].ends_with(']') {
                    break;
                }
            }
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Object(_) | Value::Array(_) => String::new(),
        other => other.to_string(),
    }
}

fn is_index(part: &str) -> Option<usize> {
    part.parse::<usize>().ok()
}

fn bracket(part: &str) -> Option<(&str, &str)> {
    let inner = part.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split_once('=').unwrap_or((inner, "")))
}

/// Source lookup (kyaml `Lookup`): fields, `[k=v]` exact element matches, indices.
fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for part in path {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => {
                if let Some(i) = is_index(part) {
                    items.get(i)?
                } else if let Some((k, want)) = bracket(part) {
                    items.iter().find(|e| {
                        if k.is_empty() {
                            scalar_text(e) == want
                        } else {
                            e.get(k).is_some_and(|x| scalar_text(x) == want)
                        }
                    })?
                } else {
                    return None;
                }
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Writes `value` at every field `path` reaches in `object`.
fn write_target(
    object: &mut Value,
    path: &str,
    value: &Value,
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    let parts = split_path(path);
    let create = options.is_some_and(|o| o.create);
    let mut hits = 0usize;
    visit(object, &parts, create, value, &mut |slot, created| {
        hits += 1;
        set_field(slot, created, value, options)
    })?;
    if hits == 0 {
        return Err(if create {
            "unable to find or create field in replacement target".into()
        } else {
            "unable to find field in replacement target".into()
        });
    }
    Ok(())
}

/// The node kind to create for the part after `next` (kyaml `getPathPartKind`).
fn new_node(next: Option<&String>, leaf: &Value) -> Value {
    match next {
        Some(p) if (p.starts_with('[') && p.ends_with(']')) || is_index(p).is_some() => {
            Value::Array(Vec::new())
        }
        Some(_) => Value::Object(Map::new()),
        None => match leaf {
            Value::Object(_) => Value::Object(Map::new()),
            Value::Array(_) => Value::Array(Vec::new()),
            _ => Value::Null,
        },
    }
}

type SetFn<'f> = dyn FnMut(&mut Value, bool) -> Result<(), String> + 'f;

/// kyaml's `PathMatcher` with `Create`: walks `path`, calling `set` on every
/// node it reaches (`created` says the leaf did not exist before).
fn visit(
    cur: &mut Value,
    path: &[String],
    create: bool,
    leaf: &Value,
    set: &mut SetFn<'_>,
) -> Result<(), String> {
    let Some((part, rest)) = path.split_first() else {
        return set(cur, false);
    };
    if let Some(idx) = is_index(part) {
        let Value::Array(items) = cur else {
            return Err(format!(
                "'{part}' indexes a list but the field is not a list"
            ));
        };
        if items.len() == idx && create {
            items.push(new_node(rest.first(), leaf));
            let created = rest.is_empty();
            let last = items.len() - 1;
            return if created {
                set(&mut items[last], true)
            } else {
                visit(&mut items[last], rest, create, leaf, set)
            };
        }
        let len = items.len();
        let item = items
            .get_mut(idx)
            .ok_or_else(|| format!("index {idx} specified but only {len} elements found"))?;
        return visit(item, rest, create, leaf, set);
    }
    if let Some((key, pattern)) = bracket(part) {
        if !part.contains('=') {
            return Err(
                "list path element must contain fieldName=fieldValue for element to match".into(),
            );
        }
        let re = regex::Regex::new(pattern).map_err(|e| format!("bad pattern in '{part}': {e}"))?;
        let Value::Array(items) = cur else {
            return Err(format!(
                "'{part}' selects list elements but the field is not a list"
            ));
        };
        let mut matched = false;
        for item in items.iter_mut() {
            let text = if key.is_empty() {
                scalar_text(item)
            } else {
                match item.get(key) {
                    Some(v) if !v.is_null() => scalar_text(v),
                    _ => continue,
                }
            };
            if re.is_match(&text) {
                matched = true;
                visit(item, rest, create, leaf, set)?;
            }
        }
        if !matched && create {
            let text = Value::String(pattern.to_string());
            let element = if key.is_empty() {
                text
            } else {
                let mut m = Map::new();
                m.insert(key.to_string(), retype_created(&text));
                Value::Object(m)
            };
            items.push(element);
            let last = items.len() - 1;
            return visit(&mut items[last], rest, create, leaf, set);
        }
        return Ok(());
    }
    if part == "*" {
        if let Value::Array(items) = cur {
            for item in items.iter_mut() {
                visit(item, rest, create, leaf, set)?;
            }
        }
        return Ok(());
    }
    let Value::Object(map) = cur else {
        return Err(format!(
            "cannot look up '{part}': the field holding it is not a map"
        ));
    };
    if !map.contains_key(part.as_str()) {
        if !create {
            return Ok(());
        }
        map.insert(part.clone(), new_node(rest.first(), leaf));
        let slot = map.get_mut(part.as_str()).ok_or("field vanished")?;
        return if rest.is_empty() {
            set(slot, true)
        } else {
            visit(slot, rest, create, leaf, set)
        };
    }
    let slot = map.get_mut(part.as_str()).ok_or("field vanished")?;
    visit(slot, rest, create, leaf, set)
}

/// kyaml's `setFieldValue`.
fn set_field(
    slot: &mut Value,
    created: bool,
    value: &Value,
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    let mut value = value.clone();
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        if slot.is_object() || slot.is_array() {
            return Err("delimiter option can only be used with scalar nodes".into());
        }
        let current = scalar_text(slot);
        let mut parts: Vec<String> = current
            .split(o.delimiter.as_str())
            .map(str::to_string)
            .collect();
        let v = scalar_text(&value);
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = Value::String(parts.join(&o.delimiter));
    }
    let slot_is_scalar = !(slot.is_object() || slot.is_array());
    if created {
        *slot = if value.is_object() || value.is_array() {
            value
        } else {
            retype_created(&value)
        };
    } else if slot_is_scalar && !slot.is_null() {
        // Only the text changes; the target keeps its type.
        let text = scalar_text(&value);
        *slot = retype_like(slot, &text)?;
    } else {
        *slot = value;
    }
    Ok(())
}

/// `text` as a scalar of the same type as `like`. kustomize keeps the YAML
/// tag and swaps the text, so text that does not read as that type fails
/// when the object is read back; we report it instead of writing a string.
fn retype_like(like: &Value, text: &str) -> Result<Value, String> {
    let mismatch = |ty: &str| format!("cannot write '{text}' into a field holding {ty} ({like})");
    match like {
        Value::Number(n) if n.is_f64() => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| mismatch("a number")),
        Value::Number(_) => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| mismatch("an integer")),
        Value::Bool(_) => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(mismatch("a boolean")),
        },
        _ => Ok(Value::String(text.to_string())),
    }
}

/// A created scalar is written untagged, so it reads back as whatever its
/// text looks like (YAML 1.2 core schema, as go-yaml v3 resolves).
fn retype_created(value: &Value) -> Value {
    let Value::String(text) = value else {
        return value.clone();
    };
    match text.as_str() {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "null" | "Null" | "NULL" | "~" | "" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    value.clone()
}

#[cfg(test)]
mod tests;

//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! [`server_side_apply`] merges an applied configuration into the live
//! object by the schema's list and map types, removes fields the manager
//! applied before but no longer does (unless someone else owns them), and
//! refuses to change fields other managers own unless `force` is set.
//! [`update_managed_fields`] records ownership for ordinary writes
//! (create, update, non-apply patch) as `operation: Update` entries.
//!
//! Boundaries: pure functions over `serde_json::Value`. The caller
//! validates and stores the result.
//!
//! Error mapping for the HTTP layer:
//! - [`ApplyError::Conflicts`] → 409 `Conflict`; message
//!   `Apply failed with N conflict(s): <conflict>\n<conflict>...` where each
//!   conflict reads `conflict with "<manager>" using <apiVersion>: <path>`
//!   (the [`Conflict`] `Display`); one cause per conflict with reason
//!   `FieldManagerConflict`, `field` = [`Conflict::field`] and `message` =
//!   [`Conflict::cause_message`];
//! - [`ApplyError::Invalid`] → 400 `BadRequest`.

pub mod fieldset;
pub mod resource;

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value, json};

use crate::schema::Node;
use fieldset::{
    Element, FieldSet, Path, Shape, display_path, fields_of, get_at, item_key, remove_at, shape,
};

/// `Result` with [`ApplyError`].
pub type Result<T, E = ApplyError> = std::result::Result<T, E>;

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager.
    pub manager: String,
    /// The apiVersion it wrote with.
    pub api_version: String,
    /// The subresource it wrote through (`scale`, `status`), or empty.
    pub subresource: String,
    /// The field, as Kubernetes prints it: `.data.key`.
    pub field: String,
}

impl Conflict {
    /// The cause message without the field: `conflict with "m" using v1`.
    pub fn cause_message(&self) -> String {
        if self.subresource.is_empty() {
            format!(
                "conflict with {:?} using {}",
                self.manager, self.api_version
            )
        } else {
            format!(
                "conflict with {:?} with subresource {:?} using {}",
                self.manager, self.subresource, self.api_version
            )
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.cause_message(), self.field)
    }
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (409).
    #[error("Apply failed with {} conflict{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" },
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration or the stored managedFields are unusable (400).
    #[error("{0}")]
    Invalid(String),
}

/// Who applies and how.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions<'a> {
    /// The field manager (`fieldManager` query parameter).
    pub manager: &'a str,
    /// Take ownership of conflicting fields.
    pub force: bool,
    /// The apiVersion of the request, recorded in managedFields.
    pub api_version: &'a str,
    /// `Some("status")` for the status subresource, `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// Whether the resource has a status subresource: then main-resource
    /// writes neither own nor change `.status` (and status writes own only it).
    pub has_status_subresource: bool,
    /// The time to record, RFC 3339 (`2024-01-02T03:04:05Z`).
    pub time: &'a str,
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        v
    }

    fn same_owner(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

fn read_entries(obj: Option<&Value>) -> Result<Vec<Entry>> {
    let Some(Value::Array(list)) = obj.and_then(|o| o.pointer("/metadata/managedFields")) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let fields = match e.get("fieldsV1") {
                Some(f) => FieldSet::from_fields_v1(f)
                    .map_err(|err| ApplyError::Invalid(format!("metadata.managedFields: {err}")))?,
                None => FieldSet::default(),
            };
            Ok(Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: s("subresource"),
                fields,
            })
        })
        .collect()
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Fields the server owns, never recorded for a manager.
fn is_server_field(path: &Path, opts: &ApplyOptions<'_>) -> bool {
    let field = |i: usize| match path.get(i) {
        Some(Element::Field(f)) => Some(f.as_str()),
        _ => None,
    };
    match (field(0), path.len()) {
        (Some("apiVersion" | "kind"), _) => true,
        (Some("metadata"), 1) => true,
        (Some("metadata"), _) => matches!(
            field(1),
            Some(
                "name"
                    | "namespace"
                    | "uid"
                    | "resourceVersion"
                    | "generation"
                    | "creationTimestamp"
                    | "managedFields"
                    | "selfLink"
                    | "deletionTimestamp"
                    | "deletionGracePeriodSeconds"
            )
        ),
        (Some("status"), _) if opts.has_status_subresource => opts.subresource != Some("status"),
        (_, _) if opts.subresource == Some("status") => field(0) != Some("status"),
        _ => false,
    }
}

fn owned_fields(value: &Value, schema: Option<Node<'_>>, opts: &ApplyOptions<'_>) -> FieldSet {
    let mut set = fields_of(value, schema);
    set.paths.retain(|p| !is_server_field(p, opts));
    set
}

/// Drops `null`s: in an applied configuration they mean "not specified".
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Whether the node at `path` is a leaf of the applied set (a value that
/// can conflict), not a container of other applied fields.
fn is_leaf(set: &FieldSet, path: &Path) -> bool {
    !set.paths
        .range(path.clone()..)
        .nth(1)
        .is_some_and(|next| next.starts_with(path))
}

/// Applies `applied` (the manager's full intent) to `live` (`None` on
/// create). Returns the new object with `metadata.managedFields` updated.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    schema: Option<Node<'_>>,
    opts: &ApplyOptions<'_>,
) -> Result<Value> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".into(),
        ));
    }
    let applied = strip_nulls(applied);
    let mut applied_for_merge = applied.clone();
    if let Value::Object(m) = &mut applied_for_merge {
        // The server keeps its own bookkeeping whatever the client sends.
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
            meta.remove("uid");
            meta.remove("creationTimestamp");
        }
        if opts.has_status_subresource && opts.subresource != Some("status") {
            m.remove("status");
        }
        // The status subresource changes status only.
        if opts.subresource == Some("status") {
            m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
        }
    }
    let mut entries = read_entries(live)?;
    // Apply owns leaves and list items, not the maps that hold them (as in
    // Kubernetes, where `f:data` carries no `.` for an applier).
    let mut applied_set = owned_fields(&applied_for_merge, schema, opts);
    let all = applied_set.clone();
    applied_set
        .paths
        .retain(|p| is_leaf(&all, p) || matches!(p.last(), Some(Element::Key(_))));
    let subresource = opts.subresource.unwrap_or("");

    // Conflicts: another manager owns a leaf we set to a different value.
    let mut conflicts = Vec::new();
    let mut taken: BTreeSet<Path> = BTreeSet::new();
    if let Some(live) = live {
        for path in &applied_set.paths {
            if !is_leaf(&applied_set, path) {
                continue;
            }
            let (Some(lv), Some(av)) = (get_at(live, path), get_at(&applied_for_merge, path))
            else {
                continue;
            };
            if lv == av {
                continue;
            }
            for e in &entries {
                if e.same_owner(opts.manager, "Apply", subresource) || !e.fields.contains(path) {
                    continue;
                }
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    api_version: e.api_version.clone(),
                    subresource: e.subresource.clone(),
                    field: display_path(path),
                });
                taken.insert(path.clone());
            }
        }
    }
    if !conflicts.is_empty() && !opts.force {
        return Err(ApplyError::Conflicts(conflicts));
    }

    let mut result = match live {
        Some(l) => merge(l, &applied_for_merge, schema),
        None => applied_for_merge.clone(),
    };

    // Fields this manager applied before and no longer does.
    let previous = entries
        .iter()
        .find(|e| e.same_owner(opts.manager, "Apply", subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: Vec<&Entry> = entries
        .iter()
        .filter(|e| !e.same_owner(opts.manager, "Apply", subresource))
        .collect();
    let mut dropped: Vec<&Path> = previous
        .paths
        .iter()
        .filter(|p| !applied_set.contains(p))
        .filter(|p| !others.iter().any(|e| e.fields.touches(p)))
        .filter(|p| !applied_set.touches(p))
        .collect();
    // Parents first: removing a parent removes its children with it.
    dropped.sort_by_key(|p| p.len());
    for path in dropped {
        remove_at(&mut result, path);
    }

    for e in entries.iter_mut() {
        if !e.same_owner(opts.manager, "Apply", subresource) {
            e.fields.remove_all(&taken);
        }
    }
    match entries
        .iter_mut()
        .find(|e| e.same_owner(opts.manager, "Apply", subresource))
    {
        Some(e) => {
            // A no-op apply keeps the entry as it was, so re-applying an
            // unchanged manifest does not change the object at all.
            let unchanged = e.fields == applied_set
                && e.api_version == opts.api_version
                && live
                    .is_some_and(|l| without_managed_fields(l) == without_managed_fields(&result))
                && taken.is_empty();
            if !unchanged {
                e.fields = applied_set;
                e.api_version = opts.api_version.to_string();
                e.time = opts.time.to_string();
            }
        }
        None => entries.push(Entry {
            manager: opts.manager.to_string(),
            operation: "Apply".into(),
            api_version: opts.api_version.to_string(),
            time: opts.time.to_string(),
            subresource: subresource.to_string(),
            fields: applied_set,
        }),
    }
    write_entries(&mut result, &entries);
    Ok(result)
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(Value::Object(meta)) = o.get_mut("metadata") {
        meta.remove("managedFields");
    }
    o
}

/// Merges `applied` into `live` by the schema's shapes: objects field by
/// field, list-maps item by key, sets by member, everything else replaced.
fn merge(live: &Value, applied: &Value, schema: Option<Node<'_>>) -> Value {
    match (shape(schema, applied), live, applied) {
        (Shape::Granular, Value::Object(l), Value::Object(a)) => {
            let mut out: Map<String, Value> = l.clone();
            for (k, av) in a {
                let cs = schema.and_then(|s| s.child(k));
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, av, cs),
                    None => av.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Shape::ListMap(keys), Value::Array(l), Value::Array(a)) => {
            let item_schema = schema.and_then(|s| s.items());
            let mut out = l.clone();
            for ai in a {
                let key = item_key(ai, &keys);
                match out.iter_mut().find(|li| item_key(li, &keys) == key) {
                    Some(li) => *li = merge(li, ai, item_schema),
                    None => out.push(ai.clone()),
                }
            }
            Value::Array(out)
        }
        (Shape::ListSet, Value::Array(l), Value::Array(a)) => {
            let mut out = l.clone();
            for ai in a {
                if !out.contains(ai) {
                    out.push(ai.clone());
                }
            }
            Value::Array(out)
        }
        _ => applied.clone(),
    }
}

/// Records a non-apply write (create, update, patch) by `manager` in
/// `new`'s managedFields: the manager (operation `Update`) owns every field
/// it changed; other managers lose those fields; removed fields leave
/// every set. When the request itself changed `managedFields`, the
/// client's value is kept (kubectl rewrites them when migrating from
/// client-side to server-side apply); an empty list clears them.
/// `opts.force` is ignored.
pub fn update_managed_fields(
    old: Option<&Value>,
    mut new: Value,
    schema: Option<Node<'_>>,
    opts: &ApplyOptions<'_>,
) -> Result<Value> {
    let old_mf = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let new_mf = new.pointer("/metadata/managedFields").cloned();
    if let Some(mf) = &new_mf
        && Some(mf) != old_mf
    {
        if mf.as_array().is_some_and(Vec::is_empty)
            && let Some(Value::Object(meta)) = new.get_mut("metadata")
        {
            meta.remove("managedFields");
        }
        return Ok(new);
    }
    let (manager, time) = (opts.manager, opts.time);
    let mut entries = read_entries(old)?;
    let new_set = owned_fields(&new, schema, opts);
    let (changed, removed): (BTreeSet<Path>, BTreeSet<Path>) = match old {
        None => (new_set.paths.clone(), BTreeSet::new()),
        Some(old) => {
            let old_set = owned_fields(old, schema, opts);
            let changed = new_set
                .paths
                .iter()
                .filter(|p| {
                    let (o, n) = (get_at(old, p), get_at(&new, p));
                    o.is_none() || (is_leaf(&new_set, p) && o != n)
                })
                .cloned()
                .collect();
            let removed = old_set.paths.difference(&new_set.paths).cloned().collect();
            (changed, removed)
        }
    };
    let sub = opts.subresource.unwrap_or("");
    for e in entries.iter_mut() {
        e.fields.remove_all(&removed);
        if !e.same_owner(manager, "Update", sub) {
            e.fields.remove_all(&changed);
        }
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_owner(manager, "Update", sub))
        {
            Some(e) => {
                e.fields.paths.extend(changed);
                e.time = time.to_string();
                e.api_version = opts.api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: opts.api_version.to_string(),
                time: time.to_string(),
                subresource: sub.to_string(),
                fields: FieldSet { paths: changed },
            }),
        }
    }
    write_entries(&mut new, &entries);
    Ok(new)
}

#[cfg(test)]
mod tests;

//! One rendered object plus the bookkeeping kustomize keeps beside it.
//!
//! kustomize stores its bookkeeping in `config.kubernetes.io/*` annotations
//! (previous names, prefixes, suffixes) and strips them before output; we keep
//! it in plain fields so the object itself only ever holds what is printed.

use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value};

/// The identity kustomize uses to tell objects apart: group, version, kind,
/// namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ResId {
    /// API group, empty for the core group.
    pub group: String,
    /// API version, without the group.
    pub version: String,
    /// Object kind.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; empty when not set.
    pub namespace: String,
}

impl ResId {
    /// `kind/name`, or `kind/namespace/name`, as used in error messages.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// One Kubernetes object moving through the pipeline.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object; always a JSON object.
    pub object: Value,
    /// The file it came from (as shown to the user), for errors.
    pub origin: PathBuf,
    /// Ids the object had before renames and namespace changes, oldest first
    /// (kustomize's `previousNames`/`previousNamespaces`). Name references
    /// written against any of them are rewritten to the current name.
    pub previous: Vec<ResId>,
    /// Name prefixes applied so far, innermost kustomization first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied so far, innermost kustomization first.
    pub suffixes: Vec<String>,
    /// Generated ConfigMap/Secret whose name gets a content hash suffix at the end.
    pub needs_hash: bool,
}

impl Resource {
    /// Wraps an object read from `origin`. Callers make sure it is a JSON object.
    pub fn new(object: Value, origin: impl Into<PathBuf>) -> Self {
        Resource {
            object,
            origin: origin.into(),
            previous: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
        }
    }

    fn str_at(&self, path: &[&str]) -> &str {
        let mut v = &self.object;
        for key in path {
            match v.get(key) {
                Some(next) => v = next,
                None => return "",
            }
        }
        v.as_str().unwrap_or("")
    }

    /// `apiVersion`, or "" when absent.
    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }

    /// `kind`, or "" when absent.
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    /// `metadata.name`, or "" when absent.
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    /// `metadata.namespace`, or "" when absent.
    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    /// API group ("" for the core group).
    pub fn group(&self) -> &str {
        split_api_version(self.api_version()).0
    }

    /// API version without the group.
    pub fn version(&self) -> &str {
        split_api_version(self.api_version()).1
    }

    /// The current id.
    pub fn id(&self) -> ResId {
        let [group, version, kind, name, namespace] = self.id_parts();
        ResId {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// The current id's group, version, kind, name and namespace, borrowed
    /// (for hot paths that compare or hash ids without building a [`ResId`]).
    pub fn id_parts(&self) -> [&str; 5] {
        fn field<'v>(v: Option<&'v Value>, key: &str) -> &'v str {
            v.and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
        }
        let object = Some(&self.object);
        let (group, version) = split_api_version(field(object, "apiVersion"));
        let metadata = self.object.get("metadata");
        [
            group,
            version,
            field(object, "kind"),
            field(metadata, "name"),
            field(metadata, "namespace"),
        ]
    }

    /// The id the object had when it was first read (before any rename).
    pub fn original_id(&self) -> ResId {
        self.previous.first().cloned().unwrap_or_else(|| self.id())
    }

    /// The `metadata` map, created when missing (or replaced when not a map).
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = object_mut(&mut self.object);
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        object_mut(meta)
    }

    /// Sets `metadata.name`, remembering the old id for name references.
    pub fn set_name(&mut self, name: &str) {
        if self.name() == name {
            return;
        }
        self.previous.push(self.id());
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_string()));
    }

    /// Sets `metadata.namespace`, remembering the old id for name references.
    pub fn set_namespace(&mut self, namespace: &str) {
        if self.namespace() == namespace {
            return;
        }
        self.previous.push(self.id());
        self.metadata_mut()
            .insert("namespace".into(), Value::String(namespace.to_string()));
    }

    /// Whether any id this object ever had (current or previous) has this
    /// name, group and kind.
    pub fn was_named(&self, group: &str, kind: &str, name: &str) -> bool {
        let current = self.group() == group && self.kind() == kind && self.name() == name;
        current
            || self
                .previous
                .iter()
                .any(|id| id.group == group && id.kind == kind && id.name == name)
    }
}

/// Splits `group/version` ("v1" has the empty group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Makes `v` an object (replacing anything else) and returns its map.
pub fn object_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        // Replaced by an object just above.
        _ => unreachable!("value was just made an object"),
    }
}

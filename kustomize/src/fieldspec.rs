//! Field specs: "this path, in objects of this kind", kustomize's way of
//! saying where a transformer writes. Paths are `/`-separated map keys; a
//! list met on the way is entered element by element (so `containers/image`
//! reaches every container); `\/` escapes a slash inside a key.

use serde_json::{Map, Value};

use crate::resource::Resource;

/// One field spec.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// API group the object must have (`None`: any).
    pub group: Option<&'static str>,
    /// API version the object must have (`None`: any).
    pub version: Option<&'static str>,
    /// Kind the object must have (`None`: any).
    pub kind: Option<&'static str>,
    /// The path.
    pub path: &'static str,
    /// Create missing maps along the path (and the final field).
    pub create: bool,
}

impl FieldSpec {
    /// A spec for every object.
    pub const fn any(path: &'static str, create: bool) -> Self {
        FieldSpec {
            group: None,
            version: None,
            kind: None,
            path,
            create,
        }
    }

    /// A spec for objects of `kind` (any group).
    pub const fn kind(kind: &'static str, path: &'static str, create: bool) -> Self {
        FieldSpec {
            group: None,
            version: None,
            kind: Some(kind),
            path,
            create,
        }
    }

    /// A spec for objects of `group`/`kind`.
    pub const fn group_kind(
        group: &'static str,
        kind: &'static str,
        path: &'static str,
        create: bool,
    ) -> Self {
        FieldSpec {
            group: Some(group),
            version: None,
            kind: Some(kind),
            path,
            create,
        }
    }

    /// A spec for objects of `version`/`kind` (core group when version is `v1`).
    pub const fn version_kind(
        version: &'static str,
        kind: &'static str,
        path: &'static str,
        create: bool,
    ) -> Self {
        FieldSpec {
            group: None,
            version: Some(version),
            kind: Some(kind),
            path,
            create,
        }
    }

    /// Whether the spec applies to `res`.
    pub fn matches(&self, res: &Resource) -> bool {
        self.matches_gvk(res.group(), res.version(), res.kind())
    }

    /// Whether the spec applies to objects of this group, version and kind
    /// (for callers that test many specs against one object).
    pub fn matches_gvk(&self, group: &str, version: &str, kind: &str) -> bool {
        self.kind.is_none_or(|k| k == kind)
            && self.group.is_none_or(|g| g == group)
            && self.version.is_none_or(|v| v == version)
    }

    /// Calls `f` on every value the path reaches in `res` (creating it as
    /// `null` first when `create` is set and it is missing).
    pub fn visit(&self, res: &mut Resource, f: &mut dyn FnMut(&mut Value)) {
        // Transformers visit specs once per object per level; splitting the
        // path into owned strings each time was a measurable share of a
        // render, so plain paths are split into slices on the stack.
        let mut buf = [""; 16];
        let mut len = 0;
        let plain = !self.path.contains(['\\', '[']);
        if plain {
            for segment in self.path.split('/').filter(|s| !s.is_empty()) {
                if len == buf.len() {
                    len = usize::MAX;
                    break;
                }
                buf[len] = segment;
                len += 1;
            }
        }
        if plain && len != usize::MAX {
            visit(&mut res.object, &buf[..len], self.create, f);
        } else {
            visit(&mut res.object, &split_path(self.path), self.create, f);
        }
    }
}

/// Splits a field-spec path at unescaped `/`, dropping `[]` markers.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.strip_suffix("[]").map(str::to_string).unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Walks `segments` from `node`, entering lists element by element.
pub fn visit<S: AsRef<str>>(
    node: &mut Value,
    segments: &[S],
    create: bool,
    f: &mut dyn FnMut(&mut Value),
) {
    if let Value::Array(items) = node {
        for item in items {
            visit(item, segments, create, f);
        }
        return;
    }
    let Some((first, rest)) = segments.split_first() else {
        f(node);
        return;
    };
    let Value::Object(map) = node else {
        return;
    };
    let first = first.as_ref();
    if !map.contains_key(first) {
        if !create {
            return;
        }
        let fresh = if rest.is_empty() {
            Value::Null
        } else {
            Value::Object(Map::new())
        };
        map.insert(first.to_string(), fresh);
    }
    if let Some(child) = map.get_mut(first) {
        if child.is_null() && create && !rest.is_empty() {
            *child = Value::Object(Map::new());
        }
        visit(child, rest, create, f);
    }
}

//! A cursor over an OpenAPI v3 schema: follows `$ref`s into a [`Catalog`]
//! and answers the questions patching, apply, pruning and validation ask
//! (what is this field, what kind of list is it, what are its merge keys).
//!
//! Built-in schemas are a catalog of definitions that reference each other;
//! CRD schemas are one inline tree. The same cursor walks both.

use std::collections::HashMap;

use serde_json::Value;

/// Where `$ref`s point: `#/components/schemas/<definition name>`.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// A set of named schema definitions (`io.k8s.api.core.v1.Pod` → schema).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    defs: HashMap<String, Value>,
}

impl Catalog {
    /// A catalog over the given definitions.
    pub fn new(defs: HashMap<String, Value>) -> Self {
        Self { defs }
    }

    /// The definition named `name`, unresolved.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.defs.get(name)
    }

    /// Every definition name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }

    /// A cursor at definition `name`.
    pub fn node<'a>(&'a self, name: &str) -> Option<Node<'a>> {
        self.defs.get(name).map(|value| Node {
            catalog: self,
            value,
        })
    }

    /// A cursor at a schema that is not itself a definition (a CRD's
    /// `openAPIV3Schema`); `$ref`s inside it resolve against this catalog.
    pub fn node_for<'a>(&'a self, value: &'a Value) -> Node<'a> {
        Node {
            catalog: self,
            value,
        }
    }

    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        // Bounded: a `$ref` chain longer than this is a cycle of pure aliases.
        for _ in 0..16 {
            let next = match ref_target(value) {
                Some(name) => self.defs.get(name),
                None => None,
            };
            match next {
                Some(v) => value = v,
                None => break,
            }
        }
        value
    }
}

/// The definition name a schema refers to: `$ref` directly, or the single
/// `allOf: [{$ref}]` wrapper Kubernetes uses to attach a description.
pub fn ref_target(value: &Value) -> Option<&str> {
    if let Some(r) = value.get("$ref").and_then(Value::as_str) {
        return r.strip_prefix(REF_PREFIX);
    }
    match value
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([only]) => only
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(REF_PREFIX)),
        _ => None,
    }
}

/// How a list merges (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole (the default).
    Atomic,
    /// A set of scalars: items are their own keys.
    Set,
    /// A list of objects keyed by these fields.
    Map(Vec<String>),
}

/// A position in a schema.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    catalog: &'a Catalog,
    /// The schema as written where it is used (a property may carry
    /// extensions next to its `$ref`).
    value: &'a Value,
}

impl<'a> Node<'a> {
    /// The schema as written at this position (before `$ref` resolution).
    pub fn raw(&self) -> &'a Value {
        self.value
    }

    /// The schema this position resolves to.
    pub fn target(&self) -> &'a Value {
        self.catalog.resolve(self.value)
    }

    /// The catalog `$ref`s resolve against.
    pub fn catalog(&self) -> &'a Catalog {
        self.catalog
    }

    /// The definition name, when this position is a `$ref`.
    pub fn definition(&self) -> Option<&'a str> {
        ref_target(self.value)
    }

    /// A keyword, from the use site first, then the resolved definition.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).or_else(|| self.target().get(key))
    }

    fn at(&self, value: &'a Value) -> Node<'a> {
        Node {
            catalog: self.catalog,
            value,
        }
    }

    /// The schema of property `name`, when declared.
    pub fn property(&self, name: &str) -> Option<Node<'a>> {
        self.target()
            .get("properties")
            .and_then(|p| p.get(name))
            .map(|v| self.at(v))
    }

    /// All declared properties.
    pub fn properties(&self) -> Vec<(&'a str, Node<'a>)> {
        match self.target().get("properties").and_then(Value::as_object) {
            Some(m) => m.iter().map(|(k, v)| (k.as_str(), self.at(v))).collect(),
            None => Vec::new(),
        }
    }

    /// Whether the schema declares `properties`.
    pub fn has_properties(&self) -> bool {
        self.target()
            .get("properties")
            .and_then(Value::as_object)
            .is_some()
    }

    /// The schema of map values (`additionalProperties` as a schema).
    pub fn additional_properties(&self) -> Option<Node<'a>> {
        match self.target().get("additionalProperties") {
            Some(v @ Value::Object(_)) => Some(self.at(v)),
            _ => None,
        }
    }

    /// `additionalProperties: true` (any value allowed, unvalidated).
    pub fn allows_any_additional(&self) -> bool {
        matches!(
            self.target().get("additionalProperties"),
            Some(Value::Bool(true))
        )
    }

    /// The schema of list items.
    pub fn items(&self) -> Option<Node<'a>> {
        self.target().get("items").map(|v| self.at(v))
    }

    /// The schema of a child: a declared property, else the map value schema.
    pub fn child(&self, name: &str) -> Option<Node<'a>> {
        self.property(name).or_else(|| self.additional_properties())
    }

    /// The declared `type`, if one (Kubernetes schemas have at most one).
    pub fn type_name(&self) -> Option<&'a str> {
        match self.target().get("type") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        }
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// `x-kubernetes-int-or-string: true`.
    pub fn int_or_string(&self) -> bool {
        self.flag("x-kubernetes-int-or-string")
    }

    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub fn preserves_unknown_fields(&self) -> bool {
        self.flag("x-kubernetes-preserve-unknown-fields")
    }

    /// `x-kubernetes-embedded-resource: true`.
    pub fn embedded_resource(&self) -> bool {
        self.flag("x-kubernetes-embedded-resource")
    }

    /// `nullable: true`.
    pub fn nullable(&self) -> bool {
        self.flag("nullable")
    }

    /// Whether anything at all is known about the shape here; an empty
    /// schema (`{}`) accepts any value.
    pub fn is_unconstrained(&self) -> bool {
        let t = self.target();
        t.get("type").is_none()
            && t.get("properties").is_none()
            && t.get("additionalProperties").is_none()
            && t.get("items").is_none()
            && !self.int_or_string()
    }

    /// How this list merges under server-side apply. Lists without a
    /// declared type are atomic, as in Kubernetes' structured-merge-diff.
    pub fn list_type(&self) -> ListType {
        match self.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                self.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    /// `x-kubernetes-map-type: atomic` (an object replaced as a whole).
    pub fn atomic_map(&self) -> bool {
        self.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
    }

    /// The strategic-merge-patch strategies (`merge`, `retainKeys`).
    pub fn patch_strategies(&self) -> Vec<&'a str> {
        self.get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .map(|s| s.split(',').map(str::trim).collect())
            .unwrap_or_default()
    }

    /// The strategic-merge-patch merge key of a list of objects.
    pub fn patch_merge_key(&self) -> Option<&'a str> {
        self.get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        let mut defs = HashMap::new();
        defs.insert(
            "a.Outer".to_string(),
            json!({"type": "object", "properties": {
                "inner": {"$ref": "#/components/schemas/a.Inner", "x-kubernetes-patch-strategy": "retainKeys"},
                "wrapped": {"allOf": [{"$ref": "#/components/schemas/a.Inner"}], "description": "d"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/a.Inner"},
                          "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
            }}),
        );
        defs.insert(
            "a.Inner".to_string(),
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "x-kubernetes-map-type": "atomic"}),
        );
        Catalog::new(defs)
    }

    #[test]
    fn refs_resolve_and_use_site_extensions_win() {
        let c = catalog();
        let outer = c.node("a.Outer").expect("defined");
        let inner = outer.property("inner").expect("declared");
        assert_eq!(inner.definition(), Some("a.Inner"));
        assert_eq!(inner.patch_strategies(), vec!["retainKeys"]);
        assert!(inner.atomic_map());
        assert_eq!(
            inner.property("name").and_then(|n| n.type_name()),
            Some("string")
        );
    }

    #[test]
    fn an_allof_wrapper_resolves_like_a_ref() {
        let c = catalog();
        let wrapped = c.node("a.Outer").and_then(|o| o.property("wrapped"));
        assert_eq!(wrapped.and_then(|w| w.type_name()), Some("object"));
    }

    #[test]
    fn list_map_keys_are_read_from_the_extension() {
        let c = catalog();
        let items = c.node("a.Outer").and_then(|o| o.property("items"));
        assert_eq!(
            items.map(|i| i.list_type()),
            Some(ListType::Map(vec!["name".into()]))
        );
    }
}

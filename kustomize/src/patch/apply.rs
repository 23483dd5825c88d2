//! Applying the patch fields of one kustomization to its resources.
//!
//! Mirrors kustomize's PatchTransformer, PatchStrategicMergeTransformer and
//! PatchJson6902Transformer: how a patch is read, which resources it reaches,
//! which identity fields survive a strategic merge, and where a patch that
//! reaches nothing is an error (a strategic merge patch without `target`) and
//! where it is not (any `target` selecting nothing).

use std::collections::HashMap;

use serde_json::Value;

use super::target::{Candidate, Selector};
use super::{
    LegacyJson6902, Patch, PatchError, StrategicMergeEntry, Target, json6902,
    merge_keys::is_cluster_scoped, strategic_merge,
};
use crate::Loader;
use crate::resource::{ResId, Resource, split_api_version};

/// kustomize's stand-in namespace for cluster-scoped objects.
const NOT_A_NAMESPACE: &str = "_non_namespaceable_";

/// Applies `patches:` entries in order.
pub fn apply_patches(
    resources: &mut Vec<Resource>,
    patches: &[Patch],
    loader: &Loader,
) -> Result<(), PatchError> {
    let mut index = IdIndex::default();
    for (i, entry) in patches.iter().enumerate() {
        let inline = entry.patch.trim();
        let (label, text) = match (inline.is_empty(), entry.path.is_empty()) {
            (true, true) => {
                return Err(PatchError::Invalid {
                    patch: inline_label("patches", i),
                    reason: "must specify one of 'patch' and 'path'".into(),
                });
            }
            (false, false) => {
                return Err(PatchError::Invalid {
                    patch: inline_label("patches", i),
                    reason: "'patch' and 'path' cannot be set at the same time".into(),
                });
            }
            (false, true) => (inline_label("patches", i), inline.to_string()),
            (true, false) => {
                let label = loader.display(&entry.path).display().to_string();
                (label.clone(), load_text(loader, &entry.path, &label)?)
            }
        };
        let parsed = parse_patch(&text, &label)?;
        // kustomize reads a patch with no documents as an empty JSON 6902
        // patch, which needs a target (with one it changes nothing).
        if matches!(&parsed, Parsed::Strategic(docs) if docs.is_empty()) && entry.target.is_none() {
            return Err(PatchError::Invalid {
                patch: label,
                reason: "must specify a target for JSON patch".into(),
            });
        }
        let options = entry.options.clone().unwrap_or_default();
        match parsed {
            Parsed::Strategic(docs) => match &entry.target {
                Some(target) => {
                    if docs.len() > 1 {
                        return Err(PatchError::Invalid {
                            patch: label,
                            reason: "a patch with a 'target' must hold a single strategic merge patch, not several documents".into(),
                        });
                    }
                    let Some(doc) = docs.first() else { continue };
                    let selected = select(resources, target, &label)?;
                    let mut deleted = Vec::new();
                    for r in selected {
                        if !apply_smp(&mut resources[r], doc, &options, &label)? {
                            deleted.push(r);
                        }
                    }
                    remove_all(resources, &deleted);
                    index.invalidate();
                }
                None => {
                    for doc in &docs {
                        let r = index.find_one(resources, doc, &label)?;
                        let before = resources[r].id();
                        if apply_smp(&mut resources[r], doc, &options, &label)? {
                            if resources[r].id() != before {
                                index.invalidate();
                            }
                        } else {
                            resources.remove(r);
                            index.invalidate();
                        }
                    }
                }
            },
            Parsed::Json(ops) => {
                let Some(target) = &entry.target else {
                    return Err(PatchError::Invalid {
                        patch: label,
                        reason: "a JSON 6902 patch needs a 'target'".into(),
                    });
                };
                for r in select(resources, target, &label)? {
                    apply_json(&mut resources[r], &ops, &label)?;
                }
                index.invalidate();
            }
        }
    }
    Ok(())
}

/// Applies the deprecated `patchesStrategicMerge:` entries in order.
pub fn apply_strategic_merge_entries(
    resources: &mut Vec<Resource>,
    entries: &[StrategicMergeEntry],
    loader: &Loader,
) -> Result<(), PatchError> {
    let mut index = IdIndex::default();
    let options = super::PatchOptions::default();
    for (i, StrategicMergeEntry(entry)) in entries.iter().enumerate() {
        // Like kustomize, an entry that parses as objects is the patch itself;
        // anything else is a file name.
        let inline = parse_yaml_documents(entry)
            .ok()
            .filter(|docs| !docs.is_empty() && docs.iter().all(|d| d.get("kind").is_some()));
        let (label, docs) = match inline {
            Some(docs) => (inline_label("patchesStrategicMerge", i), docs),
            None => {
                let label = loader.display(entry).display().to_string();
                let text = load_text(loader, entry, &label)?;
                match parse_patch(&text, &label)? {
                    Parsed::Strategic(docs) => (label, docs),
                    Parsed::Json(_) => {
                        return Err(PatchError::Invalid {
                            patch: label,
                            reason: "patchesStrategicMerge entries must be strategic merge patches, not JSON 6902 operations".into(),
                        });
                    }
                }
            }
        };
        if docs.is_empty() {
            return Err(PatchError::Invalid {
                patch: label,
                reason: "patch is empty".into(),
            });
        }
        for doc in &docs {
            let r = index.find_one(resources, doc, &label)?;
            if !apply_smp(&mut resources[r], doc, &options, &label)? {
                resources.remove(r);
            }
            index.invalidate();
        }
    }
    Ok(())
}

/// Applies the deprecated `patchesJson6902:` entries in order.
pub fn apply_legacy_json6902(
    resources: &mut [Resource],
    entries: &[LegacyJson6902],
    loader: &Loader,
) -> Result<(), PatchError> {
    for (i, entry) in entries.iter().enumerate() {
        let mut label = inline_label("patchesJson6902", i);
        let Some(target) = entry.target.as_ref().filter(|t| !t.name.is_empty()) else {
            return Err(PatchError::Invalid {
                patch: label,
                reason: "must specify the target name".into(),
            });
        };
        let text = match (entry.path.is_empty(), entry.patch.is_empty()) {
            (true, true) => {
                return Err(PatchError::Invalid {
                    patch: label,
                    reason: "must specify one of 'path' and 'patch'".into(),
                });
            }
            (false, false) => {
                return Err(PatchError::Invalid {
                    patch: label,
                    reason: "must specify a file path or an inline patch, not both".into(),
                });
            }
            (false, true) => {
                label = loader.display(&entry.path).display().to_string();
                load_text(loader, &entry.path, &label)?
            }
            (true, false) => entry.patch.clone(),
        };
        let ops = match parse_patch(&text, &label)? {
            Parsed::Json(ops) if ops.as_array().is_some_and(|a| !a.is_empty()) => ops,
            Parsed::Json(_) => {
                return Err(PatchError::Invalid {
                    patch: label,
                    reason: "patch appears to be empty".into(),
                });
            }
            Parsed::Strategic(_) => {
                return Err(PatchError::Invalid {
                    patch: label,
                    reason: "expected a list of JSON 6902 operations".into(),
                });
            }
        };
        for r in select(resources, target, &label)? {
            apply_json(&mut resources[r], &ops, &label)?;
        }
    }
    Ok(())
}

/// Errors are wrapped with the kustomization file by the caller, so an inline
/// patch is named by its field and position only.
fn inline_label(field: &str, i: usize) -> String {
    format!("{field}[{i}]")
}

fn load_text(loader: &Loader, path: &str, label: &str) -> Result<String, PatchError> {
    let bytes = loader.read(path).map_err(|e| PatchError::Load {
        patch: label.to_string(),
        source: Box::new(e),
    })?;
    String::from_utf8(bytes).map_err(|_| PatchError::Invalid {
        patch: label.to_string(),
        reason: "file is not UTF-8".into(),
    })
}

enum Parsed {
    Strategic(Vec<Value>),
    Json(Value),
}

/// kustomize reads a patch both ways and takes whichever works: objects make a
/// strategic merge patch, a list makes JSON 6902 operations.
fn parse_patch(text: &str, label: &str) -> Result<Parsed, PatchError> {
    let docs = parse_yaml_documents(text).map_err(|reason| PatchError::Invalid {
        patch: label.to_string(),
        reason: format!("unable to parse as a strategic merge or JSON 6902 patch: {reason}"),
    })?;
    if let [Value::Array(_)] = docs.as_slice() {
        return Ok(Parsed::Json(docs.into_iter().next().unwrap_or(Value::Null)));
    }
    if docs.iter().all(Value::is_object) {
        return Ok(Parsed::Strategic(docs));
    }
    Err(PatchError::Invalid {
        patch: label.to_string(),
        reason: "unable to parse as a strategic merge or JSON 6902 patch: documents must be objects, or one list of operations".into(),
    })
}

/// YAML (or JSON) documents, skipping empty ones, read like resource files.
fn parse_yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    crate::yaml::parse_documents(text.as_bytes(), std::path::Path::new("patch")).map_err(
        |e| match e {
            crate::Error::Yaml { message, .. } => message,
            other => other.to_string(),
        },
    )
}

fn describe(r: &Resource) -> String {
    r.id().describe()
}

/// Applies one strategic merge patch the way kustomize's `ApplySmPatch` does:
/// kind and name come back unless the options allow changing them, and the
/// namespace always comes back. Returns `false` when the patch deleted the object.
fn apply_smp(
    r: &mut Resource,
    patch: &Value,
    options: &super::PatchOptions,
    label: &str,
) -> Result<bool, PatchError> {
    let (name, namespace, kind) = (
        r.name().to_string(),
        r.namespace().to_string(),
        r.kind().to_string(),
    );
    let before = r.id();
    let kept = strategic_merge(&mut r.object, patch).map_err(|e| PatchError::Apply {
        patch: label.to_string(),
        object: before.describe(),
        source: Box::new(e),
    })?;
    if !kept {
        return Ok(false);
    }
    if !options.allow_kind_change {
        set_str(&mut r.object, &["kind"], &kind);
    }
    if !options.allow_name_change {
        set_str(&mut r.object, &["metadata", "name"], &name);
    }
    if namespace.is_empty() {
        if let Some(meta) = r.object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
    } else {
        set_str(&mut r.object, &["metadata", "namespace"], &namespace);
    }
    if r.id() != before {
        r.previous.push(before);
    }
    Ok(true)
}

fn apply_json(r: &mut Resource, ops: &Value, label: &str) -> Result<(), PatchError> {
    let before = r.id();
    json6902(&mut r.object, ops).map_err(|e| PatchError::Apply {
        patch: label.to_string(),
        object: describe(r),
        source: Box::new(e),
    })?;
    if r.id() != before {
        r.previous.push(before);
    }
    Ok(())
}

fn set_str(object: &mut Value, path: &[&str], value: &str) {
    let mut cur = object;
    for key in &path[..path.len() - 1] {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        cur = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if let (Some(map), Some(last)) = (cur.as_object_mut(), path.last()) {
        map.insert(last.to_string(), Value::String(value.to_string()));
    }
}

/// Removes the (ascending, distinct) indices.
fn remove_all(resources: &mut Vec<Resource>, indices: &[usize]) {
    for &i in indices.iter().rev() {
        resources.remove(i);
    }
}

/// kustomize's `EffectiveNamespace`: cluster-scoped kinds have none, an
/// unset namespace is `default`.
pub(crate) fn effective_namespace<'a>(
    api_version: &str,
    kind: &str,
    namespace: &'a str,
) -> &'a str {
    if is_cluster_scoped(api_version, kind) {
        NOT_A_NAMESPACE
    } else if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

fn id_api_version(id: &ResId) -> String {
    if id.group.is_empty() {
        id.version.clone()
    } else {
        format!("{}/{}", id.group, id.version)
    }
}

/// Indices of the resources a target selects, in resource order.
fn select(resources: &[Resource], target: &Target, label: &str) -> Result<Vec<usize>, PatchError> {
    let selector = Selector::new(target).map_err(|reason| PatchError::Invalid {
        patch: label.to_string(),
        reason: format!("target: {reason}"),
    })?;
    let mut out = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        let original = r.original_id();
        let original_api = id_api_version(&original);
        let candidate = Candidate {
            object: &r.object,
            namespaces: [
                effective_namespace(&original_api, &original.kind, &original.namespace),
                effective_namespace(r.api_version(), r.kind(), r.namespace()),
            ],
            names: [&original.name, r.name()],
        };
        if selector.matches(&candidate) {
            out.push(i);
        }
    }
    Ok(out)
}

type IdKey = (String, String, String, String, String);

fn key_of(group: &str, version: &str, kind: &str, name: &str, namespace: &str) -> IdKey {
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let ns = effective_namespace(&api_version, kind, namespace).to_string();
    (
        group.to_string(),
        version.to_string(),
        kind.to_string(),
        name.to_string(),
        ns,
    )
}

/// Resources by every id they have had, so that many target-less patches
/// each find their resource without a scan. Rebuilt after anything that
/// changes ids or positions.
#[derive(Default)]
struct IdIndex {
    map: Option<HashMap<IdKey, Vec<usize>>>,
}

impl IdIndex {
    fn invalidate(&mut self) {
        self.map = None;
    }

    fn build(resources: &[Resource]) -> HashMap<IdKey, Vec<usize>> {
        let mut map: HashMap<IdKey, Vec<usize>> = HashMap::with_capacity(resources.len());
        for (i, r) in resources.iter().enumerate() {
            let mut keys = vec![key_of(
                r.group(),
                r.version(),
                r.kind(),
                r.name(),
                r.namespace(),
            )];
            for id in &r.previous {
                keys.push(key_of(
                    &id.group,
                    &id.version,
                    &id.kind,
                    &id.name,
                    &id.namespace,
                ));
            }
            keys.sort();
            keys.dedup();
            for k in keys {
                map.entry(k).or_default().push(i);
            }
        }
        map
    }

    /// The single resource a target-less strategic merge patch names.
    fn find_one(
        &mut self,
        resources: &[Resource],
        patch: &Value,
        label: &str,
    ) -> Result<usize, PatchError> {
        let map = self.map.get_or_insert_with(|| Self::build(resources));
        let text = |path: &[&str]| -> String {
            let mut v = patch;
            for k in path {
                match v.get(k) {
                    Some(next) => v = next,
                    None => return String::new(),
                }
            }
            v.as_str().unwrap_or("").to_string()
        };
        let api_version = text(&["apiVersion"]);
        let (group, version) = split_api_version(&api_version);
        let kind = text(&["kind"]);
        let name = text(&["metadata", "name"]);
        let namespace = text(&["metadata", "namespace"]);
        let key = key_of(group, version, &kind, &name, &namespace);
        let id = ResId {
            group: group.to_string(),
            version: version.to_string(),
            kind,
            name,
            namespace,
        }
        .describe();
        match map.get(&key).map(Vec::as_slice) {
            Some([one]) => Ok(*one),
            Some([_, _, ..]) => Err(PatchError::MultipleMatches {
                patch: label.to_string(),
                id,
            }),
            _ => Err(PatchError::NoMatch {
                patch: label.to_string(),
                id,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loader() -> (tempfile::TempDir, Loader) {
        let dir = tempfile::tempdir().unwrap();
        let loader = Loader::new(dir.path()).unwrap();
        (dir, loader)
    }

    fn deployments(n: usize) -> Vec<Resource> {
        (0..n)
            .map(|i| {
                Resource::new(
                    json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": format!("d{i}")}, "spec": {"replicas": 1}}),
                    "all.yaml",
                )
            })
            .collect()
    }

    fn inline(patch: &str, target: Option<Target>) -> Patch {
        Patch {
            patch: patch.into(),
            target,
            ..Patch::default()
        }
    }

    #[test]
    fn strategic_patch_without_target_must_match_a_resource() {
        let (_d, l) = loader();
        let mut rs = deployments(1);
        let p = inline(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nope\n",
            None,
        );
        let err = apply_patches(&mut rs, &[p], &l).unwrap_err();
        assert!(matches!(err, PatchError::NoMatch { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("no resource matches Deployment/nope"),
            "{err}"
        );
    }

    #[test]
    fn target_that_selects_nothing_is_not_an_error() {
        let (_d, l) = loader();
        let mut rs = deployments(1);
        let target = Target {
            kind: "StatefulSet".into(),
            ..Target::default()
        };
        let p = inline(
            "- op: replace\n  path: /spec/replicas\n  value: 3\n",
            Some(target),
        );
        apply_patches(&mut rs, &[p], &l).unwrap();
        assert_eq!(rs[0].object["spec"]["replicas"], json!(1));
    }

    #[test]
    fn json_patch_needs_a_target() {
        let (_d, l) = loader();
        let p = inline("- op: remove\n  path: /spec\n", None);
        let err = apply_patches(&mut deployments(1), &[p], &l).unwrap_err();
        assert!(err.to_string().contains("needs a 'target'"), "{err}");
    }

    #[test]
    fn path_and_patch_together_are_rejected() {
        let (_d, l) = loader();
        let p = Patch {
            path: "p.yaml".into(),
            patch: "x: 1".into(),
            ..Patch::default()
        };
        let err = apply_patches(&mut deployments(1), &[p], &l).unwrap_err();
        assert!(
            err.to_string().contains("cannot be set at the same time"),
            "{err}"
        );
    }

    #[test]
    fn missing_patch_file_names_the_file() {
        let (_d, l) = loader();
        let p = Patch {
            path: "missing.yaml".into(),
            ..Patch::default()
        };
        let err = apply_patches(&mut deployments(1), &[p], &l).unwrap_err();
        assert!(err.to_string().contains("missing.yaml"), "{err}");
    }

    #[test]
    fn failing_operation_names_the_object_and_path() {
        let (_d, l) = loader();
        let target = Target {
            kind: "Deployment".into(),
            ..Target::default()
        };
        let p = inline(
            "- op: replace\n  path: /spec/missing\n  value: 3\n",
            Some(target),
        );
        let err = apply_patches(&mut deployments(1), &[p], &l).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("applying to Deployment/d0"), "{text}");
        assert!(text.contains("replace /spec/missing"), "{text}");
    }

    #[test]
    fn several_patch_documents_with_a_target_are_rejected() {
        let (_d, l) = loader();
        let target = Target {
            kind: "Deployment".into(),
            ..Target::default()
        };
        let p = inline("kind: Deployment\n---\nkind: Deployment\n", Some(target));
        let err = apply_patches(&mut deployments(1), &[p], &l).unwrap_err();
        assert!(
            err.to_string().contains("single strategic merge patch"),
            "{err}"
        );
    }

    #[test]
    fn target_less_patches_each_find_their_resource_in_many() {
        let (_d, l) = loader();
        let mut rs = deployments(500);
        let patches: Vec<Patch> = (0..500)
            .rev()
            .map(|i| inline(&format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{i}\nspec:\n  replicas: {i}\n"), None))
            .collect();
        apply_patches(&mut rs, &patches, &l).unwrap();
        assert!(
            rs.iter()
                .enumerate()
                .all(|(i, r)| r.object["spec"]["replicas"] == json!(i))
        );
    }

    #[test]
    fn top_level_delete_removes_the_resource() {
        let (_d, l) = loader();
        let mut rs = deployments(2);
        let p = inline(
            "$patch: delete\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d0\n",
            None,
        );
        apply_patches(&mut rs, &[p], &l).unwrap();
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].name(), "d1");
    }

    #[test]
    fn allowed_name_change_remembers_the_old_name() {
        let (_d, l) = loader();
        let mut rs = deployments(1);
        let p = Patch {
            patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: renamed\n".into(),
            target: Some(Target {
                name: "d0".into(),
                ..Target::default()
            }),
            options: Some(super::super::PatchOptions {
                allow_name_change: true,
                ..Default::default()
            }),
            ..Patch::default()
        };
        apply_patches(&mut rs, &[p], &l).unwrap();
        assert_eq!(rs[0].name(), "renamed");
        assert!(rs[0].was_named("apps", "Deployment", "d0"));
    }

    #[test]
    fn legacy_json6902_needs_a_target_name() {
        let (_d, l) = loader();
        let entry = LegacyJson6902 {
            target: Some(Target {
                kind: "Deployment".into(),
                ..Target::default()
            }),
            patch: "- op: remove\n  path: /spec\n".into(),
            ..LegacyJson6902::default()
        };
        let err = apply_legacy_json6902(&mut deployments(1), &[entry], &l).unwrap_err();
        assert!(err.to_string().contains("target name"), "{err}");
    }
}

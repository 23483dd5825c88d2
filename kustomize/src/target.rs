//! One kustomization directory turned into resources: kustomize's
//! `KustTarget`. Resources and bases are accumulated first, then generators,
//! then components (which see everything accumulated so far), then the
//! built-in transformers in kustomize's order. Name references, hash
//! suffixes and output order are left to the top level (see `lib.rs`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::debug_span;

use crate::error::{Error, Result};
use crate::kustomization::{FILE_NAMES, Kustomization};
use crate::loader::Loader;
use crate::resource::Resource;
use crate::transform::{annotations, images, labels, namespace, prefix_suffix, replicas};
use crate::{generators, patch, replacements, threads, yaml};

/// What kind of directory a kustomization is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The root or a base in `resources`: `kind: Kustomization` (or none).
    Kustomization,
    /// An entry of `components`: `kind: Component`.
    Component,
}

/// Tracks the directories being rendered, to catch cycles.
#[derive(Debug, Default, Clone)]
pub struct Stack {
    dirs: Vec<PathBuf>,
}

/// Reads the kustomization file in `loader`'s directory.
fn read_kustomization(loader: &Loader) -> Result<(Kustomization, PathBuf)> {
    let Some(file) = FILE_NAMES.iter().find(|f| loader.root().join(f).is_file()) else {
        return Err(Error::NoKustomization {
            dir: loader.display_root().to_path_buf(),
        });
    };
    let shown = loader.display(file);
    let bytes = loader.read(file)?;
    let value = yaml::parse_kustomization(&bytes, &shown)?;
    // kustomize compares the parsed kustomization with an empty one (after
    // filling in apiVersion and kind), so a file with nothing but those, or
    // only zero values, is refused rather than rendering nothing.
    if is_empty_kustomization(&value) {
        return Err(Error::Kustomization {
            path: shown,
            message: "kustomization.yaml is empty".into(),
        });
    }
    if !value.is_object() {
        return Err(Error::Kustomization {
            path: shown,
            message: "expected a mapping at the top level".into(),
        });
    }
    let k: Kustomization = serde_json::from_value(value).map_err(|e| Error::Kustomization {
        path: shown.clone(),
        message: serde_message(&e.to_string()),
    })?;
    Ok((k, shown))
}

/// Whether a parsed kustomization holds nothing kustomize would keep:
/// null, or only `apiVersion`/`kind` and fields set to null or "".
fn is_empty_kustomization(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.iter().all(|(key, v)| {
            key == "apiVersion" || key == "kind" || v.is_null() || v.as_str() == Some("")
        }),
        _ => false,
    }
}

/// serde says ``unknown field `x`, expected one of ...``; users want the field.
fn serde_message(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return format!("unknown field {field:?}");
    }
    msg.replace('`', "\"")
}

/// Renders the kustomization at `loader` into `out`. Components receive the
/// parent's accumulated resources in `out`; kustomizations start empty.
fn accumulate(
    loader: &Loader,
    expect: Expect,
    stack: &mut Stack,
    out: &mut Vec<Resource>,
) -> Result<()> {
    let span = debug_span!("kustomization", dir = %loader.display_root().display());
    let _guard = span.enter();
    if let Some(pos) = stack.dirs.iter().position(|d| d == loader.root()) {
        let chain: Vec<String> = stack.dirs[pos..]
            .iter()
            .chain(std::iter::once(&loader.root().to_path_buf()))
            .map(|d| d.display().to_string())
            .collect();
        return Err(Error::Cycle {
            path: loader.display_root().to_path_buf(),
            chain: chain.join(" -> "),
        });
    }
    stack.dirs.push(loader.root().to_path_buf());
    let result = accumulate_inner(loader, expect, stack, out);
    stack.dirs.pop();
    result
}

fn accumulate_inner(
    loader: &Loader,
    expect: Expect,
    stack: &mut Stack,
    out: &mut Vec<Resource>,
) -> Result<()> {
    let (k, file) = read_kustomization(loader)?;
    check_kind(&k, expect, &file)?;
    check_unsupported(&k, &file)?;

    let mut seen = SeenIds::default();
    for i in 0..out.len() {
        seen.insert(out, i);
    }
    let entries: Vec<&String> = k.resources.iter().chain(k.bases.iter()).collect();
    for found in load_entries(loader, &entries, stack) {
        let start = out.len();
        out.extend(found?);
        for i in start..out.len() {
            if let Some(first) = seen.check_insert(out, i) {
                return Err(Error::DuplicateId {
                    path: out[i].origin.clone(),
                    first: out[first].origin.clone(),
                    id: out[i].id().describe(),
                });
            }
        }
    }
    for crd in &k.crds {
        // Read for the restrictor and syntax; the schemas only feed name
        // references of custom kinds, which Flotilla does not model.
        let bytes = loader.read(crd)?;
        yaml::parse_documents(&bytes, &loader.display(crd))?;
    }
    // Since kustomize v5.1 the level's own generators run before its
    // components, so a component's transformers see generated objects too.
    run_generators(&k, loader, &file, out)?;
    for entry in &k.components {
        let sub = loader.sub(entry)?;
        accumulate(&sub, Expect::Component, stack, out)?;
    }
    run_transformers(&k, loader, &file, out)?;
    Ok(())
}

/// The ids accumulated at one level, for the duplicate check: positions in
/// the resource list by a hash of the id, so no id is cloned (this check
/// runs at every level over every object).
#[derive(Default)]
struct SeenIds {
    by_hash: HashMap<u64, Vec<usize>>,
}

impl SeenIds {
    fn hash(parts: &[&str; 5]) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        parts.hash(&mut h);
        h.finish()
    }

    /// Records `resources[i]` without checking it (ids accumulated earlier).
    fn insert(&mut self, resources: &[Resource], i: usize) {
        let parts = resources[i].id_parts();
        self.by_hash.entry(Self::hash(&parts)).or_default().push(i);
    }

    /// Records `resources[i]`, or returns the latest earlier resource with
    /// the same id.
    fn check_insert(&mut self, resources: &[Resource], i: usize) -> Option<usize> {
        let parts = resources[i].id_parts();
        let same = self.by_hash.entry(Self::hash(&parts)).or_default();
        if let Some(&j) = same
            .iter()
            .rev()
            .find(|&&j| resources[j].id_parts() == parts)
        {
            return Some(j);
        }
        same.push(i);
        None
    }
}

/// Loads one `resources` entry: a file, or a directory rendered as a base.
fn load_entry(loader: &Loader, entry: &str, stack: &mut Stack) -> Result<Vec<Resource>> {
    if loader.is_dir(entry) {
        let sub = loader.sub(entry)?;
        let mut found = Vec::new();
        accumulate(&sub, Expect::Kustomization, stack, &mut found)?;
        Ok(found)
    } else {
        read_resources(loader, entry)
    }
}

/// Loads `entries` in order. Entries are independent until their objects
/// are merged, so with many of them (an app-of-apps base) they are split
/// across the machine's cores; parsing dominates rendering and parallelises
/// well. Results come back in entry order, so output and the first error
/// reported do not depend on scheduling.
fn load_entries(loader: &Loader, entries: &[&String], stack: &Stack) -> Vec<Result<Vec<Resource>>> {
    let workers = threads::spare().min(entries.len() / 4);
    if workers < 2 {
        let mut stack = stack.clone();
        return entries
            .iter()
            .map(|entry| load_entry(loader, entry, &mut stack))
            .collect();
    }
    let chunk = entries.len().div_ceil(workers);
    threads::in_order(entries.chunks(chunk), |part| {
        let mut stack = stack.clone();
        part.iter()
            .map(|entry| load_entry(loader, entry, &mut stack))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

fn check_kind(k: &Kustomization, expect: Expect, file: &Path) -> Result<()> {
    let kind = k.kind.as_deref().unwrap_or("Kustomization");
    match (expect, kind) {
        (Expect::Kustomization, "Kustomization") | (Expect::Component, "Component") => Ok(()),
        (Expect::Kustomization, "Component") => Err(Error::Field {
            path: file.to_path_buf(),
            field: "kind".into(),
            message: "a Component must be listed under `components`, not `resources`".into(),
        }),
        (Expect::Component, other) => Err(Error::Field {
            path: file.to_path_buf(),
            field: "kind".into(),
            message: format!(
                "expected kind \"Component\" for a directory under `components`, got {other:?}"
            ),
        }),
        (_, other) => Err(Error::Field {
            path: file.to_path_buf(),
            field: "kind".into(),
            message: format!("unknown kind {other:?} (expected Kustomization or Component)"),
        }),
    }
}

fn check_unsupported(k: &Kustomization, file: &Path) -> Result<()> {
    let unsupported = [
        ("vars", !k.vars.is_empty()),
        ("configurations", !k.configurations.is_empty()),
        ("generators", !k.generators.is_empty()),
        ("transformers", !k.transformers.is_empty()),
        ("validators", !k.validators.is_empty()),
        ("helmCharts", !k.helm_charts.is_empty()),
        ("helmGlobals", k.helm_globals.is_some()),
        ("openapi", k.open_api.is_some()),
        ("sortOptions", k.sort_options.is_some()),
        ("buildMetadata", !k.build_metadata.is_empty()),
        (
            "labels[].fields",
            k.labels.iter().any(|l| !l.fields.is_empty()),
        ),
    ];
    for (field, used) in unsupported {
        if used {
            return Err(Error::Unsupported {
                path: file.to_path_buf(),
                field: field.into(),
            });
        }
    }
    Ok(())
}

/// Reads one resource file: every document, `List`s flattened.
fn read_resources(loader: &Loader, rel: &str) -> Result<Vec<Resource>> {
    let shown = loader.display(rel);
    let bytes = loader.read(rel)?;
    let docs = yaml::parse_documents(&bytes, &shown)?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        push_object(doc, &shown, i, &mut out)?;
    }
    Ok(out)
}

fn push_object(doc: Value, file: &Path, index: usize, out: &mut Vec<Resource>) -> Result<()> {
    let invalid = |message: String| Error::InvalidObject {
        path: file.to_path_buf(),
        message,
    };
    let Value::Object(map) = doc else {
        return Err(invalid(format!(
            "document {}: expected a Kubernetes object (a mapping)",
            index + 1
        )));
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind.is_empty() {
        return Err(invalid(format!("document {}: missing `kind`", index + 1)));
    }
    if kind.ends_with("List")
        && let Some(Value::Array(items)) = map.get("items")
    {
        for item in items.clone() {
            push_object(item, file, index, out)?;
        }
        return Ok(());
    }
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err(invalid(format!(
            "document {}: {kind} has no metadata.name",
            index + 1
        )));
    }
    out.push(Resource::new(Value::Object(map), file));
    Ok(())
}

fn run_generators(
    k: &Kustomization,
    loader: &Loader,
    file: &Path,
    out: &mut Vec<Resource>,
) -> Result<()> {
    if k.config_map_generator.is_empty() && k.secret_generator.is_empty() {
        return Ok(());
    }
    generators::run(
        &k.config_map_generator,
        &k.secret_generator,
        k.generator_options.as_ref(),
        loader,
        out,
    )
    .map_err(|error| Error::Generator {
        path: file.to_path_buf(),
        error,
    })
}

/// Below this many objects per thread, per-object transformers run on the
/// calling thread.
const PARALLEL_TRANSFORM_MIN: usize = 512;

/// The built-in transformers, in kustomize v5.5.0's order.
fn run_transformers(
    k: &Kustomization,
    loader: &Loader,
    file: &Path,
    out: &mut Vec<Resource>,
) -> Result<()> {
    let patch_err = |error| Error::Patch {
        path: file.to_path_buf(),
        error,
    };
    if !k.patches_strategic_merge.is_empty() {
        patch::apply_strategic_merge_entries(out, &k.patches_strategic_merge, loader)
            .map_err(patch_err)?;
    }
    if !k.patches.is_empty() {
        patch::apply_patches(out, &k.patches, loader).map_err(patch_err)?;
    }
    // These transformers change each object on its own, so large sets are
    // split across the spare render threads.
    threads::each_run(out, PARALLEL_TRANSFORM_MIN, |run| {
        if let Some(ns) = k.namespace.as_deref().filter(|ns| !ns.is_empty()) {
            namespace::apply(run, ns);
        }
        prefix_suffix::apply(
            run,
            k.name_prefix.as_deref().unwrap_or(""),
            k.name_suffix.as_deref().unwrap_or(""),
        );
        labels::apply_common(run, &k.common_labels);
        for label in &k.labels {
            labels::apply_label(run, label);
        }
        annotations::apply(run, &k.common_annotations);
    });
    if !k.patches_json6902.is_empty() {
        patch::apply_legacy_json6902(out, &k.patches_json6902, loader).map_err(patch_err)?;
    }
    if !out.is_empty() {
        // kustomize matches image names as regular expressions (and v5.5.0
        // crashes on one that does not compile); refuse such a name.
        if let Some((i, e)) = k.images.iter().enumerate().find_map(|(i, image)| {
            regex::Regex::new(&format!("^{}$", image.name))
                .err()
                .map(|e| (i, e))
        }) {
            return Err(Error::Field {
                path: file.to_path_buf(),
                field: format!("images[{i}].name"),
                message: format!("not a valid regular expression: {e}"),
            });
        }
    }
    replicas::check_targets(out, &k.replicas).map_err(|name| Error::Field {
        path: file.to_path_buf(),
        field: "replicas".into(),
        message: format!(
            "resource with name {name} does not match a config with the following GVK \
             [Deployment.[noVer].[noGrp] StatefulSet.[noVer].[noGrp] ReplicaSet.[noVer].[noGrp] \
             ReplicationController.[noVer].[noGrp]]"
        ),
    })?;
    threads::each_run(out, PARALLEL_TRANSFORM_MIN, |run| {
        replicas::apply(run, &k.replicas);
        images::apply(run, &k.images);
    });
    if !k.replacements.is_empty() {
        replacements::apply(out, &k.replacements, loader).map_err(|error| Error::Replacement {
            path: file.to_path_buf(),
            error,
        })?;
    }
    Ok(())
}

/// Renders the kustomization in `dir` (everything but the final steps).
pub fn render(dir: &Path) -> Result<Vec<Resource>> {
    let loader = Loader::new(dir)?;
    let mut out = Vec::new();
    accumulate(
        &loader,
        Expect::Kustomization,
        &mut Stack::default(),
        &mut out,
    )?;
    Ok(out)
}

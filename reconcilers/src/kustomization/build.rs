//! Building a Kustomization: render `spec.path` of the source artifact with the `kustomize`
//! crate, with the Kustomization's own overrides, then post-build substitution and
//! `commonMetadata`. Also reads the policies a revision brings along (`spec.policies.paths`).
//!
//! Overrides work as in Flux's kustomize-controller: they are merged into the kustomization
//! file of `spec.path` (`targetNamespace` replaces `namespace`, `namePrefix`/`nameSuffix`
//! replace the file's, `patches` and `components` are appended, `images` replace entries of
//! the same name or are appended), and a directory without a kustomization file gets one
//! listing its manifests. Both need a writable tree, so the artifact (read-only, shared) is
//! copied into a temporary directory first; without overrides and with a kustomization file
//! the artifact is rendered in place. `commonMetadata` goes onto each object's own metadata
//! after substitution (not into selectors or templates), as Flux does at apply time.
//!
//! Error messages show paths relative to the artifact root, never the temporary copy.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crds::Kustomization;
use crds::kustomization::{SubstituteKind, SubstituteReference};
use crds::policy::PolicyOrigins;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::Api;
use serde_json::{Map, Value, json};

use super::substitute::{self, SubstituteError};

/// The result of a build.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The objects to apply: rendered, substituted, in kustomize's output order.
    pub objects: Vec<Value>,
    /// Every document under `spec.policies.paths` (ValidatingAdmissionPolicies, bindings and
    /// their params) when `spec.policies.from` is `Source` or `Both`; empty otherwise. These
    /// are not applied, and are removed from `objects` if `spec.path` also holds them.
    pub source_policies: Vec<Value>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A path in the spec escapes the artifact or does not exist there.
    #[error("{field}: {path:?}: {reason}")]
    InvalidPath {
        /// `spec.path`, `spec.policies.paths[0]`, …
        field: String,
        /// The path as written.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The kustomize renderer refused the kustomization (the message names the file, object
    /// and field).
    #[error("{message}")]
    Render {
        /// The renderer's message, paths relative to the artifact root.
        message: String,
    },
    /// Substitution failed in one object.
    #[error("postBuild: {0}")]
    Substitute(#[from] SubstituteError),
    /// A variable source of `postBuild` is missing or unusable.
    #[error("{field}: {message}")]
    Variables {
        /// `spec.postBuild.substituteFrom[1]`, `spec.postBuild.substitute`, …
        field: String,
        /// What is wrong, naming the ConfigMap/Secret or variable.
        message: String,
    },
    /// A ConfigMap or Secret of `postBuild.substituteFrom` (not marked optional) does not
    /// exist.
    #[error(
        "{field}: {kind} {namespace}/{name} not found (mark it optional: true to build without it)"
    )]
    VariablesNotFound {
        /// `spec.postBuild.substituteFrom[1]`, …
        field: String,
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A request to the Kubernetes API failed (reading a ConfigMap or Secret).
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, naming the object.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Copying the artifact or writing the generated kustomization failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking render task panicked or was cancelled.
    #[error("render task failed: {0}")]
    Task(String),
}

impl BuildError {
    /// Whether retrying later may succeed without a change to the Kustomization or the
    /// source (API trouble, a missing ConfigMap that may yet be created, local I/O).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BuildError::Kube { .. }
                | BuildError::Io { .. }
                | BuildError::Task(_)
                | BuildError::VariablesNotFound { .. }
        )
    }
}

/// Builds `ks` from the artifact tree at `source_dir`.
#[tracing::instrument(name = "build", skip_all, fields(namespace = %ks.namespace().unwrap_or_default(), name = %ks.name_any()))]
pub async fn build(
    client: &kube::Client,
    ks: &Kustomization,
    source_dir: &Path,
) -> Result<Built, BuildError> {
    let vars = match &ks.spec.post_build {
        Some(post_build) => Some(
            variables(
                client,
                &ks.namespace().unwrap_or_default(),
                &post_build.substitute_from,
                &post_build.substitute,
            )
            .await?,
        ),
        None => None,
    };
    let spec = ks.spec.clone();
    let root = source_dir.to_path_buf();
    let built = tokio::task::spawn_blocking(move || render_all(&spec, &root, vars.as_ref()))
        .await
        .map_err(|e| BuildError::Task(e.to_string()))??;
    Ok(built)
}

/// The blocking part of [`build`]: render, substitute, common metadata, source policies.
pub fn render_all(
    spec: &crds::KustomizationSpec,
    source_dir: &Path,
    vars: Option<&BTreeMap<String, String>>,
) -> Result<Built, BuildError> {
    let path = spec.path.as_deref().unwrap_or("./");
    let mut objects = render_path(spec, source_dir, path, "spec.path", true)?;
    if let Some(vars) = vars {
        for object in &mut objects {
            substitute::substitute_object(object, vars)?;
        }
    }
    if let Some(common) = &spec.common_metadata {
        for object in &mut objects {
            set_common_metadata(object, &common.labels, &common.annotations);
        }
    }
    let mut source_policies = Vec::new();
    if let Some(policies) = &spec.policies
        && matches!(policies.from, PolicyOrigins::Source | PolicyOrigins::Both)
    {
        for (i, dir) in policies.paths.iter().enumerate() {
            let field = format!("spec.policies.paths[{i}]");
            source_policies.extend(render_path(spec, source_dir, dir, &field, false)?);
        }
        // Gating objects are not workload: never apply them, even when spec.path covers them.
        let ids: Vec<(String, String, String, String)> =
            source_policies.iter().map(object_id).collect();
        objects.retain(|o| !ids.contains(&object_id(o)));
    }
    Ok(Built {
        objects,
        source_policies,
    })
}

fn object_id(o: &Value) -> (String, String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&o["apiVersion"]),
        s(&o["kind"]),
        s(&o["metadata"]["namespace"]),
        s(&o["metadata"]["name"]),
    )
}

/// Renders one directory of the artifact, with the spec's overrides when `overrides`.
fn render_path(
    spec: &crds::KustomizationSpec,
    source_dir: &Path,
    rel: &str,
    field: &str,
    overrides: bool,
) -> Result<Vec<Value>, BuildError> {
    let rel_path = checked_relative(rel, field)?;
    let dir = source_dir.join(&rel_path);
    if !dir.is_dir() {
        return Err(BuildError::InvalidPath {
            field: field.to_owned(),
            path: rel.to_owned(),
            reason: "no such directory in the source artifact".to_owned(),
        });
    }
    let has_kustomization = kustomization_file(&dir).is_some();
    let needs_overrides = overrides && has_overrides(spec);
    let resources = if has_kustomization && !needs_overrides {
        kustomize::render(&dir).map_err(|e| render_error(&e, &[source_dir]))?
    } else {
        let work = tempfile::Builder::new()
            .prefix("flotilla-build-")
            .tempdir()
            .map_err(|source| BuildError::Io {
                action: "creating build directory in",
                path: std::env::temp_dir(),
                source,
            })?;
        copy_tree(source_dir, work.path())?;
        let work_dir = work.path().join(&rel_path);
        if !has_kustomization {
            generate_kustomization(&work_dir)?;
        }
        if needs_overrides {
            merge_overrides(spec, &work_dir)?;
        }
        kustomize::render(&work_dir).map_err(|e| render_error(&e, &[work.path(), source_dir]))?
    };
    Ok(resources.into_iter().map(|r| r.object).collect())
}

/// `rel` as a relative path inside the artifact (`./x`, `x/y`; no `..`, not absolute).
fn checked_relative(rel: &str, field: &str) -> Result<PathBuf, BuildError> {
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => {
                return Err(BuildError::InvalidPath {
                    field: field.to_owned(),
                    path: rel.to_owned(),
                    reason: "must be relative to the artifact root and not contain '..'".to_owned(),
                });
            }
        }
    }
    Ok(out)
}

/// The renderer's message with the build directories cut off, so it names files as they are
/// in the repository.
fn render_error(error: &kustomize::Error, roots: &[&Path]) -> BuildError {
    let mut message = error.to_string();
    for root in roots {
        for spelled in [root.to_path_buf(), root.canonicalize().unwrap_or_default()] {
            let prefix = spelled.to_string_lossy().into_owned();
            if !prefix.is_empty() {
                message = message.replace(&format!("{prefix}/"), "");
                message = message.replace(&prefix, ".");
            }
        }
    }
    BuildError::Render { message }
}

fn kustomization_file(dir: &Path) -> Option<&'static str> {
    kustomize::kustomization::FILE_NAMES
        .into_iter()
        .find(|f| dir.join(f).is_file())
}

fn has_overrides(spec: &crds::KustomizationSpec) -> bool {
    spec.target_namespace.is_some()
        || spec.name_prefix.is_some()
        || spec.name_suffix.is_some()
        || !spec.patches.is_empty()
        || !spec.images.is_empty()
        || !spec.components.is_empty()
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io {
        action,
        path,
        source,
    }
}

/// Copies the artifact tree (files, directories, symlinks) into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    for entry in std::fs::read_dir(from).map_err(io("listing", from))? {
        let entry = entry.map_err(io("listing", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io("reading", &source))?;
        if kind.is_dir() {
            std::fs::create_dir(&target).map_err(io("creating", &target))?;
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&source).map_err(io("reading link", &source))?;
            #[cfg(unix)]
            std::os::unix::fs::symlink(&link, &target).map_err(io("creating link", &target))?;
            #[cfg(not(unix))]
            let _ = link;
        } else {
            std::fs::copy(&source, &target).map_err(io("copying", &source))?;
        }
    }
    Ok(())
}

/// Writes a `kustomization.yaml` into `dir` listing, like `kustomize create --autodetect
/// --recursive` (what Flux runs): every YAML/JSON file below `dir` holding Kubernetes objects,
/// and every sub-directory that has a kustomization file of its own (not descended into).
fn generate_kustomization(dir: &Path) -> Result<(), BuildError> {
    let mut resources = Vec::new();
    collect_resources(dir, dir, &mut resources)?;
    let doc = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    let file = dir.join("kustomization.yaml");
    std::fs::write(&file, kustomize::yaml::emit_document(&doc)).map_err(io("writing", &file))
}

fn collect_resources(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BuildError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io("listing", dir))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if path.is_dir() {
            if kustomization_file(&path).is_some() {
                out.push(rel);
            } else {
                collect_resources(root, &path, out)?;
            }
            continue;
        }
        let is_manifest = [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if !is_manifest {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        // Files that are not Kubernetes objects (values files, CI configs) are left out, as
        // kustomize's autodetection does.
        let is_objects = kustomize::yaml::parse_documents(&bytes, &path).is_ok_and(|docs| {
            !docs.is_empty()
                && docs
                    .iter()
                    .all(|d| d["apiVersion"].is_string() && d["kind"].is_string())
        });
        if is_objects {
            out.push(rel);
        }
    }
    Ok(())
}

/// Merges the spec's overrides into the kustomization file of `dir`, as Flux does.
fn merge_overrides(spec: &crds::KustomizationSpec, dir: &Path) -> Result<(), BuildError> {
    let Some(name) = kustomization_file(dir) else {
        return Ok(());
    };
    let file = dir.join(name);
    let bytes = std::fs::read(&file).map_err(io("reading", &file))?;
    let mut doc =
        kustomize::yaml::parse_one(&bytes, Path::new(name)).map_err(|e| BuildError::Render {
            message: e.to_string(),
        })?;
    if doc.is_null() {
        doc = Value::Object(Map::new());
    }
    let Some(k) = doc.as_object_mut() else {
        return Err(BuildError::Render {
            message: format!("{name}: expected a mapping at the top level"),
        });
    };
    if let Some(ns) = &spec.target_namespace {
        k.insert("namespace".into(), json!(ns));
    }
    if let Some(prefix) = &spec.name_prefix {
        k.insert("namePrefix".into(), json!(prefix));
    }
    if let Some(suffix) = &spec.name_suffix {
        k.insert("nameSuffix".into(), json!(suffix));
    }
    if !spec.patches.is_empty() {
        let mut patches = take_list(k, "patches");
        for p in &spec.patches {
            let mut patch = json!({ "patch": p.patch });
            if let Some(t) = &p.target {
                patch["target"] = serde_json::to_value(t).unwrap_or(Value::Null);
            }
            patches.push(patch);
        }
        k.insert("patches".into(), Value::Array(patches));
    }
    if !spec.images.is_empty() {
        let mut images = take_list(k, "images");
        for image in &spec.images {
            let value = serde_json::to_value(image).unwrap_or(Value::Null);
            match images.iter_mut().find(|i| i["name"] == image.name.as_str()) {
                Some(existing) => *existing = value,
                None => images.push(value),
            }
        }
        k.insert("images".into(), Value::Array(images));
    }
    if !spec.components.is_empty() {
        let mut components = take_list(k, "components");
        components.extend(spec.components.iter().map(|c| json!(c)));
        k.insert("components".into(), Value::Array(components));
    }
    std::fs::write(&file, kustomize::yaml::emit_document(&doc)).map_err(io("writing", &file))
}

/// Removes and returns the list at `key` (empty when missing or not a list); callers put it
/// back with `insert`.
fn take_list(k: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match k.remove(key) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// Sets `labels` and `annotations` on the object's own metadata (overriding).
fn set_common_metadata(
    object: &mut Value,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) {
    let Some(obj) = object.as_object_mut() else {
        return;
    };
    let metadata = obj.entry("metadata").or_insert_with(|| json!({}));
    for (key, values) in [("labels", labels), ("annotations", annotations)] {
        if values.is_empty() {
            continue;
        }
        let Some(meta) = metadata.as_object_mut() else {
            return;
        };
        let map = meta.entry(key).or_insert_with(|| json!({}));
        if !map.is_object() {
            *map = json!({});
        }
        if let Some(map) = map.as_object_mut() {
            for (k, v) in values {
                map.insert(k.clone(), json!(v));
            }
        }
    }
}

/// The substitution variables: `substituteFrom` in order (later override earlier), then
/// `substitute` over all of them, as Flux documents.
pub async fn variables(
    client: &kube::Client,
    namespace: &str,
    from: &[SubstituteReference],
    inline: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, BuildError> {
    let mut vars = BTreeMap::new();
    for (i, reference) in from.iter().enumerate() {
        let field = format!("spec.postBuild.substituteFrom[{i}]");
        let name = &reference.name;
        let data: Option<BTreeMap<String, String>> = match reference.kind {
            SubstituteKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                api.get_opt(name)
                    .await
                    .map_err(|e| BuildError::Kube {
                        action: format!("{field}: reading ConfigMap {namespace}/{name}"),
                        source: Box::new(e),
                    })?
                    .map(|cm| cm.data.unwrap_or_default())
            }
            SubstituteKind::Secret => {
                let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                match api.get_opt(name).await.map_err(|e| BuildError::Kube {
                    action: format!("{field}: reading Secret {namespace}/{name}"),
                    source: Box::new(e),
                })? {
                    Some(secret) => {
                        let mut out = BTreeMap::new();
                        for (k, v) in secret.data.unwrap_or_default() {
                            let text =
                                String::from_utf8(v.0).map_err(|_| BuildError::Variables {
                                    field: field.clone(),
                                    message: format!(
                                        "Secret {namespace}/{name}: key {k:?} is not valid UTF-8"
                                    ),
                                })?;
                            out.insert(k, text);
                        }
                        out.extend(secret.string_data.unwrap_or_default());
                        Some(out)
                    }
                    None => None,
                }
            }
        };
        match data {
            Some(data) => {
                for (key, value) in data {
                    check_name(&key, &field)?;
                    vars.insert(key, value);
                }
            }
            None if reference.optional => {}
            None => {
                return Err(BuildError::VariablesNotFound {
                    field,
                    kind: match reference.kind {
                        SubstituteKind::ConfigMap => "ConfigMap",
                        SubstituteKind::Secret => "Secret",
                    },
                    namespace: namespace.to_owned(),
                    name: name.clone(),
                });
            }
        }
    }
    for (key, value) in inline {
        check_name(key, "spec.postBuild.substitute")?;
        vars.insert(key.clone(), value.clone());
    }
    Ok(vars)
}

fn check_name(name: &str, field: &str) -> Result<(), BuildError> {
    if substitute::is_valid_name(name) {
        Ok(())
    } else {
        Err(BuildError::Variables {
            field: field.to_owned(),
            message: format!(
                "variable name {name:?} is invalid, it must match ^[_a-zA-Z][_a-zA-Z0-9]*$"
            ),
        })
    }
}

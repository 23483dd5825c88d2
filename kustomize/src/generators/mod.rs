//! `configMapGenerator` and `secretGenerator`, with kustomize v5.5.0 output.
//!
//! API (for the pipeline):
//! - serde types [`GeneratorArgs`] (one generator entry, both kinds) and
//!   [`GeneratorOptions`] (`generatorOptions` and per-entry `options`);
//! - [`run`]: builds every ConfigMap, then every Secret, of one kustomization
//!   and adds each to the resource list by its `behavior` (`create` appends,
//!   `merge`/`replace` fold into the resource of the same id from a base);
//!   objects that need a name hash get `Resource::needs_hash = true`;
//! - [`hash::suffix`]: the 10-character name hash, applied by the pipeline at
//!   the very end of the build (kustomize hashes after all transformers).
//!
//! Output matches kustomize: keys sorted, non-UTF-8 file content in
//! `binaryData`, Secret values base64 in `data` (wrapped at 70 columns like
//! kustomize does), `type: Opaque` by default, `immutable: true` when asked.

pub mod hash;
mod kv;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Loader;
use crate::resource::{ResId, Resource};

/// One `configMapGenerator` or `secretGenerator` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    /// Object name (before the hash suffix).
    #[serde(default)]
    pub name: String,
    /// Object namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `create` (default), `merge` or `replace`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub behavior: String,
    /// `key=value` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub literals: Vec<String>,
    /// Files, as `path` (key is the file name) or `key=path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Env files (`KEY=value` lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub envs: Vec<String>,
    /// Deprecated single env file; read after `envs`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub env: String,
    /// Secret type (Secrets only; default `Opaque`).
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub secret_type: String,
    /// Options for this entry; `generatorOptions` fills in what it leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<GeneratorOptions>,
}

/// `generatorOptions` / `options`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    /// Labels added to generated objects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to generated objects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Keep the plain name (no `-<hash>`).
    #[serde(default)]
    pub disable_name_suffix_hash: bool,
    /// Set `immutable: true`.
    #[serde(default)]
    pub immutable: bool,
}

impl GeneratorOptions {
    /// kustomize's `MergeGlobalOptionsIntoLocal`: the entry's own labels and
    /// annotations win, the global ones fill in; either flag set means set.
    fn merged(
        local: Option<&GeneratorOptions>,
        global: Option<&GeneratorOptions>,
    ) -> GeneratorOptions {
        let mut out = local.cloned().unwrap_or_default();
        if let Some(g) = global {
            for (k, v) in &g.labels {
                out.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &g.annotations {
                out.annotations
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            out.disable_name_suffix_hash |= g.disable_name_suffix_hash;
            out.immutable |= g.immutable;
        }
        out
    }
}

/// Errors from generators; each names the kustomization and the generator entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeneratorError {
    /// The entry is invalid (no name, bad literal, bad key, repeated key…).
    #[error("{generator}: {reason}")]
    Invalid {
        /// `configMapGenerator[0] (name)`.
        generator: String,
        /// What is wrong.
        reason: String,
    },
    /// A file the entry names could not be read.
    #[error("{generator}: {source}")]
    Load {
        /// The entry.
        generator: String,
        /// The loader's error (names the file).
        #[source]
        source: Box<crate::Error>,
    },
    /// `behavior: merge|replace` but no resource from a base has this id.
    #[error(
        "{generator}: behavior '{behavior}' needs an existing {id} from a base, and there is none"
    )]
    NothingToMerge {
        /// The entry.
        generator: String,
        /// `merge` or `replace`.
        behavior: String,
        /// The id looked for.
        id: String,
    },
    /// `behavior: create` (or none) but the id already exists.
    #[error(
        "{generator}: {id} already exists (from {existing}); use behavior 'merge' or 'replace'"
    )]
    AlreadyExists {
        /// The entry.
        generator: String,
        /// The id.
        id: String,
        /// Where the existing object came from.
        existing: String,
    },
    /// Several resources could take the merge.
    #[error("{generator}: several resources match {id}; cannot merge or replace")]
    Ambiguous {
        /// The entry.
        generator: String,
        /// The id.
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behavior {
    Create,
    Merge,
    Replace,
}

/// Generates the ConfigMaps, then the Secrets, of one kustomization and adds
/// them to `resources` according to each entry's behavior.
pub fn run(
    config_maps: &[GeneratorArgs],
    secrets: &[GeneratorArgs],
    global: Option<&GeneratorOptions>,
    loader: &Loader,
    resources: &mut Vec<Resource>,
) -> Result<(), GeneratorError> {
    for (field, kind, list) in [
        ("configMapGenerator", "ConfigMap", config_maps),
        ("secretGenerator", "Secret", secrets),
    ] {
        for (i, args) in list.iter().enumerate() {
            // The caller prefixes the kustomization file.
            let label = format!("{field}[{i}] ({})", args.name);
            let behavior = match args.behavior.as_str() {
                "" | "create" => Behavior::Create,
                "merge" => Behavior::Merge,
                "replace" => Behavior::Replace,
                other => {
                    return Err(GeneratorError::Invalid {
                        generator: label,
                        reason: format!(
                            "unknown behavior '{other}' (expected create, merge or replace)"
                        ),
                    });
                }
            };
            let generated = generate(kind, args, global, loader, &label)?;
            absorb(resources, generated, behavior, &args.behavior, &label)?;
        }
    }
    Ok(())
}

/// Builds one generated object.
fn generate(
    kind: &str,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    loader: &Loader,
    label: &str,
) -> Result<Resource, GeneratorError> {
    if args.name.is_empty() {
        return Err(GeneratorError::Invalid {
            generator: label.to_string(),
            reason: format!("a {} generator needs a name", kind.to_lowercase()),
        });
    }
    if kind == "ConfigMap" && !args.secret_type.is_empty() {
        return Err(GeneratorError::Invalid {
            generator: label.to_string(),
            reason: "'type' is only valid for secretGenerator".into(),
        });
    }
    let options = GeneratorOptions::merged(args.options.as_ref(), global);
    let pairs = kv::load(args, loader, label)?;

    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.into()));
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    if !options.labels.is_empty() {
        meta.insert("labels".into(), string_map(&options.labels));
    }
    if !options.annotations.is_empty() {
        meta.insert("annotations".into(), string_map(&options.annotations));
    }
    obj.insert("metadata".into(), Value::Object(meta));

    let mut sorted = pairs;
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    if kind == "Secret" {
        let secret_type = if args.secret_type.is_empty() {
            "Opaque"
        } else {
            &args.secret_type
        };
        obj.insert("type".into(), Value::String(secret_type.into()));
        let data: Map<String, Value> = sorted
            .into_iter()
            .map(|(k, v)| (k, Value::String(base64_wrapped(&v))))
            .collect();
        obj.insert("data".into(), Value::Object(data));
    } else {
        let mut data = Map::new();
        let mut binary = Map::new();
        for (k, v) in sorted {
            match String::from_utf8(v) {
                Ok(text) => {
                    data.insert(k, Value::String(text));
                }
                Err(e) => {
                    binary.insert(k, Value::String(base64_wrapped(e.as_bytes())));
                }
            }
        }
        if !data.is_empty() {
            obj.insert("data".into(), Value::Object(data));
        }
        if !binary.is_empty() {
            obj.insert("binaryData".into(), Value::Object(binary));
        }
    }
    if options.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut resource = Resource::new(
        Value::Object(obj),
        loader.display_root().join("kustomization.yaml"),
    );
    resource.needs_hash = !options.disable_name_suffix_hash;
    Ok(resource)
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Base64 broken into 70-column lines, each ending in a newline, once the
/// encoding is 70 characters or longer (kyaml's `encodeBase64`). Hand-written
/// because no base64 crate wraps this way and the encoder is a few lines.
fn base64_wrapped(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut plain = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                plain.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                plain.push('=');
            }
        }
    }
    const LINE: usize = 70;
    if plain.len() < LINE {
        return plain;
    }
    let mut out = String::with_capacity(plain.len() + plain.len() / LINE + 1);
    for line in plain.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn effective_namespace(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

fn same_id(a: &ResId, b: &ResId) -> bool {
    a.group == b.group
        && a.version == b.version
        && a.kind == b.kind
        && a.name == b.name
        && effective_namespace(&a.namespace) == effective_namespace(&b.namespace)
}

/// kustomize's `appendReplaceOrMerge`.
fn absorb(
    resources: &mut Vec<Resource>,
    mut new: Resource,
    behavior: Behavior,
    behavior_text: &str,
    label: &str,
) -> Result<(), GeneratorError> {
    let id = new.id();
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| same_id(&r.id(), &id) || r.previous.iter().any(|p| same_id(p, &id)))
        .map(|(i, _)| i)
        .collect();
    match (matches.as_slice(), behavior) {
        ([], Behavior::Create) => {
            resources.push(new);
            Ok(())
        }
        ([], _) => Err(GeneratorError::NothingToMerge {
            generator: label.to_string(),
            behavior: behavior_text.to_string(),
            id: id.describe(),
        }),
        ([i], Behavior::Create) => Err(GeneratorError::AlreadyExists {
            generator: label.to_string(),
            id: id.describe(),
            existing: resources[*i].origin.display().to_string(),
        }),
        ([i], _) => {
            let old = &resources[*i];
            merge_metadata(&mut new, old);
            if behavior == Behavior::Merge {
                for field in ["data", "binaryData"] {
                    let merged = merge_string_maps(old.object.get(field), new.object.get(field));
                    if let Some(obj) = new.object.as_object_mut()
                        && merged.as_object().is_some_and(|m| !m.is_empty())
                    {
                        obj.insert(field.to_string(), merged);
                    }
                }
            }
            resources[*i] = new;
            Ok(())
        }
        (_, _) => Err(GeneratorError::Ambiguous {
            generator: label.to_string(),
            id: id.describe(),
        }),
    }
}

/// Old entries overlaid with new ones (kustomize's `mergeStringMaps`).
fn merge_string_maps(old: Option<&Value>, new: Option<&Value>) -> Value {
    let mut out = Map::new();
    for source in [old, new].into_iter().flatten() {
        if let Value::Object(m) = source {
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// kustomize's `CopyMergeMetaDataFieldsFrom`: labels and annotations merge
/// (new wins), name and namespace and the rename history come from the old object.
fn merge_metadata(new: &mut Resource, old: &Resource) {
    let old_meta = old.object.get("metadata");
    let labels = merge_string_maps(
        old_meta.and_then(|m| m.get("labels")),
        new.object.get("metadata").and_then(|m| m.get("labels")),
    );
    let annotations = merge_string_maps(
        old_meta.and_then(|m| m.get("annotations")),
        new.object
            .get("metadata")
            .and_then(|m| m.get("annotations")),
    );
    let name = old.name().to_string();
    let namespace = old.namespace().to_string();
    let meta = new.metadata_mut();
    for (field, value) in [("labels", labels), ("annotations", annotations)] {
        if value.as_object().is_some_and(|m| !m.is_empty()) {
            meta.insert(field.into(), value);
        } else {
            meta.remove(field);
        }
    }
    meta.insert("name".into(), Value::String(name));
    if namespace.is_empty() {
        meta.remove("namespace");
    } else {
        meta.insert("namespace".into(), Value::String(namespace));
    }
    // kustomize keeps the old object's build annotations and drops the hash
    // request when the new entry lacks it: a hash only when both ask for one.
    new.needs_hash &= old.needs_hash;
    new.previous = old.previous.clone();
    new.prefixes = old.prefixes.clone();
    new.suffixes = old.suffixes.clone();
    new.origin = old.origin.clone();
}

#[cfg(test)]
mod tests;

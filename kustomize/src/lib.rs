//! The kustomize-compatible renderer.
//!
//! Takes a kustomization directory and produces the multi-document YAML that
//! `kubectl kustomize` (kustomize v5.5.0) would print, byte for byte.
//!
//! Boundaries: pure. The only I/O is reading files below the kustomization
//! root (kustomize's default load restrictor); no network, no exec, no
//! plugins, no remote bases.
//!
//! Layout: [`target`] walks kustomizations (resources, bases, components)
//! and runs generators and transformers per level; [`transform`] holds the
//! built-in transformers; [`patch`], [`generators`], [`replacements`] the
//! kustomization features of the same names; [`yaml`] reads and prints;
//! `threads` splits large renders across cores without changing output.

pub mod error;
pub mod fieldspec;
pub mod generators;
pub mod kustomization;
pub mod loader;
pub mod patch;
pub mod replacements;
pub mod resource;
pub mod target;
mod threads;
pub mod transform;
pub mod yaml;

use std::path::Path;

pub use error::{Error, Result};
pub use loader::Loader;
pub use resource::{ResId, Resource};

/// Renders the kustomization at `dir` to resources in output order, as
/// `kubectl kustomize` would print them.
pub fn render(dir: &Path) -> Result<Vec<Resource>> {
    let _span = tracing::info_span!("render", dir = %dir.display()).entered();
    let mut resources = target::render(dir)?;
    add_hash_suffixes(&mut resources);
    transform::name_reference::apply(&mut resources)?;
    transform::order::sort(&mut resources);
    Ok(resources)
}

/// Renders the kustomization at `dir` to multi-document YAML.
pub fn build(dir: &Path) -> Result<String> {
    let resources = render(dir)?;
    Ok(emit(resources, threads::spare()))
}

/// Below this many objects one thread prints the stream: a thread costs
/// more than it saves.
const PARALLEL_EMIT_MIN: usize = 512;

/// Prints `resources` in order. Printing walks every object once more after
/// the whole render, so on large renders it is split across the render
/// threads: each prints (and frees) a contiguous run of documents, and the
/// runs are joined in order, so the output is the same byte for byte.
fn emit(resources: Vec<Resource>, threads: usize) -> String {
    let threads = threads.min(resources.len() / PARALLEL_EMIT_MIN);
    if threads < 2 {
        return yaml::emit_documents(resources.into_iter().map(|r| r.object));
    }
    let per_thread = resources.len().div_ceil(threads);
    let mut runs: Vec<Vec<Resource>> = Vec::with_capacity(threads);
    let mut rest = resources;
    while rest.len() > per_thread {
        let tail = rest.split_off(per_thread);
        runs.push(rest);
        rest = tail;
    }
    runs.push(rest);
    threads::in_order(runs, |run: Vec<Resource>| {
        yaml::emit_documents(run.into_iter().map(|r| r.object))
    })
    .join("---\n")
}

/// Generated ConfigMaps/Secrets get their content hash appended last, after
/// every transformer has had its say on the content.
fn add_hash_suffixes(resources: &mut [Resource]) {
    for res in resources.iter_mut().filter(|r| r.needs_hash) {
        let name = format!("{}-{}", res.name(), generators::hash::suffix(&res.object));
        res.set_name(&name);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config_maps(n: usize) -> Vec<Resource> {
        (0..n)
            .map(|i| {
                Resource::new(
                    json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": format!("cm{i}")}, "data": {"k": "v\nw"}}),
                    "cms.yaml",
                )
            })
            .collect()
    }

    /// A base of `apps` ConfigMap + Deployment pairs under an overlay that
    /// uses every per-object transformer.
    fn large_tree(apps: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().join("base");
        std::fs::create_dir(&base).expect("base dir");
        let mut manifests = String::new();
        for i in 0..apps {
            manifests.push_str(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  k: v\n---\n\
                 apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\nspec:\n  replicas: 1\n  \
                 template:\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.0\n        \
                 envFrom:\n        - configMapRef:\n            name: cm{i}\n---\n"
            ));
        }
        std::fs::write(base.join("all.yaml"), manifests).expect("manifests");
        std::fs::write(base.join("kustomization.yaml"), "resources:\n- all.yaml\n").expect("base");
        std::fs::write(
            dir.path().join("kustomization.yaml"),
            "resources:\n- base\nnamespace: prod\nnamePrefix: p-\nnameSuffix: -s\n\
             labels:\n- pairs:\n    team: a\n  includeSelectors: true\n\
             commonAnnotations:\n  note: x\nimages:\n- name: nginx\n  newTag: \"2.0\"\n\
             replicas:\n- name: app7\n  count: 3\n",
        )
        .expect("overlay");
        dir
    }

    #[test]
    fn threads_render_a_large_tree_like_one_thread() {
        let tree = large_tree(PARALLEL_EMIT_MIN * 2);
        let one = threads::tests::with_limit(1, || build(tree.path())).expect("one thread");
        let four = threads::tests::with_limit(4, || build(tree.path())).expect("four threads");
        assert_eq!(one, four);
        assert_eq!(
            four.matches("namespace: prod").count(),
            PARALLEL_EMIT_MIN * 4
        );
        assert!(
            four.contains("name: p-cm1023-s"),
            "prefix, suffix and reference"
        );
        assert!(four.contains("image: nginx:2.0"));
        assert!(four.contains("replicas: 3"));
    }

    #[test]
    fn threads_print_the_same_stream_as_one_thread() {
        let n = PARALLEL_EMIT_MIN * 3 + 7;
        let one = emit(config_maps(n), 1);
        let four = emit(config_maps(n), 4);
        assert_eq!(one, four);
        assert_eq!(four.matches("---\n").count(), n - 1);
        assert!(
            four.ends_with("name: cm1542\n"),
            "{}",
            &four[four.len() - 40..]
        );
    }
}

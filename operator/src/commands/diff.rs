//! `flotilla diff kustomization NAME` / `flotilla diff DIR`: what an apply would change.
//!
//! The objects are rendered exactly as the reconciler renders them, sent to the API server as
//! a server-side apply with `dryRun=All` under the `flotilla` field manager, and the server's
//! answer (the object as it would be stored, defaults and merges included) is compared with the
//! live object. Comparing against the server's answer rather than the rendered file means
//! defaulted fields and fields other managers own do not show up as changes.
//!
//! For a Kustomization, its GitRepository's current artifact revision is fetched afresh (the
//! operator's artifact store lives in the operator's pod), anonymously: sources that need
//! credentials cannot be diffed this way yet.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use crds::{GitRepository, Kustomization};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde_json::{Value, json};

use crate::cli::DiffArgs;

use super::operator::{client, runtime};

/// The ownership labels the reconciler adds to every object it applies (kept in step with
/// `reconcilers::kustomization::apply`), so a diff does not report them as changes.
const NAME_LABEL: &str = "flotilla.dev/kustomization-name";
const NAMESPACE_LABEL: &str = "flotilla.dev/kustomization-namespace";

pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(diff(args))
}

async fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let kube = client(args.cluster.kubeconfig.as_deref()).await?;
    let (objects, owner, default_ns) = match args.target.as_slice() {
        [kind, name] if matches!(kind.as_str(), "kustomization" | "kustomizations" | "ks") => {
            let objects = render_kustomization(&kube, &args.namespace, name).await?;
            (
                objects,
                Some((name.clone(), args.namespace.clone())),
                args.namespace.clone(),
            )
        }
        [dir] => (render_dir(Path::new(dir))?, None, "default".to_owned()),
        other => bail!("expected `kustomization NAME` or a DIR, got {other:?}"),
    };
    let mut out = std::io::stdout().lock();
    let (mut changed, mut created, mut unchanged) = (0, 0, 0);
    for mut object in objects {
        if let Some((name, namespace)) = &owner {
            let labels = object
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .map(|m| m.entry("labels").or_insert_with(|| json!({})));
            if let Some(Value::Object(labels)) = labels {
                labels.insert(NAME_LABEL.into(), json!(name));
                labels.insert(NAMESPACE_LABEL.into(), json!(namespace));
            }
        }
        let (api, name) = api_for(&kube, &mut object, &default_ns)
            .await
            .with_context(|| format!("resolving {}", display(&object)))?;
        let shown = display(&object);
        let live = api
            .get_opt(&name)
            .await
            .with_context(|| format!("reading {shown}"))?;
        let params = PatchParams::apply(reconcilers::FIELD_MANAGER)
            .force()
            .dry_run();
        let merged = api
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .with_context(|| format!("server-side dry-run apply of {shown}"))?;
        let after = comparable(serde_json::to_value(&merged).context("encoding")?);
        let before = match live {
            Some(live) => comparable(serde_json::to_value(&live).context("encoding")?),
            None => {
                created += 1;
                write_diff(&mut out, &shown, "", &yaml(&after)?)?;
                continue;
            }
        };
        if before == after {
            unchanged += 1;
        } else {
            changed += 1;
            write_diff(&mut out, &shown, &yaml(&before)?, &yaml(&after)?)?;
        }
    }
    writeln!(
        out,
        "{changed} changed, {created} to create, {unchanged} unchanged"
    )
    .context("writing to stdout")?;
    // `kubectl diff` and `diff(1)`: 1 means differences were found.
    Ok(if changed + created > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn display(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{kind}/{ns}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

/// The API of the object's kind, after giving a namespaced object without a namespace
/// `default_ns` (and dropping it from a cluster-scoped one, as kubectl does).
async fn api_for(
    kube: &kube::Client,
    object: &mut Value,
    default_ns: &str,
) -> anyhow::Result<(Api<DynamicObject>, String)> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if api_version.is_empty() || kind.is_empty() || name.is_empty() {
        bail!("apiVersion, kind and metadata.name are required");
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (resource, caps) = kube::discovery::pinned_kind(kube, &gvk)
        .await
        .with_context(|| format!("the cluster does not serve {api_version} {kind}"))?;
    let metadata = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .context("metadata is not an object")?;
    if caps.scope == Scope::Namespaced {
        let ns = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(default_ns)
            .to_owned();
        metadata.insert("namespace".into(), json!(ns));
        Ok((Api::namespaced_with(kube.clone(), &ns, &resource), name))
    } else {
        metadata.remove("namespace");
        Ok((Api::all_with(kube.clone(), &resource), name))
    }
}

/// Drops what every write changes and nobody declares: bookkeeping metadata and status.
fn comparable(mut object: Value) -> Value {
    if let Some(meta) = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
    {
        for key in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            meta.remove(key);
        }
        // An empty map and an absent one mean the same; the API server keeps either.
        for key in ["labels", "annotations"] {
            if meta
                .get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| m.is_empty())
            {
                meta.remove(key);
            }
        }
    }
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
    object
}

fn yaml(value: &Value) -> anyhow::Result<String> {
    serde_saphyr::to_string(value).context("encoding YAML")
}

fn write_diff(out: &mut impl Write, shown: &str, before: &str, after: &str) -> anyhow::Result<()> {
    let diff = similar::TextDiff::from_lines(before, after);
    let (old, new) = if before.is_empty() {
        ("/dev/null".to_owned(), format!("dry-run/{shown}"))
    } else {
        (format!("live/{shown}"), format!("dry-run/{shown}"))
    };
    write!(
        out,
        "{}",
        diff.unified_diff().context_radius(3).header(&old, &new)
    )
    .context("writing to stdout")?;
    Ok(())
}

/// A DIR rendered like a Kustomization with `path: ./` would render it: a kustomization, or
/// plain manifests.
fn render_dir(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let spec: crds::KustomizationSpec = serde_json::from_value(json!({
        "sourceRef": {"kind": "GitRepository", "name": "local"},
        "interval": "1m",
        "prune": false,
    }))
    .context("default Kustomization spec")?;
    let built = reconcilers::kustomization::build::render_all(&spec, dir, None)
        .with_context(|| format!("rendering {}", dir.display()))?;
    Ok(built.objects)
}

async fn render_kustomization(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Vec<Value>> {
    let ks: Kustomization = Api::namespaced(kube.clone(), namespace)
        .get(name)
        .await
        .with_context(|| format!("reading Kustomization {namespace}/{name}"))?;
    let source_ns = ks
        .spec
        .source_ref
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.to_owned());
    let source_name = &ks.spec.source_ref.name;
    let repo: GitRepository = Api::namespaced(kube.clone(), &source_ns)
        .get(source_name)
        .await
        .with_context(|| format!("reading GitRepository {source_ns}/{source_name}"))?;
    let revision = repo
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .map(|a| a.revision.clone())
        .with_context(|| format!("GitRepository {source_ns}/{source_name} has no artifact yet"))?;
    let commit = revision
        .rsplit_once(':')
        .map(|(_, c)| c.to_owned())
        .with_context(|| format!("unexpected artifact revision {revision:?}"))?;
    let cache_dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = repo.spec.url.clone();
    let cache_root = cache_dir.path().to_path_buf();
    let artifact = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let cache = sources::Cache::open(cache_root).context("opening a source cache")?;
        let mut request = sources::FetchRequest::new(url.clone());
        request.reference = sources::Reference::Commit(commit);
        cache
            .fetch(&request, &AtomicBool::new(false))
            .with_context(|| format!("fetching {url}"))
    })
    .await
    .context("fetch task")??;
    let built = reconcilers::kustomization::build::build(kube, &ks, &artifact.path)
        .await
        .with_context(|| format!("building Kustomization {namespace}/{name}"))?;
    Ok(built.objects)
}

//! `flotilla validate PATH... --policies PATH...`: check manifests against
//! ValidatingAdmissionPolicies offline, each object as a CREATE request.
//!
//! Exit codes: 0 no denial, 1 a result carries `Deny`, 2 unusable input
//! (unreadable file, bad YAML, a policy that does not compile).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use policies::report::{self, Evaluated, ObjectRef};
use policies::{ObjectSet, PolicySet, Request};
use serde_json::Value as Json;

use crate::cli::ValidateOutput;

/// Documents read from one place, with a label for messages.
struct Source {
    label: String,
    docs: Vec<Json>,
}

pub fn run(
    paths: &[PathBuf],
    policy_paths: &[PathBuf],
    output: ValidateOutput,
    authorizer_rules: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let manifests = read_all(paths)?;
    let policy_sources = read_all(policy_paths)?;

    let mut set = PolicySet::new();
    if let Some(file) = authorizer_rules {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let rules: Vec<policies::vap::AuthorizerRule> = serde_saphyr::from_str(&text)
            .with_context(|| format!("parsing authorizer rules {}", file.display()))?;
        set = set.with_authorizer(rules);
    }
    // Params may sit beside the policies or among the manifests.
    let mut known: Vec<Json> = Vec::new();
    for src in &policy_sources {
        for doc in &src.docs {
            let is_policy = set
                .add(doc)
                .with_context(|| format!("loading policies from {}", src.label))?;
            if !is_policy {
                known.push(doc.clone());
            }
        }
    }
    if set.policy_count() == 0 {
        bail!(
            "no ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) found in the --policies paths"
        );
    }
    for dangling in set.dangling_bindings() {
        tracing::warn!(
            binding = dangling,
            "binding refers to a policy that is not given; it never applies"
        );
    }
    known.extend(manifests.iter().flat_map(|s| s.docs.iter().cloned()));
    let lookup = ObjectSet::new(known);

    let mut evaluated = Vec::new();
    for src in &manifests {
        for doc in &src.docs {
            let request =
                Request::create(doc.clone()).with_context(|| format!("reading {}", src.label))?;
            let verdicts = set.evaluate(&request, &lookup).with_context(|| {
                format!(
                    "evaluating {} {} from {}",
                    request.kind.kind, request.name, src.label
                )
            })?;
            evaluated.push(Evaluated {
                object: ObjectRef::of(doc, request.namespace.clone()),
                source: src.label.clone(),
                verdicts,
            });
        }
    }

    let mut out = std::io::stdout().lock();
    match output {
        ValidateOutput::Text => out.write_all(report::text(&evaluated).as_bytes())?,
        ValidateOutput::Json => {
            serde_json::to_writer_pretty(&mut out, &report::results_json(&evaluated))?;
            writeln!(out)?;
        }
        ValidateOutput::Policyreport => {
            for r in report::policy_reports(&evaluated) {
                let yaml = serde_saphyr::to_string(&r).context("rendering a PolicyReport")?;
                write!(out, "---\n{yaml}")?;
            }
        }
    }
    Ok(if report::denied(&evaluated) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads every path: a file, a kustomization folder (rendered), or a
/// folder of `.yaml`/`.yml`/`.json` files (recursively, sorted).
fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut sources = Vec::new();
    for path in paths {
        if path.is_dir() {
            if is_kustomization(path) {
                let yaml = kustomize::build(path)
                    .with_context(|| format!("rendering kustomization {}", path.display()))?;
                let label = format!("kustomize {}", path.display());
                let docs = policies::parse_documents(&yaml).with_context(|| label.clone())?;
                sources.push(Source { label, docs });
            } else {
                let mut files = Vec::new();
                collect_files(path, &mut files)?;
                for f in files {
                    sources.push(read_file(&f)?);
                }
            }
        } else {
            sources.push(read_file(path)?);
        }
    }
    Ok(sources)
}

fn is_kustomization(dir: &Path) -> bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(p);
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<Source> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs =
        policies::parse_documents(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Source {
        label: path.display().to_string(),
        docs,
    })
}

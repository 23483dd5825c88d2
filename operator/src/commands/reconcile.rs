//! `flotilla reconcile kustomization|source NAME`: set the `reconcile.flotilla.dev/requestedAt`
//! annotation, then wait until the reconciler reports it handled that very request
//! (`status.lastHandledReconcileAt`), and print the outcome.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use crds::conditions::{ConditionsExt, types};
use crds::{GitRepository, Kustomization, annotations};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::cli::{ReconcileArgs, ReconcileCommand};

use super::operator::{client, runtime};

pub fn run(command: ReconcileCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            ReconcileCommand::Source(args) => {
                let kube = client(args.cluster.kubeconfig.as_deref()).await?;
                let deadline = deadline(&args)?;
                let outcome =
                    request::<GitRepository>(&kube, &args.namespace, &args.name, deadline).await?;
                report("GitRepository", &args, outcome)
            }
            ReconcileCommand::Kustomization(args) => {
                let kube = client(args.cluster.kubeconfig.as_deref()).await?;
                let deadline = deadline(&args)?;
                if args.with_source {
                    let ks: Kustomization = Api::namespaced(kube.clone(), &args.namespace)
                        .get(&args.name)
                        .await
                        .with_context(|| {
                            format!("reading Kustomization {}/{}", args.namespace, args.name)
                        })?;
                    let source = &ks.spec.source_ref;
                    let source_ns = source.namespace.clone().unwrap_or(args.namespace.clone());
                    println!("► reconciling GitRepository {source_ns}/{}", source.name);
                    let outcome =
                        request::<GitRepository>(&kube, &source_ns, &source.name, deadline).await?;
                    if !outcome.ready {
                        bail!(
                            "GitRepository {source_ns}/{} is not ready: {}",
                            source.name,
                            outcome.message
                        );
                    }
                    println!(
                        "✔ GitRepository {source_ns}/{}: {}",
                        source.name, outcome.message
                    );
                }
                let outcome =
                    request::<Kustomization>(&kube, &args.namespace, &args.name, deadline).await?;
                report("Kustomization", &args, outcome)
            }
        }
    })
}

fn deadline(args: &ReconcileArgs) -> anyhow::Result<Instant> {
    let timeout = crds::duration::parse(&args.timeout)
        .with_context(|| format!("--timeout {:?}", args.timeout))?;
    Ok(Instant::now() + timeout)
}

fn report(kind: &str, args: &ReconcileArgs, outcome: Outcome) -> anyhow::Result<ExitCode> {
    if outcome.ready {
        println!(
            "✔ {kind} {}/{}: {}",
            args.namespace, args.name, outcome.message
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "✗ {kind} {}/{}: {}",
            args.namespace, args.name, outcome.message
        );
        Ok(ExitCode::from(1))
    }
}

/// What the reconcile that handled our request reported.
struct Outcome {
    ready: bool,
    message: String,
}

/// The parts of a GitRepository or Kustomization status this command reads.
trait Reconcilable:
    kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
    const KIND: &'static str;
    fn last_handled(&self) -> Option<&str>;
    fn conditions(&self) -> &[crds::conditions::Condition];
}

impl Reconcilable for GitRepository {
    const KIND: &'static str = "GitRepository";
    fn last_handled(&self) -> Option<&str> {
        self.status.as_ref()?.last_handled_reconcile_at.as_deref()
    }
    fn conditions(&self) -> &[crds::conditions::Condition] {
        self.status
            .as_ref()
            .map(|s| &s.conditions[..])
            .unwrap_or(&[])
    }
}

impl Reconcilable for Kustomization {
    const KIND: &'static str = "Kustomization";
    fn last_handled(&self) -> Option<&str> {
        self.status.as_ref()?.last_handled_reconcile_at.as_deref()
    }
    fn conditions(&self) -> &[crds::conditions::Condition] {
        self.status
            .as_ref()
            .map(|s| &s.conditions[..])
            .unwrap_or(&[])
    }
}

/// Annotates the object and polls until `status.lastHandledReconcileAt` equals the value set.
async fn request<K: Reconcilable>(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let api: Api<K> = Api::namespaced(kube.clone(), namespace);
    let requested_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let patch =
        json!({"metadata": {"annotations": {annotations::RECONCILE_REQUESTED_AT: requested_at}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("annotating {} {namespace}/{name}", K::KIND))?;
    loop {
        let object = api
            .get(name)
            .await
            .with_context(|| format!("reading {} {namespace}/{name}", K::KIND))?;
        if object.last_handled() == Some(requested_at.as_str()) {
            let conditions = object.conditions().to_vec();
            let ready = conditions.find_condition(types::READY);
            return Ok(Outcome {
                ready: ready.is_some_and(|c| c.status == "True"),
                message: ready
                    .map(|c| c.message.clone())
                    .unwrap_or_else(|| "no Ready condition".to_owned()),
            });
        }
        if Instant::now() >= deadline {
            bail!(
                "{} {namespace}/{name}: the reconcile requested at {requested_at} was not handled in time (is the operator running?)",
                K::KIND
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

//! The Kustomization reconciler: find the source's artifact, build it (render, substitute),
//! gate it through the admission policies, then apply it to the target cluster in stages,
//! prune what left it, wait for health and write the status.
//!
//! The build half (`build`, `substitute`, `gate`) turns an artifact into checked objects and
//! never writes to a cluster; the cluster half (`apply`, `prune`, `health`, `status`) never
//! looks at the source. `target` picks the cluster and identity, `depends_on` the ordering
//! between Kustomizations, `resources` caches discovery.

pub mod apply;
pub mod build;
pub mod depends_on;
pub mod gate;
pub mod health;
pub mod prune;
pub mod resources;
pub mod status;
pub mod substitute;
pub mod target;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crds::annotations::{FINALIZER, RECONCILE_REQUESTED_AT};
use crds::conditions::{ConditionStatus, ConditionsExt, reasons, types};
use crds::inventory::{ObjectId, ResourceInventory};
use crds::{GitRepository, Kustomization, KustomizationStatus};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tokio::time::Instant;
use tracing::{Instrument, info, info_span};

use self::apply::{Mode, Owner};
use self::resources::Resources;
use self::target::{Cluster, Clusters};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::gitrepository::storage::ArtifactStore;
use crate::metrics::Metrics;

/// The kind name used in metrics and logs.
pub const KIND: &str = "Kustomization";

/// How the Kustomization controller runs (taken from [`crate::OperatorConfig`]).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where GitRepository artifacts are stored.
    pub store: ArtifactStore,
    /// How many Kustomizations are reconciled at once.
    pub concurrency: u16,
    /// Only watch this namespace; `None` watches all.
    pub watch_namespace: Option<String>,
    /// Requeue delay when an object's own retry interval is unusable.
    pub default_retry: Duration,
    /// `reportingInstance` of Events.
    pub instance: Option<String>,
}

/// What every reconcile shares.
struct Context {
    client: kube::Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    events: Events,
    /// The operator's own cluster (the default target) and its discovery cache.
    local: Cluster,
    /// Remote targets (`spec.kubeConfig`).
    clusters: Clusters,
    /// Per `namespace/name`: what the last finished attempt saw and when the next is due.
    /// A reconcile woken by our own status write (or a GitRepository status change that did
    /// not change the artifact) finds nothing new and returns at once.
    attempts: Mutex<HashMap<String, Attempt>>,
    /// Per `namespace/name`: the last successful build and what it was built from.
    builds: Mutex<HashMap<String, (BuildInputs, Arc<build::Built>)>>,
}

/// Everything a build depends on: the artifact, the spec (by generation) and the
/// substitution variables read from the cluster.
#[derive(Clone, Debug, PartialEq)]
struct BuildInputs {
    digest: String,
    generation: Option<i64>,
    variables: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Clone, Debug, PartialEq)]
struct Seen {
    generation: Option<i64>,
    revision: Option<String>,
    requested_at: Option<String>,
}

#[derive(Clone, Debug)]
struct Attempt {
    seen: Seen,
    next_due: Instant,
}

/// Runs the Kustomization controller until `shutdown` completes, then lets in-flight
/// reconciles finish.
pub async fn run(
    client: kube::Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<()> {
    let (api, sources): (Api<Kustomization>, Api<GitRepository>) = match &settings.watch_namespace {
        Some(namespace) => (
            Api::namespaced(client.clone(), namespace),
            Api::namespaced(client.clone(), namespace),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let context = Arc::new(Context {
        events: Events::new(client.clone(), settings.instance.clone()),
        local: Cluster {
            client: client.clone(),
            resources: Arc::new(Resources::default()),
        },
        clusters: Clusters::default(),
        client,
        settings: settings.clone(),
        metrics,
        attempts: Mutex::default(),
        builds: Mutex::default(),
    });
    let controller = Controller::new(api, watcher::Config::default());
    let store = controller.store();
    controller
        // A new artifact wakes every Kustomization rendering from that GitRepository.
        .watches(
            sources,
            watcher::Config::default(),
            move |repo: GitRepository| {
                let namespace = repo.namespace().unwrap_or_default();
                let name = repo.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|ks| {
                        let source = &ks.spec.source_ref;
                        let source_ns = source
                            .namespace
                            .clone()
                            .or_else(|| ks.namespace())
                            .unwrap_or_default();
                        source.name == name && source_ns == namespace
                    })
                    .map(|ks| ObjectRef::from_obj(&*ks))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(
            kube::runtime::controller::Config::default().concurrency(settings.concurrency.max(1)),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "Kustomization reconcile");
            }
        })
        .await;
    Ok(())
}

/// One reconcile of one Kustomization: kube-runtime's finalizer helper adds our finalizer
/// before the first apply, and on deletion runs [`finalize`] before removing it.
async fn reconcile(ks: Arc<Kustomization>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    let span = info_span!("reconcile", kind = KIND, %namespace, %name);
    async move {
        if ks.meta().deletion_timestamp.is_some() {
            forget(&ctx, &namespace, &name);
        }
        let api: Api<Kustomization> = Api::namespaced(ctx.client.clone(), &namespace);
        let context = ctx.clone();
        finalizer(&api, FINALIZER, ks, |event| async move {
            match event {
                finalizer::Event::Apply(ks) => reconcile_live(ks, &context).await,
                finalizer::Event::Cleanup(ks) => finalize(&ks, &context).await,
            }
        })
        .await
        .map_err(|error| match error {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
            finalizer::Error::AddFinalizer(e) => Error::kube(
                format!("adding finalizer {FINALIZER} to Kustomization {namespace}/{name}"),
                e,
            ),
            finalizer::Error::RemoveFinalizer(e) => Error::kube(
                format!("removing finalizer {FINALIZER} from Kustomization {namespace}/{name}"),
                e,
            ),
            other => Error::InvalidSpec(format!("Kustomization {namespace}/{name}: {other}")),
        })
    }
    .instrument(span)
    .await
}

/// Drops what the controller keeps about a Kustomization that is going away.
fn forget(ctx: &Context, namespace: &str, name: &str) {
    let key = format!("{namespace}/{name}");
    ctx.metrics.forget(KIND, namespace, name);
    if let Ok(mut attempts) = ctx.attempts.lock() {
        attempts.remove(&key);
    }
    if let Ok(mut builds) = ctx.builds.lock() {
        builds.remove(&key);
    }
}

/// A deleted Kustomization with `spec.prune` (and not suspended) takes the objects of its
/// inventory with it: the same ownership rules as pruning, Namespaces and CRDs last. A
/// target cluster that can no longer be reached for good (its kubeconfig Secret is gone)
/// is skipped with a warning, as Flux does, so the Kustomization does not hang in deletion;
/// a failed request keeps the finalizer and is retried.
async fn finalize(ks: &Kustomization, ctx: &Context) -> Result<Action> {
    let namespace = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    let entries = ks
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.clone())
        .unwrap_or_default();
    if !ks.spec.prune || ks.spec.suspend || entries.is_empty() {
        info!(
            prune = ks.spec.prune,
            suspend = ks.spec.suspend,
            objects = entries.len(),
            "deleted; its objects stay"
        );
        return Ok(Action::await_change());
    }
    let regarding = object_reference(ks);
    let cluster = match ctx.clusters.resolve(&ctx.local, ks).await {
        Ok(cluster) => cluster,
        Err(target::TargetError::Kube { secret, source }) => {
            return Err(Error::Kube {
                action: format!(
                    "reading kubeconfig Secret {secret} to delete the objects of Kustomization {namespace}/{name}"
                ),
                source,
            });
        }
        Err(e) => {
            let message = format!("garbage collection skipped: {e}");
            tracing::warn!(%message, "deleted");
            ctx.events
                .warning(&regarding, reasons::PRUNE_FAILED, "Finalize", &message)
                .await;
            return Ok(Action::await_change());
        }
    };
    let owner = Owner {
        name: name.clone(),
        namespace: namespace.clone(),
    };
    let outcomes = prune::prune(&cluster.client, &cluster.resources, &owner, &entries)
        .await
        .map_err(|e| {
            Error::Finalize(format!(
                "deleting the objects of Kustomization {namespace}/{name}: {e}"
            ))
        })?;
    let deleted = prune::deleted_lines(&outcomes);
    info!(deleted = deleted.len(), "deleted with its objects");
    if !deleted.is_empty() {
        ctx.events
            .normal(
                &regarding,
                "GarbageCollected",
                "Finalize",
                &deleted.join("\n"),
            )
            .await;
    }
    Ok(Action::await_change())
}

/// Reconciles a Kustomization that is not being deleted.
async fn reconcile_live(ks: Arc<Kustomization>, ctx: &Context) -> Result<Action> {
    let namespace = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    let key = format!("{namespace}/{name}");
    if ks.spec.suspend {
        return Ok(Action::await_change());
    }
    let source = source_of(&ctx.client, &ks).await?;
    let seen = Seen {
        generation: ks.metadata.generation,
        revision: source
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .and_then(|s| s.artifact.as_ref())
            .map(|a| a.revision.clone()),
        requested_at: ks.annotations().get(RECONCILE_REQUESTED_AT).cloned(),
    };
    if let Some(wait) = not_due(ctx, &key, &seen) {
        return Ok(Action::requeue(wait));
    }
    let started = std::time::Instant::now();
    let result = reconcile_due(&ks, ctx, source.as_ref(), &seen).await;
    let (label, next) = match &result {
        Ok(next) => ("success", *next),
        Err(error) => (error.metric_label(), ctx.settings.default_retry),
    };
    ctx.metrics
        .observe_reconcile(KIND, label, started.elapsed());
    if let Ok(mut attempts) = ctx.attempts.lock() {
        attempts.insert(
            key,
            Attempt {
                seen,
                next_due: Instant::now() + next,
            },
        );
    }
    result.map(Action::requeue)
}

fn error_policy(_ks: Arc<Kustomization>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "Kustomization reconcile failed");
    Action::requeue(ctx.settings.default_retry)
}

/// `Some(wait)` when the last attempt saw the same generation, revision and request and its
/// interval has not passed yet.
fn not_due(ctx: &Context, key: &str, seen: &Seen) -> Option<Duration> {
    let attempts = ctx.attempts.lock().ok()?;
    let last = attempts.get(key)?;
    let now = Instant::now();
    (last.seen == *seen && last.next_due > now).then(|| last.next_due - now)
}

/// The GitRepository `ks` renders from, if it exists.
async fn source_of(client: &kube::Client, ks: &Kustomization) -> Result<Option<GitRepository>> {
    let reference = &ks.spec.source_ref;
    let namespace = reference
        .namespace
        .clone()
        .or_else(|| ks.namespace())
        .unwrap_or_default();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    api.get_opt(&reference.name).await.map_err(|e| {
        Error::kube(
            format!("reading GitRepository {namespace}/{}", reference.name),
            e,
        )
    })
}

/// Why an attempt stopped short of success.
struct Failure {
    reason: &'static str,
    message: String,
    /// Retrying cannot help until the Kustomization or its source changes.
    stalled: bool,
    /// `Healthy=False` too (the apply went through, the objects are not healthy).
    unhealthy: bool,
}

impl Failure {
    fn retry(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            stalled: false,
            unhealthy: false,
        }
    }

    fn stall(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            stalled: true,
            ..Self::retry(reason, message)
        }
    }
}

/// What an attempt produced besides success or failure.
#[derive(Default)]
struct Progress {
    /// The inventory to record (new on success, old ∪ applied on a failed apply).
    inventory: Option<ResourceInventory>,
    /// `status.policyResults` of the attempted revision.
    policy_results: Option<Vec<crds::policy::PolicyResult>>,
    /// Flux-style change set (`Kind/ns/name configured`), for the Event.
    changes: Vec<String>,
    /// Whether health checks ran (and passed, on success).
    health_checked: bool,
    /// Policy warnings (`Warn` bindings), for a Warning Event.
    policy_warnings: Vec<String>,
}

/// Runs a due reconcile: everything up to and including the status write. Returns the
/// requeue delay.
async fn reconcile_due(
    ks: &Kustomization,
    ctx: &Context,
    source: Option<&GitRepository>,
    seen: &Seen,
) -> Result<Duration> {
    let namespace = ks.namespace().unwrap_or_default();
    let api: Api<Kustomization> = Api::namespaced(ctx.client.clone(), &namespace);
    let interval = ks.spec.interval().map_err(|e| {
        Error::InvalidSpec(format!(
            "Kustomization {namespace}/{}: spec.interval: {e}",
            ks.name_any()
        ))
    })?;
    let retry = ks.spec.retry_interval().unwrap_or(interval);
    let timeout = ks.spec.timeout().unwrap_or(interval);
    let old_status = ks.status.clone().unwrap_or_default();
    let mut status = old_status.clone();
    let generation = ks.metadata.generation;
    if let Some(requested) = &seen.requested_at {
        status.last_handled_reconcile_at = Some(requested.clone());
    }

    let mut progress = Progress::default();
    let outcome = attempt(ks, ctx, &api, source, &mut status, timeout, &mut progress).await;

    if let Some(results) = progress.policy_results.take() {
        status.policy_results = results;
    }
    if let Some(inventory) = progress.inventory.take() {
        status.inventory = Some(inventory);
    }
    let revision = seen.revision.clone();
    match &outcome {
        Ok(()) => {
            let revision = revision.unwrap_or_default();
            status.last_applied_revision = Some(revision.clone());
            status.last_attempted_revision = Some(revision.clone());
            if progress.health_checked {
                status::set(
                    &mut status,
                    generation,
                    types::HEALTHY,
                    ConditionStatus::True,
                    reasons::RECONCILIATION_SUCCEEDED,
                    "Health check passed",
                );
            } else {
                status.conditions.remove_condition(types::HEALTHY);
            }
            status::succeeded(&mut status, generation, &revision);
        }
        Err(failure) => {
            if revision.is_some() {
                status.last_attempted_revision = revision;
            }
            if failure.unhealthy {
                status::set(
                    &mut status,
                    generation,
                    types::HEALTHY,
                    ConditionStatus::False,
                    failure.reason,
                    &failure.message,
                );
            }
            status::failed(
                &mut status,
                generation,
                failure.reason,
                &failure.message,
                failure.stalled,
            );
        }
    }
    status::write(&api, ks, &status).await.map_err(|e| {
        Error::kube(
            format!(
                "writing status of Kustomization {namespace}/{}",
                ks.name_any()
            ),
            e,
        )
    })?;
    ctx.metrics
        .record_conditions(KIND, &namespace, &ks.name_any(), &status.conditions);

    let regarding = object_reference(ks);
    if !progress.changes.is_empty() {
        ctx.events
            .normal(
                &regarding,
                "Progressing",
                "Apply",
                &progress.changes.join("\n"),
            )
            .await;
    }
    if !progress.policy_warnings.is_empty() {
        ctx.events
            .warning(
                &regarding,
                "PolicyWarning",
                "Gate",
                &progress.policy_warnings.join("\n"),
            )
            .await;
    }
    let ready_before = old_status.conditions.find_condition(types::READY);
    let ready_after = status.conditions.find_condition(types::READY);
    let ready_changed = ready_before.map(|c| (&c.status, &c.reason, &c.message))
        != ready_after.map(|c| (&c.status, &c.reason, &c.message));
    match &outcome {
        Ok(()) => {
            if ready_changed {
                let message = ready_after.map(|c| c.message.clone()).unwrap_or_default();
                info!(%message, "reconciled");
                ctx.events
                    .normal(
                        &regarding,
                        reasons::RECONCILIATION_SUCCEEDED,
                        "Reconcile",
                        &message,
                    )
                    .await;
            }
            Ok(jitter(interval))
        }
        Err(failure) => {
            if ready_changed {
                tracing::warn!(reason = failure.reason, message = %failure.message, "reconcile failed");
                ctx.events
                    .warning(&regarding, failure.reason, "Reconcile", &failure.message)
                    .await;
            }
            Ok(if failure.stalled { interval } else { retry })
        }
    }
}

/// The stages of one attempt, up to (not including) the final status write.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    ks: &Kustomization,
    ctx: &Context,
    api: &Api<Kustomization>,
    source: Option<&GitRepository>,
    status: &mut KustomizationStatus,
    timeout: Duration,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    let mut phases = Phases::start();
    let namespace = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    let generation = ks.metadata.generation;
    let source_name = format!(
        "GitRepository {}/{}",
        ks.spec
            .source_ref
            .namespace
            .as_deref()
            .unwrap_or(&namespace),
        ks.spec.source_ref.name
    );

    // The source's artifact.
    let Some(source) = source else {
        return Err(Failure::retry(
            reasons::ARTIFACT_FAILED,
            format!("Source '{source_name}' not found"),
        ));
    };
    let Some(artifact) = source.status.as_ref().and_then(|s| s.artifact.as_ref()) else {
        return Err(Failure::retry(
            reasons::ARTIFACT_FAILED,
            format!("Source '{source_name}' is not ready, artifact not found"),
        ));
    };
    let revision = artifact.revision.clone();

    // Dependencies.
    match depends_on::not_ready(&ctx.client, ks, &revision).await {
        Ok(None) => {}
        Ok(Some(message)) => return Err(Failure::retry(reasons::DEPENDENCY_NOT_READY, message)),
        Err(e) => {
            return Err(Failure::retry(
                reasons::DEPENDENCY_NOT_READY,
                format!("reading dependencies: {e}"),
            ));
        }
    }

    phases.mark("dependencies");
    let dir = ctx
        .settings
        .store
        .dir_of(artifact)
        .map_err(|e| Failure::retry(reasons::ARTIFACT_FAILED, e.to_string()))?;

    // New work is announced before it starts, so users see progress; a reconcile of what
    // was already applied (drift check) writes nothing unless it finds something.
    let was_ready = status.conditions.condition_is_true(types::READY);
    let new_work = status.last_applied_revision.as_deref() != Some(revision.as_str())
        || status.observed_generation != generation
        || !was_ready;
    let mode = if new_work {
        Mode::Full
    } else {
        Mode::DriftOnly
    };
    if new_work
        && status
            .conditions
            .find_condition(types::RECONCILING)
            .is_none()
    {
        status::progressing(
            status,
            generation,
            &format!("Reconciliation in progress for revision {revision}"),
        );
        if let Err(e) = status::write(api, ks, status).await {
            tracing::debug!(error = %e, "writing the progressing status");
        }
    }

    // The target cluster and identity.
    let cluster = ctx.clusters.resolve(&ctx.local, ks).await.map_err(|e| {
        if e.is_transient() {
            Failure::retry(reasons::REFERENCE_NOT_FOUND, e.to_string())
        } else {
            Failure::stall(reasons::INVALID_SPEC, e.to_string())
        }
    })?;

    phases.mark("target");
    // Build (or reuse the last build of the same inputs).
    let built = cached_build(ctx, ks, &artifact.digest, &dir)
        .await
        .map_err(|e| {
            let message = format!("build of revision {revision} failed: {e}");
            if e.is_transient() {
                Failure::retry(reasons::BUILD_FAILED, message)
            } else {
                Failure::stall(reasons::BUILD_FAILED, message)
            }
        })?;

    phases.mark("build");
    // Policy gate: any Deny and nothing is applied.
    let gated = gate::evaluate(&cluster.client, ks, &built)
        .await
        .map_err(|e| {
            if e.is_policy_invalid() {
                Failure::stall(reasons::POLICY_INVALID, e.to_string())
            } else {
                Failure::retry(reasons::POLICY_INVALID, e.to_string())
            }
        })?;
    progress.policy_results = Some(gated.results.clone());
    progress.policy_warnings = gated.warnings.iter().map(ToString::to_string).collect();
    if gated.is_denied() {
        return Err(Failure::retry(
            reasons::POLICY_DENIED,
            gated.denial_message(),
        ));
    }

    phases.mark("gate");
    // Apply.
    let owner = Owner {
        name: name.clone(),
        namespace: namespace.clone(),
    };
    let target = apply::Target {
        client: &cluster.client,
        resources: &cluster.resources,
        force: ks.spec.force,
        deadline,
    };
    let desired = apply::prepare(&built.objects, &owner, &target)
        .await
        .map_err(|e| Failure::retry(reasons::APPLY_FAILED, e.to_string()))?;
    phases.mark("prepare");
    let new_inventory = apply::inventory_of(&desired);
    let applied = match apply::apply(&desired, mode, &target).await {
        Ok(applied) => applied,
        Err(e) => {
            // Objects created before the failure are recorded, so a later revision without
            // them still prunes them.
            let mut inventory = status.inventory.clone().unwrap_or_default();
            for entry in new_inventory.entries {
                if !inventory.entries.iter().any(|e| e.id == entry.id) {
                    inventory.entries.push(entry);
                }
            }
            inventory.entries.sort();
            progress.inventory = Some(inventory);
            return Err(Failure::retry(reasons::APPLY_FAILED, e.to_string()));
        }
    };
    progress.changes = applied.summary().lines().map(str::to_owned).collect();
    phases.mark("apply");

    // Prune.
    let previous = status.inventory.clone().unwrap_or_default();
    if ks.spec.prune {
        let stale = prune::stale(&previous, &applied.inventory);
        let pruned = prune::prune(&cluster.client, &cluster.resources, &owner, &stale)
            .await
            .map_err(|e| Failure::retry(reasons::PRUNE_FAILED, e.to_string()))?;
        progress.changes.extend(prune::deleted_lines(&pruned));
    }
    progress.inventory = Some(applied.inventory.clone());
    phases.mark("prune");

    // Health.
    let checks = health_checks(ks, &desired, &namespace)
        .map_err(|m| Failure::stall(reasons::INVALID_SPEC, m))?;
    if !checks.is_empty() {
        progress.health_checked = true;
        health::wait(
            &cluster.client,
            &cluster.resources,
            &checks,
            applied.live,
            deadline,
        )
        .await
        .map_err(|e| Failure {
            unhealthy: true,
            ..Failure::retry(reasons::HEALTH_CHECK_FAILED, e.to_string())
        })?;
    }
    phases.mark("health");
    Ok(())
}

/// How long each stage of an attempt took, logged at debug level when the attempt ends
/// (however it ends): where a slow reconcile spends its time, without a profiler.
struct Phases {
    last: std::time::Instant,
    marks: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn start() -> Self {
        Self {
            last: std::time::Instant::now(),
            marks: Vec::new(),
        }
    }

    /// Ends the stage called `name`.
    fn mark(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.marks.push((name, now - self.last));
        self.last = now;
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let phases: Vec<String> = self
                .marks
                .iter()
                .map(|(name, took)| format!("{name} {:.1}ms", took.as_secs_f64() * 1e3))
                .collect();
            tracing::debug!(phases = %phases.join(", "), "attempt stages");
        }
    }
}

/// Builds `ks` from the artifact at `dir`, reusing the previous result when the artifact,
/// the generation and the substitution variables are the same: rendering is the dearest
/// step of a no-change reconcile, and its result depends on nothing else.
async fn cached_build(
    ctx: &Context,
    ks: &Kustomization,
    digest: &str,
    dir: &std::path::Path,
) -> Result<Arc<build::Built>, build::BuildError> {
    let namespace = ks.namespace().unwrap_or_default();
    let key = format!("{namespace}/{}", ks.name_any());
    let variables = match &ks.spec.post_build {
        Some(post_build) => Some(
            build::variables(
                &ctx.client,
                &namespace,
                &post_build.substitute_from,
                &post_build.substitute,
            )
            .await?,
        ),
        None => None,
    };
    let inputs = BuildInputs {
        digest: digest.to_owned(),
        generation: ks.metadata.generation,
        variables,
    };
    if let Some((cached_inputs, built)) = ctx
        .builds
        .lock()
        .ok()
        .and_then(|builds| builds.get(&key).cloned())
        && cached_inputs == inputs
    {
        return Ok(built);
    }
    let spec = ks.spec.clone();
    let root = dir.to_path_buf();
    let vars = inputs.variables.clone();
    let built = tokio::task::spawn_blocking(move || build::render_all(&spec, &root, vars.as_ref()))
        .await
        .map_err(|e| build::BuildError::Task(e.to_string()))??;
    let built = Arc::new(built);
    if let Ok(mut builds) = ctx.builds.lock() {
        builds.insert(key, (inputs, built.clone()));
    }
    Ok(built)
}

/// The objects to health-check: every applied object with `spec.wait`, else
/// `spec.healthChecks`.
fn health_checks(
    ks: &Kustomization,
    desired: &[apply::Desired],
    namespace: &str,
) -> Result<Vec<health::Check>, String> {
    if ks.spec.wait {
        return Ok(desired
            .iter()
            .map(|d| health::Check {
                id: d.id.clone(),
                version: resources::split_api_version(&d.api_version).1.to_owned(),
            })
            .collect());
    }
    let mut checks = Vec::new();
    for (index, reference) in ks.spec.health_checks.iter().enumerate() {
        // Without apiVersion, the version the revision applied the object with is used.
        let applied = desired.iter().find(|d| {
            d.id.kind == reference.kind
                && d.id.name == reference.name
                && (reference.namespace.is_none()
                    || reference.namespace.as_deref() == Some(d.id.namespace.as_str()))
        });
        let api_version = match (&reference.api_version, applied) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => d.api_version.clone(),
            (None, None) => {
                return Err(format!(
                    "spec.healthChecks[{index}]: apiVersion is required for {} {} (not applied by this Kustomization)",
                    reference.kind, reference.name
                ));
            }
        };
        let (group, version) = resources::split_api_version(&api_version);
        let object_namespace = match (&reference.namespace, applied) {
            (Some(ns), _) => ns.clone(),
            (None, Some(d)) => d.id.namespace.clone(),
            (None, None) => namespace.to_owned(),
        };
        checks.push(health::Check {
            id: ObjectId {
                namespace: object_namespace,
                name: reference.name.clone(),
                group: group.to_owned(),
                kind: reference.kind.clone(),
            },
            version: version.to_owned(),
        });
    }
    Ok(checks)
}

fn object_reference(ks: &Kustomization) -> ObjectReference {
    ks.object_ref(&())
}

/// `interval` plus up to 5% so many Kustomizations with one interval do not all wake at
/// once. The spread comes from the clock; it needs no quality, only variety.
fn jitter(interval: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let fraction = f64::from(nanos % 1000) / 1000.0 * 0.05;
    interval + interval.mul_f64(fraction)
}

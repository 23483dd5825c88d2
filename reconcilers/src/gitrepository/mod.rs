//! The GitRepository reconciler: every `spec.interval` (or as soon as the
//! `reconcile.flotilla.dev/requestedAt` annotation changes) fetch the selected revision with
//! the `sources` crate, verify it if asked, store its tree as the artifact, and report
//! `status.artifact` and the `Ready`/`Reconciling`/`Stalled` conditions.
//!
//! Boundaries: reads the GitRepository and the Secrets it references, writes only the
//! GitRepository's status and Events. What the artifact is used for is the Kustomization
//! reconciler's business ([`storage::ArtifactStore::dir_of`] hands it the tree).
//!
//! Requeue policy (Flux's): success → `spec.interval`; a wrong spec → `Stalled`, no retry
//! until the object changes; missing references, refused credentials, failed verification →
//! `spec.interval` (someone has to fix something outside this object); network trouble and
//! timeouts → exponential backoff from 1 s, capped at `spec.interval`.

mod credentials;
pub mod storage;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crds::annotations::RECONCILE_REQUESTED_AT;
use crds::conditions::{ConditionStatus, ConditionUpdate, ConditionsExt, Time, reasons, types};
use crds::gitrepository::{Artifact, GitRepositoryRef, GitRepositoryStatus};
use crds::{GitRepository, GitRepositorySpec};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use crate::events::Events;
use crate::metrics::Metrics;
pub use storage::{ArtifactStore, StorageError};

/// The kind label of metrics and logs.
const KIND: &str = "GitRepository";

/// How the GitRepository controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How many GitRepositories are fetched at once.
    pub concurrency: u16,
    /// Only watch this namespace; `None` watches all.
    pub watch_namespace: Option<String>,
    /// Told apart in Events (`reportingInstance`), e.g. the pod name.
    pub instance: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            watch_namespace: None,
            instance: None,
        }
    }
}

/// Why a reconcile returned an error (the status already says so; this drives the requeue).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request to the Kubernetes API failed (reading a Secret, writing the status).
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, naming the object.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The fetch failed in a way retrying may fix (network, timeout, local I/O).
    #[error("{0}")]
    Transient(String),
}

impl Error {
    fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// The `result` label of the reconcile metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube_error",
            Error::Transient(_) => "transient_error",
        }
    }
}

/// What the reconciler shares between reconciles.
struct Context {
    client: kube::Client,
    store: ArtifactStore,
    events: Events,
    metrics: Arc<Metrics>,
    /// Per object (uid): what the last finished attempt saw and when the next one is due.
    /// A reconcile woken by our own status write finds itself not due and returns at once,
    /// so a status write never causes a second fetch.
    attempts: Mutex<HashMap<String, Attempt>>,
}

#[derive(Clone, Debug)]
struct Attempt {
    generation: Option<i64>,
    requested_at: Option<String>,
    next_due: Instant,
    consecutive_failures: u32,
}

/// Runs the GitRepository controller until `shutdown` completes, then lets in-flight fetches
/// finish.
pub async fn run(
    client: kube::Client,
    store: ArtifactStore,
    metrics: Arc<Metrics>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<GitRepository> = match &settings.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let context = Arc::new(Context {
        events: Events::new(client.clone(), settings.instance.clone()),
        client,
        store,
        metrics,
        attempts: Mutex::default(),
    });
    Controller::new(api, watcher::Config::default())
        .with_config(controller::Config::default().concurrency(settings.concurrency.max(1)))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(%error, "GitRepository reconcile");
            }
            std::future::ready(())
        })
        .await;
}

/// One reconcile of one GitRepository.
async fn reconcile(repo: Arc<GitRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let name = repo.name_any();
    let span = info_span!("reconcile", kind = KIND, %namespace, %name);
    async move {
        let key = attempt_key(&repo);
        let requested_at = repo.annotations().get(RECONCILE_REQUESTED_AT).cloned();
        if repo.spec.suspend {
            return Ok(Action::await_change());
        }
        if let Some(wait) = not_due(&ctx, &key, &repo, requested_at.as_ref()) {
            return Ok(Action::requeue(wait));
        }
        let started = Instant::now();
        let result = reconcile_due(&repo, &ctx, &key, requested_at).await;
        let label = match &result {
            Ok(_) => "success",
            Err(e) => e.metric_label(),
        };
        ctx.metrics
            .observe_reconcile(KIND, label, started.elapsed());
        result
    }
    .instrument(span)
    .await
}

/// The time left before `key` is due again, when nothing it depends on changed since the last
/// attempt.
fn not_due(
    ctx: &Context,
    key: &str,
    repo: &GitRepository,
    requested_at: Option<&String>,
) -> Option<Duration> {
    let attempts = ctx.attempts.lock().unwrap_or_else(|p| p.into_inner());
    let last = attempts.get(key)?;
    let now = Instant::now();
    (last.generation == repo.metadata.generation
        && last.requested_at.as_ref() == requested_at
        && now < last.next_due)
        .then(|| last.next_due - now)
}

/// Attempts are remembered per object identity (uid), so a GitRepository deleted and created
/// again under the same name is fetched at once, not when the old one would have been due.
fn attempt_key(repo: &GitRepository) -> String {
    match &repo.metadata.uid {
        Some(uid) => uid.clone(),
        None => format!(
            "{}/{}",
            repo.namespace().unwrap_or_default(),
            repo.name_any()
        ),
    }
}

fn error_policy(repo: Arc<GitRepository>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = attempt_key(&repo);
    let attempts = ctx.attempts.lock().unwrap_or_else(|p| p.into_inner());
    let wait = attempts
        .get(&key)
        .map(|a| a.next_due.saturating_duration_since(Instant::now()))
        .unwrap_or(Duration::from_secs(5));
    warn!(%error, namespace = %repo.namespace().unwrap_or_default(), name = %repo.name_any(), retry_in = ?wait, "GitRepository reconcile failed");
    Action::requeue(wait.max(Duration::from_millis(100)))
}

/// How to go on after a failed fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Exponential backoff (network trouble).
    Backoff,
    /// At `spec.interval` (something outside the object must change).
    Interval,
    /// Not until the object changes (`Stalled=True`).
    Stall,
}

/// A failed attempt: the `Ready=False` reason, the message, and how to retry.
#[derive(Debug)]
struct Failure {
    reason: &'static str,
    message: String,
    retry: Retry,
}

impl Failure {
    fn new(reason: &'static str, retry: Retry, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry,
        }
    }
}

async fn reconcile_due(
    repo: &GitRepository,
    ctx: &Context,
    key: &str,
    requested_at: Option<String>,
) -> Result<Action, Error> {
    let api: Api<GitRepository> =
        Api::namespaced(ctx.client.clone(), &repo.namespace().unwrap_or_default());
    let generation = repo.metadata.generation;
    let old_status = repo.status.clone().unwrap_or_default();
    let mut status = old_status.clone();

    let intervals = repo
        .spec
        .interval()
        .map_err(|e| format!("spec.interval: {e}"))
        .and_then(|i| {
            repo.spec
                .timeout()
                .map(|t| (i, t))
                .map_err(|e| format!("spec.timeout: {e}"))
        });
    let (interval, outcome) = match intervals {
        Ok((interval, timeout)) => {
            if old_status.observed_generation != generation {
                // A new spec: show progress while the (possibly long) first fetch runs.
                let mut progressing = status.clone();
                set(
                    &mut progressing.conditions,
                    generation,
                    types::RECONCILING,
                    ConditionStatus::True,
                    reasons::PROGRESSING,
                    format!(
                        "reconciling new object generation ({})",
                        generation.unwrap_or_default()
                    ),
                );
                set(
                    &mut progressing.conditions,
                    generation,
                    types::READY,
                    ConditionStatus::Unknown,
                    reasons::PROGRESSING,
                    "reconciliation in progress",
                );
                write_status(&api, repo, &old_status, &progressing).await?;
            }
            let outcome = fetch(repo, ctx, timeout).await;
            (interval, outcome)
        }
        Err(message) => (
            Duration::from_secs(300),
            Err(Failure::new(reasons::INVALID_SPEC, Retry::Stall, message)),
        ),
    };

    status.observed_generation = generation;
    if requested_at.is_some() {
        status.last_handled_reconcile_at = requested_at.clone();
    }
    record_verification(&mut status, repo, &outcome);
    let conditions = &mut status.conditions;
    let mut new_revision = None;
    let retry = match outcome {
        Ok(fetched) => {
            let message = format!("stored artifact for revision '{}'", fetched.revision);
            let unchanged = old_status.artifact.as_ref().is_some_and(|a| {
                a.digest == fetched.digest
                    && a.revision == fetched.revision
                    && a.path == fetched.relative_path
            });
            if !unchanged {
                new_revision = Some(fetched.revision.clone());
                status.artifact = Some(Artifact {
                    path: fetched.relative_path,
                    revision: fetched.revision,
                    digest: fetched.digest,
                    last_update_time: now(),
                    size: fetched.size,
                    url: None,
                });
            }
            set(
                conditions,
                generation,
                types::READY,
                ConditionStatus::True,
                reasons::RECONCILIATION_SUCCEEDED,
                message,
            );
            conditions.remove_condition(types::RECONCILING);
            conditions.remove_condition(types::STALLED);
            None
        }
        Err(failure) => {
            set(
                conditions,
                generation,
                types::READY,
                ConditionStatus::False,
                failure.reason,
                failure.message.clone(),
            );
            if failure.retry == Retry::Stall {
                set(
                    conditions,
                    generation,
                    types::STALLED,
                    ConditionStatus::True,
                    failure.reason,
                    failure.message.clone(),
                );
                conditions.remove_condition(types::RECONCILING);
            } else {
                conditions.remove_condition(types::STALLED);
                set(
                    conditions,
                    generation,
                    types::RECONCILING,
                    ConditionStatus::True,
                    reasons::PROGRESSING_WITH_RETRY,
                    format!("retrying: {}", failure.message),
                );
            }
            Some(failure)
        }
    };

    let ready_changed = old_status.conditions.find_condition(types::READY)
        != status.conditions.find_condition(types::READY);
    write_status(&api, repo, &old_status, &status).await?;
    ctx.metrics.record_conditions(
        KIND,
        &repo.namespace().unwrap_or_default(),
        &repo.name_any(),
        &status.conditions,
    );

    let regarding = repo.object_ref(&());
    if let Some(revision) = &new_revision {
        info!(%revision, "stored new artifact");
        ctx.events
            .normal(
                &regarding,
                "NewArtifact",
                "Fetch",
                &format!("stored artifact for revision '{revision}'"),
            )
            .await;
    }
    if let Some(failure) = &retry
        && ready_changed
    {
        ctx.events
            .warning(&regarding, failure.reason, "Fetch", &failure.message)
            .await;
    }

    // Decide when to come back, and remember it so that the reconcile our own status write
    // triggers is a no-op.
    let mut attempts = ctx.attempts.lock().unwrap_or_else(|p| p.into_inner());
    let failures = match &retry {
        Some(_) => attempts
            .get(key)
            .map_or(0, |a| a.consecutive_failures)
            .saturating_add(1),
        None => 0,
    };
    let (wait, action, result) = match retry {
        None => (interval, Action::requeue(interval), None),
        Some(Failure {
            retry: Retry::Interval,
            ..
        }) => (interval, Action::requeue(interval), None),
        Some(Failure {
            retry: Retry::Stall,
            ..
        }) => (Duration::MAX, Action::await_change(), None),
        Some(Failure {
            retry: Retry::Backoff,
            message,
            ..
        }) => (
            backoff(failures, interval),
            Action::requeue(interval),
            Some(Error::Transient(message)),
        ),
    };
    attempts.insert(
        key.to_owned(),
        Attempt {
            generation,
            requested_at,
            next_due: Instant::now()
                .checked_add(wait)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365)),
            consecutive_failures: failures,
        },
    );
    match result {
        Some(error) => Err(error),
        None => Ok(action),
    }
}

/// Sets `SourceVerified` and `sourceVerificationMode` from the attempt (Flux's meaning):
/// `True` naming the verified objects and keys, `False` when verification (or the keys) failed;
/// both are removed without `spec.verify`. The mode describes the stored artifact, so only a
/// success changes it. A failure before verification (network, missing branch) leaves the
/// condition as the last verification left it.
fn record_verification(
    status: &mut GitRepositoryStatus,
    repo: &GitRepository,
    outcome: &Result<Fetched, Failure>,
) {
    let generation = repo.metadata.generation;
    let Some(verify) = &repo.spec.verify else {
        status.conditions.remove_condition(types::SOURCE_VERIFIED);
        status.source_verification_mode = None;
        return;
    };
    match outcome {
        Ok(fetched) => {
            let signatures: Vec<String> =
                fetched.verified.iter().map(ToString::to_string).collect();
            set(
                &mut status.conditions,
                generation,
                types::SOURCE_VERIFIED,
                ConditionStatus::True,
                reasons::RECONCILIATION_SUCCEEDED,
                format!("verified signature of {}", signatures.join(" and ")),
            );
            status.source_verification_mode = Some(verify.mode);
        }
        // A bad signature or key, and also a `spec.verify` that cannot work (a Tag mode on a
        // branch, a missing key Secret): nothing was verified.
        Err(failure)
            if failure.reason == reasons::VERIFICATION_FAILED
                || failure.message.starts_with("spec.verify") =>
        {
            set(
                &mut status.conditions,
                generation,
                types::SOURCE_VERIFIED,
                ConditionStatus::False,
                failure.reason,
                failure.message.clone(),
            );
        }
        Err(_) => {}
    }
}

/// 1 s, 2 s, 4 s… after consecutive transient failures, never beyond `interval`.
fn backoff(failures: u32, interval: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(interval.max(Duration::from_secs(1)))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn set(
    conditions: &mut Vec<crds::conditions::Condition>,
    generation: Option<i64>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) {
    conditions.set_condition(
        ConditionUpdate::new(type_, status, reason, message),
        generation,
        now(),
    );
}

/// Writes `status` with server-side apply (field manager `flotilla`) when it differs from
/// `old`; an unchanged status is not written at all.
async fn write_status(
    api: &Api<GitRepository>,
    repo: &GitRepository,
    old: &GitRepositoryStatus,
    status: &GitRepositoryStatus,
) -> Result<(), Error> {
    if old == status {
        return Ok(());
    }
    let name = repo.name_any();
    let patch = serde_json::json!({
        "apiVersion": GitRepository::api_version(&()),
        "kind": GitRepository::kind(&()),
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(crate::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|e| {
        Error::kube(
            format!(
                "writing status of GitRepository {}/{name}",
                repo.namespace().unwrap_or_default()
            ),
            e,
        )
    })?;
    Ok(())
}

/// A successful fetch, as the status needs it.
struct Fetched {
    revision: String,
    digest: String,
    relative_path: String,
    size: Option<i64>,
    /// The good signatures, when `spec.verify` asked for them.
    verified: Vec<sources::VerifiedSignature>,
}

/// Sets the flag when dropped, so a reconcile cancelled by the controller (shutdown, object
/// deleted) stops its blocking fetch too.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn fetch(repo: &GitRepository, ctx: &Context, timeout: Duration) -> Result<Fetched, Failure> {
    let namespace = repo.namespace().unwrap_or_default();
    if repo.spec.recurse_submodules {
        // Refused rather than ignored: an artifact without the submodules the user asked for
        // would be applied as if complete.
        return Err(Failure::new(
            reasons::INVALID_SPEC,
            Retry::Stall,
            "spec.recurseSubmodules: submodules are not supported yet",
        ));
    }
    let request = request_for(&repo.spec, timeout);
    let request = with_secrets(request, &repo.spec, &ctx.client, &namespace).await?;
    let cache = ctx.store.cache().clone();
    let known = repo
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .map(|a| (a.digest.clone(), a.size));
    let cancel = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(cancel.clone());
    let fetched = tokio::task::spawn_blocking(move || {
        let artifact = cache.fetch(&request, &cancel)?;
        // The tree is walked only for a new artifact; an unchanged one keeps its size.
        let size = match known {
            Some((digest, size)) if digest == artifact.digest => size,
            _ => storage::tree_size(&artifact.path)
                .ok()
                .and_then(|s| i64::try_from(s).ok()),
        };
        Ok::<_, sources::Error>((artifact, size))
    })
    .await;
    drop(guard);
    let (artifact, size) = match fetched {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => return Err(classify(&error)),
        Err(join) => {
            return Err(Failure::new(
                reasons::GIT_OPERATION_FAILED,
                Retry::Backoff,
                format!("fetch task failed: {join}"),
            ));
        }
    };
    Ok(Fetched {
        relative_path: ctx.store.relative_path(&artifact),
        revision: artifact.revision,
        digest: artifact.digest,
        size,
        verified: artifact.verified,
    })
}

/// The `sources` request for a spec, before credentials.
fn request_for(spec: &GitRepositorySpec, timeout: Duration) -> sources::FetchRequest {
    let mut request = sources::FetchRequest::new(spec.url.clone())
        .with_reference(reference(spec.reference.as_ref()))
        .with_timeout(timeout);
    if let Some(ignore) = &spec.ignore {
        request = request.with_ignore(ignore.clone());
    }
    request
}

/// Flux's precedence when several fields are set: commit, name, semver, tag, branch.
fn reference(r: Option<&GitRepositoryRef>) -> sources::Reference {
    let Some(r) = r else {
        return sources::Reference::DefaultBranch;
    };
    if let Some(commit) = &r.commit {
        sources::Reference::Commit(commit.clone())
    } else if let Some(name) = &r.name {
        sources::Reference::Name(name.clone())
    } else if let Some(range) = &r.semver {
        sources::Reference::Semver(range.clone())
    } else if let Some(tag) = &r.tag {
        sources::Reference::Tag(tag.clone())
    } else if let Some(branch) = &r.branch {
        sources::Reference::Branch(branch.clone())
    } else {
        sources::Reference::DefaultBranch
    }
}

/// Adds credentials (`spec.secretRef`) and trusted keys (`spec.verify`) to `request`.
async fn with_secrets(
    mut request: sources::FetchRequest,
    spec: &GitRepositorySpec,
    client: &kube::Client,
    namespace: &str,
) -> Result<sources::FetchRequest, Failure> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if let Some(reference) = &spec.secret_ref {
        let data = read_secret(&secrets, namespace, &reference.name, "spec.secretRef").await?;
        let creds = credentials::credentials(&reference.name, &data).map_err(|message| {
            Failure::new(
                reasons::AUTHENTICATION_FAILED,
                Retry::Interval,
                format!("spec.secretRef: {message}"),
            )
        })?;
        request = request.with_auth(creds.auth);
        if let Some(pem) = creds.ca_certificates {
            request = request.with_ca_certificates(pem);
        }
    }
    if let Some(verify) = &spec.verify {
        let mode = verification_mode(verify.mode);
        if let Err(reason) = mode.check_reference(&request.reference) {
            // Flux stalls too: no fetch can make a branch carry a tag signature.
            return Err(Failure::new(
                reasons::INVALID_SPEC,
                Retry::Stall,
                format!("spec.verify.mode: {reason}"),
            ));
        }
        request = request.with_verification_mode(mode);
        let name = &verify.secret_ref.name;
        let data = read_secret(&secrets, namespace, name, "spec.verify.secretRef").await?;
        let keys = credentials::verification_keys(name, &data).map_err(|message| {
            Failure::new(
                reasons::VERIFICATION_FAILED,
                Retry::Interval,
                format!("spec.verify.secretRef: {message}"),
            )
        })?;
        request = request.with_verification(keys);
    }
    Ok(request)
}

async fn read_secret(
    secrets: &Api<Secret>,
    namespace: &str,
    name: &str,
    field: &str,
) -> Result<std::collections::BTreeMap<String, Vec<u8>>, Failure> {
    match secrets.get_opt(name).await {
        Ok(Some(secret)) => Ok(credentials::secret_data(&secret)),
        Ok(None) => Err(Failure::new(
            reasons::REFERENCE_NOT_FOUND,
            Retry::Interval,
            format!("{field}: Secret {namespace}/{name} not found"),
        )),
        Err(e) => Err(Failure::new(
            reasons::GIT_OPERATION_FAILED,
            Retry::Backoff,
            format!("{field}: reading Secret {namespace}/{name}: {e}"),
        )),
    }
}

fn verification_mode(mode: crds::gitrepository::VerificationMode) -> sources::VerificationMode {
    use crds::gitrepository::VerificationMode as Spec;
    match mode {
        Spec::Head => sources::VerificationMode::Head,
        Spec::Tag => sources::VerificationMode::Tag,
        Spec::TagAndHEAD => sources::VerificationMode::TagAndHead,
    }
}

/// Maps a `sources` error to the condition reason and the retry policy.
fn classify(error: &sources::Error) -> Failure {
    let message = error.to_string();
    match error {
        sources::Error::InvalidRequest { field, .. }
            if *field == "auth" || *field == "ca_certificates" =>
        {
            Failure::new(reasons::AUTHENTICATION_FAILED, Retry::Interval, message)
        }
        sources::Error::InvalidRequest { .. } | sources::Error::Ignore { .. } => {
            Failure::new(reasons::INVALID_SPEC, Retry::Stall, message)
        }
        sources::Error::ReferenceNotFound { .. } | sources::Error::PathNotFound { .. } => {
            Failure::new(reasons::REFERENCE_NOT_FOUND, Retry::Interval, message)
        }
        sources::Error::Authentication { .. } => {
            Failure::new(reasons::AUTHENTICATION_FAILED, Retry::Interval, message)
        }
        sources::Error::Verification { .. }
        | sources::Error::TagVerification { .. }
        | sources::Error::InvalidKey { .. } => {
            Failure::new(reasons::VERIFICATION_FAILED, Retry::Interval, message)
        }
        _ => Failure::new(reasons::GIT_OPERATION_FAILED, Retry::Backoff, message),
    }
}

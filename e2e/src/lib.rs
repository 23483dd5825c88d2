//! The end-to-end harness: a [`World`] is one whole GitOps loop on this
//! machine, built from the real parts — the local control plane
//! (`apiserver`), Flotilla's CRDs, a `git daemon` on 127.0.0.1 serving a
//! repository the test pushes to with the `git` CLI, a `kube::Client`, the
//! simulated nodes and workload controllers (`workloads`), and the operator.
//!
//! Tests (`tests/scenarios/`) and the benchmark (`benches/gitops.rs`) share it.
//! This is test support, not a library for users: errors are `anyhow` with
//! context because a human reads them in a failed test's output.
//!
//! Worlds take turns: only one exists at a time in a process, so a test's
//! timings are not those of seven control planes sharing two cores.

pub mod git;
pub mod kubectl;
pub mod operator;
pub mod requests;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use crds::conditions::{ConditionsExt, types};
use crds::{GitRepository, Kustomization};
use k8s_openapi::api::core::v1::{Event, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

pub use git::GitServer;

/// Namespace of the GitRepositories and Kustomizations the harness creates.
pub const NAMESPACE: &str = "flotilla-system";

/// Field manager of the harness's own writes (never `flotilla`, the operator's).
pub const FIELD_MANAGER: &str = "e2e";

/// One world per process at a time (see the crate docs).
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A local control plane with Flotilla's CRDs, a git server and a client.
pub struct World {
    /// Admin client for the control plane.
    pub client: kube::Client,
    /// The repository the test pushes to.
    pub git: GitServer,
    sim: Option<workloads::SimHandle>,
    operator: Option<operator::InProcess>,
    cp: Option<apiserver::RunningControlPlane>,
    dir: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl World {
    /// Starts a world with the operator running in-process, or returns `None`
    /// after printing `SKIPPED: …` when the `git` CLI (needed for `git daemon`)
    /// is missing.
    pub async fn start(test: &str) -> Result<Option<World>> {
        let Some(mut world) = Self::start_without_operator(test).await? else {
            return Ok(None);
        };
        world.start_operator().await?;
        Ok(Some(world))
    }

    /// Like [`World::start`], without the operator (a test starts its own).
    pub async fn start_without_operator(test: &str) -> Result<Option<World>> {
        init_tracing();
        if !git::available(test) {
            return Ok(None);
        }
        let turn = TURN.lock().await;
        let dir = tempfile::tempdir().context("creating the world's temp dir")?;
        let cp = apiserver::ControlPlane::start(apiserver::Config {
            data_dir: dir.path().join("control-plane"),
            port: 0,
        })
        .context("starting the control plane")?;
        let client = client_for(cp.kubeconfig_path()).await?;
        let git = GitServer::start(&dir.path().join("git")).await?;
        let sim = workloads::Simulation::start(
            client.clone(),
            workloads::SimConfig {
                nodes: 2,
                ..workloads::SimConfig::default()
            },
        );
        let world = World {
            client,
            git,
            sim: Some(sim),
            operator: None,
            cp: Some(cp),
            dir,
            _turn: turn,
        };
        world.install_crds().await?;
        world.ensure_namespace(NAMESPACE).await?;
        Ok(Some(world))
    }

    /// Starts the in-process operator and webhook (once).
    pub async fn start_operator(&mut self) -> Result<()> {
        if self.operator.is_none() {
            let op =
                operator::InProcess::start(self.client.clone(), &self.path("artifacts")).await?;
            self.operator = Some(op);
        }
        Ok(())
    }

    /// Starts the in-process operator and webhook with `client` instead of the admin
    /// client (a benchmark's counting client, say). Fails if one already runs.
    pub async fn start_operator_with(&mut self, client: kube::Client) -> Result<()> {
        if self.operator.is_some() {
            bail!("the operator already runs");
        }
        let op = operator::InProcess::start(client, &self.path("artifacts")).await?;
        self.operator = Some(op);
        Ok(())
    }

    /// The in-process operator, if it runs (for its metrics).
    pub fn operator(&self) -> Option<&operator::InProcess> {
        self.operator.as_ref()
    }

    /// Stops the in-process operator gracefully, if it runs.
    pub async fn stop_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            op.stop().await;
        }
    }

    /// Base URL of the in-process webhook server.
    pub fn receiver_url(&self) -> Result<String> {
        self.operator
            .as_ref()
            .map(operator::InProcess::receiver_url)
            .context("the operator is not running in-process")
    }

    /// The control plane's kubeconfig, for kubectl and child processes.
    pub fn kubeconfig(&self) -> &Path {
        self.control_plane().kubeconfig_path()
    }

    /// The control plane (for its URL and store revision).
    pub fn control_plane(&self) -> &apiserver::RunningControlPlane {
        // Only `Drop` takes it out.
        self.cp
            .as_ref()
            .unwrap_or_else(|| unreachable!("the control plane lives as long as the world"))
    }

    /// The store's latest resourceVersion: unchanged means nothing was written.
    pub fn store_revision(&self) -> u64 {
        self.control_plane().revision()
    }

    /// A directory of the world's own (for artifacts, caches).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs kubectl against this world; `None` (after `SKIPPED: …`) when
    /// kubectl is not installed.
    pub async fn kubectl(&self, test: &str, args: &[&str]) -> Result<Option<Output>> {
        let Some(bin) = kubectl::find(test) else {
            return Ok(None);
        };
        kubectl::run(&bin, self.kubeconfig(), &self.path("home"), args, &[])
            .await
            .map(Some)
    }

    /// Runs kubectl with extra environment (e.g. `KUBE_EDITOR`); fails when
    /// kubectl is missing (check with [`kubectl::find`] first to skip).
    pub async fn kubectl_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        let bin = kubectl::find("kubectl_with_env").context("kubectl is not installed")?;
        kubectl::run(&bin, self.kubeconfig(), &self.path("home"), args, env).await
    }

    /// Writes `files` into the repository, commits and pushes; returns the commit id.
    pub async fn push(&self, files: &[(&str, &str)]) -> Result<String> {
        let names: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        self.git
            .push(files, &format!("update {}", names.join(", ")))
            .await
    }

    /// Deletes a file or directory from the repository, commits and pushes.
    pub async fn delete_and_push(&self, path: &str) -> Result<String> {
        self.git.delete_and_push(path).await
    }

    /// Creates (or updates) GitRepository `NAMESPACE/name` following `main`
    /// of the world's repository.
    pub async fn apply_source(&self, name: &str, interval: &str) -> Result<()> {
        let obj = json!({
            "apiVersion": "flotilla.dev/v1alpha1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "url": self.git.url(),
                "ref": {"branch": git::BRANCH},
                "interval": interval,
                "timeout": "20s",
            },
        });
        let api: Api<GitRepository> = Api::namespaced(self.client.clone(), NAMESPACE);
        api.patch(name, &apply_params(), &Patch::Apply(obj))
            .await
            .with_context(|| format!("applying GitRepository {NAMESPACE}/{name}"))?;
        Ok(())
    }

    /// Creates (or updates) Kustomization `NAMESPACE/name` with `spec`
    /// (start from [`ks_spec`]).
    pub async fn apply_kustomization(&self, name: &str, spec: serde_json::Value) -> Result<()> {
        let obj = json!({
            "apiVersion": "flotilla.dev/v1alpha1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        });
        self.kustomizations()
            .patch(name, &apply_params(), &Patch::Apply(obj))
            .await
            .with_context(|| format!("applying Kustomization {NAMESPACE}/{name}"))?;
        Ok(())
    }

    /// The Kustomizations of [`NAMESPACE`].
    pub fn kustomizations(&self) -> Api<Kustomization> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// The GitRepositories of [`NAMESPACE`].
    pub fn sources(&self) -> Api<GitRepository> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// Waits until Kustomization `name` satisfies `cond`; on timeout the error
    /// shows `what` was awaited and the last status seen.
    pub async fn wait_for_kustomization(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&Kustomization) -> bool,
    ) -> Result<Kustomization> {
        let api = self.kustomizations();
        let waited = tokio::time::timeout(
            timeout,
            await_condition(api.clone(), name, move |k: Option<&Kustomization>| {
                k.is_some_and(&cond)
            }),
        )
        .await;
        match waited {
            Ok(Ok(Some(ks))) => Ok(ks),
            Ok(Ok(None)) => bail!("Kustomization {NAMESPACE}/{name} vanished waiting for {what}"),
            Ok(Err(e)) => Err(anyhow!(e)).context(format!("watching Kustomization {name}")),
            Err(_) => {
                let last = api.get_opt(name).await.ok().flatten();
                let status = last
                    .and_then(|k| k.status)
                    .map(|s| serde_json::to_string_pretty(&s).unwrap_or_default())
                    .unwrap_or_else(|| "no status".into());
                bail!(
                    "Kustomization {NAMESPACE}/{name}: no {what} after {timeout:?}; last status:\n{status}"
                )
            }
        }
    }

    /// Waits until Kustomization `name` is Ready at its current generation.
    pub async fn wait_for_ready(&self, name: &str, timeout: Duration) -> Result<Kustomization> {
        self.wait_for_kustomization(name, "Ready=True", timeout, is_ready)
            .await
    }

    /// Waits until Kustomization `name` is Ready with `commit` applied.
    pub async fn wait_for_revision(
        &self,
        name: &str,
        commit: &str,
        timeout: Duration,
    ) -> Result<Kustomization> {
        let what = format!("Ready=True at commit {commit}");
        self.wait_for_kustomization(name, &what, timeout, |k| {
            is_ready(k) && applied_commit(k).is_some_and(|c| c == commit)
        })
        .await
    }

    /// Asks for a reconcile now, as `flotilla reconcile` and the webhook do:
    /// sets `reconcile.flotilla.dev/requestedAt` on `kind` (`GitRepository`
    /// or `Kustomization`) `NAMESPACE/name`. Returns the value set.
    pub async fn request_reconcile(&self, kind: &str, name: &str) -> Result<String> {
        let at = k8s_openapi::jiff::Timestamp::now().to_string();
        let patch = Patch::Merge(json!({
            "metadata": {"annotations": {crds::annotations::RECONCILE_REQUESTED_AT: at}}
        }));
        let params = PatchParams::default();
        match kind {
            "GitRepository" => self.sources().patch(name, &params, &patch).await.map(drop),
            "Kustomization" => self
                .kustomizations()
                .patch(name, &params, &patch)
                .await
                .map(drop),
            other => bail!("cannot request a reconcile of a {other}"),
        }
        .with_context(|| format!("annotating {kind} {NAMESPACE}/{name}"))?;
        Ok(at)
    }

    /// The core Events about `kind` `NAMESPACE/name`, as (reason, message).
    pub async fn events_for(&self, kind: &str, name: &str) -> Result<Vec<(String, String)>> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), NAMESPACE);
        let list = api
            .list(&Default::default())
            .await
            .context("listing Events")?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some(kind)
                    && e.involved_object.name.as_deref() == Some(name)
            })
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect())
    }

    /// Waits for a core Event about `kind` `NAMESPACE/name` with `reason`
    /// whose message contains `needle`; returns the message. On timeout the
    /// error lists the Events there are.
    pub async fn wait_for_event(
        &self,
        kind: &str,
        name: &str,
        reason: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String> {
        use futures::TryStreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let api: Api<Event> = Api::namespaced(self.client.clone(), NAMESPACE);
        let found = watcher(api, watcher::Config::default())
            .applied_objects()
            .try_filter_map(|e| {
                let hit = e.involved_object.kind.as_deref() == Some(kind)
                    && e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
                    && e.message.as_deref().is_some_and(|m| m.contains(needle));
                futures::future::ready(Ok(hit.then(|| e.message.unwrap_or_default())))
            });
        let mut found = std::pin::pin!(found);
        match tokio::time::timeout(timeout, found.try_next()).await {
            Ok(Ok(Some(message))) => Ok(message),
            Ok(Ok(None)) => bail!("the Event watch ended"),
            Ok(Err(e)) => Err(anyhow!(e)).context("watching Events"),
            Err(_) => bail!(
                "no {reason} Event on {kind} {NAMESPACE}/{name} containing {needle:?} after {timeout:?}; events: {:?}",
                self.events_for(kind, name).await.unwrap_or_default()
            ),
        }
    }

    /// Installs Flotilla's CRDs and waits until they are served.
    async fn install_crds(&self) -> Result<()> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        for crd in crds::all_crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &apply_params(), &Patch::Apply(&crd))
                .await
                .with_context(|| format!("installing CRD {name}"))?;
            tokio::time::timeout(
                Duration::from_secs(10),
                await_condition(api.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .with_context(|| format!("CRD {name} not Established after 10 s"))??;
        }
        Ok(())
    }

    /// Creates namespace `name` unless it exists.
    pub async fn ensure_namespace(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        api.patch(name, &apply_params(), &Patch::Apply(obj))
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Controllers first, so nothing talks to a control plane that is gone.
        drop(self.operator.take());
        drop(self.sim.take());
        if let Some(cp) = self.cp.take() {
            cp.shutdown();
        }
    }
}

/// A Kustomization spec for directory `path` of GitRepository `source`:
/// prune on, wait on, 1 minute interval, 30 s timeout. Tests add or override fields.
pub fn ks_spec(source: &str, path: &str) -> serde_json::Value {
    json!({
        "sourceRef": {"kind": "GitRepository", "name": source},
        "path": path,
        "interval": "1m",
        "retryInterval": "2s",
        "timeout": "30s",
        "prune": true,
        "wait": true,
    })
}

/// Server-side apply as the harness, forcing (tests own what they write).
pub fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Ready=True, observed at the object's current generation.
pub fn is_ready(ks: &Kustomization) -> bool {
    let Some(status) = &ks.status else {
        return false;
    };
    let generation = ks.metadata.generation;
    status.conditions.condition_is_true(types::READY)
        && status.observed_generation == generation
        && status
            .conditions
            .find_condition(types::READY)
            .is_some_and(|c| c.observed_generation == generation)
}

/// The commit of `status.lastAppliedRevision` (`main@sha1:<commit>`).
pub fn applied_commit(ks: &Kustomization) -> Option<&str> {
    let revision = ks.status.as_ref()?.last_applied_revision.as_deref()?;
    Some(revision.rsplit_once(':').map_or(revision, |(_, c)| c))
}

/// The Ready condition's reason and message, if any.
pub fn ready_reason(ks: &Kustomization) -> Option<(&str, &str)> {
    let c = ks
        .status
        .as_ref()?
        .conditions
        .find_condition(types::READY)?;
    Some((c.reason.as_str(), c.message.as_str()))
}

/// A kube client from a kubeconfig file, as any user's would be.
pub async fn client_for(kubeconfig: &Path) -> Result<kube::Client> {
    kube::Client::try_from(config_for(kubeconfig).await?).context("building the client")
}

/// The client configuration a kubeconfig file gives.
pub async fn config_for(kubeconfig: &Path) -> Result<kube::Config> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .context("using the kubeconfig")
}

/// Logs go to the test's captured output; `RUST_LOG` picks what.
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

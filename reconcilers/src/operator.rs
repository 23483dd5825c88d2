//! The operator: every controller of this crate, run together on one client until shut down.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::gitrepository::storage::ArtifactStore;
use crate::metrics::Metrics;

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Where GitRepository artifacts are stored (created if missing).
    pub artifact_root: PathBuf,
    /// How many objects of each kind are reconciled at once.
    pub concurrency: u16,
    /// Only watch this namespace; `None` watches all.
    pub watch_namespace: Option<String>,
    /// Requeue delay after a failure whose object has no usable retry interval.
    pub default_retry: Duration,
    /// Told apart in Events (`reportingInstance`), e.g. the pod name.
    pub instance: Option<String>,
}

impl OperatorConfig {
    /// Defaults (concurrency 4, all namespaces) with artifacts under `artifact_root`.
    pub fn new(artifact_root: impl Into<PathBuf>) -> Self {
        Self {
            artifact_root: artifact_root.into(),
            concurrency: 4,
            watch_namespace: None,
            default_retry: Duration::from_secs(30),
            instance: None,
        }
    }
}

/// Flotilla's controllers, ready to run.
pub struct Operator {
    client: kube::Client,
    config: OperatorConfig,
    store: ArtifactStore,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Prepares the operator; fails when the configuration is unusable.
    pub fn new(client: kube::Client, config: OperatorConfig) -> Result<Self> {
        if config.concurrency == 0 {
            return Err(Error::Config("concurrency must be at least 1".to_owned()));
        }
        let store = ArtifactStore::new(config.artifact_root.clone())
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Self {
            client,
            config,
            store,
            metrics: Arc::new(Metrics::new()),
        })
    }

    /// The metrics every reconcile records into (serve [`Metrics::encode`] on `/metrics`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Runs the GitRepository and Kustomization controllers until `shutdown` completes,
    /// then lets in-flight reconciles finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
        let sources = crate::gitrepository::run(
            self.client.clone(),
            self.store.clone(),
            self.metrics.clone(),
            crate::gitrepository::Settings {
                concurrency: self.config.concurrency,
                watch_namespace: self.config.watch_namespace.clone(),
                instance: self.config.instance.clone(),
            },
            shutdown.clone(),
        );
        let kustomizations = crate::kustomization::run(
            self.client.clone(),
            crate::kustomization::Settings {
                store: self.store.clone(),
                concurrency: self.config.concurrency,
                watch_namespace: self.config.watch_namespace.clone(),
                default_retry: self.config.default_retry,
                instance: self.config.instance.clone(),
            },
            self.metrics.clone(),
            shutdown,
        );
        let ((), kustomizations) = tokio::join!(sources, kustomizations);
        kustomizations
    }
}

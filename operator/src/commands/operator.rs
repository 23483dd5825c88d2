//! `flotilla operator`: the controllers against any cluster, as a Deployment runs them.
//!
//! Every replica serves `/metrics`, `/healthz`, `/readyz` and (with `--receiver-addr`) the
//! Receiver webhook, which only writes annotations and so is safe on every replica. Only the
//! replica holding the Lease runs the controllers; losing the Lease stops them before another
//! replica can take it over.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use reconcilers::leader::{LeaderElector, LeaseConfig};
use reconcilers::metrics::Metrics;
use reconcilers::server::{MetricsSource, Readiness};
use reconcilers::{Operator, OperatorConfig};
use tokio::sync::watch;

use crate::cli::OperatorArgs;

pub fn run(args: OperatorArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(operate(args))?;
    Ok(ExitCode::SUCCESS)
}

/// A multi-threaded runtime for the async commands.
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A client from `--kubeconfig`, else `$KUBECONFIG`/`~/.kube/config`, else in-cluster.
pub(super) async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    // The control plane and kube both use rustls; pick the provider before any TLS happens.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig ($KUBECONFIG, ~/.kube/config) and not in a cluster")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(super) async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// A future that resolves once `rx` holds `value` (or its sender is gone).
// Written out rather than `async fn` so the signature promises `Sync`, which
// `Controller::graceful_shutdown_on` requires.
#[allow(clippy::manual_async_fn)]
pub(super) fn when(
    mut rx: watch::Receiver<bool>,
    value: bool,
) -> impl Future<Output = ()> + Send + Sync + 'static {
    async move {
        let _ = rx.wait_for(|v| *v == value).await;
    }
}

fn identity(given: Option<String>) -> String {
    if let Some(id) = given {
        return id;
    }
    let base = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "flotilla".to_owned());
    // Two processes on one host (or a restarted pod with the same name) must not share an
    // identity, or the newcomer would inherit the old holder's Lease while it still runs.
    let suffix = uuid_suffix();
    format!("{base}_{suffix}")
}

fn uuid_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

async fn operate(args: OperatorArgs) -> anyhow::Result<()> {
    let client = client(args.cluster.kubeconfig.as_deref()).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        signal().await;
        tracing::info!("signal received, shutting down");
        stop_tx.send_replace(true);
    });
    let stopped = || when(stop_rx.clone(), true);

    let artifact_root = args
        .artifact_root
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("flotilla-artifacts"));
    let mut config = OperatorConfig::new(&artifact_root);
    config.concurrency = args.concurrency;
    config.watch_namespace = args.watch_namespace.clone();
    let id = identity(args.identity.clone());
    config.instance = Some(id.clone());

    // Metrics of the current leadership term; standby replicas serve an empty registry.
    let current: Arc<Mutex<Arc<Metrics>>> = Arc::new(Mutex::new(Arc::new(Metrics::new())));
    let source: MetricsSource = {
        let current = current.clone();
        Arc::new(move || match current.lock() {
            Ok(m) => m.encode(),
            Err(poisoned) => poisoned.into_inner().encode(),
        })
    };
    let readiness = Readiness::new();
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("binding --metrics-addr {}", args.metrics_addr))?;
    eprintln!(
        "metrics, healthz, readyz on http://{}",
        listener.local_addr()?
    );
    let server = tokio::spawn(reconcilers::server::serve(
        listener,
        source,
        readiness.clone(),
        stopped(),
    ));
    let webhook = match args.receiver_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --receiver-addr {addr}"))?;
            eprintln!("receiver webhook on http://{}", listener.local_addr()?);
            Some(tokio::spawn(reconcilers::receiver::serve(
                listener,
                client.clone(),
                args.watch_namespace.clone(),
                stopped(),
            )))
        }
        None => None,
    };

    client
        .apiserver_version()
        .await
        .context("reaching the API server")?;
    readiness.set(true);

    let run_term =
        |metrics_slot: Arc<Mutex<Arc<Metrics>>>, end: watch::Receiver<bool>, end_on: bool| {
            let client = client.clone();
            let config = config.clone();
            async move {
                let operator = Operator::new(client.clone(), config.clone())
                    .context("configuring the operator")?;
                if let Ok(mut slot) = metrics_slot.lock() {
                    *slot = operator.metrics();
                }
                let receivers = reconcilers::receiver::run_status_controller(
                    client,
                    config.watch_namespace.clone(),
                    when(end.clone(), end_on),
                );
                let (result, ()) = tokio::join!(operator.run(when(end, end_on)), receivers);
                result.context("running the controllers")
            }
        };

    if args.no_leader_election {
        eprintln!("leader election off: running the controllers");
        run_term(current.clone(), stop_rx.clone(), true).await?;
    } else {
        let mut lease = LeaseConfig::new(
            &args.leader_election_namespace,
            &args.leader_election_id,
            &id,
        );
        lease.lease_duration = Duration::from_secs(args.lease_duration.max(3));
        lease.renew_deadline = lease.lease_duration * 2 / 3;
        lease.retry_period = lease.lease_duration * 2 / 15;
        let elector = LeaderElector::new(client.clone(), lease)?;
        eprintln!(
            "leader election: Lease {}/{} as {id}",
            args.leader_election_namespace, args.leader_election_id
        );
        let (leading, elector_task) = elector.spawn(stopped());
        loop {
            // Wait to lead, or stop.
            let mut lead_rx = leading.clone();
            let mut stop = stop_rx.clone();
            tokio::select! {
                _ = lead_rx.wait_for(|l| *l) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            if *stop_rx.borrow() {
                break;
            }
            eprintln!("leading: starting the controllers");
            // The term ends when leadership is lost (the elector also drops it on shutdown).
            run_term(current.clone(), leading.clone(), false).await?;
            eprintln!("no longer leading: controllers stopped");
        }
        let _ = elector_task.await;
    }
    readiness.set(false);
    if let Some(w) = webhook {
        w.await.context("webhook task")??;
    }
    server.await.context("metrics server task")??;
    Ok(())
}

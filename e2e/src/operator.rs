//! The operator as a world runs it: in-process (`reconcilers::Operator` plus
//! the Receiver webhook server and its status controller, on the test's
//! runtime), or as the real `flotilla operator` binary in a child process
//! that a test can SIGKILL.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The in-process operator and webhook; stopping is graceful, dropping aborts.
pub struct InProcess {
    metrics: std::sync::Arc<reconcilers::metrics::Metrics>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    receiver_addr: std::net::SocketAddr,
}

impl InProcess {
    /// Starts the controllers with artifacts under `artifact_root`, and the
    /// webhook on a free port of 127.0.0.1.
    pub async fn start(client: kube::Client, artifact_root: &Path) -> Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();

        let operator = reconcilers::Operator::new(
            client.clone(),
            reconcilers::OperatorConfig::new(artifact_root),
        )
        .context("configuring the operator")?;
        let metrics = operator.metrics();
        let until = stop_signal(stopped.clone());
        tasks.spawn(async move {
            if let Err(e) = operator.run(until).await {
                tracing::error!(error = %e, "operator stopped with an error");
            }
        });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the webhook port")?;
        let receiver_addr = listener.local_addr()?;
        let (c, until) = (client.clone(), stop_signal(stopped.clone()));
        tasks.spawn(async move {
            if let Err(e) = reconcilers::receiver::serve(listener, c, None, until).await {
                tracing::error!(error = %e, "webhook server stopped with an error");
            }
        });
        let until = stop_signal(stopped);
        tasks.spawn(reconcilers::receiver::run_status_controller(
            client, None, until,
        ));

        Ok(Self {
            metrics,
            stop,
            tasks,
            receiver_addr,
        })
    }

    /// What the controllers record (reconcile durations, conditions), as `/metrics` serves it.
    pub fn metrics(&self) -> &reconcilers::metrics::Metrics {
        &self.metrics
    }

    /// `http://127.0.0.1:PORT`, where Receivers' `webhookPath`s are served.
    pub fn receiver_url(&self) -> String {
        format!("http://{}", self.receiver_addr)
    }

    /// Asks every task to stop and waits until they have.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Resolves once `true` is sent (or the sender is gone).
async fn stop_signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// The `flotilla operator` binary running in a child process against a
/// kubeconfig. Dropping it kills the process.
pub struct ChildOperator {
    child: tokio::process::Child,
}

impl ChildOperator {
    /// Starts `binary operator --kubeconfig KUBECONFIG` with artifacts under
    /// `artifact_root`, metrics on a free port, and `extra` flags (its stderr
    /// goes to the test's output).
    pub fn start(
        binary: &Path,
        kubeconfig: &Path,
        artifact_root: &Path,
        extra: &[&str],
    ) -> Result<Self> {
        let child = tokio::process::Command::new(binary)
            .arg("operator")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--artifact-root")
            .arg(artifact_root)
            .arg("--metrics-addr=127.0.0.1:0")
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} operator", binary.display()))?;
        Ok(Self { child })
    }

    /// SIGKILL: no shutdown hook runs, in-flight writes are cut wherever they are.
    pub async fn kill(mut self) -> Result<()> {
        self.child.kill().await.context("killing the operator")?;
        Ok(())
    }

    /// The process id (for logs).
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}

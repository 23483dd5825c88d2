//! `flotilla control-plane --data-dir DIR [--port N] [--nodes N]`: serve the
//! local control plane, with a simulated cluster of N nodes (kubelet,
//! scheduler, workload controllers) unless N is 0, until SIGINT (Ctrl-C) or
//! SIGTERM.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

pub fn run(data_dir: PathBuf, port: u16, nodes: usize) -> anyhow::Result<ExitCode> {
    let running = apiserver::ControlPlane::start(apiserver::Config {
        data_dir: data_dir.clone(),
        port,
    })
    .with_context(|| format!("starting the control plane on {}", data_dir.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "serving {}", running.url()).context("writing to stdout")?;
    writeln!(
        out,
        "kubeconfig: export KUBECONFIG={}",
        running.kubeconfig_path().display()
    )
    .context("writing to stdout")?;
    if nodes > 0 {
        writeln!(out, "simulated nodes: sim-node-0..sim-node-{}", nodes - 1)
            .context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    drop(out);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the simulation runtime")?;
    let kubeconfig = running.kubeconfig_path().to_path_buf();
    rt.block_on(async {
        let simulation = if nodes > 0 {
            let client = super::operator::client(Some(&kubeconfig))
                .await
                .context("connecting the simulated cluster to the control plane")?;
            Some(workloads::Simulation::start(
                client,
                workloads::SimConfig {
                    nodes,
                    ..workloads::SimConfig::default()
                },
            ))
        } else {
            None
        };
        wait_for_signal().await.context("waiting for a signal")?;
        if let Some(sim) = simulation {
            sim.shutdown().await;
        }
        anyhow::Ok(())
    })?;
    running.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGINT or SIGTERM. Every acknowledged write is already on
/// disk, so there is nothing to flush on the way out.
async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

//! `flotilla control-plane --data-dir DIR [--port N]`: serve the local
//! control plane until SIGINT (Ctrl-C) or SIGTERM.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

pub fn run(data_dir: PathBuf, port: u16) -> anyhow::Result<ExitCode> {
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
    out.flush().context("writing to stdout")?;
    drop(out);
    wait_for_signal().context("waiting for a signal")?;
    running.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Blocks until SIGINT or SIGTERM. Every acknowledged write is already on
/// disk, so there is nothing to flush on the way out.
fn wait_for_signal() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })
}

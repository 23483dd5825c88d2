//! kubectl, the oracle: tests check what a user would see with it.

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{Context, Result};

/// Where kubectl is on `PATH`, or `None` after printing `SKIPPED: …`.
pub fn find(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED: {test}: kubectl not found on PATH");
    }
    found
}

/// Runs kubectl against `kubeconfig` with `home` as its cache directory
/// (kubectl caches discovery per host:port, and each world has its own port).
pub async fn run(
    kubectl: &Path,
    kubeconfig: &Path,
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Output> {
    tokio::process::Command::new(kubectl)
        .args(args)
        .envs(env.iter().copied())
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .output()
        .await
        .with_context(|| format!("running kubectl {args:?}"))
}

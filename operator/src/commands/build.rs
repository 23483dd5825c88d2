//! `flotilla build DIR`: render a kustomization to stdout.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

pub fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    let yaml = kustomize::build(dir).with_context(|| format!("rendering {}", dir.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

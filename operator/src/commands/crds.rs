//! `flotilla crds`: print the CustomResourceDefinitions generated from the `crds` crate.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

pub fn run() -> anyhow::Result<ExitCode> {
    let yaml = crds::all_crds_yaml().context("rendering the CustomResourceDefinitions")?;
    std::io::stdout()
        .lock()
        .write_all(yaml.as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

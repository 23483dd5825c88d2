//! One module per subcommand; `run` dispatches.

mod build;
mod validate;

use std::process::ExitCode;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Build { dir } => build::run(&dir),
        Command::Validate {
            paths,
            policies,
            output,
        } => validate::run(&paths, &policies, output),
    }
}

//! One module per subcommand; `run` dispatches.

mod build;
mod control_plane;
mod crds;
mod diff;
mod get;
mod operator;
mod reconcile;
mod source;
mod up;
mod validate;

use std::process::ExitCode;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Build { dir } => build::run(&dir),
        Command::ControlPlane {
            data_dir,
            port,
            nodes,
        } => control_plane::run(data_dir, port, nodes),
        Command::Crds => crds::run(),
        Command::Source { command } => source::run(command),
        Command::Validate {
            paths,
            policies,
            output,
            authorizer_rules,
        } => validate::run(&paths, &policies, output, authorizer_rules.as_deref()),
        Command::Up(args) => up::run(*args),
        Command::Operator(args) => operator::run(*args),
        Command::Get { command } => get::run(command),
        Command::Reconcile { command } => reconcile::run(command),
        Command::Diff(args) => diff::run(*args),
    }
}

//! Every flag and subcommand of `flotilla`, in one place.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Flotilla: policy-driven GitOps. `git push` and your clusters follow.
#[derive(Debug, Parser)]
#[command(name = "flotilla", version, about)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug). FLOTILLA_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a kustomization directory to multi-document YAML on stdout,
    /// like `kubectl kustomize DIR`.
    Build {
        /// The directory holding kustomization.yaml.
        dir: PathBuf,
    },
}

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
    /// Check manifests against ValidatingAdmissionPolicies offline, each
    /// object as a CREATE request. Exit 1 when a result carries Deny, 2 for
    /// unusable input.
    Validate {
        /// Manifest files, folders of manifests, or kustomization folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Files or folders with ValidatingAdmissionPolicies, bindings and params.
        #[arg(long = "policies", required = true, num_args = 1..)]
        policies: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ValidateOutput::Text)]
        output: ValidateOutput,
    },
}

/// Output formats of `flotilla validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateOutput {
    /// Failures grouped by object, for people.
    Text,
    /// `{"results": [...]}`, one entry per failure.
    Json,
    /// wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport objects.
    Policyreport,
}

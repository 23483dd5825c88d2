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
    /// Run the local control plane: a Kubernetes-compatible API server on
    /// 127.0.0.1 over an embedded durable store. Writes DATA_DIR/kubeconfig
    /// for kubectl and kube clients; runs until interrupted.
    ControlPlane {
        /// Holds the store, certificates and kubeconfig; created when missing.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 6443)]
        port: u16,
    },
    /// Print the CustomResourceDefinitions of Flotilla's API (GitRepository,
    /// Kustomization, Receiver) as YAML, ready for `kubectl apply -f -`.
    Crds,
    /// Render a kustomization directory to multi-document YAML on stdout,
    /// like `kubectl kustomize DIR`.
    Build {
        /// The directory holding kustomization.yaml.
        dir: PathBuf,
    },
    /// Git sources: fetch a repository and export a commit as an artifact.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
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
        /// YAML list of allow rules answering `authorizer` checks (without it,
        /// a policy using `authorizer` does not load).
        #[arg(long, value_name = "FILE")]
        authorizer_rules: Option<PathBuf>,
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

/// `flotilla source …` subcommands.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Fetch URL (incrementally, into a cache under --out), resolve the
    /// reference and export its tree; prints revision, commit, digest and path.
    Fetch(Box<SourceFetchArgs>),
}

/// Flags of `flotilla source fetch`, named after Flux's GitRepository fields.
#[derive(Debug, clap::Args)]
pub struct SourceFetchArgs {
    /// file://, local path, git://, http(s)://, ssh:// or user@host:path.
    pub url: String,
    /// Branch to export (default: the remote's default branch).
    #[arg(long, group = "reference")]
    pub branch: Option<String>,
    /// Tag to export.
    #[arg(long, group = "reference")]
    pub tag: Option<String>,
    /// Export the highest tag in this semver range, e.g. ">=1.0.0 <2.0.0".
    #[arg(long, group = "reference")]
    pub semver: Option<String>,
    /// Exact commit (40 hex digits).
    #[arg(long, group = "reference")]
    pub commit: Option<String>,
    /// Full reference name, e.g. refs/pull/12/head.
    #[arg(long = "ref-name", group = "reference")]
    pub ref_name: Option<String>,
    /// Export only this directory of the repository.
    #[arg(long)]
    pub path: Option<String>,
    /// Extra ignore patterns (.gitignore syntax), like Flux's spec.ignore.
    #[arg(long)]
    pub ignore: Option<String>,
    /// Cache root: repositories under DIR/repos, artifacts under DIR/artifacts.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    /// Fetch full history instead of the tip commit only.
    #[arg(long)]
    pub full_history: bool,
    /// HTTPS basic-auth user name; the password comes from --password-file or FLOTILLA_GIT_PASSWORD.
    #[arg(long)]
    pub username: Option<String>,
    /// File holding the HTTPS password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// File holding an HTTPS bearer token (or set FLOTILLA_GIT_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// SSH private key file (OpenSSH format, unencrypted).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// known_hosts file for SSH; hosts not listed are refused.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// PEM file of CA certificates to trust for HTTPS, besides the built-in roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Require a signature by a key in this file (OpenSSH public keys, one per line).
    #[arg(long, value_name = "FILE")]
    pub verify_keys: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

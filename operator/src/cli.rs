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
        /// Simulated nodes (`sim-node-0`…) with their kubelet, the scheduler
        /// and the workload controllers, so workloads become Ready; 0 serves
        /// a bare API server.
        #[arg(long, default_value_t = 3, value_name = "N")]
        nodes: usize,
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
    /// Start a local cluster and GitOps in one process: the control plane,
    /// simulated nodes, the operator, and a GitRepository + Kustomization for
    /// REPO-OR-DIR. Prints the kubeconfig path and the progress until Ready.
    Up(Box<UpArgs>),
    /// Run Flotilla's controllers against a cluster (kubeconfig or
    /// in-cluster), with Lease leader election, /metrics, /healthz, /readyz
    /// and, optionally, the Receiver webhook.
    Operator(Box<OperatorArgs>),
    /// List GitRepositories or Kustomizations with their revision and Ready status.
    Get {
        #[command(subcommand)]
        command: GetCommand,
    },
    /// Ask for an immediate reconcile and wait until it was handled.
    Reconcile {
        #[command(subcommand)]
        command: ReconcileCommand,
    },
    /// Show what an apply would change (server-side dry run), as unified
    /// diffs: `flotilla diff kustomization NAME` or `flotilla diff DIR`.
    /// Exit 0 without changes, 1 with changes, 2 on errors.
    Diff(Box<DiffArgs>),
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
    /// Require a signature by a key in this file: ASCII-armored OpenPGP public keys
    /// (`gpg --export --armor`) and/or OpenSSH public keys, one per line.
    #[arg(long, value_name = "FILE")]
    pub verify_keys: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// How commands reach a cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,
}

/// Flags of `flotilla up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// A directory inside a Git work tree (its committed content on the
    /// current branch is served), or a plain directory (snapshotted into a
    /// repository under the data dir).
    #[arg(default_value = "examples/gitops", value_name = "REPO-OR-DIR")]
    pub source: PathBuf,
    /// Keeps the control plane's store and the artifacts; a fresh temporary
    /// directory (removed on exit) when omitted.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// API server port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Name of the GitRepository and Kustomization (default: the directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace of the GitRepository and Kustomization.
    #[arg(long, default_value = "flotilla-system")]
    pub namespace: String,
    /// How often the repository is checked for new commits.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// Simulated nodes that run the workloads (0: none).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Exit 0 once the Kustomization is Ready, non-zero with the reason when
    /// it fails or --timeout passes.
    #[arg(long)]
    pub exit_when_ready: bool,
    /// With --exit-when-ready: give up after this long (e.g. 90s, 5m).
    #[arg(long, default_value = "5m")]
    pub timeout: String,
    /// Serve the Receiver webhook on this address (e.g. 127.0.0.1:9292).
    #[arg(long, value_name = "ADDR")]
    pub receiver_addr: Option<std::net::SocketAddr>,
}

/// Flags of `flotilla operator`.
#[derive(Debug, clap::Args)]
pub struct OperatorArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Serve /metrics, /healthz and /readyz here.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub metrics_addr: std::net::SocketAddr,
    /// Serve the Receiver webhook (`POST /hook/...`) here; off when omitted.
    #[arg(long, value_name = "ADDR")]
    pub receiver_addr: Option<std::net::SocketAddr>,
    /// Where GitRepository artifacts are stored.
    #[arg(long, value_name = "DIR")]
    pub artifact_root: Option<PathBuf>,
    /// Objects of each kind reconciled at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: u16,
    /// Watch only this namespace (default: all).
    #[arg(long, value_name = "NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Run the controllers without a Lease (only safe with a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, default_value = "flotilla-system")]
    pub leader_election_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "flotilla-leader")]
    pub leader_election_id: String,
    /// How long a leader's Lease stays valid without renewal, in seconds
    /// (others take over after this when the leader dies).
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    pub lease_duration: u64,
    /// This replica's identity in the Lease (default: $POD_NAME or the host
    /// name, plus a random suffix).
    #[arg(long, env = "FLOTILLA_IDENTITY")]
    pub identity: Option<String>,
}

/// Flags shared by `flotilla get …`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespace to list.
    #[arg(short, long, default_value = "flotilla-system")]
    pub namespace: String,
    /// List every namespace (adds a NAMESPACE column).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// `flotilla get …` subcommands.
#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// GitRepositories: NAME, REVISION, READY, MESSAGE, AGE.
    #[command(alias = "source", alias = "gitrepositories")]
    Sources(GetArgs),
    /// Kustomizations: NAME, REVISION, READY, MESSAGE, AGE.
    #[command(alias = "kustomization", alias = "ks")]
    Kustomizations(GetArgs),
}

/// `flotilla reconcile …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// Reconcile a Kustomization now (and its GitRepository first with --with-source).
    #[command(alias = "ks")]
    Kustomization(ReconcileArgs),
    /// Fetch a GitRepository now.
    #[command(alias = "gitrepository")]
    Source(ReconcileArgs),
}

/// Flags of `flotilla reconcile …`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Name of the object.
    pub name: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespace of the object.
    #[arg(short, long, default_value = "flotilla-system")]
    pub namespace: String,
    /// Kustomization only: reconcile its source first and wait for it.
    #[arg(long)]
    pub with_source: bool,
    /// Give up waiting after this long (e.g. 30s, 5m).
    #[arg(long, default_value = "5m")]
    pub timeout: String,
}

/// Flags of `flotilla diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// `kustomization NAME`, or a DIR holding a kustomization or manifests.
    #[arg(required = true, num_args = 1..=2, value_name = "kustomization NAME | DIR")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespace of the Kustomization (DIR: objects without a namespace go to `default`).
    #[arg(short, long, default_value = "flotilla-system")]
    pub namespace: String,
}

//! `GitRepository`: a Git repository to watch, and the artifact (a snapshot of one revision)
//! Flotilla produced from it. Field names and semantics follow Flux's
//! `source.toolkit.fluxcd.io/v1` GitRepository; differences are listed in
//! `docs/crds/gitrepository.md`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration;
use crate::references::LocalObjectReference;

/// The desired state of a GitRepository.
// Each `printcolumn(...)` repeats `type_ = ...`; clippy takes the repeats for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "GitRepository",
    plural = "gitrepositories",
    namespaced,
    status = "GitRepositoryStatus",
    derive = "PartialEq",
    shortname = "gitrepo",
    category = "flotilla",
    doc = "A Git repository Flotilla watches. Every interval (or when a Receiver asks), Flotilla fetches the selected revision, verifies it if asked, and stores a snapshot of it as the artifact that Kustomizations apply.",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.artifact.revision",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    /// Repository URL: `https://`, `http://`, `ssh://`, `git://` or `file://`.
    #[schemars(regex(pattern = r"^(https?|ssh|git|file)://.+$"))]
    pub url: String,

    /// Which revision to check out. When omitted, the remote's default branch (its `HEAD`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,

    /// How often to check the remote for a new revision, e.g. `1m`, `1h30m`.
    #[schemars(regex(pattern = duration::DURATION_PATTERN))]
    pub interval: String,

    /// How long a single fetch may take before it is abandoned.
    #[serde(default = "default_timeout")]
    #[schemars(regex(pattern = duration::DURATION_PATTERN))]
    pub timeout: String,

    /// Secret with credentials for the remote, in the same namespace. For HTTP(S): keys
    /// `username` and `password` (or `bearerToken`), and optionally `ca.crt`. For SSH: keys
    /// `identity` (private key) and `known_hosts`, and `identity.pub` optionally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// Verify the OpenPGP or SSH signature of the checked-out commit and/or tag against the
    /// public keys in a Secret. Unsigned or wrongly signed revisions produce no artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<GitRepositoryVerification>,

    /// Files to leave out of the artifact, in `.gitignore` format (one pattern per line).
    /// When omitted, `.git/` and common CI and editor folders are excluded, and a
    /// `.sourceignore` file in the repository adds further patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,

    /// Also fetch and include Git submodules, with the same credentials.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurse_submodules: bool,

    /// Stop reconciling this object; the last artifact stays available.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

fn default_timeout() -> String {
    "60s".to_owned()
}

impl GitRepositorySpec {
    /// `spec.interval` as a [`std::time::Duration`].
    pub fn interval(&self) -> crate::Result<std::time::Duration> {
        duration::parse(&self.interval)
    }

    /// `spec.timeout` as a [`std::time::Duration`].
    pub fn timeout(&self) -> crate::Result<std::time::Duration> {
        duration::parse(&self.timeout)
    }
}

/// The revision to check out. Set exactly one of `branch`, `tag`, `semver`, `name`, `commit`;
/// `commit` may be combined with `branch` (the commit must then be on that branch).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.branch) ? 1 : 0) + (has(self.tag) ? 1 : 0) + (has(self.semver) ? 1 : 0) + (has(self.name) ? 1 : 0) + (has(self.commit) ? 1 : 0) == 1 || (has(self.branch) && has(self.commit) && !has(self.tag) && !has(self.semver) && !has(self.name))"
).message("set exactly one of branch, tag, semver, name or commit (commit may be combined with branch)"))]
pub struct GitRepositoryRef {
    /// Branch to follow, e.g. `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub branch: Option<String>,

    /// Tag to check out, e.g. `v1.2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub tag: Option<String>,

    /// SemVer range; the highest tag satisfying it is checked out, e.g. `>=1.0.0 <2.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub semver: Option<String>,

    /// Full reference name, e.g. `refs/heads/main`, `refs/tags/v1.2.0`, `refs/pull/42/head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^refs/.+$"))]
    pub name: Option<String>,

    /// Full commit SHA to check out (40 hex digits for SHA-1, 64 for SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9a-f]{40}|[0-9a-f]{64})$"))]
    pub commit: Option<String>,
}

/// How to verify signatures, and with which keys.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    /// What must be signed: `HEAD` (default), the commit the reference resolves to; `Tag`,
    /// the annotated tag object; `TagAndHEAD`, both. `Tag` and `TagAndHEAD` need
    /// `spec.ref.tag`, `spec.ref.semver` or a `refs/tags/` `spec.ref.name` (with another
    /// reference the object stalls); a lightweight tag has no signature and is refused.
    #[serde(default)]
    pub mode: VerificationMode,

    /// Secret in the same namespace whose data values are the trusted public keys, each
    /// value ASCII-armored OpenPGP public keys (`gpg --export --armor`, e.g. `author1.asc`)
    /// or SSH public keys (`ssh-ed25519 AAAA…`, one per line). A signature by any of them
    /// (or an OpenPGP subkey bound to them) is accepted.
    pub secret_ref: LocalObjectReference,
}

/// What a signature is required on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum VerificationMode {
    /// The commit the reference resolves to (for a tag, the commit it points to).
    #[default]
    #[serde(rename = "HEAD")]
    Head,
    /// The annotated tag object the reference names; its commit's signature is not checked.
    Tag,
    /// Both the annotated tag and the commit it points to.
    TagAndHEAD,
}

/// The observed state of a GitRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryStatus {
    /// The `metadata.generation` the status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Reconciling` and `Stalled`; see `docs/crds/gitrepository.md`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The latest artifact produced from the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,

    /// The value of the `reconcile.flotilla.dev/requestedAt` annotation last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,

    /// The `spec.verify.mode` the current artifact was verified with; absent without
    /// `spec.verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_verification_mode: Option<VerificationMode>,
}

/// A snapshot of one revision of a source, stored by Flotilla for Kustomizations to apply.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Path of the artifact in Flotilla's artifact storage, relative to its root:
    /// `artifacts/<digest hex>`, a read-only directory holding the exported tree
    /// (content-addressed, so identical trees are stored once).
    pub path: String,

    /// Source revision the artifact was made from: `<branch>@sha1:<commit>` for a branch,
    /// `<tag>@sha1:<commit>` for a tag or semver range, `<ref name>@sha1:<commit>` for a
    /// reference name and `sha1:<commit>` for a bare commit (`sha256:` for SHA-256
    /// repositories), as in Flux.
    pub revision: String,

    /// Digest of the artifact's content: `<algorithm>:<hex>`, e.g. `sha256:9f86d0…`.
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"))]
    pub digest: String,

    /// When the artifact was last (re)written.
    pub last_update_time: Time,

    /// Size of the artifact in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,

    /// Where the artifact can be downloaded, when the artifact server is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

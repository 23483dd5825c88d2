//! The GitRepository reconciler against a real control plane and real git repositories
//! (`file://` URLs, and `git daemon` on 127.0.0.1 for the network path).

use crate::source_fixtures;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crds::annotations::RECONCILE_REQUESTED_AT;
use crds::conditions::{Condition, ConditionsExt, reasons, types};
use crds::gitrepository::VerificationMode;
use crds::{GitRepository, GitRepositoryStatus};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use reconcilers::gitrepository::{self, ArtifactStore, Settings};
use reconcilers::metrics::Metrics;
use source_fixtures::{Cluster, GitRepo, Gpg, wait_for};
use tokio::sync::oneshot;

/// The control plane plus the GitRepository controller running on it.
struct Harness {
    cluster: Cluster,
    store: ArtifactStore,
    stop: Option<oneshot::Sender<()>>,
    controller: Option<tokio::task::JoinHandle<()>>,
}

impl Harness {
    async fn start() -> Self {
        let cluster = Cluster::start().await;
        let store = ArtifactStore::new(cluster.dir.path().join("artifacts")).expect("storage");
        let (stop, stopped) = oneshot::channel::<()>();
        let controller = tokio::spawn(gitrepository::run(
            cluster.client.clone(),
            store.clone(),
            Arc::new(Metrics::new()),
            Settings::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            cluster,
            store,
            stop: Some(stop),
            controller: Some(controller),
        }
    }

    fn api(&self) -> Api<GitRepository> {
        self.cluster.api("default")
    }

    async fn create(&self, name: &str, url: &str, reference: &str) {
        self.cluster
            .apply(&format!(
                "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  url: {url}\n  interval: 10m\n  ref:\n    {reference}\n"
            ))
            .await;
    }

    /// Waits until `name` has a Ready condition of the current generation with `status`.
    async fn wait_ready(&self, name: &str, status: &str) -> GitRepository {
        let api = self.api();
        wait_for(
            &format!("GitRepository {name} Ready={status}"),
            Duration::from_secs(30),
            || async {
                let repo = api.get(name).await.ok()?;
                let st = repo.status.as_ref()?;
                let ready = st.conditions.find_condition(types::READY)?;
                (ready.status == status && st.observed_generation == repo.metadata.generation)
                    .then_some(repo.clone())
            },
        )
        .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(controller) = self.controller.take() {
            let _ = controller.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn becomes_ready_with_an_artifact_of_the_branch_head() {
    let h = Harness::start().await;
    let git = GitRepo::new();
    git.write(
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    let commit = git.commit("first");
    h.create("app", &git.url(), "branch: main").await;

    let repo = h.wait_ready("app", "True").await;
    let status = repo.status.expect("status");
    let artifact = status.artifact.clone().expect("artifact");
    assert_eq!(artifact.revision, format!("main@sha1:{commit}"));
    assert!(
        artifact.digest.starts_with("sha256:"),
        "{}",
        artifact.digest
    );
    assert!(artifact.size.unwrap_or_default() > 0);
    let dir = h.store.dir_of(&artifact).expect("artifact on disk");
    assert!(dir.join("deploy/cm.yaml").is_file());
    assert!(
        !dir.join(".git").exists(),
        "the .git folder is not part of an artifact"
    );
    let ready = condition(&status, types::READY);
    assert_eq!(ready.reason, reasons::RECONCILIATION_SUCCEEDED);
    assert!(ready.message.contains(&commit), "{}", ready.message);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_reconcile_picks_up_a_new_commit() {
    let h = Harness::start().await;
    let git = GitRepo::new();
    git.write(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    git.commit("first");
    h.create("app", &git.url(), "branch: main").await;
    let first = h.wait_ready("app", "True").await;
    let first_artifact = first.status.and_then(|s| s.artifact).expect("artifact");

    git.write(
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    let second = git.commit("second");
    let requested = "2026-11-23T12:00:00Z";
    h.api()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"annotations": {RECONCILE_REQUESTED_AT: requested}}
            })),
        )
        .await
        .expect("annotate");

    let api = h.api();
    let repo = wait_for("the new revision", Duration::from_secs(30), || async {
        let repo = api.get("app").await.ok()?;
        let st = repo.status.as_ref()?;
        (st.last_handled_reconcile_at.as_deref() == Some(requested)).then_some(repo.clone())
    })
    .await;
    let artifact = repo.status.and_then(|s| s.artifact).expect("artifact");
    assert_eq!(artifact.revision, format!("main@sha1:{second}"));
    assert_ne!(artifact.digest, first_artifact.digest);
    assert!(
        h.store
            .dir_of(&artifact)
            .expect("dir")
            .join("b.yaml")
            .is_file()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_finding_the_same_revision_changes_nothing_but_the_handled_request() {
    let h = Harness::start().await;
    let git = GitRepo::new();
    git.write(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    git.commit("first");
    h.create("app", &git.url(), "branch: main").await;
    let before = h.wait_ready("app", "True").await.status.expect("status");
    // Timestamps have second precision: let a second pass so a rewrite would show.
    let stored = before
        .artifact
        .as_ref()
        .expect("artifact")
        .last_update_time
        .0
        .as_second();
    wait_for("the next second", Duration::from_secs(3), || async {
        (k8s_openapi::jiff::Timestamp::now().as_second() > stored).then_some(())
    })
    .await;

    let requested = "2026-11-23T12:30:00Z";
    h.api()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"annotations": {RECONCILE_REQUESTED_AT: requested}}
            })),
        )
        .await
        .expect("annotate");
    let api = h.api();
    let after = wait_for("the requested fetch", Duration::from_secs(30), || async {
        let st = api.get("app").await.ok()?.status?;
        (st.last_handled_reconcile_at.as_deref() == Some(requested)).then_some(st)
    })
    .await;
    // Same artifact (lastUpdateTime included) and same conditions (lastTransitionTime too).
    assert_eq!(after.artifact, before.artifact);
    assert_eq!(after.conditions, before.conditions);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_branch_is_ready_false_reference_not_found() {
    let h = Harness::start().await;
    let git = GitRepo::new();
    git.write(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    git.commit("first");
    h.create("app", &git.url(), "branch: does-not-exist").await;

    let repo = h.wait_ready("app", "False").await;
    let status = repo.status.expect("status");
    let ready = condition(&status, types::READY);
    assert_eq!(ready.reason, reasons::REFERENCE_NOT_FOUND);
    assert!(
        ready.message.contains("does-not-exist"),
        "{}",
        ready.message
    );
    assert!(status.artifact.is_none());
    assert!(
        !status.conditions.condition_is_true(types::STALLED),
        "a branch may still be pushed: retried, not stalled"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_named_in_the_condition() {
    let h = Harness::start().await;
    let git = GitRepo::new();
    git.commit("empty");
    h.cluster
        .apply(&format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: default\nspec:\n  url: {}\n  interval: 10m\n  secretRef:\n    name: git-credentials\n",
            git.url()
        ))
        .await;

    let repo = h.wait_ready("app", "False").await;
    let ready = repo
        .status
        .expect("status")
        .conditions
        .find_condition(types::READY)
        .cloned()
        .expect("Ready");
    assert_eq!(ready.reason, reasons::REFERENCE_NOT_FOUND);
    assert!(
        ready.message.contains("Secret default/git-credentials"),
        "{}",
        ready.message
    );
    h.stop().await;
}

/// `git daemon` serving one repository on 127.0.0.1; killed on drop.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GitDaemon {
    /// Starts a daemon exporting the parent folder of `repo`; `None` when git has no daemon.
    fn start(base: &std::path::Path) -> Option<GitDaemon> {
        let exec_path = Command::new("git").arg("--exec-path").output().ok()?;
        let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
        if !std::path::Path::new(&exec_path).join("git-daemon").exists() {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(GitDaemon { child, port })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_over_the_git_protocol_from_git_daemon() {
    let git = GitRepo::new();
    git.write(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    let commit = git.commit("first");
    let base = git.path().parent().expect("temp root").to_path_buf();
    let Some(daemon) = GitDaemon::start(&base) else {
        eprintln!(
            "SKIPPED: fetches_over_the_git_protocol_from_git_daemon: git daemon is not installed"
        );
        return;
    };
    let port = daemon.port;
    wait_for(
        "git daemon listening",
        Duration::from_secs(10),
        || async move {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        },
    )
    .await;
    let repo_name = git
        .path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();

    let h = Harness::start().await;
    h.create(
        "remote",
        &format!("git://127.0.0.1:{port}/{repo_name}"),
        "branch: main",
    )
    .await;
    let repo = h.wait_ready("remote", "True").await;
    let artifact = repo.status.and_then(|s| s.artifact).expect("artifact");
    assert_eq!(artifact.revision, format!("main@sha1:{commit}"));
    assert!(
        h.store
            .dir_of(&artifact)
            .expect("dir")
            .join("a.yaml")
            .is_file()
    );
    h.stop().await;
    drop(daemon);
}

/// An ed25519 key pair made with `ssh-keygen` in `dir`; `None` when ssh-keygen is missing.
fn ssh_key_pair(dir: &std::path::Path) -> Option<(std::path::PathBuf, String)> {
    let key = dir.join("signing_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f"])
        .arg(&key)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let public = std::fs::read_to_string(key.with_extension("pub")).ok()?;
    Some((key, public))
}

/// A GitRepository with `verify` against Secret `signers` holding `public_key`.
async fn create_verified(h: &Harness, url: &str, public_key: &str) {
    h.cluster
        .apply(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: signers\n  namespace: default\nstringData:\n  signer.pub: \"{}\"\n---\napiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: signed\n  namespace: default\nspec:\n  url: {url}\n  interval: 10m\n  ref:\n    branch: main\n  verify:\n    mode: HEAD\n    secretRef:\n      name: signers\n",
            public_key.trim()
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_signed_by_a_trusted_ssh_key_is_verified() {
    let keys = tempfile::tempdir().expect("tempdir");
    let Some((key, public)) = ssh_key_pair(keys.path()) else {
        eprintln!(
            "SKIPPED: a_commit_signed_by_a_trusted_ssh_key_is_verified: ssh-keygen is not installed"
        );
        return;
    };
    let git = GitRepo::new();
    git.git(&["config", "gpg.format", "ssh"]);
    git.git(&["config", "user.signingkey", &key.display().to_string()]);
    git.write(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    git.git(&["add", "-A"]);
    git.git(&["commit", "-q", "-S", "-m", "signed"]);
    let commit = git.git(&["rev-parse", "HEAD"]).trim().to_owned();

    let h = Harness::start().await;
    create_verified(&h, &git.url(), &public).await;
    let repo = h.wait_ready("signed", "True").await;
    let artifact = repo.status.and_then(|s| s.artifact).expect("artifact");
    assert_eq!(artifact.revision, format!("main@sha1:{commit}"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_commit_fails_verification_and_produces_no_artifact() {
    let keys = tempfile::tempdir().expect("tempdir");
    let Some((_, public)) = ssh_key_pair(keys.path()) else {
        eprintln!(
            "SKIPPED: an_unsigned_commit_fails_verification_and_produces_no_artifact: ssh-keygen is not installed"
        );
        return;
    };
    let git = GitRepo::new();
    git.write(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    git.commit("unsigned");

    let h = Harness::start().await;
    create_verified(&h, &git.url(), &public).await;
    let repo = h.wait_ready("signed", "False").await;
    let status = repo.status.expect("status");
    let ready = condition(&status, types::READY);
    assert_eq!(ready.reason, reasons::VERIFICATION_FAILED);
    assert!(status.artifact.is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_spec_stalls() {
    let h = Harness::start().await;
    let git = GitRepo::new();
    git.commit("empty");
    h.cluster
        .apply(&format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: default\nspec:\n  url: {}\n  interval: 10m\n  recurseSubmodules: true\n",
            git.url()
        ))
        .await;
    let status = h.wait_ready("app", "False").await.status.expect("status");
    let stalled = condition(&status, types::STALLED);
    assert_eq!(stalled.status, "True");
    assert_eq!(stalled.reason, reasons::INVALID_SPEC);
    assert!(
        stalled.message.contains("spec.recurseSubmodules"),
        "{}",
        stalled.message
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_retried_not_stalled() {
    // A port nothing listens on: bind one, note it, let it go.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let h = Harness::start().await;
    h.create(
        "app",
        &format!("git://127.0.0.1:{port}/nothing"),
        "branch: main",
    )
    .await;
    let status = h.wait_ready("app", "False").await.status.expect("status");
    let ready = condition(&status, types::READY);
    assert_eq!(ready.reason, reasons::GIT_OPERATION_FAILED);
    assert!(
        ready.message.contains(&port.to_string()),
        "{}",
        ready.message
    );
    let reconciling = status
        .conditions
        .find_condition(types::RECONCILING)
        .expect("Reconciling while retrying");
    assert_eq!(reconciling.reason, reasons::PROGRESSING_WITH_RETRY);
    assert!(!status.conditions.condition_is_true(types::STALLED));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_recreated_under_the_same_name_is_fetched_at_once() {
    let h = Harness::start().await;
    let first = GitRepo::new();
    first.commit("first repo");
    h.create("app", &first.url(), "branch: main").await;
    h.wait_ready("app", "True").await;

    h.api()
        .delete("app", &Default::default())
        .await
        .expect("delete");
    let api = h.api();
    wait_for("the deletion", Duration::from_secs(10), || async {
        api.get_opt("app").await.ok()?.is_none().then_some(())
    })
    .await;
    let second = GitRepo::new();
    let commit = second.commit("second repo");
    h.create("app", &second.url(), "branch: main").await;

    let repo = h.wait_ready("app", "True").await;
    let artifact = repo.status.and_then(|s| s.artifact).expect("artifact");
    assert_eq!(artifact.revision, format!("main@sha1:{commit}"));
    h.stop().await;
}

/// OpenPGP keys made by the real `gpg`, a repository to sign in, and the controller.
struct Signing {
    h: Harness,
    gpg: Gpg,
    git: GitRepo,
    /// Fingerprint of the key the Secret trusts.
    trusted: String,
    /// Fingerprint of a key the Secret does not hold.
    untrusted: String,
}

impl Signing {
    /// The status once GitRepository `signed` is Ready=`ready`.
    async fn status_when_ready(&self, ready: &str) -> GitRepositoryStatus {
        self.h
            .wait_ready("signed", ready)
            .await
            .status
            .expect("status")
    }

    /// `None` (after printing `SKIPPED: …`) without gpg. The repository has one unsigned
    /// commit on `main`.
    async fn start(test: &str) -> Option<Self> {
        let gpg = Gpg::new(test)?;
        let trusted = gpg.generate("Release Signer <release@flotilla.invalid>", "ed25519");
        let untrusted = gpg.generate("Someone Else <other@flotilla.invalid>", "ed25519");
        let git = GitRepo::new();
        git.write(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        );
        git.commit("unsigned");
        Some(Self {
            h: Harness::start().await,
            gpg,
            git,
            trusted,
            untrusted,
        })
    }

    /// A commit signed with `key` (`git commit -S`); returns its id.
    fn signed_commit(&self, key: &str, message: &str) -> String {
        let signing_key = format!("user.signingkey={key}");
        self.git.git_signing(
            &self.gpg,
            &[
                "-c",
                &signing_key,
                "commit",
                "-q",
                "--allow-empty",
                "-S",
                "-m",
                message,
            ],
        );
        self.git.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// An annotated tag on `HEAD` signed with `key` (`git tag -s`).
    fn signed_tag(&self, key: &str, tag: &str) {
        let signing_key = format!("user.signingkey={key}");
        self.git.git_signing(
            &self.gpg,
            &["-c", &signing_key, "tag", "-s", "-m", "release", tag],
        );
    }

    /// Secret `signers` as Flux documents it (`author1.asc`: the trusted key, armored) plus an
    /// SSH key beside it, and GitRepository `signed` verifying with `mode` at `reference`.
    async fn create(&self, reference: &str, mode: &str) {
        let secrets: Api<Secret> = self.h.cluster.api("default");
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("signers".into()),
                ..Default::default()
            },
            string_data: Some(
                [
                    ("author1.asc".to_owned(), self.gpg.export(&self.trusted)),
                    (
                        "ops.pub".to_owned(),
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp8xBCZRAvSC2LZVQq1aWbLWBPmdsyQmvUNnqyrwcx8 ops"
                            .to_owned(),
                    ),
                ]
                .into(),
            ),
            ..Default::default()
        };
        secrets
            .patch(
                "signers",
                &PatchParams::apply("test").force(),
                &Patch::Apply(&secret),
            )
            .await
            .expect("Secret applies");
        self.h
            .cluster
            .apply(&format!(
                "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: signed\n  namespace: default\nspec:\n  url: {}\n  interval: 10m\n  ref:\n    {reference}\n  verify:\n    mode: {mode}\n    secretRef:\n      name: signers\n",
                self.git.url()
            ))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openpgp_signed_commit_is_verified_and_its_key_recorded() {
    let Some(s) = Signing::start("an_openpgp_signed_commit_is_verified_and_its_key_recorded").await
    else {
        return;
    };
    let commit = s.signed_commit(&s.trusted, "signed");
    s.create("branch: main", "HEAD").await;
    let repo = s.h.wait_ready("signed", "True").await;
    let status = repo.status.expect("status");
    assert_eq!(
        status.artifact.clone().expect("artifact").revision,
        format!("main@sha1:{commit}")
    );
    let verified = condition(&status, types::SOURCE_VERIFIED);
    assert_eq!(verified.status, "True");
    assert_eq!(
        verified.message,
        format!(
            "verified signature of commit '{commit}' with OpenPGP key '{}'",
            s.trusted
        )
    );
    assert_eq!(
        status.source_verification_mode,
        Some(VerificationMode::Head)
    );
    s.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_signed_by_an_untrusted_openpgp_key_is_refused() {
    let Some(s) = Signing::start("a_commit_signed_by_an_untrusted_openpgp_key_is_refused").await
    else {
        return;
    };
    let commit = s.signed_commit(&s.untrusted, "signed by someone else");
    s.create("branch: main", "HEAD").await;
    let status = s.status_when_ready("False").await;
    let ready = condition(&status, types::READY);
    assert_eq!(ready.reason, reasons::VERIFICATION_FAILED);
    assert!(
        ready.message.contains(&format!("commit {commit}")),
        "{}",
        ready.message
    );
    assert!(ready.message.contains(&s.untrusted), "{}", ready.message);
    assert!(
        ready.message.contains("not among the trusted keys"),
        "{}",
        ready.message
    );
    let verified = condition(&status, types::SOURCE_VERIFIED);
    assert_eq!(verified.status, "False");
    assert!(status.artifact.is_none());
    s.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_tag_is_verified_in_tag_mode() {
    let Some(s) = Signing::start("a_signed_tag_is_verified_in_tag_mode").await else {
        return;
    };
    // The commit itself is unsigned: Tag mode checks the tag object only.
    s.signed_tag(&s.trusted, "v1.0.0");
    s.create("tag: v1.0.0", "Tag").await;
    let status = s.status_when_ready("True").await;
    let verified = condition(&status, types::SOURCE_VERIFIED);
    assert_eq!(
        verified.message,
        format!(
            "verified signature of tag 'v1.0.0' with OpenPGP key '{}'",
            s.trusted
        )
    );
    assert_eq!(status.source_verification_mode, Some(VerificationMode::Tag));
    s.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_and_head_refuses_an_unsigned_commit_under_a_signed_tag() {
    let Some(s) =
        Signing::start("tag_and_head_refuses_an_unsigned_commit_under_a_signed_tag").await
    else {
        return;
    };
    s.signed_tag(&s.trusted, "v1.0.0");
    let commit = s.git.git(&["rev-parse", "HEAD"]).trim().to_owned();
    s.create("semver: \">=1.0.0\"", "TagAndHEAD").await;
    let status = s.status_when_ready("False").await;
    let ready = condition(&status, types::READY);
    assert_eq!(ready.reason, reasons::VERIFICATION_FAILED);
    assert!(
        ready.message.contains(&format!("commit {commit}")) && ready.message.contains("not signed"),
        "{}",
        ready.message
    );
    assert!(status.artifact.is_none());
    assert!(!status.conditions.condition_is_true(types::STALLED));
    s.h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_mode_with_a_branch_reference_stalls() {
    let Some(s) = Signing::start("tag_mode_with_a_branch_reference_stalls").await else {
        return;
    };
    s.create("branch: main", "Tag").await;
    let status = s.status_when_ready("False").await;
    let stalled = condition(&status, types::STALLED);
    assert_eq!(stalled.status, "True");
    assert_eq!(stalled.reason, reasons::INVALID_SPEC);
    assert!(
        stalled.message.starts_with("spec.verify.mode: Tag")
            && stalled.message.contains("branch \"main\""),
        "{}",
        stalled.message
    );
    let verified = condition(&status, types::SOURCE_VERIFIED);
    assert_eq!(verified.status, "False");
    assert_eq!(verified.reason, reasons::INVALID_SPEC);
    s.h.stop().await;
}

/// Condition `type_` of `status`; the test fails when it is missing.
fn condition<'a>(status: &'a GitRepositoryStatus, type_: &str) -> &'a Condition {
    status
        .conditions
        .find_condition(type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", status.conditions))
}

//! Fetching from real servers on 127.0.0.1: file://, local paths, `git daemon`
//! and smart HTTP (`git http-backend`), one behaviour per test. Signature
//! verification with OpenPGP and SSH keys is in `verify/`.

mod support;
mod verify;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use sources::{Auth, Cache, Error, FetchRequest, Reference, Verification};
use support::{GitDaemon, HttpAuth, HttpServer, SilentServer, Upstream};

fn fetch(cache: &Cache, request: &FetchRequest) -> Result<sources::Artifact, Error> {
    cache.fetch(request, &AtomicBool::new(false))
}

fn read(artifact: &sources::Artifact, path: &str) -> String {
    std::fs::read_to_string(artifact.path.join(path))
        .unwrap_or_else(|e| panic!("{path} in artifact: {e}"))
}

#[test]
fn file_url_exports_default_branch_with_flux_revision() {
    if !support::git_available("file_url_exports_default_branch_with_flux_revision") {
        return;
    }
    let up = Upstream::new(&[("app/deploy.yaml", "kind: Deployment\n")]);
    let head = up.git(&["rev-parse", "HEAD"]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    let artifact = fetch(&cache, &FetchRequest::new(up.file_url())).unwrap();

    assert_eq!(artifact.revision, format!("main@sha1:{head}"));
    assert_eq!(artifact.commit, head);
    assert!(artifact.digest.starts_with("sha256:") && artifact.digest.len() == 7 + 64);
    assert_eq!(read(&artifact, "app/deploy.yaml"), "kind: Deployment\n");
    assert!(artifact.path.starts_with(cache.artifacts_dir()));
}

#[test]
fn local_path_url_works_like_file_url() {
    if !support::git_available("local_path_url_works_like_file_url") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "a: 1\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let by_path = fetch(&cache, &FetchRequest::new(up.bare().display().to_string())).unwrap();
    let by_url = fetch(&cache, &FetchRequest::new(up.file_url())).unwrap();
    assert_eq!(by_path.digest, by_url.digest);
    assert_eq!(read(&by_path, "a.yaml"), "a: 1\n");
}

#[test]
fn git_daemon_branch_is_fetched() {
    if !support::git_available("git_daemon_branch_is_fetched") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "on main\n")]);
    up.git(&["checkout", "-q", "-b", "staging"]);
    let staging = up.commit(&[("a.yaml", "on staging\n")], "staging change");
    up.push();
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    let request = FetchRequest::new(daemon.url("repo.git"))
        .with_reference(Reference::Branch("staging".into()));
    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(artifact.revision, format!("staging@sha1:{staging}"));
    assert_eq!(read(&artifact, "a.yaml"), "on staging\n");
}

#[test]
fn annotated_tag_is_peeled_to_its_commit() {
    if !support::git_available("annotated_tag_is_peeled_to_its_commit") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "v1\n")]);
    let tagged = up.git(&["rev-parse", "HEAD"]);
    up.git(&["tag", "-a", "v1.0.0", "-m", "release"]);
    up.commit(&[("a.yaml", "after tag\n")], "later");
    up.push();
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    let request =
        FetchRequest::new(daemon.url("repo.git")).with_reference(Reference::Tag("v1.0.0".into()));
    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(artifact.revision, format!("v1.0.0@sha1:{tagged}"));
    assert_eq!(read(&artifact, "a.yaml"), "v1\n");
}

#[test]
fn semver_range_picks_highest_matching_tag() {
    if !support::git_available("semver_range_picks_highest_matching_tag") {
        return;
    }
    let up = Upstream::new(&[("v", "1.0.0\n")]);
    up.git(&["tag", "v1.0.0"]);
    let mut expected = String::new();
    for (version, annotated) in [("1.2.0", true), ("1.10.0", false), ("2.0.0", false)] {
        let commit = up.commit(&[("v", &format!("{version}\n"))], version);
        if annotated {
            up.git(&["tag", "-a", &format!("v{version}"), "-m", version]);
        } else {
            up.git(&["tag", &format!("v{version}")]);
        }
        if version == "1.10.0" {
            expected = commit;
        }
    }
    up.push();
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    let request = FetchRequest::new(daemon.url("repo.git"))
        .with_reference(Reference::Semver(">=1.0.0 <2.0.0".into()));
    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(artifact.revision, format!("v1.10.0@sha1:{expected}"));
    assert_eq!(read(&artifact, "v"), "1.10.0\n");
}

#[test]
fn semver_range_without_match_is_reference_not_found() {
    if !support::git_available("semver_range_without_match_is_reference_not_found") {
        return;
    }
    let up = Upstream::new(&[("v", "1\n")]);
    up.git(&["tag", "v1.0.0"]);
    up.push();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(up.file_url()).with_reference(Reference::Semver("^3".into()));
    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err}");
}

#[test]
fn exact_commit_exports_that_commit_not_the_tip() {
    if !support::git_available("exact_commit_exports_that_commit_not_the_tip") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "first\n")]);
    let first = up.git(&["rev-parse", "HEAD"]);
    up.commit(&[("a.yaml", "second\n")], "second");
    up.push();
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    // A shallow branch fetch first, so the commit request has to deepen the cache.
    fetch(&cache, &FetchRequest::new(daemon.url("repo.git"))).unwrap();
    let request =
        FetchRequest::new(daemon.url("repo.git")).with_reference(Reference::Commit(first.clone()));
    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(artifact.revision, format!("sha1:{first}"));
    assert_eq!(read(&artifact, "a.yaml"), "first\n");
}

#[test]
fn unknown_commit_is_reference_not_found() {
    if !support::git_available("unknown_commit_is_reference_not_found") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(up.file_url()).with_reference(Reference::Commit(
        "1111111111111111111111111111111111111111".into(),
    ));
    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err}");
}

#[test]
fn full_ref_name_is_fetched() {
    if !support::git_available("full_ref_name_is_fetched") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "main\n")]);
    let change = up.commit(&[("a.yaml", "pull request\n")], "pr");
    up.git(&["push", "-q", "origin", "HEAD:refs/pull/7/head"]);
    up.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    let request =
        FetchRequest::new(up.file_url()).with_reference(Reference::Name("refs/pull/7/head".into()));
    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(artifact.revision, format!("refs/pull/7/head@sha1:{change}"));
    assert_eq!(read(&artifact, "a.yaml"), "pull request\n");
}

#[test]
fn unchanged_commit_does_no_work() {
    if !support::git_available("unchanged_commit_does_no_work") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(daemon.url("repo.git"));

    let first = fetch(&cache, &request).unwrap();
    let second = fetch(&cache, &request).unwrap();

    assert!(first.changed && first.stats.pack_received);
    assert!(!second.changed, "second fetch re-exported");
    assert!(
        !second.stats.pack_received,
        "second fetch downloaded a pack"
    );
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.path, second.path);
}

#[test]
fn new_commit_is_fetched_incrementally() {
    if !support::git_available("new_commit_is_fetched_incrementally") {
        return;
    }
    let files: Vec<(String, String)> = (0..50)
        .map(|i| (format!("f{i}.yaml"), format!("n: {i}\n")))
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let up = Upstream::new(&borrowed);
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(daemon.url("repo.git"));
    let first = fetch(&cache, &request).unwrap();

    let next = up.commit(&[("f0.yaml", "n: changed\n")], "one change");
    up.push();
    let second = fetch(&cache, &request).unwrap();

    assert_eq!(second.commit, next);
    assert_eq!(read(&second, "f0.yaml"), "n: changed\n");
    // The first pack holds 50 blobs; the update only the new commit, its tree and one blob.
    assert!(first.stats.objects_received >= 50, "{:?}", first.stats);
    assert!(
        second.stats.objects_received <= 4,
        "not incremental: {:?}",
        second.stats
    );
}

#[test]
fn force_pushed_history_is_followed() {
    if !support::git_available("force_pushed_history_is_followed") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "base\n")]);
    up.commit(&[("a.yaml", "to be rewritten\n")], "bad");
    up.push();
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request =
        FetchRequest::new(daemon.url("repo.git")).with_reference(Reference::Branch("main".into()));
    fetch(&cache, &request).unwrap();

    up.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let rewritten = up.commit(&[("a.yaml", "rewritten\n")], "good");
    up.push();
    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(artifact.commit, rewritten);
    assert_eq!(read(&artifact, "a.yaml"), "rewritten\n");
}

#[test]
fn deleted_branch_is_reported_even_though_cached() {
    if !support::git_available("deleted_branch_is_reported_even_though_cached") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    up.git(&["push", "-q", "origin", "main:feature"]);
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(daemon.url("repo.git"))
        .with_reference(Reference::Branch("feature".into()));
    fetch(&cache, &request).unwrap();

    up.git(&["push", "-q", "origin", ":feature"]);
    let err = fetch(&cache, &request).unwrap_err();

    assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err}");
    assert!(err.to_string().contains("feature"), "{err}");
}

#[test]
fn sub_path_and_ignore_rules_shape_the_artifact() {
    if !support::git_available("sub_path_and_ignore_rules_shape_the_artifact") {
        return;
    }
    let up = Upstream::new(&[
        ("clusters/prod/app.yaml", "app\n"),
        ("clusters/prod/notes.md", "notes\n"),
        ("clusters/prod/keep.md", "keep\n"),
        ("clusters/prod/.sourceignore", "*.md\n"),
        ("clusters/dev/app.yaml", "dev\n"),
        ("logo.png", "png\n"),
    ]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(up.file_url())
        .with_path("clusters/prod")
        .with_ignore("!keep.md\n");

    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(read(&artifact, "app.yaml"), "app\n");
    assert_eq!(
        read(&artifact, "keep.md"),
        "keep\n",
        "spec.ignore re-includes"
    );
    assert!(
        !artifact.path.join("notes.md").exists(),
        ".sourceignore excludes"
    );
    assert!(!artifact.path.join("dev").exists() && !artifact.path.join("clusters").exists());
}

#[test]
fn default_exclusions_apply_without_user_patterns() {
    if !support::git_available("default_exclusions_apply_without_user_patterns") {
        return;
    }
    let up = Upstream::new(&[
        ("app.yaml", "app\n"),
        ("logo.png", "png\n"),
        (".github/workflows/ci.yml", "ci\n"),
    ]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let artifact = fetch(&cache, &FetchRequest::new(up.file_url())).unwrap();
    assert!(artifact.path.join("app.yaml").exists());
    assert!(!artifact.path.join("logo.png").exists());
    assert!(!artifact.path.join(".github").exists());
}

#[test]
fn missing_sub_path_is_reported() {
    if !support::git_available("missing_sub_path_is_reported") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let err = fetch(&cache, &FetchRequest::new(up.file_url()).with_path("nope")).unwrap_err();
    assert!(matches!(err, Error::PathNotFound { .. }), "{err}");
}

#[test]
fn same_tree_gives_same_digest_across_commits() {
    if !support::git_available("same_tree_gives_same_digest_across_commits") {
        return;
    }
    let up = Upstream::new(&[("app/a.yaml", "x\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(up.file_url()).with_path("app");
    let first = fetch(&cache, &request).unwrap();
    up.commit(&[("README", "outside the path\n")], "docs only");
    up.push();
    let second = fetch(&cache, &request).unwrap();
    assert_ne!(first.commit, second.commit);
    assert_eq!(first.digest, second.digest);
}

#[test]
fn old_artifacts_are_garbage_collected() {
    if !support::git_available("old_artifacts_are_garbage_collected") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "0\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(up.file_url());
    let mut paths = vec![fetch(&cache, &request).unwrap().path];
    for i in 1..4 {
        up.commit(&[("a.yaml", &format!("{i}\n"))], "next");
        up.push();
        paths.push(fetch(&cache, &request).unwrap().path);
    }
    // The current artifact and the one before stay; older ones go.
    assert!(paths[3].is_dir() && paths[2].is_dir());
    assert!(!paths[1].exists() && !paths[0].exists());
    let artifacts = std::fs::read_dir(cache.artifacts_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(
        artifacts, 2,
        "only the two retained artifact folders remain"
    );
}

#[test]
fn smart_http_anonymous_fetch() {
    if !support::git_available("smart_http_anonymous_fetch") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "over http\n")]);
    let server = HttpServer::start(&up.served(), HttpAuth::None);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let artifact = fetch(&cache, &FetchRequest::new(server.url("repo.git"))).unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "over http\n");
}

#[test]
fn smart_http_missing_credentials_is_an_authentication_error() {
    if !support::git_available("smart_http_missing_credentials_is_an_authentication_error") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let server = HttpServer::start(
        &up.served(),
        HttpAuth::Basic {
            username: "fleet".into(),
            password: "hunter22".into(),
        },
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let err = fetch(&cache, &FetchRequest::new(server.url("repo.git"))).unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err}");
}

#[test]
fn credentials_are_never_sent_over_plain_http() {
    if !support::git_available("credentials_are_never_sent_over_plain_http") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let server = HttpServer::start(&up.served(), HttpAuth::Bearer("t0ken-abc".into()));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    for auth in [
        Auth::Basic {
            username: "fleet".into(),
            password: "hunter22".into(),
        },
        Auth::Bearer("t0ken-abc".into()),
    ] {
        let err = fetch(
            &cache,
            &FetchRequest::new(server.url("repo.git")).with_auth(auth),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::InvalidRequest { field: "auth", .. }),
            "{err}"
        );
    }
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a request reached the server"
    );
}

fn basic() -> Auth {
    Auth::Basic {
        username: "fleet".into(),
        password: "hunter22".into(),
    }
}

fn basic_required() -> HttpAuth {
    HttpAuth::Basic {
        username: "fleet".into(),
        password: "hunter22".into(),
    }
}

#[test]
fn https_basic_auth_with_right_credentials() {
    if !support::git_available("https_basic_auth_with_right_credentials") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "secret stuff\n")]);
    let (server, ca) = HttpServer::start_tls(&up.served(), basic_required());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(server.url("repo.git"))
        .with_auth(basic())
        .with_ca_certificates(ca);
    let artifact = fetch(&cache, &request).unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "secret stuff\n");
}

#[test]
fn https_wrong_password_is_an_authentication_error_without_the_password() {
    if !support::git_available(
        "https_wrong_password_is_an_authentication_error_without_the_password",
    ) {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let (server, ca) = HttpServer::start_tls(&up.served(), basic_required());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(server.url("repo.git"))
        .with_auth(Auth::Basic {
            username: "fleet".into(),
            password: "wrong-pass".into(),
        })
        .with_ca_certificates(ca);
    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("wrong-pass"),
        "secret leaked: {err}"
    );
}

#[test]
fn https_bearer_token() {
    if !support::git_available("https_bearer_token") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "token\n")]);
    let (server, ca) = HttpServer::start_tls(&up.served(), HttpAuth::Bearer("t0ken-abc".into()));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let with = |token: &str| {
        FetchRequest::new(server.url("repo.git"))
            .with_auth(Auth::Bearer(token.into()))
            .with_ca_certificates(ca.clone())
    };
    assert_eq!(
        read(&fetch(&cache, &with("t0ken-abc")).unwrap(), "a.yaml"),
        "token\n"
    );
    let err = fetch(&cache, &with("t0ken-xyz")).unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err}");
    assert!(
        !err.to_string().contains("t0ken-xyz"),
        "secret leaked: {err}"
    );
}

#[test]
fn https_server_with_untrusted_certificate_is_refused() {
    if !support::git_available("https_server_with_untrusted_certificate_is_refused") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let (server, _ca) = HttpServer::start_tls(&up.served(), HttpAuth::None);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let err = fetch(&cache, &FetchRequest::new(server.url("repo.git"))).unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
}

#[test]
fn refused_connection_fails_fast_as_fetch_error() {
    let port = support::free_port();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(format!("git://127.0.0.1:{port}/repo.git"))
        .with_timeout(Duration::from_secs(5));
    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    assert!(err.is_transient());
}

#[test]
fn stalled_git_server_times_out() {
    let server = SilentServer::start();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(format!("git://127.0.0.1:{}/repo.git", server.port))
        .with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn stalled_http_server_times_out() {
    let server = SilentServer::start();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(format!("http://127.0.0.1:{}/repo.git", server.port))
        .with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn cancelled_fetch_leaves_cache_usable() {
    if !support::git_available("cancelled_fetch_leaves_cache_usable") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let daemon = GitDaemon::start(&up.served());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(daemon.url("repo.git"));

    let err = cache.fetch(&request, &AtomicBool::new(true)).unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");

    let artifact = fetch(&cache, &request).unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "x\n");
}

#[test]
fn damaged_cache_repository_is_refetched() {
    if !support::git_available("damaged_cache_repository_is_refetched") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(up.file_url());
    fetch(&cache, &request).unwrap();
    // Simulate a crash that left the repository without its HEAD and config.
    let repo = cache.repo_path(&up.file_url());
    std::fs::remove_file(repo.join("HEAD")).unwrap();
    std::fs::remove_file(repo.join("config")).unwrap();

    up.commit(&[("a.yaml", "y\n")], "next");
    up.push();
    let artifact = fetch(&cache, &request).unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "y\n");
}

mod signatures {
    use super::*;

    struct Signed {
        up: Upstream,
        keys: tempfile::TempDir,
        trusted_public: String,
        other_public: String,
    }

    /// An upstream plus two key pairs; `None` (after printing SKIPPED) without ssh-keygen.
    fn setup(test: &str) -> Option<Signed> {
        if !support::git_available(test) {
            return None;
        }
        let keys = tempfile::tempdir().unwrap();
        let Some((_, trusted_public)) = support::ssh_keypair(keys.path(), "trusted") else {
            eprintln!("SKIPPED: {test}: ssh-keygen is not installed");
            return None;
        };
        let (_, other_public) = support::ssh_keypair(keys.path(), "other")?;
        let up = Upstream::new(&[("a.yaml", "unsigned\n")]);
        Some(Signed {
            up,
            keys,
            trusted_public,
            other_public,
        })
    }

    #[test]
    fn commit_signed_by_trusted_key_is_accepted() {
        let Some(s) = setup("commit_signed_by_trusted_key_is_accepted") else {
            return;
        };
        s.up.signed_commit(
            &[("a.yaml", "signed\n")],
            "signed",
            &s.keys.path().join("trusted"),
        );
        s.up.push();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let request = FetchRequest::new(s.up.file_url()).with_verification(Verification {
            public_keys: vec![s.other_public.clone(), s.trusted_public.clone()],
        });
        let artifact = fetch(&cache, &request).unwrap();
        assert_eq!(read(&artifact, "a.yaml"), "signed\n");
    }

    #[test]
    fn unsigned_commit_is_refused() {
        let Some(s) = setup("unsigned_commit_is_refused") else {
            return;
        };
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let request = FetchRequest::new(s.up.file_url()).with_verification(Verification {
            public_keys: vec![s.trusted_public.clone()],
        });
        let err = fetch(&cache, &request).unwrap_err();
        assert!(matches!(err, Error::Verification { .. }), "{err}");
        assert!(err.to_string().contains("not signed"), "{err}");
    }

    #[test]
    fn commit_signed_by_untrusted_key_is_refused() {
        let Some(s) = setup("commit_signed_by_untrusted_key_is_refused") else {
            return;
        };
        s.up.signed_commit(
            &[("a.yaml", "signed\n")],
            "signed",
            &s.keys.path().join("other"),
        );
        s.up.push();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let request = FetchRequest::new(s.up.file_url()).with_verification(Verification {
            public_keys: vec![s.trusted_public.clone()],
        });
        let err = fetch(&cache, &request).unwrap_err();
        assert!(matches!(err, Error::Verification { .. }), "{err}");
        assert!(
            err.to_string().contains("not among the trusted keys"),
            "{err}"
        );
    }

    #[test]
    fn tampered_signed_commit_is_refused() {
        let Some(s) = setup("tampered_signed_commit_is_refused") else {
            return;
        };
        let signed = s.up.signed_commit(
            &[("a.yaml", "signed\n")],
            "signed",
            &s.keys.path().join("trusted"),
        );
        // Re-create the commit object with another message but the same signature header.
        let raw = support::git(&s.up.work(), &["cat-file", "commit", &signed]);
        let forged = raw.replace("\n\nsigned", "\n\nforged");
        let forged_path = s.up.root.path().join("forged");
        std::fs::write(&forged_path, format!("{forged}\n")).unwrap();
        let forged_id = support::git(
            &s.up.work(),
            &[
                "hash-object",
                "-t",
                "commit",
                "-w",
                "--literally",
                forged_path.to_str().unwrap(),
            ],
        );
        s.up.git(&["update-ref", "refs/heads/main", &forged_id]);
        s.up.push();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let request = FetchRequest::new(s.up.file_url()).with_verification(Verification {
            public_keys: vec![s.trusted_public.clone()],
        });
        let err = fetch(&cache, &request).unwrap_err();
        assert!(matches!(err, Error::Verification { .. }), "{err}");
        assert!(err.to_string().contains("does not match"), "{err}");
    }
}

#[test]
fn five_thousand_commit_repository_is_fetched_shallow_then_incrementally() {
    if !support::git_available(
        "five_thousand_commit_repository_is_fetched_shallow_then_incrementally",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("served/repo.git");
    support::fast_import_history(&bare, 5_000);
    let daemon = GitDaemon::start(&dir.path().join("served"));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request =
        FetchRequest::new(daemon.url("repo.git")).with_reference(Reference::Branch("main".into()));

    let first = fetch(&cache, &request).unwrap();
    // Shallow: the tip commit, its trees and blobs, not 5,000 commits.
    assert!(first.stats.objects_received < 200, "{:?}", first.stats);
    assert_eq!(read(&first, "data/file-99.txt"), "line 4999\n".repeat(20));

    let next = support::append_commit(&bare, "app/new.yaml", "kind: New\n");
    let second = fetch(&cache, &request).unwrap();
    assert_eq!(second.commit, next);
    assert_eq!(read(&second, "app/new.yaml"), "kind: New\n");
    assert!(
        second.stats.objects_received <= 5,
        "not incremental: {:?}",
        second.stats
    );
}

#[test]
fn five_thousand_commit_repository_full_history_has_every_commit() {
    if !support::git_available("five_thousand_commit_repository_full_history_has_every_commit") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("served/repo.git");
    support::fast_import_history(&bare, 5_000);
    let first_commit = support::git(&bare, &["rev-list", "--max-parents=0", "main"]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let url = format!("file://{}", bare.display());

    let request = FetchRequest::new(&url).with_reference(Reference::Commit(first_commit.clone()));
    let artifact = fetch(&cache, &request).unwrap();

    assert_eq!(artifact.commit, first_commit);
    assert_eq!(read(&artifact, "data/file-0.txt"), "line 0\n".repeat(20));
    assert!(!artifact.path.join("data/file-1.txt").exists());
}

mod ssh {
    use super::*;
    use support::Sshd;

    #[test]
    fn ssh_with_key_and_known_host_fetches() {
        if !support::git_available("ssh_with_key_and_known_host_fetches") {
            return;
        }
        let Some(sshd) = Sshd::start("ssh_with_key_and_known_host_fetches") else {
            return;
        };
        let up = Upstream::new(&[("a.yaml", "over ssh\n")]);
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let request = FetchRequest::new(sshd.url(&up.bare()))
            .with_auth(Auth::Ssh {
                private_key: sshd.client_key.clone(),
                known_hosts: sshd.known_hosts.clone(),
            })
            .with_timeout(Duration::from_secs(30));
        let artifact = fetch(&cache, &request).unwrap();
        assert_eq!(read(&artifact, "a.yaml"), "over ssh\n");
    }

    #[test]
    fn ssh_unknown_host_key_is_refused() {
        if !support::git_available("ssh_unknown_host_key_is_refused") {
            return;
        }
        let Some(sshd) = Sshd::start("ssh_unknown_host_key_is_refused") else {
            return;
        };
        let up = Upstream::new(&[("a.yaml", "x\n")]);
        let keys = tempfile::tempdir().unwrap();
        let (_, impostor) = support::ssh_keypair(keys.path(), "impostor").unwrap();
        let impostor = impostor.rsplit_once(' ').unwrap().0.to_owned();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let request = FetchRequest::new(sshd.url(&up.bare()))
            .with_auth(Auth::Ssh {
                private_key: sshd.client_key.clone(),
                known_hosts: format!("[127.0.0.1]:{} {impostor}\n", sshd.port),
            })
            .with_timeout(Duration::from_secs(30));
        let err = fetch(&cache, &request).unwrap_err();
        assert!(
            matches!(err, Error::Fetch { .. } | Error::Authentication { .. }),
            "{err}"
        );
        assert!(err.to_string().to_lowercase().contains("host key"), "{err}");
        assert!(
            !cache.artifacts_dir().read_dir().unwrap().any(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
        );
    }

    #[test]
    fn ssh_key_not_authorized_is_an_authentication_error() {
        if !support::git_available("ssh_key_not_authorized_is_an_authentication_error") {
            return;
        }
        let Some(sshd) = Sshd::start("ssh_key_not_authorized_is_an_authentication_error") else {
            return;
        };
        let up = Upstream::new(&[("a.yaml", "x\n")]);
        let keys = tempfile::tempdir().unwrap();
        let (other_key, _) = support::ssh_keypair(keys.path(), "stranger").unwrap();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let request = FetchRequest::new(sshd.url(&up.bare()))
            .with_auth(Auth::Ssh {
                private_key: std::fs::read_to_string(other_key).unwrap(),
                known_hosts: sshd.known_hosts.clone(),
            })
            .with_timeout(Duration::from_secs(30));
        let err = fetch(&cache, &request).unwrap_err();
        assert!(matches!(err, Error::Authentication { .. }), "{err}");
    }
}

#[test]
fn transfer_cut_mid_pack_leaves_cache_usable() {
    if !support::git_available("transfer_cut_mid_pack_leaves_cache_usable") {
        return;
    }
    let files = support::noisy_files(40, 4096);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let up = Upstream::new(&borrowed);
    let daemon = GitDaemon::start(&up.served());
    // Enough for the ref listing, not for the ~150 KB pack.
    let proxy = support::CuttingProxy::start(daemon.port, 8 * 1024);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let url = format!("git://127.0.0.1:{}/repo.git", proxy.port);
    let request = FetchRequest::new(&url).with_timeout(Duration::from_secs(20));

    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
    let packs: Vec<_> = std::fs::read_dir(cache.repo_path(&url).join("objects/pack"))
        .unwrap()
        .flatten()
        .collect();
    assert!(packs.is_empty(), "partial pack left behind: {packs:?}");

    let artifact = fetch(&cache, &request).unwrap();
    assert_eq!(read(&artifact, "blob-39.txt"), files[39].1);
}

#[test]
fn fetch_waits_for_another_process_holding_the_repository_lock() {
    if !support::git_available("fetch_waits_for_another_process_holding_the_repository_lock") {
        return;
    }
    let up = Upstream::new(&[("a.yaml", "x\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let request = FetchRequest::new(up.file_url()).with_timeout(Duration::from_millis(300));
    // Stand-in for another process: the same OS lock the cache takes per repository.
    let lock_path = cache.repo_path(&up.file_url()).with_extension("lock");
    let holder = std::fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();

    let err = fetch(&cache, &request).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");

    holder.unlock().unwrap();
    let artifact = fetch(&cache, &request.with_timeout(Duration::from_secs(20))).unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "x\n");
}

//! Incremental fetch + export after one new commit on a 5,000-commit
//! repository served by `git daemon`: Flotilla's `Cache::fetch` against the
//! git CLI's `git fetch` + `git archive | tar -x`, in the same run.
//!
//! Run: `cargo bench -p flotilla-sources --bench fetch`. Prints per-round
//! times, medians, the ratio, and what each update transferred, to show that
//! no full re-clone happens.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use sources::{Cache, FetchRequest, Reference};
use support::GitDaemon;

const COMMITS: usize = 5_000;
const ROUNDS: usize = 7;

fn main() {
    if !support::git_available("fetch benchmark") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let served = dir.path().join("served");
    let bare = served.join("repo.git");
    let started = Instant::now();
    support::fast_import_history(&bare, COMMITS);
    println!(
        "built {COMMITS}-commit repository in {:?}",
        started.elapsed()
    );
    let daemon = GitDaemon::start(&served);
    let url = daemon.url("repo.git");

    // Prime both sides.
    let cache = Cache::open(dir.path().join("cache")).expect("cache");
    let request = FetchRequest::new(&url).with_reference(Reference::Branch("main".into()));
    let t = Instant::now();
    let first = cache
        .fetch(&request, &AtomicBool::new(false))
        .expect("initial fetch");
    println!(
        "flotilla initial (shallow) fetch+export: {:?}, {} objects, {} pack bytes",
        t.elapsed(),
        first.stats.objects_received,
        first.stats.pack_bytes
    );
    let full_cache = Cache::open(dir.path().join("cache-full")).expect("cache");
    let full_request = request.clone().with_shallow(false);
    let t = Instant::now();
    let full = full_cache
        .fetch(&full_request, &AtomicBool::new(false))
        .expect("initial full fetch");
    println!(
        "flotilla initial (full history) fetch+export: {:?}, {} objects",
        t.elapsed(),
        full.stats.objects_received
    );
    let cli = dir.path().join("cli");
    let t = Instant::now();
    run(
        dir.path(),
        &[
            "git",
            "clone",
            "-q",
            "--bare",
            &url,
            cli.to_str().expect("utf-8"),
        ],
    );
    println!("git clone --bare (full history): {:?}", t.elapsed());
    let cli_shallow = dir.path().join("cli-shallow");
    run(
        dir.path(),
        &[
            "git",
            "clone",
            "-q",
            "--bare",
            "--depth",
            "1",
            &url,
            cli_shallow.to_str().expect("utf-8"),
        ],
    );

    let mut ours = Vec::new();
    let mut ours_full = Vec::new();
    let mut theirs = Vec::new();
    let mut theirs_shallow = Vec::new();
    for round in 0..ROUNDS {
        let commit = support::append_commit(
            &bare,
            &format!("data/new-{round}.txt"),
            &format!("round {round}\n"),
        );

        let t = Instant::now();
        let artifact = cache
            .fetch(&request, &AtomicBool::new(false))
            .expect("incremental fetch");
        ours.push(t.elapsed());
        assert_eq!(artifact.commit, commit);
        assert!(artifact.changed);

        let t = Instant::now();
        let artifact_full = full_cache
            .fetch(&full_request, &AtomicBool::new(false))
            .expect("incremental fetch");
        ours_full.push(t.elapsed());
        assert_eq!(artifact_full.commit, commit);

        theirs.push(cli_fetch_and_archive(
            &cli,
            &dir.path().join(format!("cli-out-{round}")),
            false,
        ));
        theirs_shallow.push(cli_fetch_and_archive(
            &cli_shallow,
            &dir.path().join(format!("cli-shallow-out-{round}")),
            true,
        ));
        println!(
            "round {round}: flotilla shallow {:>8.2?} ({} objects, {} pack bytes, {} files) | flotilla full {:>8.2?} ({} objects) | git full {:>8.2?} | git --depth 1 {:>8.2?}",
            ours[round],
            artifact.stats.objects_received,
            artifact.stats.pack_bytes,
            artifact.stats.files_exported,
            ours_full[round],
            artifact_full.stats.objects_received,
            theirs[round],
            theirs_shallow[round],
        );
        assert!(
            artifact.stats.objects_received < 10,
            "not incremental: {:?}",
            artifact.stats
        );
        assert!(
            artifact_full.stats.objects_received < 10,
            "not incremental: {:?}",
            artifact_full.stats
        );
    }
    let (ours, ours_full, theirs, theirs_shallow) = (
        median(ours),
        median(ours_full),
        median(theirs),
        median(theirs_shallow),
    );
    println!();
    println!(
        "median incremental fetch + export after one new commit ({COMMITS} commits, {ROUNDS} rounds):"
    );
    println!("  flotilla (shallow cache):       {ours:>8.2?}");
    println!("  flotilla (full-history cache):  {ours_full:>8.2?}");
    println!("  git fetch + git archive | tar:  {theirs:>8.2?}");
    println!("  same with git fetch --depth 1:  {theirs_shallow:>8.2?}");
    println!(
        "  ratio flotilla/git: {:.2} (shallow), {:.2} (full history); below 1.00 means faster than the git CLI",
        ours.as_secs_f64() / theirs.as_secs_f64(),
        ours_full.as_secs_f64() / theirs.as_secs_f64()
    );
    println!(
        "  packs in the flotilla cache: {} (one initial pack plus one small pack per update: no re-clone)",
        count_packs(&cache.repo_path(&url))
    );
}

/// `git fetch` then `git archive | tar -x` into `out`.
fn cli_fetch_and_archive(repo: &Path, out: &Path, shallow: bool) -> Duration {
    std::fs::create_dir_all(out).expect("mkdir");
    let t = Instant::now();
    let mut fetch = vec![
        "git",
        "fetch",
        "-q",
        "origin",
        "+refs/heads/main:refs/heads/main",
    ];
    if shallow {
        fetch.extend(["--depth", "1"]);
    }
    run(repo, &fetch);
    let mut archive = support::git_command(repo)
        .args(["archive", "--format=tar", "refs/heads/main"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("git archive");
    let tar_input = archive.stdout.take().expect("piped");
    // -m: the archive carries commit times, possibly in the future; tar need not restore them.
    let status = Command::new("tar")
        .arg("-x")
        .arg("-m")
        .arg("-C")
        .arg(out)
        .stdin(tar_input)
        .status()
        .expect("tar");
    assert!(
        archive.wait().expect("git archive finishes").success(),
        "git archive failed"
    );
    assert!(status.success(), "tar failed");
    t.elapsed()
}

fn run(dir: &Path, args: &[&str]) {
    let status = support::git_command(dir)
        .args(&args[1..])
        .status()
        .expect("git runs");
    assert!(status.success(), "{args:?} failed");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn count_packs(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("objects/pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0)
}

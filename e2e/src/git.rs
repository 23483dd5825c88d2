//! The Git side of a world: a bare repository served by `git daemon` on
//! 127.0.0.1 (with `receive-pack` enabled, so pushes go over `git://` as they
//! would to a Git host), and a working clone the test writes files in,
//! commits and pushes with the `git` CLI.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

/// Name of the served repository (`git://127.0.0.1:PORT/app.git`).
const REPO: &str = "app.git";

/// Branch the work clone pushes and GitRepositories follow.
pub const BRANCH: &str = "main";

/// Whether the `git` CLI is installed; prints `SKIPPED: …` when not.
pub fn available(test: &str) -> bool {
    let ok = std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: {test}: the git CLI is not installed");
    }
    ok
}

/// `git daemon` serving one bare repository, plus a working clone of it.
#[derive(Debug)]
pub struct GitServer {
    daemon: Child,
    port: u16,
    work: PathBuf,
}

impl GitServer {
    /// Creates `root/served/app.git` and `root/work`, and serves the former.
    /// The repository starts empty: the first [`GitServer::push`] creates `main`.
    pub async fn start(root: &Path) -> Result<Self> {
        let served = root.join("served");
        let work = root.join("work");
        for dir in [&served, &work] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        git(&served, &["init", "--bare", "-q", "-b", BRANCH, REPO]).await?;
        git(&work, &["init", "-q", "-b", BRANCH]).await?;

        let port = free_port()?;
        let daemon = Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", served.display()),
                &served.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting git daemon")?;
        wait_for_port(port, Duration::from_secs(10))?;
        let server = GitServer { daemon, port, work };
        git(&server.work, &["remote", "add", "origin", &server.url()]).await?;
        Ok(server)
    }

    /// `git://127.0.0.1:PORT/app.git`.
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/{REPO}", self.port)
    }

    /// The working clone.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Writes `files` (path relative to the repository root, content) into the
    /// work clone, commits everything and pushes `main`. Returns the commit id.
    pub async fn push(&self, files: &[(&str, &str)], message: &str) -> Result<String> {
        for (path, content) in files {
            let full = self.work.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&full, content)
                .with_context(|| format!("writing {}", full.display()))?;
        }
        self.commit_and_push(message).await
    }

    /// Copies the directory `from` (recursively) to `to` inside the work clone.
    pub fn copy_dir(&self, from: &Path, to: &str) -> Result<()> {
        copy_tree(from, &self.work.join(to))
    }

    /// Deletes `path` (a file or a directory) from the work clone, commits and
    /// pushes. Returns the commit id.
    pub async fn delete_and_push(&self, path: &str) -> Result<String> {
        let full = self.work.join(path);
        if full.is_dir() {
            std::fs::remove_dir_all(&full)
        } else {
            std::fs::remove_file(&full)
        }
        .with_context(|| format!("deleting {}", full.display()))?;
        self.commit_and_push(&format!("delete {path}")).await
    }

    /// Commits whatever the work clone holds and pushes `main`.
    pub async fn commit_and_push(&self, message: &str) -> Result<String> {
        git(&self.work, &["add", "-A"]).await?;
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        )
        .await?;
        git(&self.work, &["push", "-q", "origin", BRANCH]).await?;
        git(&self.work, &["rev-parse", "HEAD"]).await
    }

    /// Stops the daemon.
    pub async fn stop(&mut self) {
        let _ = self.daemon.kill().await;
    }
}

/// Runs git in `dir` with an isolated configuration; returns trimmed stdout.
pub async fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Flotilla E2E")
        .env("GIT_AUTHOR_EMAIL", "e2e@flotilla.invalid")
        .env("GIT_COMMITTER_NAME", "Flotilla E2E")
        .env("GIT_COMMITTER_EMAIL", "e2e@flotilla.invalid")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(args)
        .output()
        .await
        .with_context(|| format!("running git {args:?}"))?;
    if !out.status.success() {
        bail!(
            "git {args:?} in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A port nothing listens on right now (the daemon binds it a moment later).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .context("binding a free port")?
        .local_addr()?
        .port())
}

/// Polls until something accepts connections on `port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
    bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}")
}

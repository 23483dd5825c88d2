//! The on-disk cache: one bare repository per URL, fetched incrementally, and
//! the content-addressed artifact folders exported from it.
//!
//! Layout under the cache root:
//! - `repos/<sha256(url)[..32]>.git`: bare repositories, created in a staging
//!   folder and renamed into place, so a crash never leaves half a repository;
//! - `artifacts/<digest hex>/`: exported trees, written in a `.staging-*`
//!   folder first and renamed, so an artifact folder is always complete;
//! - `index/<request key>.json`: per request (URL, ref, path, ignore) the last
//!   exported commit and the digests still in use, which is what the garbage
//!   collector keeps.
//!
//! gix writes packs to temporary files and moves them into place, and refs
//! through lock files, so an interrupted fetch leaves the object database as
//! it was. A repository that cannot be opened any more is thrown away and
//! fetched again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use gix::remote::Direction;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{debug, info, info_span, warn};

use crate::deadline::{Deadline, Stop};
use crate::error::{Error, Result};
use crate::export::{self, normalize_sub_path};
use crate::request::{Artifact, Auth, FetchRequest, FetchStats, Reference};
use crate::resolve::{self, Resolved};
use crate::transport::{self, redact_url};
use crate::verify;

/// How many artifacts per request survive garbage collection: the current
/// one and the one before it (Flux keeps two by default too), so a consumer
/// still reading the previous artifact is not pulled from under.
const RETAINED_PER_REQUEST: usize = 2;

/// A cache root holding repositories and artifacts. Cheap to clone; safe to
/// share between threads of one process (fetches of the same URL are
/// serialised).
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// What the index remembers per request.
#[derive(Debug, Serialize, Deserialize)]
struct IndexEntry {
    url: String,
    commit: String,
    revision: String,
    /// Most recent first.
    digests: Vec<String>,
}

impl Cache {
    /// Opens (creating if needed) a cache rooted at `root`, and removes
    /// staging folders a crashed process may have left.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let cache = Cache { root: root.into() };
        for dir in [cache.repos_dir(), cache.artifacts_dir(), cache.index_dir()] {
            std::fs::create_dir_all(&dir).map_err(Error::io("creating cache folder", &dir))?;
        }
        for dir in [cache.repos_dir(), cache.artifacts_dir()] {
            let entries =
                std::fs::read_dir(&dir).map_err(Error::io("listing cache folder", &dir))?;
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".staging-") {
                    let path = entry.path();
                    std::fs::remove_dir_all(&path)
                        .map_err(Error::io("removing stale staging folder", &path))?;
                }
            }
        }
        Ok(cache)
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where artifact folders live.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    fn repos_dir(&self) -> PathBuf {
        self.root.join("repos")
    }

    fn gc_lock_path(&self) -> PathBuf {
        self.artifacts_dir().join(".lock")
    }

    fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }

    /// The bare repository caching `url`.
    pub fn repo_path(&self, url: &str) -> PathBuf {
        let key = hex::encode(Sha256::digest(url.trim_end_matches('/').as_bytes()));
        self.repos_dir().join(format!("{}.git", &key[..32]))
    }

    /// Fetches `request.url`, resolves the reference, verifies and exports the
    /// commit. Blocking: call it from `spawn_blocking` in async code. Setting
    /// `cancel` stops the fetch at the next opportunity with
    /// [`Error::Cancelled`]; the cache stays usable either way.
    pub fn fetch(&self, request: &FetchRequest, cancel: &AtomicBool) -> Result<Artifact> {
        let shown_url = redact_url(&request.url);
        let span = info_span!("source_fetch", url = %shown_url, reference = %request.reference);
        let _entered = span.enter();
        let deadline = Deadline::new(request.timeout);
        let result = deadline.run(cancel, || self.fetch_inner(request, &deadline));
        // Work that finished while the watchdog fired still counts as failed:
        // gix may have stopped half-way and reported something else.
        match (&result, deadline.stopped()) {
            (Err(_), Some(Stop::Cancelled)) => Err(Error::Cancelled { url: shown_url }),
            (Err(Error::Fetch { .. }), Some(Stop::TimedOut)) => Err(Error::Timeout {
                url: shown_url,
                seconds: request.timeout.as_secs_f64(),
            }),
            _ => result,
        }
    }

    fn fetch_inner(&self, request: &FetchRequest, deadline: &Deadline) -> Result<Artifact> {
        let shown_url = redact_url(&request.url);
        let invalid = |field: &'static str, reason: String| Error::InvalidRequest {
            url: shown_url.clone(),
            field,
            reason,
        };
        let sub_path = request
            .path
            .as_deref()
            .map(normalize_sub_path)
            .transpose()
            .map_err(|_| {
                invalid(
                    "path",
                    format!("{:?} must be relative, without `.` or `..`", request.path),
                )
            })?;
        let wanted_commit = match &request.reference {
            Reference::Commit(hex) => {
                Some(gix::ObjectId::from_hex(hex.as_bytes()).map_err(|e| {
                    invalid(
                        "ref.commit",
                        format!("{hex:?} is not a full commit id: {e}"),
                    )
                })?)
            }
            _ => None,
        };
        let parsed_url =
            gix::url::parse(gix::bstr::BStr::new(request.url.as_bytes())).map_err(|e| {
                invalid(
                    "url",
                    transport::redact_message(&e.to_string(), &request.url, &request.auth),
                )
            })?;
        if parsed_url.scheme == gix::url::Scheme::Http
            && matches!(request.auth, Auth::Basic { .. } | Auth::Bearer(_))
        {
            // gix refuses basic auth over plain http too; a token is as secret as a password.
            return Err(invalid(
                "auth",
                "credentials are only sent over https, not plain http".to_owned(),
            ));
        }
        let keys = request
            .verify
            .as_ref()
            .map(verify::trusted_keys)
            .transpose()?;
        if keys.is_some() {
            request
                .verify_mode
                .check_reference(&request.reference)
                .map_err(|reason| invalid("verify.mode", reason))?;
        }
        let extra_roots = match &request.ca_certificates {
            Some(pem) => transport::parse_ca_bundle(pem)
                .map_err(|reason| invalid("ca_certificates", reason))?,
            None => Vec::new(),
        };

        let repo_lock = repo_lock(self.repo_path(&request.url));
        let _guard = repo_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Other processes sharing the cache root take turns through an OS
        // file lock, which the kernel releases if the holder dies.
        let _repo_file_lock = file_lock(
            &self.repo_path(&request.url).with_extension("lock"),
            Some(deadline),
            &shown_url,
        )?;
        let repo = self.open_or_init(&request.url)?;
        let request_key = request_key(request);
        let previous = self.read_index(&request_key);

        let mut stats = FetchStats::default();
        let resolved = match wanted_commit {
            // A commit id names immutable content: if we have it, no network is needed.
            Some(id) if repo.has_object(id) => Resolved {
                commit: id,
                name: None,
                tag: None,
            },
            _ => Self::fetch_from_remote(
                &repo,
                request,
                &parsed_url,
                extra_roots,
                deadline,
                previous.as_ref(),
                &mut stats,
            )?,
        };
        if let Some(id) = wanted_commit
            && !repo.has_object(id)
        {
            return Err(Error::ReferenceNotFound {
                url: shown_url,
                reference: request.reference.to_string(),
                reason: "no branch or tag of the remote contains this commit".to_owned(),
            });
        }
        let is_commit = repo
            .find_object(resolved.commit)
            .map(|o| o.kind == gix::object::Kind::Commit)
            .unwrap_or(false);
        if !is_commit {
            return Err(Error::ReferenceNotFound {
                url: shown_url,
                reference: request.reference.to_string(),
                reason: format!("{} is not a commit in the fetched objects", resolved.commit),
            });
        }

        let verified = match &keys {
            Some(keys) => verify::verify(&repo, &resolved, request.verify_mode, keys)?,
            None => Vec::new(),
        };
        for signature in &verified {
            info!(%signature, "signature verified");
        }
        if let Some(stop) = deadline.stopped() {
            return Err(stop_error(stop, &shown_url, deadline));
        }

        let commit_hex = resolved.commit.to_string();
        if let Some(prev) = &previous
            && prev.commit == commit_hex
            && let Some(digest) = prev.digests.first()
            && self.artifacts_dir().join(digest).is_dir()
        {
            debug!(commit = %commit_hex, "commit unchanged, artifact reused");
            return Ok(Artifact {
                revision: resolved.revision(),
                commit: commit_hex,
                digest: format!("sha256:{digest}"),
                path: self.artifacts_dir().join(digest),
                changed: false,
                stats,
                verified,
            });
        }

        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(self.artifacts_dir())
            .map_err(Error::io(
                "creating staging folder in",
                self.artifacts_dir(),
            ))?;
        let ctx = export::Context {
            url: &shown_url,
            repo_path: repo.path(),
            commit: resolved.commit,
        };
        let exported = export::export(
            &repo,
            &ctx,
            sub_path.as_deref(),
            request.ignore.as_deref(),
            staging.path(),
        )?;
        stats.files_exported = exported.files;
        let final_path = self.artifacts_dir().join(&exported.digest_hex);
        {
            let _gc = artifacts_lock()
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let _gc_file_lock = file_lock(&self.gc_lock_path(), Some(deadline), &shown_url)?;
            if final_path.is_dir() {
                // Same content as an earlier export (another commit, another request): keep the existing folder.
                drop(staging);
            } else {
                let kept = staging.keep();
                std::fs::rename(&kept, &final_path)
                    .map_err(Error::io("moving artifact into place at", &final_path))?;
            }
            let mut digests = vec![exported.digest_hex.clone()];
            if let Some(prev) = previous {
                digests.extend(
                    prev.digests
                        .into_iter()
                        .filter(|d| *d != exported.digest_hex),
                );
            }
            digests.truncate(RETAINED_PER_REQUEST);
            let entry = IndexEntry {
                url: shown_url.clone(),
                commit: commit_hex.clone(),
                revision: resolved.revision(),
                digests,
            };
            self.write_index(&request_key, &entry)?;
            self.collect_garbage_locked()?;
        }
        info!(revision = %resolved.revision(), digest = %exported.digest_hex, files = exported.files, "artifact exported");
        Ok(Artifact {
            revision: resolved.revision(),
            commit: commit_hex,
            digest: format!("sha256:{}", exported.digest_hex),
            path: final_path,
            changed: true,
            stats,
            verified,
        })
    }

    /// Lists the remote's refs, resolves the reference and downloads what is
    /// missing (nothing when the commit is already exported for this request).
    fn fetch_from_remote(
        repo: &gix::Repository,
        request: &FetchRequest,
        url: &gix::Url,
        extra_roots: Vec<reqwest::Certificate>,
        deadline: &Deadline,
        previous: Option<&IndexEntry>,
        stats: &mut FetchStats,
    ) -> Result<Resolved> {
        let shown_url = redact_url(&request.url);
        let refspecs = resolve::refspecs(&request.reference);
        // For ssh the key and known hosts live in a private temporary folder
        // for as long as the connection needs them; ssh's stderr goes there too
        // so that its reason ("Host key verification failed") reaches the error.
        let mut ssh_files = None;
        let mut ssh_repo;
        let repo = if url.scheme == gix::url::Scheme::Ssh {
            let (dir, command) = ssh_setup(&request.auth, deadline)?;
            ssh_repo = repo.clone();
            let mut config = ssh_repo.config_snapshot_mut();
            config
                .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
                .and_then(|_| config.commit().map(|_| ()))
                .map_err(|e| transport::classify(&e, &request.url, &request.auth, deadline))?;
            ssh_files = Some(dir);
            &ssh_repo
        } else {
            repo
        };
        let ssh_log = ssh_files
            .as_ref()
            .map(|dir| dir.path().join(transport::SSH_STDERR));
        let gix_err = |e: gix::Error| {
            let err = transport::classify(&e, &request.url, &request.auth, deadline);
            match &ssh_log {
                Some(log) => transport::with_ssh_stderr(err, log, &request.url, &request.auth),
                None => err,
            }
        };
        let remote = repo
            .remote_at(url.clone())
            .map_err(gix_err)?
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch)
            .map_err(gix_err)?;

        let mut connection = match url.scheme {
            gix::url::Scheme::Git => {
                let transport = transport::connect_git_daemon(url, deadline).map_err(|e| {
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) {
                        Error::Timeout {
                            url: shown_url.clone(),
                            seconds: deadline.timeout.as_secs_f64(),
                        }
                    } else {
                        Error::Fetch {
                            url: shown_url.clone(),
                            message: format!("cannot connect: {e}"),
                        }
                    }
                })?;
                remote.to_connection_with_transport(transport)
            }
            _ => remote.connect(Direction::Fetch).map_err(gix_err)?,
        };
        if matches!(url.scheme, gix::url::Scheme::Http | gix::url::Scheme::Https) {
            connection.set_transport_options(Box::new(transport::http_options(
                &request.auth,
                extra_roots,
                deadline.at,
                deadline.remaining(),
            )));
        }
        let basic = match &request.auth {
            Auth::Basic { username, password } => Some((username.clone(), password.clone())),
            _ => None,
        };
        // Only the request's own credentials: never prompts, never the machine's credential helpers.
        let connection = connection.with_credentials(move |action| match action {
            gix::credentials::helper::Action::Get(ctx) => {
                Ok(basic
                    .clone()
                    .map(|(username, password)| gix::credentials::protocol::Outcome {
                        identity: gix::sec::identity::Account {
                            username,
                            password,
                            oauth_refresh_token: None,
                        },
                        next: ctx.into(),
                    }))
            }
            _ => Ok(None),
        });

        let prepare = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(gix_err)?;
        let resolved = resolve::resolve(&request.reference, &prepare.ref_map().remote_refs)
            .map_err(|reason| Error::ReferenceNotFound {
                url: shown_url.clone(),
                reference: request.reference.to_string(),
                reason,
            })?;
        // A tag moved to a new tag object on the same commit still needs that object, for
        // verification.
        if let Some(resolved) = &resolved
            && repo.has_object(resolved.commit)
            && resolved.tag.is_none_or(|tag| repo.has_object(tag))
            && previous.is_some_and(|p| {
                p.commit.as_bytes() == resolved.commit.to_hex().to_string().as_bytes()
            })
        {
            // Dropping `prepare` ends the conversation without asking for a pack.
            return Ok(resolved.clone());
        }

        let shallow = if request.shallow && !matches!(request.reference, Reference::Commit(_)) {
            gix::remote::fetch::Shallow::DepthAtRemote(std::num::NonZeroU32::MIN)
        } else if repo.is_shallow().unwrap_or(true) {
            gix::remote::fetch::Shallow::undo()
        } else {
            gix::remote::fetch::Shallow::NoChange
        };
        let outcome = prepare
            .with_shallow(shallow)
            .receive(gix::progress::Discard, &deadline.interrupt)
            .map_err(gix_err)?;
        if let gix::remote::fetch::Status::Change {
            write_pack_bundle, ..
        } = &outcome.status
        {
            stats.pack_received = true;
            stats.objects_received = u64::from(write_pack_bundle.index.num_objects);
            stats.pack_bytes = write_pack_bundle
                .data_path
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
        }
        debug!(
            pack_received = stats.pack_received,
            objects = stats.objects_received,
            bytes = stats.pack_bytes,
            "fetched"
        );
        if let Some(stop) = deadline.stopped() {
            return Err(stop_error(stop, &shown_url, deadline));
        }
        match (resolved, &request.reference) {
            (Some(resolved), _) => Ok(resolved),
            (None, Reference::Commit(hex)) => {
                let commit =
                    gix::ObjectId::from_hex(hex.as_bytes()).map_err(|e| Error::InvalidRequest {
                        url: shown_url.clone(),
                        field: "ref.commit",
                        reason: e.to_string(),
                    })?;
                Ok(Resolved {
                    commit,
                    name: None,
                    tag: None,
                })
            }
            (None, reference) => Err(Error::ReferenceNotFound {
                url: shown_url,
                reference: reference.to_string(),
                reason: "nothing matched".to_owned(),
            }),
        }
    }

    /// Opens the cached repository for `url`, creating it (atomically) if
    /// missing and recreating it if it is damaged.
    fn open_or_init(&self, url: &str) -> Result<gix::Repository> {
        let path = self.repo_path(url);
        let shown_url = redact_url(url);
        let repo_error = |message: String| Error::Repository {
            url: shown_url.clone(),
            path: path.clone(),
            message,
        };
        if path.exists() {
            match gix::open_opts(&path, open_options()) {
                Ok(repo) => return Ok(repo),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cached repository unusable, fetching it again");
                    std::fs::remove_dir_all(&path)
                        .map_err(Error::io("removing damaged repository", &path))?;
                }
            }
        }
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(self.repos_dir())
            .map_err(Error::io("creating staging folder in", self.repos_dir()))?;
        gix::init_bare(staging.path()).map_err(|e| repo_error(format!("cannot create: {e}")))?;
        let kept = staging.keep();
        std::fs::rename(&kept, &path)
            .map_err(Error::io("moving new repository into place at", &path))?;
        gix::open_opts(&path, open_options()).map_err(|e| repo_error(format!("cannot open: {e}")))
    }

    fn read_index(&self, key: &str) -> Option<IndexEntry> {
        let path = self.index_dir().join(format!("{key}.json"));
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(entry) => Some(entry),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "ignoring unreadable index entry");
                None
            }
        }
    }

    fn write_index(&self, key: &str, entry: &IndexEntry) -> Result<()> {
        let path = self.index_dir().join(format!("{key}.json"));
        let tmp = self.index_dir().join(format!(".{key}.json.tmp"));
        let bytes = serde_json::to_vec_pretty(entry).map_err(|e| Error::Io {
            action: "encoding index entry",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&tmp, bytes).map_err(Error::io("writing index entry", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("moving index entry into place at", &path))
    }

    /// Removes artifact folders no request references any more. Returns how many were removed.
    pub fn collect_garbage(&self) -> Result<usize> {
        let _gc = artifacts_lock()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _gc_file_lock = file_lock(&self.gc_lock_path(), None, "")?;
        self.collect_garbage_locked()
    }

    fn collect_garbage_locked(&self) -> Result<usize> {
        let index_dir = self.index_dir();
        let mut live = HashSet::new();
        for entry in std::fs::read_dir(&index_dir)
            .map_err(Error::io("listing", &index_dir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".json")
                && !name.starts_with('.')
                && let Some(index) = self.read_index(key)
            {
                live.extend(index.digests);
            }
        }
        let dir = self.artifacts_dir();
        let mut removed = 0;
        for entry in std::fs::read_dir(&dir)
            .map_err(Error::io("listing", &dir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || live.contains(&name) {
                continue;
            }
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(Error::io("removing old artifact", &path))?;
            debug!(artifact = %name, "garbage-collected");
            removed += 1;
        }
        Ok(removed)
    }
}

/// Writes the key and known hosts of `auth` into a private folder and returns
/// it with the `ssh` command line using them. Without `Auth::Ssh` the known
/// hosts list is empty, so every host key is refused.
fn ssh_setup(auth: &Auth, deadline: &Deadline) -> Result<(tempfile::TempDir, String)> {
    let dir = tempfile::Builder::new()
        .prefix("flotilla-ssh-")
        .tempdir()
        .map_err(Error::io("creating ssh folder in", std::env::temp_dir()))?;
    let (key, known_hosts) = match auth {
        Auth::Ssh {
            private_key,
            known_hosts,
        } => (
            Some(private_key.as_str()).filter(|k| !k.trim().is_empty()),
            known_hosts.as_str(),
        ),
        _ => (None, ""),
    };
    let known_hosts_path = dir.path().join("known_hosts");
    write_private(&known_hosts_path, known_hosts)?;
    let key_path = dir.path().join("identity");
    if let Some(key) = key {
        // ssh refuses keys without a final newline.
        let key = if key.ends_with('\n') {
            key.to_owned()
        } else {
            format!("{key}\n")
        };
        write_private(&key_path, &key)?;
    }
    let seconds = deadline.remaining().as_secs().max(1);
    let command = transport::ssh_command(
        key.map(|_| key_path.as_path()),
        &known_hosts_path,
        &dir.path().join(transport::SSH_STDERR),
        seconds,
    );
    Ok((dir, command))
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(Error::io("creating", path))?;
    std::io::Write::write_all(&mut file, content.as_bytes()).map_err(Error::io("writing", path))
}

/// Takes an exclusive OS lock on `path` (created if missing), waiting until
/// `deadline` if given, else as long as it takes.
fn file_lock(path: &Path, deadline: Option<&Deadline>, shown_url: &str) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io("opening lock file", path))?;
    let Some(deadline) = deadline else {
        file.lock().map_err(Error::io("locking", path))?;
        return Ok(file);
    };
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if let Some(stop) = deadline.stopped() {
                    return Err(stop_error(stop, shown_url, deadline));
                }
                // Another process is fetching; its fetch is bounded by its own deadline.
                std::thread::sleep(LOCK_RETRY);
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("locking", path)(e)),
        }
    }
}

/// How long to wait between attempts to take a lock another process holds.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Repositories are opened without the machine's or user's git
/// configuration (no `url.insteadOf` surprises, no credential helpers).
/// gix 0.90's `skipping` negotiator panics on long histories ("present or
/// inserted"), so the default `consecutive` one stays.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated()
}

fn stop_error(stop: Stop, shown_url: &str, deadline: &Deadline) -> Error {
    match stop {
        Stop::Cancelled => Error::Cancelled {
            url: shown_url.to_owned(),
        },
        Stop::TimedOut => Error::Timeout {
            url: shown_url.to_owned(),
            seconds: deadline.timeout.as_secs_f64(),
        },
    }
}

/// Identifies a request whose artifact can be reused: everything that changes the exported content.
fn request_key(request: &FetchRequest) -> String {
    let mut hasher = Sha256::new();
    for part in [
        request.url.as_str(),
        &request.reference.to_string(),
        request.path.as_deref().unwrap_or(""),
        request.ignore.as_deref().unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update(b"\0");
    }
    hex::encode(&hasher.finalize()[..16])
}

/// One lock per cached repository, so two fetches of one URL in this process take turns.
fn repo_lock(path: PathBuf) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(path).or_default().clone()
}

/// Serialises moving artifacts into place with garbage collection.
fn artifacts_lock() -> &'static Mutex<()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(Default::default)
}

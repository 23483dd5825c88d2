//! Test fixtures: upstream repositories built with the git CLI, and real
//! servers on 127.0.0.1 (`git daemon`, `git http-backend` behind a tiny
//! HTTP/1.1 server, a silent TCP listener for timeouts).
//!
//! Each test gets its own temporary folder and its own servers on free ports;
//! servers stop when their handle is dropped.

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod gpg;

pub use gpg::Gpg;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Whether the git CLI with `daemon` and `http-backend` is usable; prints
/// `SKIPPED: …` when not, so callers can return early.
pub fn git_available(test: &str) -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: {test}: the git CLI is not installed");
    }
    ok
}

/// Runs git with an isolated configuration in `dir` and returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A git command that ignores the machine's and user's configuration.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Flotilla Test")
        .env("GIT_AUTHOR_EMAIL", "test@flotilla.invalid")
        .env("GIT_COMMITTER_NAME", "Flotilla Test")
        .env("GIT_COMMITTER_EMAIL", "test@flotilla.invalid")
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// An upstream: a bare repository (`served/repo.git`, what servers publish)
/// and a working clone to make commits in and push from.
pub struct Upstream {
    pub root: tempfile::TempDir,
}

impl Upstream {
    /// An upstream whose `main` branch has one commit with `files`.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("served")).expect("mkdir");
        std::fs::create_dir_all(root.path().join("work")).expect("mkdir");
        git(
            &root.path().join("served"),
            &["init", "--bare", "-q", "-b", "main", "repo.git"],
        );
        let up = Upstream { root };
        git(&up.work(), &["init", "-q", "-b", "main"]);
        git(
            &up.work(),
            &[
                "remote",
                "add",
                "origin",
                up.bare().to_str().expect("utf-8 path"),
            ],
        );
        up.commit(files, "initial");
        up.push();
        up
    }

    /// The working clone.
    pub fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// The folder servers publish (`GIT_PROJECT_ROOT`, daemon base path).
    pub fn served(&self) -> PathBuf {
        self.root.path().join("served")
    }

    /// The bare repository.
    pub fn bare(&self) -> PathBuf {
        self.served().join("repo.git")
    }

    /// `file://` URL of the bare repository.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    /// Writes `files` (an empty content deletes the file), commits, returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        self.write(files);
        git(&self.work(), &["add", "-A"]);
        git(
            &self.work(),
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.work(), &["rev-parse", "HEAD"])
    }

    /// Like [`Upstream::commit`] but signed with the SSH private key at `key`.
    pub fn signed_commit(&self, files: &[(&str, &str)], message: &str, key: &Path) -> String {
        self.write(files);
        git(&self.work(), &["add", "-A"]);
        let key = key.to_str().expect("utf-8 path");
        git(
            &self.work(),
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &format!("user.signingkey={key}"),
                "commit",
                "-q",
                "-S",
                "-m",
                message,
            ],
        );
        git(&self.work(), &["rev-parse", "HEAD"])
    }

    fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let full = self.work().join(path);
            if content.is_empty() {
                let _ = std::fs::remove_file(&full);
                continue;
            }
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&full, content).expect("write");
        }
    }

    /// Pushes every branch and tag, forcing.
    pub fn push(&self) {
        git(&self.work(), &["push", "-q", "--force", "--all", "origin"]);
        git(&self.work(), &["push", "-q", "--force", "--tags", "origin"]);
    }

    /// Runs git in the working clone.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.work(), args)
    }
}

/// Picks a free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls until something accepts TCP connections on `port`, or panics after 10 s.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::yield_now();
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10 s");
}

/// A `git daemon` serving a folder on 127.0.0.1.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn start(base: &Path) -> Self {
        let port = free_port();
        let child = Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        wait_for_port(port);
        GitDaemon { child, port }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the HTTP server demands of clients.
#[derive(Clone)]
pub enum HttpAuth {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}

/// Smart HTTP: `git http-backend` run as a CGI program behind a small
/// HTTP/1.1 server (one request per connection).
pub struct HttpServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Requests answered so far.
    pub requests: Arc<AtomicUsize>,
    scheme: &'static str,
}

impl HttpServer {
    /// Plain HTTP.
    pub fn start(project_root: &Path, auth: HttpAuth) -> Self {
        Self::start_with(project_root, auth, None)
    }

    /// HTTPS with a fresh self-signed certificate for 127.0.0.1; returns the
    /// server and the certificate's PEM for the client to trust.
    pub fn start_tls(project_root: &Path, auth: HttpAuth) -> (Self, String) {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("cert");
        let cert_pem = certified.cert.pem();
        let cert_der = certified.cert.der().clone();
        let key_der =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key_der)
            .expect("server config");
        (
            Self::start_with(project_root, auth, Some(Arc::new(config))),
            cert_pem,
        )
    }

    fn start_with(
        project_root: &Path,
        auth: HttpAuth,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let root = project_root.to_owned();
        let (stop2, requests2) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let (root, auth, requests, tls) =
                    (root.clone(), auth.clone(), requests2.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = match tls {
                        Some(config) => match rustls::ServerConnection::new(config) {
                            Ok(conn) => {
                                serve_one(rustls::StreamOwned::new(conn, stream), &root, &auth)
                            }
                            Err(_) => Ok(()),
                        },
                        None => serve_one(stream, &root, &auth),
                    };
                    requests.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        HttpServer {
            port,
            stop,
            requests,
            scheme,
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("{}://127.0.0.1:{}/{repo}", self.scheme, self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one<S: Read + Write>(stream: S, root: &Path, auth: &HttpAuth) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let authorized = match auth {
        HttpAuth::None => true,
        HttpAuth::Basic { username, password } => headers
            .get("authorization")
            .is_some_and(|h| *h == format!("Basic {}", base64(&format!("{username}:{password}")))),
        HttpAuth::Bearer(token) => headers
            .get("authorization")
            .is_some_and(|h| *h == format!("Bearer {token}")),
    };
    if !authorized {
        let challenge = match auth {
            HttpAuth::Bearer(_) => "Bearer realm=\"git\"",
            _ => "Basic realm=\"git\"",
        };
        let out = reader.get_mut();
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env(
            "CONTENT_TYPE",
            headers.get("content-type").cloned().unwrap_or_default(),
        )
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "GIT_PROTOCOL",
            headers.get("git-protocol").cloned().unwrap_or_default(),
        )
        .env(
            "HTTP_CONTENT_ENCODING",
            headers.get("content-encoding").cloned().unwrap_or_default(),
        )
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let output = child.wait_with_output()?;
    let _ = writer.join();
    let cgi = output.stdout;
    let out = reader.get_mut();
    let split = cgi
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4));
    let split = split.or_else(|| cgi.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((end, sep)) = split else {
        write!(
            out,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    let head = String::from_utf8_lossy(&cgi[..end]).into_owned();
    let payload = &cgi[end + sep..];
    let mut status = "200 OK".to_owned();
    let mut response_headers = String::new();
    for line in head.lines() {
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_owned();
        } else if !line.trim().is_empty() {
            response_headers.push_str(line.trim_end());
            response_headers.push_str("\r\n");
        }
    }
    write!(
        out,
        "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )?;
    out.write_all(payload)?;
    out.flush()
}

/// Standard base64, enough for a basic-auth header.
fn base64(input: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A TCP listener that accepts connections and never answers: a stalled server.
pub struct SilentServer {
    pub port: u16,
    _held: Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl SilentServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let held2 = held.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                held2.lock().expect("lock").push(stream);
            }
        });
        SilentServer { port, _held: held }
    }
}

/// An ed25519 key pair made by `ssh-keygen`: (private key path, public key line).
pub fn ssh_keypair(dir: &Path, name: &str) -> Option<(PathBuf, String)> {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let public = std::fs::read_to_string(key.with_extension("pub")).ok()?;
    Some((key, public.trim().to_owned()))
}

/// How the working clone signs a commit or tag.
pub enum Signer<'a> {
    /// With OpenPGP key `key` (fingerprint; a subkey fingerprint ending in `!` forces that
    /// subkey) from the GnuPG home.
    OpenPgp { gpg: &'a Gpg, key: &'a str },
    /// With the SSH private key at this path (`gpg.format=ssh`).
    Ssh(&'a Path),
}

impl Signer<'_> {
    /// `git -c …` options selecting the key, and the `GNUPGHOME` to run git with.
    fn config(&self) -> (Vec<String>, Option<PathBuf>) {
        match self {
            Signer::OpenPgp { gpg, key } => (
                vec![
                    "-c".into(),
                    "gpg.format=openpgp".into(),
                    "-c".into(),
                    format!("user.signingkey={key}"),
                ],
                Some(gpg.home().to_owned()),
            ),
            Signer::Ssh(path) => (
                vec![
                    "-c".into(),
                    "gpg.format=ssh".into(),
                    "-c".into(),
                    format!("user.signingkey={}", path.display()),
                ],
                None,
            ),
        }
    }
}

impl Upstream {
    /// Commits `files` signed by `signer` (`git commit -S`); returns the commit id.
    pub fn commit_signed_by(
        &self,
        files: &[(&str, &str)],
        message: &str,
        signer: &Signer,
    ) -> String {
        self.write(files);
        git(&self.work(), &["add", "-A"]);
        self.git_signing(
            signer,
            &["commit", "-q", "--allow-empty", "-S", "-m", message],
        );
        git(&self.work(), &["rev-parse", "HEAD"])
    }

    /// Makes the annotated tag `name` on `HEAD`, signed by `signer` (`git tag -s`).
    pub fn signed_tag(&self, name: &str, signer: &Signer) {
        self.git_signing(
            signer,
            &["tag", "-s", "-m", &format!("release {name}"), name],
        );
    }

    fn git_signing(&self, signer: &Signer, args: &[&str]) {
        let (config, gnupg_home) = signer.config();
        let mut cmd = git_command(&self.work());
        if let Some(home) = gnupg_home {
            cmd.env("GNUPGHOME", home);
        }
        let out = cmd.args(&config).args(args).output().expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Makes `commits` commits on `main` of a new bare repository at `bare` in one
/// `git fast-import` run (seconds instead of minutes of `git commit`).
/// Commit `i` rewrites `data/file-{i % 100}.txt` and keeps a small app tree.
pub fn fast_import_history(bare: &Path, commits: usize) {
    let parent = bare.parent().expect("parent");
    std::fs::create_dir_all(parent).expect("mkdir");
    git(
        parent,
        &[
            "init",
            "--bare",
            "-q",
            "-b",
            "main",
            bare.to_str().expect("utf-8"),
        ],
    );
    let mut stream = Vec::new();
    for i in 0..commits {
        let msg = format!("commit {i}\n");
        let when = 1_700_000_000 + i;
        write!(
            stream,
            "commit refs/heads/main\nmark :{}\ncommitter Flotilla Test <test@flotilla.invalid> {when} +0000\ndata {}\n{msg}",
            i + 1,
            msg.len()
        )
        .expect("write");
        if i > 0 {
            writeln!(stream, "from :{i}").expect("write");
        }
        let content = format!("line {i}\n").repeat(20);
        writeln!(
            stream,
            "M 100644 inline data/file-{}.txt\ndata {}\n{content}",
            i % 100,
            content.len()
        )
        .expect("write");
        if i == 0 {
            let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n";
            writeln!(
                stream,
                "M 100644 inline app/configmap.yaml\ndata {}\n{manifest}",
                manifest.len()
            )
            .expect("write");
        }
    }
    let mut child = git_command(bare)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("fast-import runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&stream)
        .expect("stream written");
    assert!(
        child.wait().expect("fast-import finishes").success(),
        "fast-import failed"
    );
}

/// Appends one commit to `main` of the bare repository `bare` (via fast-import, no working tree).
pub fn append_commit(bare: &Path, path: &str, content: &str) -> String {
    let head = git(bare, &["rev-parse", "refs/heads/main"]);
    let msg = "one more\n";
    let stream = format!(
        "commit refs/heads/main\ncommitter Flotilla Test <test@flotilla.invalid> 1800000000 +0000\ndata {}\n{msg}from {head}\nM 100644 inline {path}\ndata {}\n{content}\n",
        msg.len(),
        content.len()
    );
    let mut child = git_command(bare)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("fast-import runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stream.as_bytes())
        .expect("stream written");
    assert!(
        child.wait().expect("fast-import finishes").success(),
        "fast-import failed"
    );
    git(bare, &["rev-parse", "refs/heads/main"])
}

/// An OpenSSH server on 127.0.0.1 accepting one client key for the current
/// user, with its own host key. `None` (after printing SKIPPED) without sshd.
pub struct Sshd {
    child: Child,
    pub port: u16,
    /// `known_hosts` line for this server.
    pub known_hosts: String,
    /// The accepted client private key (OpenSSH format).
    pub client_key: String,
    _dir: tempfile::TempDir,
}

impl Sshd {
    pub fn start(test: &str) -> Option<Self> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            eprintln!("SKIPPED: {test}: sshd is not installed (apt-get install openssh-server)");
            return None;
        }
        // sshd insists on its privilege-separation folder.
        if std::fs::create_dir_all("/run/sshd").is_err() {
            eprintln!("SKIPPED: {test}: cannot create /run/sshd");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (host_key, host_public) = ssh_keypair(dir.path(), "host_key")?;
        let (client_key, client_public) = ssh_keypair(dir.path(), "client")?;
        std::fs::write(
            dir.path().join("authorized_keys"),
            format!("{client_public}\n"),
        )
        .expect("write");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nPidFile none\n",
            host_key.display(),
            dir.path().join("authorized_keys").display()
        );
        let config_path = dir.path().join("sshd_config");
        std::fs::write(&config_path, config).expect("write");
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        wait_for_port(port);
        let known_hosts = format!(
            "[127.0.0.1]:{port} {}\n",
            host_public
                .rsplit_once(' ')
                .map_or(&*host_public, |(k, _)| k)
        );
        let client_key = std::fs::read_to_string(client_key).expect("read key");
        Some(Sshd {
            child,
            port,
            known_hosts,
            client_key,
            _dir: dir,
        })
    }

    /// `ssh://` URL of an absolute repository path, for the current user.
    pub fn url(&self, repo: &Path) -> String {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, repo.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy to 127.0.0.1:`target` that cuts the first connection after
/// `cut_after` bytes from the server, like a network failure mid-transfer;
/// later connections pass through untouched.
pub struct CuttingProxy {
    pub port: u16,
}

impl CuttingProxy {
    pub fn start(target: u16, cut_after: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().flatten().enumerate() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (mut client_read, mut server_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client_read, &mut server_write);
                });
                std::thread::spawn(move || {
                    let mut server = server;
                    let mut client = client;
                    if n == 0 {
                        let _ = std::io::copy(&mut (&mut server).take(cut_after), &mut client);
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        let _ = server.shutdown(std::net::Shutdown::Both);
                    } else {
                        let _ = std::io::copy(&mut server, &mut client);
                        let _ = client.shutdown(std::net::Shutdown::Write);
                    }
                });
            }
        });
        CuttingProxy { port }
    }
}

/// `count` files of `size` bytes of poorly compressible text, for sizeable packs.
pub fn noisy_files(count: usize, size: usize) -> Vec<(String, String)> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|i| {
            let content: String = (0..size)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    char::from(b'!' + ((state >> 33) % 90) as u8)
                })
                .collect();
            (format!("blob-{i}.txt"), content)
        })
        .collect()
}

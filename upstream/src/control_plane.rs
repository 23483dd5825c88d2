//! Starting and stopping the upstream control plane: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler on 127.0.0.1, in that order, stopped in reverse.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::binaries::Binaries;
use crate::error::Error;
use crate::pki::{self, Pki, SERVICE_CIDR};
use crate::process::{Component, free_port};

/// How long kube-apiserver may take to answer `/readyz` (about 3 s on an idle machine; a
/// first start on two busy cores has taken 20).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How to start a control plane.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `pki/`, `etcd/`, `logs/` and `kubeconfig`; created when missing, reused after.
    pub data_dir: PathBuf,
    /// kube-apiserver's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

/// Entry point: see [`ControlPlane::start`].
#[derive(Debug)]
pub struct ControlPlane;

/// A started control plane; dropping it stops every process.
#[derive(Debug)]
pub struct RunningControlPlane {
    // In start order; stopped in reverse.
    components: Vec<Component>,
    url: String,
    kubeconfig: PathBuf,
    ca_pem: String,
    token: String,
    logs: PathBuf,
}

impl ControlPlane {
    /// Finds the binaries, generates the PKI on first use, starts the four components and
    /// returns once kube-apiserver is ready (`/readyz`, RBAC bootstrap included) and the
    /// controllers and scheduler have been started.
    pub fn start(config: Config) -> Result<RunningControlPlane, Error> {
        let binaries = Binaries::find()?;
        Self::start_with(config, &binaries)
    }

    /// As [`ControlPlane::start`], with the binaries given.
    pub fn start_with(config: Config, bin: &Binaries) -> Result<RunningControlPlane, Error> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = &config.data_dir;
        pki::create_private_dir(dir)?;
        let pki = Pki::load_or_create(dir)?;
        let logs = dir.join("logs");
        let etcd_dir = dir.join("etcd");
        for d in [&logs, &etcd_dir, &dir.join("certs")] {
            pki::create_private_dir(d)?;
        }
        let token = token(&pki)?;

        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let port = if config.port == 0 {
            free_port()?
        } else {
            config.port
        };
        let url = format!("https://127.0.0.1:{port}");
        let mut started = Started::default();

        let client_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        started.0.push(Component::spawn(
            "etcd",
            &bin.etcd,
            &args(&[
                ("name", "flotilla"),
                ("data-dir", &path_str(&etcd_dir)),
                ("listen-client-urls", &client_url),
                ("advertise-client-urls", &client_url),
                ("listen-peer-urls", &peer_url),
                ("initial-advertise-peer-urls", &peer_url),
                ("initial-cluster", &format!("flotilla={peer_url}")),
                ("log-level", "warn"),
            ]),
            &logs,
        )?);

        let p = |name: &str| path_str(&pki.path(name));
        let token_file = pki.path("tokens.csv");
        started.0.push(Component::spawn(
            "kube-apiserver",
            &bin.kube_apiserver,
            &args(&[
                ("etcd-servers", &client_url),
                ("bind-address", "127.0.0.1"),
                ("advertise-address", "127.0.0.1"),
                ("secure-port", &port.to_string()),
                // The endpoint reconciler refuses a loopback advertise address.
                ("endpoint-reconciler-type", "none"),
                ("cert-dir", &path_str(&dir.join("certs"))),
                ("tls-cert-file", &p("apiserver.crt")),
                ("tls-private-key-file", &p("apiserver.key")),
                ("client-ca-file", &p("ca.crt")),
                ("token-auth-file", &path_str(&token_file)),
                (
                    "kubelet-client-certificate",
                    &p("apiserver-kubelet-client.crt"),
                ),
                ("kubelet-client-key", &p("apiserver-kubelet-client.key")),
                ("service-account-key-file", &p("sa.pub")),
                ("service-account-signing-key-file", &p("sa.key")),
                (
                    "service-account-issuer",
                    "https://kubernetes.default.svc.cluster.local",
                ),
                ("service-cluster-ip-range", SERVICE_CIDR),
                ("authorization-mode", "Node,RBAC"),
                ("enable-admission-plugins", "NodeRestriction"),
                ("allow-privileged", "true"),
                ("requestheader-client-ca-file", &p("front-proxy-ca.crt")),
                ("requestheader-allowed-names", "front-proxy-client"),
                ("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
                ("requestheader-group-headers", "X-Remote-Group"),
                ("requestheader-username-headers", "X-Remote-User"),
                ("proxy-client-cert-file", &p("front-proxy-client.crt")),
                ("proxy-client-key-file", &p("front-proxy-client.key")),
            ]),
            &logs,
        )?);

        let ca_pem = pki.read("ca.crt")?;
        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(&kubeconfig, &url, &pki, "admin", Some(&token))?;
        let kcm_conf = dir.join("controller-manager.conf");
        write_kubeconfig(&kcm_conf, &url, &pki, "controller-manager", None)?;
        let scheduler_conf = dir.join("scheduler.conf");
        write_kubeconfig(&scheduler_conf, &url, &pki, "scheduler", None)?;

        wait_ready(&kubeconfig, &mut started, &logs)?;

        let kcm = path_str(&kcm_conf);
        started.0.push(Component::spawn(
            "kube-controller-manager",
            &bin.kube_controller_manager,
            &args(&[
                ("kubeconfig", &kcm),
                ("authentication-kubeconfig", &kcm),
                ("authorization-kubeconfig", &kcm),
                ("bind-address", "127.0.0.1"),
                ("secure-port", &free_port()?.to_string()),
                ("cert-dir", &path_str(&dir.join("certs"))),
                ("leader-elect", "false"),
                ("use-service-account-credentials", "true"),
                ("service-account-private-key-file", &p("sa.key")),
                ("root-ca-file", &p("ca.crt")),
                ("cluster-signing-cert-file", &p("ca.crt")),
                ("cluster-signing-key-file", &p("ca.key")),
                ("requestheader-client-ca-file", &p("front-proxy-ca.crt")),
                ("controllers", "*,bootstrapsigner,tokencleaner"),
                ("cluster-name", "flotilla"),
            ]),
            &logs,
        )?);
        let sched = path_str(&scheduler_conf);
        started.0.push(Component::spawn(
            "kube-scheduler",
            &bin.kube_scheduler,
            &args(&[
                ("kubeconfig", &sched),
                ("authentication-kubeconfig", &sched),
                ("authorization-kubeconfig", &sched),
                ("bind-address", "127.0.0.1"),
                ("secure-port", &free_port()?.to_string()),
                ("cert-dir", &path_str(&dir.join("certs"))),
                ("leader-elect", "false"),
            ]),
            &logs,
        )?);
        tracing::info!(%url, "upstream control plane started");
        Ok(RunningControlPlane {
            components: std::mem::take(&mut started.0),
            url,
            kubeconfig,
            ca_pem,
            token,
            logs,
        })
    }
}

impl RunningControlPlane {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin kubeconfig, `DATA_DIR/kubeconfig` (mode 0600).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The cluster CA, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A bearer token of a `system:masters` user (the kubeconfig's `flotilla-token` user).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `DATA_DIR/logs`, one file per component.
    pub fn logs_dir(&self) -> &Path {
        &self.logs
    }

    /// `Err` naming the first component that has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        self.components
            .iter_mut()
            .try_for_each(Component::check_running)
    }

    /// Stops every component, the scheduler first and etcd last.
    pub fn shutdown(mut self) {
        stop_all(&mut self.components);
    }
}

impl Drop for RunningControlPlane {
    fn drop(&mut self) {
        stop_all(&mut self.components);
    }
}

/// Components started so far: stopped (in reverse) if startup fails half-way.
#[derive(Default)]
struct Started(Vec<Component>);

impl Drop for Started {
    fn drop(&mut self) {
        stop_all(&mut self.0);
    }
}

fn stop_all(components: &mut Vec<Component>) {
    while let Some(mut c) = components.pop() {
        c.stop(Duration::from_secs(10));
    }
}

fn args(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("--{k}={v}")).collect()
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// The static token of the kubeconfig's token user, created once (`pki/tokens.csv`, the
/// format of `--token-auth-file`: token,user,uid,"groups").
fn token(pki: &Pki) -> Result<String, Error> {
    let path = pki.path("tokens.csv");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(token) = text.split(',').next().filter(|t| !t.trim().is_empty())
    {
        return Ok(token.trim().to_owned());
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    pki::write_private(
        &path,
        &format!("{token},flotilla-token,flotilla-token,\"system:masters\"\n"),
    )
    .map_err(|source| Error::Io { path, source })?;
    Ok(token)
}

/// A kubeconfig with embedded credentials, laid out as the embedded engine's, so tools and
/// tests read both alike.
fn write_kubeconfig(
    path: &Path,
    url: &str,
    pki: &Pki,
    identity: &str,
    token: Option<&str>,
) -> Result<(), Error> {
    let ca = STANDARD.encode(pki.read("ca.crt")?);
    let cert = STANDARD.encode(pki.read(&format!("{identity}.crt"))?);
    let key = STANDARD.encode(pki.read(&format!("{identity}.key"))?);
    let (token_user, token_context) = match token {
        Some(token) => (
            format!("- name: flotilla-token\n  user:\n    token: {token}\n"),
            "- name: flotilla-token\n  context:\n    cluster: flotilla\n    user: flotilla-token\n    namespace: default\n".to_owned(),
        ),
        None => (String::new(), String::new()),
    };
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: flotilla
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: flotilla-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
{token_user}contexts:
- name: flotilla
  context:
    cluster: flotilla
    user: flotilla-admin
    namespace: default
{token_context}current-context: flotilla
preferences: {{}}
"
    );
    pki::write_private(path, &text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Polls `/readyz` with the admin credentials until it answers `ok`, failing early when etcd
/// or kube-apiserver exits.
fn wait_ready(kubeconfig: &Path, started: &mut Started, logs: &Path) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Client(e.to_string()))?;
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)
            .map_err(|e| Error::Client(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| Error::Client(e.to_string()))?;
        let client = kube::Client::try_from(config).map_err(|e| Error::Client(e.to_string()))?;
        let begin = Instant::now();
        let mut last;
        loop {
            for c in started.0.iter_mut() {
                c.check_running()?;
            }
            let request = http::Request::get("/readyz").body(Vec::new());
            match request {
                Ok(req) => match client.request_text(req).await {
                    Ok(body) if body.trim() == "ok" => return Ok(()),
                    Ok(body) => last = body.lines().last().unwrap_or_default().to_owned(),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => return Err(Error::Client(e.to_string())),
            }
            if begin.elapsed() > READY_TIMEOUT {
                return Err(Error::NotReady {
                    seconds: READY_TIMEOUT.as_secs(),
                    last,
                    log: logs.join("kube-apiserver.log"),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

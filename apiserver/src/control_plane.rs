//! The in-process API: start a control plane on a data dir, get its URL and
//! kubeconfig, shut it down.
//!
//! The server runs on its own tokio runtime (two worker threads), so callers
//! may be synchronous, or async on any runtime flavour, and a test's runtime
//! cannot starve it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use crate::handlers::write::{WriteOptions, finish_create};
use crate::hooks::FieldValidation;
use crate::registry::Registry;
use crate::server::listener::{ConnInfo, TlsListener};
use crate::server::{App, router};
use crate::state::{Change, State};
use crate::store::Store;
use crate::store::redb::RedbStore;
use crate::tls::{Pki, TlsError};

/// Namespaces every cluster has.
const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// How to start a control plane.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `store.redb`, `pki/` and `kubeconfig`; created when missing.
    pub data_dir: PathBuf,
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

/// Why a control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file or directory under the data dir could not be created or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Binding the port failed (in use, or not permitted).
    #[error("binding 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// Certificates could not be generated or loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store could not be opened (e.g. another control plane holds it).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Initial objects (system namespaces) could not be written.
    #[error("bootstrapping: {0}")]
    Bootstrap(#[source] Box<crate::error::Error>),
}

/// Entry point: see [`ControlPlane::start`].
pub struct ControlPlane;

/// A started control plane; dropping it shuts it down.
pub struct RunningControlPlane {
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    kubeconfig: PathBuf,
    pki: Pki,
    state: Arc<State>,
    // Taken by `shutdown`, which waits on it.
    closed: Option<crate::store::redb::Closed>,
}

impl std::fmt::Debug for RunningControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningControlPlane")
            .field("url", &self.url)
            .finish()
    }
}

impl ControlPlane {
    /// Opens the data dir, generates credentials on first use, and serves
    /// HTTPS on 127.0.0.1. Returns once the port is bound and the kubeconfig
    /// written.
    pub fn start(config: Config) -> Result<RunningControlPlane, StartError> {
        // kube and rustls pick the process-wide provider; install ours once (a
        // second install fails harmlessly).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| StartError::Io {
            path: dir.clone(),
            source,
        })?;
        // The dir holds the admin key and token: owner only, as kubeadm keeps /etc/kubernetes/pki.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                |source| StartError::Io {
                    path: dir.clone(),
                    source,
                },
            )?;
        }
        let pki = Pki::load_or_create(dir)?;
        let (store, closed) = RedbStore::open(dir)?;
        let store: Arc<dyn Store> = Arc::new(store);
        let revision = store.revision()?;
        let mut registry = Registry::builtin();
        for (key, crd) in store
            .list(
                "apiextensions.k8s.io/customresourcedefinitions",
                None,
                None,
                None,
            )?
            .items
            .iter()
            .map(|c| (crate::objects::name(c).to_string(), c))
        {
            if let Err(e) = registry.add_crd(crd) {
                tracing::warn!(crd = %key, error = %e, "stored CRD cannot be served");
            }
        }
        let state = Arc::new(State::new(store, registry, pki.token.clone(), revision));
        bootstrap(&state).map_err(|e| StartError::Bootstrap(Box::new(e)))?;
        state
            .reload_policies()
            .map_err(|e| StartError::Bootstrap(Box::new(e)))?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flotilla-apiserver")
            .enable_all()
            .build()
            .map_err(|source| StartError::Io {
                path: dir.clone(),
                source,
            })?;
        let std_listener =
            std::net::TcpListener::bind(("127.0.0.1", config.port)).map_err(|source| {
                StartError::Bind {
                    port: config.port,
                    source,
                }
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|source| StartError::Bind {
                port: config.port,
                source,
            })?;
        let local = std_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                port: config.port,
                source,
            })?;
        let url = format!("https://127.0.0.1:{}", local.port());
        let kubeconfig = dir.join("kubeconfig");
        crate::tls::write_private(&kubeconfig, &crate::kubeconfig::render(&url, &pki)).map_err(
            |source| StartError::Io {
                path: kubeconfig.clone(),
                source,
            },
        )?;

        let tls = pki.server_config()?;
        let app = Arc::new(App {
            state: state.clone(),
            address: local.to_string(),
        });
        let listener = {
            let _guard = runtime.enter();
            let tcp = tokio::net::TcpListener::from_std(std_listener).map_err(|source| {
                StartError::Bind {
                    port: config.port,
                    source,
                }
            })?;
            TlsListener::new(tcp, tls).map_err(|source| StartError::Bind {
                port: config.port,
                source,
            })?
        };
        runtime.spawn(async move {
            let service = router(app).into_make_service_with_connect_info::<ConnInfo>();
            if let Err(e) = axum::serve(listener, service).await {
                tracing::error!(error = %e, "API server stopped");
            }
        });
        runtime.spawn(crate::gc::run(state.clone()));
        tracing::info!(%url, data_dir = %dir.display(), "control plane serving");
        Ok(RunningControlPlane {
            runtime: Some(runtime),
            url,
            kubeconfig,
            pki,
            state,
            closed: Some(closed),
        })
    }
}

/// Creates the system namespaces if they are missing.
fn bootstrap(state: &State) -> Result<(), crate::error::Error> {
    let registry = state.registry();
    let Some(info) = registry.lookup("", "v1", "namespaces") else {
        return Ok(());
    };
    let opts = WriteOptions {
        manager: "flotilla-apiserver".into(),
        dry_run: false,
        validation: FieldValidation::Ignore,
        subresource: String::new(),
    };
    for ns in SYSTEM_NAMESPACES {
        let key = State::key(&info, "", ns);
        state.write(&key, |current| {
            if let Some(existing) = current {
                return Ok(Change::Keep(existing));
            }
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let (obj, _) = finish_create(state, &info, "", obj, &opts)?;
            Ok(Change::Put(obj))
        })?;
    }
    Ok(())
}

impl RunningControlPlane {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `DATA_DIR/kubeconfig`, usable as is by kubectl and `kube::Client`.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_cert
    }

    /// The admin bearer token.
    pub fn token(&self) -> &str {
        &self.pki.token
    }

    /// The latest committed resourceVersion.
    pub fn revision(&self) -> u64 {
        self.state.hub.latest()
    }

    /// Stops serving and closes the store. Open watches are cut.
    pub fn shutdown(mut self) {
        self.stop();
        let closed = self.closed.take();
        drop(self);
        // The runtime's tasks drop their handles to the store on its background shutdown
        // thread; wait (briefly) until the file is closed, so the data dir can be opened
        // again at once (redb refuses a second open while the first is alive).
        if let Some(closed) = closed
            && !closed.wait(std::time::Duration::from_secs(10))
        {
            tracing::warn!("the store was still open 10 s after shutdown");
        }
    }

    fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Never blocks, so it is safe from inside another runtime.
            rt.shutdown_background();
        }
    }
}

impl Drop for RunningControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

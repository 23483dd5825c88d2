//! Fixtures for the source and build tests (`gitrepository`, `build`, `substitute`, `gate`):
//! a real control plane in a temp dir with Flotilla's CRDs installed, real git repositories
//! made with the `git` CLI, server-side apply of test YAML, and polling with a deadline.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use apiserver::{Config, ControlPlane, RunningControlPlane};

/// Real OpenPGP keys in a throwaway GnuPG home; the same fixture the `sources` tests use.
#[path = "../../../../sources/tests/support/gpg.rs"]
pub mod gpg;
pub use gpg::Gpg;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use kube::{Api, Client};

/// A local control plane with Flotilla's CRDs; stops on drop.
pub struct Cluster {
    pub client: Client,
    pub cp: RunningControlPlane,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the control plane and installs the CRDs (waiting until they are served).
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::start(Config {
            data_dir: dir.path().join("data"),
            port: 0,
        })
        .expect("control plane starts");
        let client = client_for(cp.kubeconfig_path()).await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in crds::all_crds() {
            let name = crd.metadata.name.clone().expect("CRD name");
            crds.patch(
                &name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("CRD applies");
        }
        let gitrepos: Api<crds::GitRepository> = Api::all(client.clone());
        let kustomizations: Api<crds::Kustomization> = Api::all(client.clone());
        wait_for("CRDs served", Duration::from_secs(10), || async {
            (gitrepos.list(&Default::default()).await.is_ok()
                && kustomizations.list(&Default::default()).await.is_ok())
            .then_some(())
        })
        .await;
        Self { client, cp, dir }
    }

    /// A typed API in `namespace`.
    pub fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Server-side applies every document of `yaml` (field manager `test`), in `default`
    /// unless the document names a namespace.
    pub async fn apply(&self, yaml: &str) {
        let discovery = Discovery::new(self.client.clone())
            .run()
            .await
            .expect("discovery");
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(yaml).expect("test YAML parses");
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let obj: DynamicObject = serde_json::from_value(doc.clone()).expect("an object");
            let types = obj.types.clone().expect("apiVersion and kind");
            let gvk = kube::api::GroupVersionKind::try_from(&types).expect("apiVersion");
            let (ar, caps) = discovery.resolve_gvk(&gvk).expect("served kind");
            let name = obj.metadata.name.clone().expect("metadata.name");
            let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
                let ns = obj.metadata.namespace.as_deref().unwrap_or("default");
                Api::namespaced_with(self.client.clone(), ns, &ar)
            } else {
                Api::all_with(self.client.clone(), &ar)
            };
            api.patch(
                &name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&doc),
            )
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", types.kind));
        }
    }
}

/// A kube client from a kubeconfig file, as any user would build it.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
    Client::try_from(config).expect("client")
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A git work tree in a temp dir, on branch `main`, committed to with the `git` CLI.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
}

impl GitRepo {
    /// An empty repository with user name and email set.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = GitRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Flotilla Test"]);
        repo.git(&["config", "user.email", "test@flotilla.invalid"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    /// The work tree root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `file://` URL of the repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// Writes `content` to `rel` (creating folders).
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
        self
    }

    /// Removes `rel`.
    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.path().join(rel)).expect("remove");
        self
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Runs git in the work tree; panics with its output on failure.
    pub fn git(&self, args: &[&str]) -> String {
        self.run_git(None, args)
    }

    /// Runs git with `GNUPGHOME` set to `gpg`'s home, so that `commit -S` and `tag -s` sign
    /// with its keys (pick one with `-c user.signingkey=FINGERPRINT`).
    pub fn git_signing(&self, gpg: &Gpg, args: &[&str]) -> String {
        self.run_git(Some(gpg.home()), args)
    }

    fn run_git(&self, gnupg_home: Option<&Path>, args: &[&str]) -> String {
        let mut command = Command::new("git");
        if let Some(home) = gnupg_home {
            command.env("GNUPGHOME", home);
        }
        let out = command
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A directory tree written from `(path, content)` pairs, for build tests without git.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, content) in files {
        let path: PathBuf = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
    }
    dir
}

/// A Kustomization object from YAML (spec fields as users write them).
/// `apiVersion` and `kind` may be left out.
pub fn kustomization(yaml: &str) -> crds::Kustomization {
    let mut doc: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML parses");
    doc["apiVersion"] = "flotilla.dev/v1alpha1".into();
    doc["kind"] = "Kustomization".into();
    serde_json::from_value(doc).expect("a Kustomization")
}

//! Finding the upstream binaries: `$FLOTILLA_ORACLES`, else the default cache that
//! `oracles/build` fills, else PATH — the lookup every test and the CLI share.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// The version directory `oracles/build` writes; it changes with the pins in `oracles/`.
pub const ORACLES_VERSION: &str = "kubernetes-v1.37.2-helm-v4.3.2";

/// One upstream binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Etcd,
    KubeApiserver,
    KubeControllerManager,
    KubeScheduler,
    Kubeadm,
    Kubectl,
    Helm,
}

impl Binary {
    /// The file name.
    pub fn name(self) -> &'static str {
        match self {
            Binary::Etcd => "etcd",
            Binary::KubeApiserver => "kube-apiserver",
            Binary::KubeControllerManager => "kube-controller-manager",
            Binary::KubeScheduler => "kube-scheduler",
            Binary::Kubeadm => "kubeadm",
            Binary::Kubectl => "kubectl",
            Binary::Helm => "helm",
        }
    }
}

/// The directory `oracles/build` fills: `$FLOTILLA_ORACLES`, else
/// `~/.cache/flotilla/oracles/<version>/bin` (honouring `$FLOTILLA_CACHE` and
/// `$XDG_CACHE_HOME` as the script does).
pub fn oracles_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLOTILLA_ORACLES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("FLOTILLA_CACHE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                })
                .join("flotilla")
        });
    cache.join("oracles").join(ORACLES_VERSION).join("bin")
}

/// Finds one binary by name (an upstream one or an oracle of ours such as `cel-oracle`):
/// the oracles directory first, so the pinned build wins over whatever PATH holds.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let pinned = oracles_dir().join(name);
    if is_executable(&pinned) {
        return Some(pinned);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The four binaries a control plane needs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
}

impl Binaries {
    /// Finds all four, or names every one that is missing.
    pub fn find() -> Result<Self, Error> {
        let wanted = [
            Binary::Etcd,
            Binary::KubeApiserver,
            Binary::KubeControllerManager,
            Binary::KubeScheduler,
        ];
        let found: Vec<Option<PathBuf>> = wanted.iter().map(|b| find_binary(b.name())).collect();
        let missing: Vec<&str> = wanted
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(b, _)| b.name())
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingBinaries {
                missing: missing.join(", "),
                searched: oracles_dir().display().to_string(),
            });
        }
        let mut found = found.into_iter().flatten();
        let mut next = || found.next().unwrap_or_default();
        Ok(Self {
            etcd: next(),
            kube_apiserver: next(),
            kube_controller_manager: next(),
            kube_scheduler: next(),
        })
    }
}

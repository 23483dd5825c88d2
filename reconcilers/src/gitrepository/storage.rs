//! Artifact storage: where the trees a GitRepository produced live on disk, and how a
//! Kustomization finds the tree of a `status.artifact`.
//!
//! Artifacts are the content-addressed folders the `sources` cache exports
//! (`<root>/artifacts/<digest hex>/`), kept as unpacked, read-only directories: renderers read
//! them in place, so no tarball is packed on fetch and unpacked on every render. The cache
//! keeps the current and the previous artifact of each GitRepository and garbage-collects
//! older ones after each fetch, so a Kustomization still rendering the previous revision is
//! not pulled from under.

use std::path::{Component, Path, PathBuf};

use crds::gitrepository::Artifact;

/// The folder under the storage root holding artifact trees.
const ARTIFACTS_DIR: &str = "artifacts";

/// What can go wrong opening the storage or locating an artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage root could not be created or prepared.
    #[error("artifact storage at {}: {source}", root.display())]
    Open {
        /// The storage root.
        root: PathBuf,
        /// What the cache reported.
        #[source]
        source: Box<sources::Error>,
    },
    /// `status.artifact.path` is not a path this storage produces (absolute, `..`, another
    /// folder).
    #[error("artifact path {path:?} is not of the form artifacts/<digest hex>")]
    InvalidPath {
        /// The path as found in the status.
        path: String,
    },
    /// The artifact is not (or no longer) on disk, e.g. garbage-collected or produced by
    /// another replica with its own storage.
    #[error("artifact {path:?} (revision {revision}) is not in the storage at {}", root.display())]
    Missing {
        /// The path from the status.
        path: String,
        /// The revision from the status.
        revision: String,
        /// The storage root.
        root: PathBuf,
    },
}

/// Flotilla's artifact storage: a `sources` cache root (bare repositories, exported trees,
/// the per-request index). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    cache: sources::Cache,
}

impl ArtifactStore {
    /// Opens (creating if needed) the storage rooted at `root`.
    pub fn new(root: PathBuf) -> Result<Self, StorageError> {
        let cache = sources::Cache::open(&root).map_err(|source| StorageError::Open {
            root: root.clone(),
            source: Box::new(source),
        })?;
        Ok(Self { cache })
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        self.cache.root()
    }

    /// The `sources` cache the GitRepository reconciler fetches into.
    pub fn cache(&self) -> &sources::Cache {
        &self.cache
    }

    /// The directory holding the tree of `artifact` (read it, never write it).
    pub fn dir_of(&self, artifact: &Artifact) -> Result<PathBuf, StorageError> {
        let invalid = || StorageError::InvalidPath {
            path: artifact.path.clone(),
        };
        let mut components = Path::new(&artifact.path).components();
        match (components.next(), components.next(), components.next()) {
            (Some(Component::Normal(dir)), Some(Component::Normal(hex)), None)
                if dir == ARTIFACTS_DIR
                    && hex.to_str().is_some_and(|h| {
                        !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())
                    }) => {}
            _ => return Err(invalid()),
        }
        let dir = self.root().join(&artifact.path);
        if !dir.is_dir() {
            return Err(StorageError::Missing {
                path: artifact.path.clone(),
                revision: artifact.revision.clone(),
                root: self.root().to_path_buf(),
            });
        }
        Ok(dir)
    }

    /// The `status.artifact.path` of a fetched artifact: its folder relative to the root.
    pub(crate) fn relative_path(&self, fetched: &sources::Artifact) -> String {
        match fetched.path.strip_prefix(self.root()) {
            Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
            // The cache always exports below its root; this is the same folder spelled out.
            Err(_) => format!(
                "{ARTIFACTS_DIR}/{}",
                fetched.digest.split_once(':').map_or("", |(_, hex)| hex)
            ),
        }
    }
}

/// Total size in bytes of the regular files under `dir` (`status.artifact.size`).
pub(crate) fn tree_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total)
}

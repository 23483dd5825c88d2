//! Reads files relative to one kustomization directory and enforces
//! kustomize's default load restrictor (`LoadRestrictionsRootOnly`): a file
//! named by a kustomization must sit in or below that kustomization's
//! directory. Directories (bases, components) may live anywhere; each gets a
//! loader of its own rooted there.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// File access for one kustomization directory.
#[derive(Debug, Clone)]
pub struct Loader {
    /// The directory as the user would write it (for messages).
    display_root: PathBuf,
    /// The same directory, canonical (for the restrictor).
    root: PathBuf,
}

impl Loader {
    /// A loader rooted at `dir`; `dir` must exist and be a directory.
    pub fn new(dir: &Path) -> Result<Self> {
        let root = dir.canonicalize().map_err(|error| Error::Io {
            path: dir.to_path_buf(),
            error,
        })?;
        if !root.is_dir() {
            return Err(Error::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Ok(Loader {
            display_root: dir.to_path_buf(),
            root,
        })
    }

    /// The kustomization directory as shown to the user.
    pub fn display_root(&self) -> &Path {
        &self.display_root
    }

    /// The canonical kustomization directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `rel` joined to the directory as shown to the user, lexically
    /// normalised (`a/../b` → `b`), for error messages.
    pub fn display(&self, rel: &str) -> PathBuf {
        normalize(&self.display_root.join(rel))
    }

    /// Resolves `rel` to a canonical path without applying the restrictor.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf> {
        self.root
            .join(rel)
            .canonicalize()
            .map_err(|error| Error::Io {
                path: self.display(rel),
                error,
            })
    }

    /// Whether `rel` names a directory.
    pub fn is_dir(&self, rel: &str) -> bool {
        self.root.join(rel).is_dir()
    }

    /// Reads the file `rel`, which must be in or below the root.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.resolve(rel)?;
        if !path.starts_with(&self.root) {
            return Err(Error::OutsideRoot {
                path: self.display(rel),
                root: self.display_root.clone(),
            });
        }
        std::fs::read(&path).map_err(|error| Error::Io {
            path: self.display(rel),
            error,
        })
    }

    /// A loader for the directory `rel` (a base or component).
    pub fn sub(&self, rel: &str) -> Result<Loader> {
        let root = self.resolve(rel)?;
        Ok(Loader {
            display_root: self.display(rel),
            root,
        })
    }
}

/// Lexical normalisation: drops `.` and folds `dir/..`; keeps leading `..`.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

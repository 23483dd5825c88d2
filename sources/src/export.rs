//! Writing the tree of a commit (optionally one sub-directory of it) into a
//! folder, minus ignored files, and computing its content digest.
//!
//! Only regular files are exported (the executable bit is kept). Symlinks and
//! submodules are left out, as Flux's archiver does, so an artifact can never
//! point outside itself.
//!
//! The digest is `sha256` over, for every exported file in tree order:
//! the path relative to the artifact root, a NUL byte, the git mode
//! (`100644` or `100755`), a NUL byte, the content length in decimal, a NUL
//! byte and the content. Equal trees give equal digests whatever the commit.

use std::io::Write as _;
use std::path::Path;

use gix::bstr::ByteSlice;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ignore::{IGNORE_FILE, Matcher};

/// The outcome of an export.
pub(crate) struct Exported {
    /// Hex of the sha256 digest.
    pub digest_hex: String,
    /// Number of files written.
    pub files: u64,
}

/// Names the repository in errors.
pub(crate) struct Context<'a> {
    pub url: &'a str,
    pub repo_path: &'a Path,
    pub commit: gix::ObjectId,
}

impl Context<'_> {
    fn repo_error(&self, message: impl std::fmt::Display) -> Error {
        Error::Repository {
            url: self.url.to_owned(),
            path: self.repo_path.to_owned(),
            message: format!("commit {}: {message}", self.commit),
        }
    }
}

/// Exports the tree of `ctx.commit` (or its `sub_path`) into the empty folder `out`.
pub(crate) fn export(
    repo: &gix::Repository,
    ctx: &Context<'_>,
    sub_path: Option<&str>,
    extra_ignore: Option<&str>,
    out: &Path,
) -> Result<Exported> {
    let commit = repo
        .find_commit(ctx.commit)
        .map_err(|e| ctx.repo_error(e))?;
    let root = commit.tree_id().map_err(|e| ctx.repo_error(e))?.detach();

    let mut ignore_files = Vec::new();
    collect_sourceignore(repo, ctx, root, "", &mut ignore_files)?;
    let matcher = Matcher::new(&ignore_files, extra_ignore)?;

    let (start, prefix) = match sub_path.map(normalize_sub_path).transpose()? {
        Some(path) if !path.is_empty() => (find_subtree(repo, ctx, root, &path)?, path),
        _ => (root, String::new()),
    };
    let mut walker = Walker {
        repo,
        ctx,
        matcher: &matcher,
        hasher: Sha256::new(),
        files: 0,
        out,
    };
    walker.walk(start, &prefix, "")?;
    Ok(Exported {
        digest_hex: hex::encode(walker.hasher.finalize()),
        files: walker.files,
    })
}

/// Checks a requested sub-path: relative, no `..`, `/`-separated; returns it without surrounding slashes.
pub(crate) fn normalize_sub_path(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed == "." {
        return Ok(String::new());
    }
    if trimmed
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
        || trimmed.contains('\\')
    {
        return Err(Error::InvalidRequest {
            url: String::new(),
            field: "path",
            reason: format!(
                "{path:?} must be a relative path without `.`, `..` or empty components"
            ),
        });
    }
    Ok(trimmed.to_owned())
}

fn find_subtree(
    repo: &gix::Repository,
    ctx: &Context<'_>,
    root: gix::ObjectId,
    path: &str,
) -> Result<gix::ObjectId> {
    let not_found = |reason: &str| Error::PathNotFound {
        commit: ctx.commit.to_string(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut current = root;
    for component in path.split('/') {
        let tree = repo.find_tree(current).map_err(|e| ctx.repo_error(e))?;
        let entry = tree
            .decode()
            .map_err(|e| ctx.repo_error(e))?
            .entries
            .iter()
            .find(|e| e.filename == component.as_bytes())
            .map(|e| (e.oid.to_owned(), e.mode));
        match entry {
            Some((oid, mode)) if mode.is_tree() => current = oid,
            Some(_) => return Err(not_found("not a directory")),
            None => return Err(not_found("no such directory in the commit")),
        }
    }
    Ok(current)
}

/// Finds every `.sourceignore` in the tree, outermost first and siblings in
/// tree order, as Flux loads them.
fn collect_sourceignore(
    repo: &gix::Repository,
    ctx: &Context<'_>,
    tree_id: gix::ObjectId,
    prefix: &str,
    found: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let tree = repo.find_tree(tree_id).map_err(|e| ctx.repo_error(e))?;
    let entries: Vec<(String, gix::ObjectId, gix::object::tree::EntryMode)> = tree
        .decode()
        .map_err(|e| ctx.repo_error(e))?
        .entries
        .iter()
        .map(|e| {
            (
                e.filename.to_str_lossy().into_owned(),
                e.oid.to_owned(),
                e.mode,
            )
        })
        .collect();
    for (name, oid, mode) in &entries {
        if name == IGNORE_FILE && mode.is_blob() {
            let blob = repo.find_blob(*oid).map_err(|e| ctx.repo_error(e))?;
            found.push((format!("{prefix}{name}"), blob.data.clone()));
        }
    }
    for (name, oid, mode) in entries {
        if mode.is_tree() && name != ".git" {
            collect_sourceignore(repo, ctx, oid, &format!("{prefix}{name}/"), found)?;
        }
    }
    Ok(())
}

struct Walker<'a> {
    repo: &'a gix::Repository,
    ctx: &'a Context<'a>,
    matcher: &'a Matcher,
    hasher: Sha256,
    files: u64,
    out: &'a Path,
}

impl Walker<'_> {
    /// Writes the tree `tree_id`, found at repo path `repo_prefix` and artifact path `out_prefix`.
    fn walk(&mut self, tree_id: gix::ObjectId, repo_prefix: &str, out_prefix: &str) -> Result<()> {
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|e| self.ctx.repo_error(e))?;
        let entries: Vec<(String, gix::ObjectId, gix::object::tree::EntryMode)> = tree
            .decode()
            .map_err(|e| self.ctx.repo_error(e))?
            .entries
            .iter()
            .map(|e| {
                (
                    e.filename.to_str_lossy().into_owned(),
                    e.oid.to_owned(),
                    e.mode,
                )
            })
            .collect();
        for (name, oid, mode) in entries {
            if name.contains(['/', '\\']) || name == ".." || name == "." {
                // A crafted tree could try to write outside the artifact.
                return Err(self
                    .ctx
                    .repo_error(format!("tree entry {name:?} is not a plain file name")));
            }
            let repo_path = join(repo_prefix, &name);
            let out_path = join(out_prefix, &name);
            if mode.is_tree() {
                if self.matcher.is_excluded(&repo_path, true) {
                    continue;
                }
                let dir = self.out.join(&out_path);
                std::fs::create_dir_all(&dir)
                    .map_err(Error::io("creating artifact folder", &dir))?;
                self.walk(oid, &repo_path, &out_path)?;
            } else if mode.is_blob() {
                if self.matcher.is_excluded(&repo_path, false) {
                    continue;
                }
                self.write_file(oid, &out_path, mode.is_executable())?;
            }
            // Symlinks and submodules are skipped on purpose (see module docs).
        }
        Ok(())
    }

    fn write_file(&mut self, oid: gix::ObjectId, out_path: &str, executable: bool) -> Result<()> {
        let blob = self
            .repo
            .find_blob(oid)
            .map_err(|e| self.ctx.repo_error(e))?;
        let mode = if executable { "100755" } else { "100644" };
        self.hasher.update(out_path.as_bytes());
        self.hasher.update(b"\0");
        self.hasher.update(mode.as_bytes());
        self.hasher.update(b"\0");
        self.hasher.update(blob.data.len().to_string().as_bytes());
        self.hasher.update(b"\0");
        self.hasher.update(&blob.data);

        let path = self.out.join(out_path);
        let mut file =
            std::fs::File::create(&path).map_err(Error::io("writing artifact file", &path))?;
        file.write_all(&blob.data)
            .map_err(Error::io("writing artifact file", &path))?;
        #[cfg(unix)]
        if executable {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o755))
                .map_err(Error::io("setting permissions of", &path))?;
        }
        self.files += 1;
        Ok(())
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_path_is_normalized() {
        assert_eq!(normalize_sub_path("./apps/prod/").unwrap(), "apps/prod");
        assert_eq!(normalize_sub_path("/apps").unwrap(), "apps");
        assert_eq!(normalize_sub_path("./").unwrap(), "");
    }

    #[test]
    fn sub_path_escaping_the_repository_is_refused() {
        assert!(normalize_sub_path("apps/../../etc").is_err());
        assert!(normalize_sub_path("a//b").is_err());
    }
}

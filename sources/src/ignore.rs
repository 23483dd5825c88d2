//! Which files of a commit go into the artifact, with Flux's rules.
//!
//! Flux (source-controller with `fluxcd/pkg/sourceignore`) always excludes
//! the VCS files, and excludes a list of default patterns (images, archives,
//! CI configuration) only when the repository has no `.sourceignore` file and
//! the object no `spec.ignore`; otherwise those patterns replace the defaults.
//! `.sourceignore` files apply to their own directory and below, deeper files
//! and then `spec.ignore` taking precedence; the last matching pattern wins,
//! so `!pattern` re-includes. The pattern syntax is `.gitignore`'s, matched
//! here with `gix-ignore` (the same matcher gitoxide uses for `.gitignore`).

use std::path::{Path, PathBuf};

use gix::bstr::BStr;
use gix_glob::pattern::Case;
use gix_glob::search::pattern::List;
use gix_ignore::search::Ignore;

use crate::error::{Error, Result};

/// Always excluded, like Flux's `ExcludeVCS`.
const VCS_PATTERNS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Excluded unless the repository or request brings its own patterns, like
/// Flux's `ExcludeExt`, `ExcludeCI` and `ExcludeExtra`.
const DEFAULT_PATTERNS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// The name of per-directory ignore files.
pub const IGNORE_FILE: &str = ".sourceignore";

/// A compiled set of ignore rules for one export.
pub struct Matcher {
    search: gix_ignore::Search,
}

impl Matcher {
    /// Builds the rules from the `.sourceignore` files found in the tree
    /// (`(repo-relative path of the file, its content)`, outermost first) and
    /// the request's extra patterns.
    pub fn new(sourceignore_files: &[(String, Vec<u8>)], extra: Option<&str>) -> Result<Self> {
        let parse = Ignore {
            support_precious: false,
        };
        let mut search = gix_ignore::Search::default();
        let list = |bytes: &[u8], source: PathBuf, root: Option<&Path>, name: &str| {
            List::from_bytes(bytes, source, root, parse).map_err(|e| Error::Ignore {
                source_name: name.to_owned(),
                reason: e.to_string(),
            })
        };
        search.patterns.push(list(
            VCS_PATTERNS.join("\n").as_bytes(),
            PathBuf::from("<vcs defaults>"),
            None,
            "built-in patterns",
        )?);
        let user_supplied = !sourceignore_files.is_empty() || extra.is_some();
        if !user_supplied {
            search.patterns.push(list(
                DEFAULT_PATTERNS.join("\n").as_bytes(),
                PathBuf::from("<defaults>"),
                None,
                "built-in patterns",
            )?);
        }
        for (path, content) in sourceignore_files {
            // The root makes gix-ignore scope the patterns to the file's directory.
            search.patterns.push(list(
                content,
                PathBuf::from(path),
                Some(Path::new("")),
                path,
            )?);
        }
        if let Some(extra) = extra {
            search.patterns.push(list(
                extra.as_bytes(),
                PathBuf::from("<spec.ignore>"),
                None,
                "spec.ignore",
            )?);
        }
        Ok(Matcher { search })
    }

    /// Whether the repo-relative `path` is excluded from the artifact.
    pub fn is_excluded(&self, path: &str, is_dir: bool) -> bool {
        self.search
            .pattern_matching_relative_path(BStr::new(path), Some(is_dir), Case::Sensitive)
            .is_some_and(|m| !m.pattern.is_negative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcs_and_default_patterns_apply_without_user_patterns() {
        let m = Matcher::new(&[], None).unwrap();
        assert!(m.is_excluded(".gitignore", false));
        assert!(m.is_excluded(".github", true));
        assert!(m.is_excluded("docs/logo.png", false));
        assert!(m.is_excluded("deploy/.sops.yaml", false));
        assert!(!m.is_excluded("deploy/app.yaml", false));
    }

    #[test]
    fn user_patterns_replace_defaults_but_not_vcs_patterns() {
        let m = Matcher::new(&[], Some("*.txt\n")).unwrap();
        assert!(
            !m.is_excluded("docs/logo.png", false),
            "defaults are replaced"
        );
        assert!(m.is_excluded("notes.txt", false));
        assert!(
            m.is_excluded(".gitmodules", false),
            "VCS files stay excluded"
        );
    }

    #[test]
    fn nested_sourceignore_is_scoped_to_its_directory() {
        let files = vec![("apps/.sourceignore".to_owned(), b"*.md\n".to_vec())];
        let m = Matcher::new(&files, None).unwrap();
        assert!(m.is_excluded("apps/README.md", false));
        assert!(!m.is_excluded("README.md", false));
    }

    #[test]
    fn later_negation_reincludes() {
        let files = vec![(".sourceignore".to_owned(), b"*.yaml\n".to_vec())];
        let m = Matcher::new(&files, Some("!keep.yaml\n")).unwrap();
        assert!(m.is_excluded("drop.yaml", false));
        assert!(!m.is_excluded("keep.yaml", false));
    }
}

//! Turning a [`Reference`] into refspecs to fetch and, from the refs the
//! server advertised, into the commit to export.
//!
//! Resolution works on what the server advertised in this very fetch, not on
//! refs left in the cache: a branch deleted upstream is reported as missing
//! even though an old copy of it is still cached.

use gix::bstr::ByteSlice;
use gix::protocol::handshake::Ref;

use crate::request::Reference;

/// The commit a reference points to on the remote, and how to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The commit (annotated tags already peeled).
    pub commit: gix::ObjectId,
    /// The name before `@sha1:` in the revision (`main`, `v1.2.0`), if any.
    pub name: Option<String>,
    /// The annotated tag object the reference points to, when it is one (`None` for
    /// branches, commits and lightweight tags).
    pub tag: Option<gix::ObjectId>,
}

impl Resolved {
    /// The tag's short name (`v1.2.0` for `refs/tags/v1.2.0`), for messages.
    pub(crate) fn tag_name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .map(|n| n.strip_prefix("refs/tags/").unwrap_or(n))
    }

    pub(crate) fn revision(&self) -> String {
        match &self.name {
            Some(name) => format!("{name}@sha1:{}", self.commit),
            None => format!("sha1:{}", self.commit),
        }
    }
}

/// The fetch refspecs for `reference`: only what is needed, so a branch fetch
/// never downloads tags and other branches.
pub(crate) fn refspecs(reference: &Reference) -> Vec<String> {
    match reference {
        Reference::DefaultBranch => vec!["+HEAD:refs/remotes/origin/HEAD".to_owned()],
        Reference::Branch(b) => vec![format!("+refs/heads/{b}:refs/heads/{b}")],
        Reference::Tag(t) => vec![format!("+refs/tags/{t}:refs/tags/{t}")],
        Reference::Semver(_) => vec!["+refs/tags/*:refs/tags/*".to_owned()],
        // Servers need not allow fetching an arbitrary id, so fetch every
        // branch and tag and look the commit up among them.
        Reference::Commit(_) => vec![
            "+refs/heads/*:refs/heads/*".to_owned(),
            "+refs/tags/*:refs/tags/*".to_owned(),
        ],
        Reference::Name(n) => vec![format!("+{n}:{n}")],
    }
}

/// Why a reference matched nothing, for [`crate::Error::ReferenceNotFound`].
pub(crate) type NotFound = String;

/// Finds the commit for `reference` among the `advertised` refs. Returns
/// `Ok(None)` for [`Reference::Commit`], which is only known after the fetch.
pub(crate) fn resolve(
    reference: &Reference,
    advertised: &[Ref],
) -> Result<Option<Resolved>, NotFound> {
    let find = |full: &str| advertised.iter().find(|r| ref_name(r) == full.as_bytes());
    match reference {
        Reference::DefaultBranch => {
            let head = find("HEAD").ok_or_else(|| "the server advertised no HEAD".to_owned())?;
            match head {
                Ref::Symbolic { target, object, .. } => {
                    let target = target.to_str_lossy();
                    let name = target
                        .strip_prefix("refs/heads/")
                        .unwrap_or(&target)
                        .to_owned();
                    Ok(Some(Resolved {
                        commit: *object,
                        name: Some(name),
                        tag: None,
                    }))
                }
                Ref::Unborn { .. } => {
                    Err("the remote repository is empty (HEAD is unborn)".to_owned())
                }
                other => Ok(Some(Resolved {
                    commit: commit_of(other),
                    name: Some("HEAD".to_owned()),
                    tag: None,
                })),
            }
        }
        Reference::Branch(b) => find(&format!("refs/heads/{b}"))
            .map(|r| {
                Some(Resolved {
                    commit: commit_of(r),
                    name: Some(b.clone()),
                    tag: tag_of(r),
                })
            })
            .ok_or_else(|| "no such branch on the remote".to_owned()),
        Reference::Tag(t) => find(&format!("refs/tags/{t}"))
            .map(|r| {
                Some(Resolved {
                    commit: commit_of(r),
                    name: Some(t.clone()),
                    tag: tag_of(r),
                })
            })
            .ok_or_else(|| "no such tag on the remote".to_owned()),
        Reference::Name(n) => find(n)
            .map(|r| {
                Some(Resolved {
                    commit: commit_of(r),
                    name: Some(n.clone()),
                    tag: tag_of(r),
                })
            })
            .ok_or_else(|| "no such reference on the remote".to_owned()),
        Reference::Semver(range) => {
            let req = parse_range(range)?;
            let tags = advertised.iter().filter_map(|r| {
                let name = ref_name(r).strip_prefix(b"refs/tags/")?.to_str().ok()?;
                Some((name.to_owned(), (commit_of(r), tag_of(r))))
            });
            let (name, (commit, tag)) = highest_match(&req, tags)
                .ok_or_else(|| format!("no tag satisfies {range:?} (semver range {req})"))?;
            Ok(Some(Resolved {
                commit,
                name: Some(name),
                tag,
            }))
        }
        Reference::Commit(_) => Ok(None),
    }
}

fn ref_name(r: &Ref) -> &[u8] {
    match r {
        Ref::Peeled { full_ref_name, .. }
        | Ref::Direct { full_ref_name, .. }
        | Ref::Symbolic { full_ref_name, .. }
        | Ref::Unborn { full_ref_name, .. } => full_ref_name.as_slice(),
    }
}

/// The object a ref points to, peeled through annotated tags.
fn commit_of(r: &Ref) -> gix::ObjectId {
    match r {
        Ref::Peeled { object, .. } | Ref::Direct { object, .. } | Ref::Symbolic { object, .. } => {
            *object
        }
        // Unborn refs are only ever HEAD of an empty repository, handled above.
        Ref::Unborn { .. } => gix::ObjectId::null(gix::hash::Kind::Sha1),
    }
}

/// The annotated tag object a ref points to; `None` unless the server advertised the ref as
/// peeled (an annotated tag).
fn tag_of(r: &Ref) -> Option<gix::ObjectId> {
    match r {
        Ref::Peeled { tag, .. } => Some(*tag),
        _ => None,
    }
}

/// The highest tag (by semver precedence) whose version satisfies `req`.
/// Tags that are not versions are skipped; a leading `v` is allowed, as in Flux.
pub(crate) fn highest_match<T>(
    req: &Range,
    tags: impl IntoIterator<Item = (String, T)>,
) -> Option<(String, T)> {
    tags.into_iter()
        .filter_map(|(name, value)| {
            let version = parse_version(&name)?;
            req.matches(&version).then_some((version, name, value))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, name, value)| (name, value))
}

fn parse_version(tag: &str) -> Option<semver::Version> {
    let bare = tag.strip_prefix('v').unwrap_or(tag);
    semver::Version::parse(bare).ok()
}

/// A semver range: any of its alternatives (`||`) may match.
#[derive(Debug, Clone)]
pub(crate) struct Range(Vec<semver::VersionReq>);

impl Range {
    fn matches(&self, version: &semver::Version) -> bool {
        self.0.iter().any(|req| req.matches(version))
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join(" || "))
    }
}

/// Parses a Flux (Masterminds) semver constraint.
///
/// Flux accepts comparators separated by spaces (`>=1.0.0 <2.0.0`) as well as
/// commas, `1.2 - 1.4` hyphen ranges and `||` alternatives; the `semver`
/// crate wants commas and has no alternatives, so each alternative is
/// rewritten and parsed on its own.
pub(crate) fn parse_range(range: &str) -> Result<Range, NotFound> {
    range
        .split("||")
        .map(|alternative| parse_alternative(range, alternative))
        .collect::<Result<Vec<_>, _>>()
        .map(Range)
}

fn parse_alternative(whole: &str, range: &str) -> Result<semver::VersionReq, NotFound> {
    let tokens: Vec<&str> = range.split([' ', ',']).filter(|t| !t.is_empty()).collect();
    let mut comparators = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens.get(i + 1) == Some(&"-")
            && let Some(upper) = tokens.get(i + 2)
        {
            comparators.push(format!(">={}", tokens[i].trim_start_matches('v')));
            comparators.push(format!("<={}", upper.trim_start_matches('v')));
            i += 3;
            continue;
        }
        // Operators written apart from their version (`>= 1.0`) belong together.
        let token = tokens[i];
        if token.chars().all(|c| "<>=~^!".contains(c))
            && let Some(version) = tokens.get(i + 1)
        {
            comparators.push(format!("{token}{}", version.trim_start_matches('v')));
            i += 2;
            continue;
        }
        let (op, version) = token.split_at(
            token
                .find(|c: char| c.is_ascii_digit() || c == '*' || c == 'x' || c == 'X')
                .unwrap_or(0),
        );
        comparators.push(format!("{op}{}", version.trim_start_matches('v')));
        i += 1;
    }
    if comparators.is_empty() {
        return Err(format!("semver range {whole:?} has an empty part"));
    }
    semver::VersionReq::parse(&comparators.join(", "))
        .map_err(|e| format!("semver range {whole:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(range: &str, tags: &[&str]) -> Option<String> {
        let req = parse_range(range).ok()?;
        highest_match(&req, tags.iter().map(|t| (t.to_string(), ()))).map(|(t, ())| t)
    }

    #[test]
    fn semver_picks_highest_tag_in_range() {
        let tags = ["v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0", "latest"];
        assert_eq!(pick(">=1.0.0 <2.0.0", &tags).as_deref(), Some("v1.10.0"));
        assert_eq!(pick("~1.2", &tags).as_deref(), Some("v1.2.0"));
        assert_eq!(pick("*", &tags).as_deref(), Some("v2.0.0"));
    }

    #[test]
    fn semver_accepts_spaces_commas_and_hyphen_ranges() {
        let tags = ["1.1.0", "1.3.0", "1.5.0"];
        assert_eq!(pick(">= 1.0, < 1.4", &tags).as_deref(), Some("1.3.0"));
        assert_eq!(pick("1.0 - 1.4", &tags).as_deref(), Some("1.3.0"));
    }

    #[test]
    fn semver_skips_prereleases_unless_asked() {
        let tags = ["v1.0.0", "v1.1.0-rc.1"];
        assert_eq!(pick(">=1.0.0", &tags).as_deref(), Some("v1.0.0"));
    }

    #[test]
    fn semver_alternatives_match_either_side() {
        let tags = ["1.4.0", "2.3.0", "3.0.0"];
        assert_eq!(pick("~1.4 || ~2.3", &tags).as_deref(), Some("2.3.0"));
        assert_eq!(pick("^1 || >=3", &tags).as_deref(), Some("3.0.0"));
    }

    #[test]
    fn revision_is_flux_style() {
        let commit = gix::ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        let named = Resolved {
            commit,
            name: Some("main".into()),
            tag: None,
        };
        assert_eq!(
            named.revision(),
            "main@sha1:0123456789abcdef0123456789abcdef01234567"
        );
        let bare = Resolved {
            commit,
            name: None,
            tag: None,
        };
        assert_eq!(
            bare.revision(),
            "sha1:0123456789abcdef0123456789abcdef01234567"
        );
    }
}

//! What a caller asks for ([`FetchRequest`]) and what it gets back ([`Artifact`]).
//!
//! The field names follow Flux's `GitRepository` (`ref.branch`, `ref.tag`,
//! `ref.semver`, `ref.commit`, `ref.name`, `ignore`, `verify`) so the
//! reconciler can map its spec one to one.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which commit of the remote to export, as Flux's `spec.ref` has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Reference {
    /// The remote's default branch (what its `HEAD` points to).
    #[default]
    DefaultBranch,
    /// The tip of a branch, e.g. `main`.
    Branch(String),
    /// A tag, e.g. `v1.2.0` (annotated tags are peeled to their commit).
    Tag(String),
    /// The highest tag matching a semver range, e.g. `>=1.0.0 <2.0.0` or `~1.2`.
    Semver(String),
    /// An exact commit, as 40 hex digits.
    Commit(String),
    /// A full reference name, e.g. `refs/pull/12/head`.
    Name(String),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::DefaultBranch => write!(f, "default branch"),
            Reference::Branch(b) => write!(f, "branch {b:?}"),
            Reference::Tag(t) => write!(f, "tag {t:?}"),
            Reference::Semver(r) => write!(f, "semver range {r:?}"),
            Reference::Commit(c) => write!(f, "commit {c}"),
            Reference::Name(n) => write!(f, "ref {n:?}"),
        }
    }
}

/// How to authenticate to the server. `Debug` never prints secrets.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials; the server must allow anonymous reads.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// HTTP `Authorization: Bearer <token>`.
    Bearer(String),
    /// SSH with a private key; the host key must be listed in `known_hosts`
    /// (unknown or changed host keys are refused).
    Ssh {
        /// The private key in OpenSSH format (unencrypted).
        private_key: String,
        /// Lines in `known_hosts` format.
        known_hosts: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => write!(f, "None"),
            Auth::Basic { username, .. } => write!(
                f,
                "Basic {{ username: {username:?}, password: <redacted> }}"
            ),
            Auth::Bearer(_) => write!(f, "Bearer(<redacted>)"),
            Auth::Ssh { .. } => write!(f, "Ssh {{ private_key: <redacted>, known_hosts: .. }}"),
        }
    }
}

impl Reference {
    /// Whether the reference selects a tag (a tag, a semver range or a `refs/tags/` name), so
    /// that the tag object can be verified ([`VerificationMode::Tag`]).
    pub fn names_tag(&self) -> bool {
        match self {
            Reference::Tag(_) | Reference::Semver(_) => true,
            Reference::Name(name) => name.starts_with("refs/tags/"),
            Reference::DefaultBranch | Reference::Branch(_) | Reference::Commit(_) => false,
        }
    }
}

/// Signature verification: the keys a signature must be made with. What must be signed is
/// [`FetchRequest::verify_mode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The trusted public keys, in any mix of two formats: OpenSSH public keys
    /// (`ssh-ed25519 AAAA… comment`, one per line, as in `authorized_keys`) and ASCII-armored
    /// OpenPGP public key blocks (`gpg --export --armor KEYID`, one or more keys per block).
    /// An entry may hold several keys, and a block may be spread over consecutive entries
    /// (the lines of a file): the entries are read as one text.
    pub public_keys: Vec<String>,
}

impl Verification {
    /// Parses the keys without fetching anything, to report a bad key early (e.g. naming the
    /// Secret entry it came from).
    pub fn validate(&self) -> crate::Result<()> {
        crate::verify::trusted_keys(self).map(|_| ())
    }
}

/// What must carry a good signature (Flux's `spec.verify.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerificationMode {
    /// The exported commit (the one the reference resolves to).
    #[default]
    Head,
    /// The annotated tag object the reference names; the commit's own signature is not
    /// checked. Needs a reference that [names a tag](Reference::names_tag).
    Tag,
    /// Both the annotated tag and the commit it points to.
    TagAndHead,
}

impl VerificationMode {
    /// Whether the tag object is verified.
    pub fn verifies_tag(self) -> bool {
        matches!(self, VerificationMode::Tag | VerificationMode::TagAndHead)
    }

    /// Whether the commit is verified.
    pub fn verifies_head(self) -> bool {
        matches!(self, VerificationMode::Head | VerificationMode::TagAndHead)
    }

    /// The mode as Flux spells it in `spec.verify.mode`.
    pub fn name(self) -> &'static str {
        match self {
            VerificationMode::Head => "HEAD",
            VerificationMode::Tag => "Tag",
            VerificationMode::TagAndHead => "TagAndHEAD",
        }
    }

    /// Checks, before anything is fetched, that `reference` suits this mode: the tag modes
    /// need a reference that [names a tag](Reference::names_tag). The error says why.
    pub fn check_reference(self, reference: &Reference) -> Result<(), String> {
        if self.verifies_tag() && !reference.names_tag() {
            return Err(format!(
                "{} verifies an annotated tag, so the reference must name one (a tag, a semver \
                 range or a refs/tags/ name); {reference} is not a tag",
                self.name()
            ));
        }
        Ok(())
    }
}

impl fmt::Display for VerificationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mode {}", self.name())
    }
}

/// The kind of a verified signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFormat {
    /// An OpenPGP signature (`gpg`).
    OpenPgp,
    /// An SSH signature (`gpg.format=ssh`).
    Ssh,
}

/// The Git object a verified signature is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedObject {
    /// A commit, by its 40 hex digits.
    Commit(String),
    /// An annotated tag.
    Tag {
        /// The tag's name, e.g. `v1.2.0`.
        name: String,
        /// The tag object's id, 40 hex digits.
        id: String,
    },
}

/// A signature that was checked and found good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// What is signed.
    pub object: SignedObject,
    /// OpenPGP or SSH.
    pub format: SignatureFormat,
    /// The trusted key that made the signature: for OpenPGP the primary key's fingerprint in
    /// upper-case hex (also when a subkey signed), for SSH its `SHA256:…` fingerprint.
    pub key: String,
}

impl fmt::Display for VerifiedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            SignedObject::Commit(id) => write!(f, "commit '{id}'")?,
            SignedObject::Tag { name, .. } => write!(f, "tag '{name}'")?,
        }
        let format = match self.format {
            SignatureFormat::OpenPgp => "OpenPGP",
            SignatureFormat::Ssh => "SSH",
        };
        write!(f, " with {format} key '{}'", self.key)
    }
}

/// One fetch-and-export request. Build with [`FetchRequest::new`] and the
/// `with_*` methods.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// `file://`, a local path, `git://`, `http(s)://`, `ssh://` or scp-style `user@host:path`.
    pub url: String,
    /// Which commit to export.
    pub reference: Reference,
    /// Credentials for the server.
    pub auth: Auth,
    /// Export only this directory of the tree (relative, `/`-separated).
    pub path: Option<String>,
    /// Extra ignore patterns in `.gitignore` syntax, applied after the
    /// defaults and `.sourceignore` files (Flux's `spec.ignore`).
    pub ignore: Option<String>,
    /// Signature verification: the trusted keys.
    pub verify: Option<Verification>,
    /// What `verify` checks: the commit, the annotated tag, or both.
    pub verify_mode: VerificationMode,
    /// The whole fetch (connect, negotiate, download, export) must finish within this.
    pub timeout: Duration,
    /// PEM certificates of extra certificate authorities to trust for HTTPS
    /// (Flux's `ca.crt`), on top of the system's roots.
    pub ca_certificates: Option<Vec<u8>>,
    /// Ask the server for the tip commit only (`--depth 1`) when the reference
    /// allows it. Exact-commit references always fetch full history.
    pub shallow: bool,
}

impl FetchRequest {
    /// A request for the default branch of `url`, shallow, with a 60 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        FetchRequest {
            url: url.into(),
            reference: Reference::DefaultBranch,
            auth: Auth::None,
            path: None,
            ignore: None,
            verify: None,
            verify_mode: VerificationMode::Head,
            timeout: Duration::from_secs(60),
            ca_certificates: None,
            shallow: true,
        }
    }

    /// Sets the reference to export.
    pub fn with_reference(mut self, reference: Reference) -> Self {
        self.reference = reference;
        self
    }

    /// Sets the credentials.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Exports only this sub-directory.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Adds ignore patterns (Flux's `spec.ignore`).
    pub fn with_ignore(mut self, patterns: impl Into<String>) -> Self {
        self.ignore = Some(patterns.into());
        self
    }

    /// Requires a signature by one of these keys (on the commit unless
    /// [`with_verification_mode`](Self::with_verification_mode) says otherwise).
    pub fn with_verification(mut self, verification: Verification) -> Self {
        self.verify = Some(verification);
        self
    }

    /// Sets what must be signed when verifying.
    pub fn with_verification_mode(mut self, mode: VerificationMode) -> Self {
        self.verify_mode = mode;
        self
    }

    /// Sets the overall timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts these PEM CA certificates for HTTPS, besides the system's.
    pub fn with_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificates = Some(pem.into());
        self
    }

    /// Turns shallow fetching on or off.
    pub fn with_shallow(mut self, shallow: bool) -> Self {
        self.shallow = shallow;
        self
    }
}

/// What one fetch produced: a folder with the tree of `commit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Flux-style revision: `main@sha1:<hex>`, `v1.2.0@sha1:<hex>`, or `sha1:<hex>` for an exact commit.
    pub revision: String,
    /// The exported commit, 40 hex digits.
    pub commit: String,
    /// `sha256:<hex>` over the exported files (see `docs/sources.md` for the exact encoding).
    pub digest: String,
    /// The artifact folder, named after the digest's hex.
    pub path: PathBuf,
    /// `false` when the resolved commit was already exported for the same
    /// request, in which case nothing was downloaded or written.
    pub changed: bool,
    /// Numbers about the transfer.
    pub stats: FetchStats,
    /// The signatures checked for this fetch (tag first, then commit); empty without
    /// verification.
    pub verified: Vec<VerifiedSignature>,
}

/// What the fetch transferred, to show that updates are incremental.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Whether the server sent a pack at all.
    pub pack_received: bool,
    /// Objects in the received pack.
    pub objects_received: u64,
    /// Size of the received pack file in bytes.
    pub pack_bytes: u64,
    /// Files written into the artifact folder.
    pub files_exported: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_modes_need_a_tag_reference() {
        let branch = Reference::Branch("main".into());
        let tag_name = Reference::Name("refs/tags/v1.0.0".into());
        let pull = Reference::Name("refs/pull/1/head".into());
        assert!(VerificationMode::Head.check_reference(&branch).is_ok());
        assert!(VerificationMode::Tag.check_reference(&tag_name).is_ok());
        assert!(
            VerificationMode::TagAndHead
                .check_reference(&Reference::Semver("^1".into()))
                .is_ok()
        );
        assert!(VerificationMode::Tag.check_reference(&branch).is_err());
        assert!(VerificationMode::TagAndHead.check_reference(&pull).is_err());
        assert!(
            VerificationMode::Tag
                .check_reference(&Reference::DefaultBranch)
                .is_err()
        );
    }
}

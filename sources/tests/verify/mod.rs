//! Signature verification with OpenPGP keys made by the real `gpg` (ed25519 and RSA, a
//! throwaway `GNUPGHOME` per test) and SSH keys made by `ssh-keygen`, on commits made with
//! `git commit -S` and tags made with `git tag -s`: the `HEAD`, `Tag` and `TagAndHEAD` modes.

use super::support::{self, Gpg, Signer, Upstream};
use super::{fetch, read};
use sources::{
    Cache, Error, FetchRequest, Reference, SignatureFormat, SignedObject, Verification,
    VerificationMode,
};

/// An upstream whose `main` has one unsigned commit, a GnuPG home with a trusted key and an
/// untrusted one, and a cache to fetch into.
struct Fixture {
    up: Upstream,
    gpg: Gpg,
    trusted: String,
    untrusted: String,
    _cache_dir: tempfile::TempDir,
    cache: Cache,
}

/// `None` (after printing `SKIPPED: …`) without git or gpg. `algo` is the trusted key's.
fn fixture(test: &str, algo: &str) -> Option<Fixture> {
    if !support::git_available(test) {
        return None;
    }
    let gpg = Gpg::new(test)?;
    let trusted = gpg.generate("Release Signer <release@flotilla.invalid>", algo);
    let untrusted = gpg.generate("Someone Else <other@flotilla.invalid>", "ed25519");
    let up = Upstream::new(&[("a.yaml", "unsigned\n")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    Some(Fixture {
        up,
        gpg,
        trusted,
        untrusted,
        _cache_dir: cache_dir,
        cache,
    })
}

impl Fixture {
    fn signer<'a>(&'a self, key: &'a str) -> Signer<'a> {
        Signer::OpenPgp {
            gpg: &self.gpg,
            key,
        }
    }

    /// Trusts the armored export of `keys` (one Secret-like entry per key).
    fn trusting(&self, keys: &[&str]) -> Verification {
        Verification {
            public_keys: keys.iter().map(|k| self.gpg.export(k)).collect(),
        }
    }

    /// The error of a fetch of `reference` in `mode` that must be refused.
    fn refusal(&self, reference: Reference, mode: VerificationMode) -> Error {
        fetch(&self.cache, &self.request(reference, mode)).unwrap_err()
    }

    fn request(&self, reference: Reference, mode: VerificationMode) -> FetchRequest {
        FetchRequest::new(self.up.file_url())
            .with_reference(reference)
            .with_verification(self.trusting(&[&self.trusted]))
            .with_verification_mode(mode)
    }
}

#[test]
fn openpgp_signed_commit_is_verified_with_the_signers_fingerprint() {
    let Some(f) = fixture(
        "openpgp_signed_commit_is_verified_with_the_signers_fingerprint",
        "ed25519",
    ) else {
        return;
    };
    let commit =
        f.up.commit_signed_by(&[("a.yaml", "signed\n")], "signed", &f.signer(&f.trusted));
    f.up.push();
    let request = FetchRequest::new(f.up.file_url())
        .with_verification(f.trusting(&[&f.untrusted, &f.trusted]));
    let artifact = fetch(&f.cache, &request).unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "signed\n");
    assert_eq!(artifact.verified.len(), 1, "{:?}", artifact.verified);
    let verified = &artifact.verified[0];
    assert_eq!(verified.object, SignedObject::Commit(commit));
    assert_eq!(verified.format, SignatureFormat::OpenPgp);
    assert_eq!(verified.key, f.trusted);
}

#[test]
fn rsa_signed_commit_is_verified() {
    let Some(f) = fixture("rsa_signed_commit_is_verified", "rsa2048") else {
        return;
    };
    f.up.commit_signed_by(&[("a.yaml", "rsa\n")], "rsa", &f.signer(&f.trusted));
    f.up.push();
    let artifact = fetch(
        &f.cache,
        &f.request(Reference::Branch("main".into()), VerificationMode::Head),
    )
    .unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "rsa\n");
    assert_eq!(artifact.verified[0].key, f.trusted);
}

#[test]
fn commit_signed_by_a_subkey_is_reported_with_the_primary_fingerprint() {
    let Some(f) = fixture(
        "commit_signed_by_a_subkey_is_reported_with_the_primary_fingerprint",
        "ed25519",
    ) else {
        return;
    };
    let subkey = f.gpg.add_signing_subkey(&f.trusted, "ed25519");
    let forced = format!("{subkey}!");
    f.up.commit_signed_by(&[("a.yaml", "sub\n")], "sub", &f.signer(&forced));
    f.up.push();
    let artifact = fetch(
        &f.cache,
        &f.request(Reference::DefaultBranch, VerificationMode::Head),
    )
    .unwrap();
    assert_eq!(artifact.verified[0].key, f.trusted);
}

#[test]
fn unsigned_commit_is_refused() {
    let Some(f) = fixture("unsigned_commit_is_refused", "ed25519") else {
        return;
    };
    let err = f.refusal(Reference::DefaultBranch, VerificationMode::Head);
    assert!(matches!(err, Error::Verification { .. }), "{err}");
    assert!(err.to_string().contains("not signed"), "{err}");
}

#[test]
fn commit_signed_by_an_untrusted_openpgp_key_is_refused_naming_it() {
    let Some(f) = fixture(
        "commit_signed_by_an_untrusted_openpgp_key_is_refused_naming_it",
        "ed25519",
    ) else {
        return;
    };
    f.up.commit_signed_by(&[("a.yaml", "x\n")], "x", &f.signer(&f.untrusted));
    f.up.push();
    let err = f.refusal(Reference::DefaultBranch, VerificationMode::Head);
    assert!(matches!(err, Error::Verification { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("not among the trusted keys"), "{message}");
    assert!(message.contains(&f.untrusted), "{message}");
}

#[test]
fn tampered_openpgp_signed_commit_is_refused() {
    let Some(f) = fixture("tampered_openpgp_signed_commit_is_refused", "ed25519") else {
        return;
    };
    let signed =
        f.up.commit_signed_by(&[("a.yaml", "signed\n")], "signed", &f.signer(&f.trusted));
    // The same signature header on a commit with another message.
    let raw = f.up.git(&["cat-file", "commit", &signed]);
    let forged = raw.replace("\n\nsigned", "\n\nforged");
    let forged_path = f.up.root.path().join("forged");
    std::fs::write(&forged_path, format!("{forged}\n")).unwrap();
    let forged_id = f.up.git(&[
        "hash-object",
        "-t",
        "commit",
        "-w",
        forged_path.to_str().unwrap(),
    ]);
    f.up.git(&["update-ref", "refs/heads/main", &forged_id]);
    f.up.push();
    let err = f.refusal(Reference::DefaultBranch, VerificationMode::Head);
    assert!(matches!(err, Error::Verification { .. }), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn signed_tag_is_verified_in_tag_mode_without_a_signed_commit() {
    let Some(f) = fixture(
        "signed_tag_is_verified_in_tag_mode_without_a_signed_commit",
        "ed25519",
    ) else {
        return;
    };
    f.up.signed_tag("v1.0.0", &f.signer(&f.trusted));
    f.up.push();
    let tag_id = f.up.git(&["rev-parse", "v1.0.0"]);
    let artifact = fetch(
        &f.cache,
        &f.request(Reference::Tag("v1.0.0".into()), VerificationMode::Tag),
    )
    .unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "unsigned\n");
    assert_eq!(artifact.verified.len(), 1, "{:?}", artifact.verified);
    assert_eq!(
        artifact.verified[0].object,
        SignedObject::Tag {
            name: "v1.0.0".into(),
            id: tag_id,
        }
    );
    assert_eq!(artifact.verified[0].key, f.trusted);
}

#[test]
fn tag_mode_verifies_the_tag_semver_picked() {
    let Some(f) = fixture("tag_mode_verifies_the_tag_semver_picked", "ed25519") else {
        return;
    };
    f.up.signed_tag("v1.0.0", &f.signer(&f.untrusted));
    f.up.commit(&[("a.yaml", "two\n")], "two");
    f.up.signed_tag("v1.1.0", &f.signer(&f.trusted));
    f.up.push();
    let artifact = fetch(
        &f.cache,
        &f.request(Reference::Semver("^1".into()), VerificationMode::Tag),
    )
    .unwrap();
    assert_eq!(read(&artifact, "a.yaml"), "two\n");
    assert!(matches!(
        &artifact.verified[0].object,
        SignedObject::Tag { name, .. } if name == "v1.1.0"
    ));
}

#[test]
fn tampered_signed_tag_is_refused() {
    let Some(f) = fixture("tampered_signed_tag_is_refused", "rsa2048") else {
        return;
    };
    f.up.signed_tag("v1.0.0", &f.signer(&f.trusted));
    // The same signature on a tag object with another message.
    let raw = f.up.git(&["cat-file", "tag", "v1.0.0"]);
    let forged = raw.replace("release v1.0.0", "release v6.6.6");
    assert_ne!(raw, forged);
    let forged_path = f.up.root.path().join("forged-tag");
    std::fs::write(&forged_path, format!("{forged}\n")).unwrap();
    let forged_id = f.up.git(&[
        "hash-object",
        "-t",
        "tag",
        "-w",
        forged_path.to_str().unwrap(),
    ]);
    f.up.git(&["update-ref", "refs/tags/v1.0.0", &forged_id]);
    f.up.push();
    let err = f.refusal(Reference::Tag("v1.0.0".into()), VerificationMode::Tag);
    assert!(matches!(err, Error::TagVerification { .. }), "{err}");
    assert!(err.to_string().contains("does not match the tag"), "{err}");
}

#[test]
fn lightweight_tag_is_refused_in_tag_mode() {
    let Some(f) = fixture("lightweight_tag_is_refused_in_tag_mode", "ed25519") else {
        return;
    };
    f.up.git(&["tag", "v1.0.0"]);
    f.up.push();
    let err = f.refusal(Reference::Tag("v1.0.0".into()), VerificationMode::Tag);
    assert!(matches!(err, Error::TagVerification { .. }), "{err}");
    assert!(err.to_string().contains("lightweight"), "{err}");
}

#[test]
fn unsigned_annotated_tag_is_refused_in_tag_mode() {
    let Some(f) = fixture("unsigned_annotated_tag_is_refused_in_tag_mode", "ed25519") else {
        return;
    };
    f.up.git(&["tag", "-a", "-m", "release", "v1.0.0"]);
    f.up.push();
    let err = f.refusal(
        Reference::Name("refs/tags/v1.0.0".into()),
        VerificationMode::Tag,
    );
    assert!(matches!(err, Error::TagVerification { .. }), "{err}");
    assert!(err.to_string().contains("tag v1.0.0"), "{err}");
    assert!(err.to_string().contains("not signed"), "{err}");
}

#[test]
fn tag_and_head_needs_both_signatures() {
    let Some(f) = fixture("tag_and_head_needs_both_signatures", "ed25519") else {
        return;
    };
    // A signed tag on an unsigned commit: the tag alone is not enough.
    f.up.signed_tag("v1.0.0", &f.signer(&f.trusted));
    // A signed commit under an unsigned annotated tag: the commit alone is not enough.
    let commit =
        f.up.commit_signed_by(&[("a.yaml", "two\n")], "two", &f.signer(&f.trusted));
    f.up.git(&["tag", "-a", "-m", "release", "v2.0.0"]);
    // Both signed.
    f.up.signed_tag("v2.0.1", &f.signer(&f.trusted));
    f.up.push();

    let err = f.refusal(
        Reference::Tag("v1.0.0".into()),
        VerificationMode::TagAndHead,
    );
    assert!(matches!(err, Error::Verification { .. }), "{err}");
    assert!(err.to_string().contains("not signed"), "{err}");

    let err = f.refusal(
        Reference::Tag("v2.0.0".into()),
        VerificationMode::TagAndHead,
    );
    assert!(matches!(err, Error::TagVerification { .. }), "{err}");

    let artifact = fetch(
        &f.cache,
        &f.request(
            Reference::Tag("v2.0.1".into()),
            VerificationMode::TagAndHead,
        ),
    )
    .unwrap();
    let objects: Vec<_> = artifact.verified.iter().map(|v| &v.object).collect();
    assert!(
        matches!(objects[..], [SignedObject::Tag { .. }, SignedObject::Commit(c)] if *c == commit),
        "{objects:?}"
    );
}

#[test]
fn tag_mode_with_a_branch_reference_is_an_invalid_request() {
    let Some(f) = fixture(
        "tag_mode_with_a_branch_reference_is_an_invalid_request",
        "ed25519",
    ) else {
        return;
    };
    let err = f.refusal(Reference::Branch("main".into()), VerificationMode::Tag);
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                field: "verify.mode",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn ssh_signed_tag_is_verified_in_tag_mode() {
    let Some(f) = fixture("ssh_signed_tag_is_verified_in_tag_mode", "ed25519") else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let Some((private, public)) = support::ssh_keypair(keys.path(), "release") else {
        eprintln!("SKIPPED: ssh_signed_tag_is_verified_in_tag_mode: ssh-keygen is not installed");
        return;
    };
    f.up.signed_tag("v1.0.0", &Signer::Ssh(&private));
    f.up.push();
    // OpenPGP and SSH keys side by side, as in one Secret.
    let request = FetchRequest::new(f.up.file_url())
        .with_reference(Reference::Tag("v1.0.0".into()))
        .with_verification(Verification {
            public_keys: vec![f.gpg.export(&f.trusted), public],
        })
        .with_verification_mode(VerificationMode::Tag);
    let artifact = fetch(&f.cache, &request).unwrap();
    assert_eq!(artifact.verified[0].format, SignatureFormat::Ssh);
    assert!(
        artifact.verified[0].key.starts_with("SHA256:"),
        "{:?}",
        artifact.verified
    );
}

#[test]
fn armored_key_split_into_lines_is_read_as_one_block() {
    let Some(f) = fixture(
        "armored_key_split_into_lines_is_read_as_one_block",
        "ed25519",
    ) else {
        return;
    };
    f.up.commit_signed_by(&[("a.yaml", "x\n")], "x", &f.signer(&f.trusted));
    f.up.push();
    // What `flotilla source fetch --verify-keys FILE` passes: the file's lines.
    let lines = f
        .gpg
        .export(&f.trusted)
        .lines()
        .map(str::to_owned)
        .collect();
    let request =
        FetchRequest::new(f.up.file_url()).with_verification(Verification { public_keys: lines });
    let artifact = fetch(&f.cache, &request).unwrap();
    assert_eq!(artifact.verified[0].key, f.trusted);
}

#[test]
fn private_key_given_as_trusted_key_is_refused() {
    let Some(f) = fixture("private_key_given_as_trusted_key_is_refused", "ed25519") else {
        return;
    };
    let private = f.gpg.run(&["--export-secret-keys", "--armor", &f.trusted]);
    let err = Verification {
        public_keys: vec![private],
    }
    .validate()
    .unwrap_err();
    assert!(matches!(err, Error::InvalidKey { index: 0, .. }), "{err}");
    assert!(err.to_string().contains("private key"), "{err}");
}

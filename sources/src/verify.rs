//! Signature verification of the exported commit and of the annotated tag that selected it,
//! against trusted OpenPGP and SSH public keys.
//!
//! Git keeps a commit's signature in its `gpgsig` header and signs the commit without that
//! header; an annotated tag carries its signature appended to the message and signs the tag
//! object without it. Either signature is ASCII-armored: `BEGIN PGP SIGNATURE` (made by `gpg`,
//! checked with `pgp`, the rpgp crate) or `BEGIN SSH SIGNATURE` (an `sshsig` blob in the `git`
//! namespace, checked with `ssh-key`). No `gpg` or `ssh-keygen` process is started: a verifier
//! that shells out would depend on the machine's keyrings and configuration.
//!
//! Trust is the list of keys given, nothing else: no keyring, no web of trust, no key server.
//! A signature is good when it was made by one of those keys (an OpenPGP primary key or one of
//! its subkeys bound to it) and matches the signed bytes.

use gix::bstr::ByteSlice;
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::SignatureType;
use pgp::types::KeyDetails;
use ssh_key::{PublicKey, SshSig};

use crate::error::{Error, Result};
use crate::request::{
    SignatureFormat, SignedObject, Verification, VerificationMode, VerifiedSignature,
};
use crate::resolve::Resolved;

/// The namespace git uses for SSH signatures of commits and tags.
const GIT_NAMESPACE: &str = "git";

const PGP_PUBLIC_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const PGP_PUBLIC_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
const PGP_PRIVATE_BEGIN: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----";

/// The parsed trusted keys.
#[derive(Debug)]
pub(crate) struct TrustedKeys {
    ssh: Vec<PublicKey>,
    openpgp: Vec<SignedPublicKey>,
}

/// Parses the trusted keys once. The entries are read as one text, so an armored OpenPGP block
/// may be one entry (a Secret value) or spread over several (the lines of a file); every other
/// non-empty line that is not a `#` comment is an OpenSSH public key. Errors name the key's
/// position among the keys given, counting SSH lines and OpenPGP blocks in order.
pub(crate) fn trusted_keys(verification: &Verification) -> Result<TrustedKeys> {
    let text = verification.public_keys.join("\n");
    let mut keys = TrustedKeys {
        ssh: Vec::new(),
        openpgp: Vec::new(),
    };
    let mut index = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let invalid = |reason: String| Error::InvalidKey { index, reason };
        if line.starts_with(PGP_PRIVATE_BEGIN) {
            return Err(invalid(
                "is an OpenPGP private key; give the public key (`gpg --export --armor KEYID`)"
                    .to_owned(),
            ));
        }
        if line.starts_with(PGP_PUBLIC_BEGIN) {
            let mut block = vec![line];
            let mut closed = false;
            for next in lines.by_ref() {
                let next = next.trim();
                block.push(next);
                if next.starts_with(PGP_PUBLIC_END) {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(invalid(format!(
                    "OpenPGP key block has no {PGP_PUBLIC_END:?} line"
                )));
            }
            let block = block.join("\n");
            let parsed = openpgp_keys(&block).map_err(invalid)?;
            keys.openpgp.extend(parsed);
        } else {
            let key = PublicKey::from_openssh(line).map_err(|e| {
                invalid(format!(
                    "neither an OpenSSH public key (`ssh-ed25519 AAAA…`) nor an armored OpenPGP \
                     public key block: {e}"
                ))
            })?;
            keys.ssh.push(key);
        }
        index += 1;
    }
    if index == 0 {
        return Err(Error::InvalidKey {
            index: 0,
            reason: "no public key given for verification".to_owned(),
        });
    }
    Ok(keys)
}

/// Every key of one armored block (`gpg --export --armor` writes several keys into one block),
/// each with valid self-signatures and subkey bindings.
fn openpgp_keys(block: &str) -> Result<Vec<SignedPublicKey>, String> {
    let (parsed, _headers) = SignedPublicKey::from_armor_many(std::io::Cursor::new(block))
        .map_err(|e| format!("unreadable OpenPGP public key block: {e}"))?;
    let mut keys = Vec::new();
    for key in parsed {
        let key = key.map_err(|e| format!("unreadable OpenPGP public key: {e}"))?;
        key.verify_bindings().map_err(|e| {
            format!(
                "OpenPGP key {} has invalid self-signatures: {e}",
                fingerprint(&key)
            )
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("the OpenPGP block holds no public key".to_owned());
    }
    Ok(keys)
}

/// Verifies what `mode` asks for on `resolved`: the annotated tag first, then the commit.
/// Returns the good signatures, in that order.
pub(crate) fn verify(
    repo: &gix::Repository,
    resolved: &Resolved,
    mode: VerificationMode,
    keys: &TrustedKeys,
) -> Result<Vec<VerifiedSignature>> {
    let mut verified = Vec::new();
    if mode.verifies_tag() {
        verified.push(verify_tag(repo, resolved, keys)?);
    }
    if mode.verifies_head() {
        verified.push(verify_commit(repo, resolved.commit, keys)?);
    }
    Ok(verified)
}

fn verify_commit(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    keys: &TrustedKeys,
) -> Result<VerifiedSignature> {
    let refuse = |reason: String| Error::Verification {
        commit: commit.to_string(),
        reason,
    };
    let object = repo
        .find_commit(commit)
        .map_err(|e| refuse(format!("cannot read the commit: {e}")))?;
    let (signature, signed) = object
        .signature()
        .map_err(|e| refuse(format!("cannot parse the commit: {e}")))?
        .ok_or_else(|| refuse("the commit is not signed".to_owned()))?;
    let signed = signed.to_bstring();
    let (format, key) = check(signature.as_ref(), &signed, keys, "commit").map_err(refuse)?;
    Ok(VerifiedSignature {
        object: SignedObject::Commit(commit.to_string()),
        format,
        key,
    })
}

fn verify_tag(
    repo: &gix::Repository,
    resolved: &Resolved,
    keys: &TrustedKeys,
) -> Result<VerifiedSignature> {
    let name = resolved.tag_name().unwrap_or_default().to_owned();
    let refuse = |reason: String| Error::TagVerification {
        tag: name.clone(),
        reason,
    };
    let Some(id) = resolved.tag else {
        return Err(refuse(
            "it is a lightweight tag: it has no tag object, so nothing is signed".to_owned(),
        ));
    };
    let object = repo
        .find_object(id)
        .map_err(|e| refuse(format!("cannot read tag object {id}: {e}")))?;
    if object.kind != gix::object::Kind::Tag {
        return Err(refuse(format!(
            "{id} is a {}, not a tag object",
            object.kind
        )));
    }
    let Some((signature, signed)) = gix::objs::TagRefIter::signature(&object.data) else {
        return Err(refuse("the tag is not signed".to_owned()));
    };
    let signed = signed.to_bstring();
    let (format, key) = check(signature.data, &signed, keys, "tag").map_err(refuse)?;
    Ok(VerifiedSignature {
        object: SignedObject::Tag {
            name: name.clone(),
            id: id.to_string(),
        },
        format,
        key,
    })
}

/// Checks one armored `signature` over `signed`; returns the format and the fingerprint of the
/// trusted key that made it, or why it is refused. `what` (`commit`, `tag`) goes into reasons.
fn check(
    signature: &[u8],
    signed: &[u8],
    keys: &TrustedKeys,
    what: &str,
) -> Result<(SignatureFormat, String), String> {
    let armored = signature.to_str_lossy();
    let armored = armored.trim();
    if armored.starts_with("-----BEGIN PGP SIGNATURE-----") {
        check_openpgp(armored, signed, keys, what).map(|key| (SignatureFormat::OpenPgp, key))
    } else if armored.starts_with("-----BEGIN SSH SIGNATURE-----") {
        check_ssh(armored, signed, keys, what).map(|key| (SignatureFormat::Ssh, key))
    } else {
        let first = armored.lines().next().unwrap_or_default();
        Err(format!(
            "unsupported signature format ({first:?}); OpenPGP and SSH signatures are supported"
        ))
    }
}

fn check_openpgp(
    armored: &str,
    signed: &[u8],
    keys: &TrustedKeys,
    what: &str,
) -> Result<String, String> {
    let (signature, _headers) = DetachedSignature::from_string(armored)
        .map_err(|e| format!("unreadable OpenPGP signature: {e}"))?;
    let signature = signature.signature;
    if !matches!(
        signature.typ(),
        Some(SignatureType::Binary | SignatureType::Text)
    ) {
        return Err(format!(
            "the OpenPGP signature is of type {:?}, not a data signature",
            signature.typ()
        ));
    }
    let fingerprints = signature.issuer_fingerprint();
    let key_ids = signature.issuer_key_id();
    // A signature without issuer subpackets is tried against every key.
    let named = |fingerprint: pgp::types::Fingerprint, key_id: pgp::types::KeyId| {
        (fingerprints.is_empty() && key_ids.is_empty())
            || fingerprints.iter().any(|f| **f == fingerprint)
            || key_ids.iter().any(|k| **k == key_id)
    };
    let mut tried = false;
    let mut last_error = None;
    for key in &keys.openpgp {
        if named(
            key.primary_key.fingerprint(),
            key.primary_key.legacy_key_id(),
        ) {
            tried = true;
            match signature.verify(&key.primary_key, signed) {
                Ok(()) => return Ok(fingerprint(key)),
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        for subkey in &key.public_subkeys {
            if named(subkey.key.fingerprint(), subkey.key.legacy_key_id()) {
                tried = true;
                // `openpgp_keys` checked the binding of every subkey to its primary key.
                match signature.verify(&subkey.key, signed) {
                    Ok(()) => return Ok(fingerprint(key)),
                    Err(e) => last_error = Some(e.to_string()),
                }
            }
        }
    }
    match last_error {
        Some(error) if tried => Err(format!(
            "the OpenPGP signature does not match the {what} content: {error}"
        )),
        _ => {
            let issuer = fingerprints
                .first()
                .map(|f| hex_upper(f.as_bytes()))
                .or_else(|| key_ids.first().map(|k| hex_upper(k.as_ref())))
                .unwrap_or_else(|| "an unnamed key".to_owned());
            Err(format!(
                "signed with OpenPGP key {issuer}, which is not among the trusted keys"
            ))
        }
    }
}

fn check_ssh(
    armored: &str,
    signed: &[u8],
    keys: &TrustedKeys,
    what: &str,
) -> Result<String, String> {
    let sig = SshSig::from_pem(armored).map_err(|e| format!("unreadable SSH signature: {e}"))?;
    if sig.namespace() != GIT_NAMESPACE {
        return Err(format!(
            "signature namespace is {:?}, expected \"git\"",
            sig.namespace()
        ));
    }
    let Some(key) = keys.ssh.iter().find(|k| k.key_data() == sig.public_key()) else {
        let signer = sig.public_key().fingerprint(Default::default()).to_string();
        return Err(format!(
            "signed with SSH key {signer}, which is not among the trusted keys"
        ));
    };
    key.verify(GIT_NAMESPACE, signed, &sig)
        .map_err(|e| format!("the SSH signature does not match the {what} content: {e}"))?;
    Ok(key.fingerprint(Default::default()).to_string())
}

/// The primary key's fingerprint in upper-case hex, as `gpg --list-keys` shows it.
fn fingerprint(key: &SignedPublicKey) -> String {
    hex_upper(key.primary_key.fingerprint().as_bytes())
}

fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSH_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp8xBCZRAvSC2LZVQq1aWbLWBPmdsyQmvUNnqyrwcx8 ops";

    fn keys(entries: &[&str]) -> Result<TrustedKeys> {
        trusted_keys(&Verification {
            public_keys: entries.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let parsed = keys(&["# release signers", "", SSH_KEY]).unwrap();
        assert_eq!(parsed.ssh.len(), 1);
        assert!(parsed.openpgp.is_empty());
    }

    #[test]
    fn a_line_that_is_no_key_is_refused_with_its_position() {
        let err = keys(&[SSH_KEY, "not a key"]).unwrap_err();
        assert!(matches!(err, Error::InvalidKey { index: 1, .. }), "{err}");
    }

    #[test]
    fn an_unterminated_openpgp_block_is_refused() {
        let err = keys(&["-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n"]).unwrap_err();
        assert!(
            err.to_string().contains("END PGP PUBLIC KEY BLOCK"),
            "{err}"
        );
    }

    #[test]
    fn no_keys_at_all_is_refused() {
        let err = keys(&["# nothing here", "  "]).unwrap_err();
        assert!(err.to_string().contains("no public key"), "{err}");
    }
}

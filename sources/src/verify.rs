//! Commit signature verification against trusted SSH public keys.
//!
//! Git stores the signature in the commit's `gpgsig` header; for SSH keys it
//! is an armored `sshsig` blob over the commit without that header, in the
//! `git` namespace. `ssh-key` parses and checks it (no `ssh-keygen` process).
//! OpenPGP signatures are recognised and refused with a clear reason: no
//! well-maintained pure-Rust OpenPGP verifier fits in this crate today.

use ssh_key::{PublicKey, SshSig};

use crate::error::{Error, Result};
use crate::request::Verification;

/// The namespace git uses for SSH signatures of commits and tags.
const GIT_NAMESPACE: &str = "git";

/// Parses the trusted keys once; errors name the key's position.
pub(crate) fn trusted_keys(verification: &Verification) -> Result<Vec<PublicKey>> {
    let keys = verification
        .ssh_public_keys
        .iter()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(index, line)| {
            PublicKey::from_openssh(line.trim()).map_err(|e| Error::InvalidKey {
                index,
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(Error::InvalidKey {
            index: 0,
            reason: "no public key given for verification".to_owned(),
        });
    }
    Ok(keys)
}

/// Checks that `commit` carries a valid signature by one of `keys`; returns
/// the fingerprint of the key that signed it.
pub(crate) fn verify_commit(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    keys: &[PublicKey],
) -> Result<String> {
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
    let armored = String::from_utf8_lossy(signature.as_ref()).into_owned();
    if armored.contains("BEGIN PGP SIGNATURE") {
        return Err(refuse(
            "the commit has an OpenPGP signature; only SSH signatures can be verified".to_owned(),
        ));
    }
    let sig = SshSig::from_pem(armored.trim())
        .map_err(|e| refuse(format!("unreadable SSH signature: {e}")))?;
    if sig.namespace() != GIT_NAMESPACE {
        return Err(refuse(format!(
            "signature namespace is {:?}, expected \"git\"",
            sig.namespace()
        )));
    }
    let data = signed.to_bstring();
    let Some(key) = keys.iter().find(|k| k.key_data() == sig.public_key()) else {
        return Err(refuse(
            "signed by a key that is not among the trusted keys".to_owned(),
        ));
    };
    key.verify(GIT_NAMESPACE, &data, &sig).map_err(|e| {
        refuse(format!(
            "the signature does not match the commit content: {e}"
        ))
    })?;
    Ok(key.fingerprint(Default::default()).to_string())
}

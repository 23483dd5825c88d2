//! Turning the Secrets a GitRepository references into what the `sources` crate takes:
//! `spec.secretRef` into credentials and extra CA certificates, `spec.verify.secretRef` into
//! trusted keys. Key names are Flux's, so Secrets made for Flux work unchanged.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

/// The data of a Secret, `stringData` merged over `data` (an API server normally folds
/// `stringData` into `data` on write; reading both costs nothing and covers servers that
/// do not).
pub(crate) fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    out
}

/// Credentials and trust read from `spec.secretRef`.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// Basic, bearer or SSH authentication.
    pub auth: sources::Auth,
    /// `ca.crt`: extra CA certificates for HTTPS.
    pub ca_certificates: Option<Vec<u8>>,
}

/// Reads Flux's keys: `username`/`password` (basic), `bearerToken`, `identity`/`known_hosts`
/// (SSH) and `ca.crt`. `secret` names the Secret in messages; values never appear in them.
pub(crate) fn credentials(
    secret: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Credentials, String> {
    let text = |key: &str| -> Result<Option<String>, String> {
        data.get(key)
            .map(|v| {
                String::from_utf8(v.clone())
                    .map_err(|_| format!("Secret {secret}: key {key:?} is not valid UTF-8"))
            })
            .transpose()
    };
    let auth = if let Some(private_key) = text("identity")? {
        sources::Auth::Ssh {
            private_key,
            known_hosts: text("known_hosts")?.unwrap_or_default(),
        }
    } else if let Some(token) = text("bearerToken")? {
        sources::Auth::Bearer(token)
    } else {
        match (text("username")?, text("password")?) {
            (Some(username), Some(password)) => sources::Auth::Basic { username, password },
            (Some(_), None) => {
                return Err(format!(
                    "Secret {secret}: has key \"username\" but no \"password\""
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "Secret {secret}: has key \"password\" but no \"username\""
                ));
            }
            (None, None) => sources::Auth::None,
        }
    };
    Ok(Credentials {
        auth,
        ca_certificates: data.get("ca.crt").cloned(),
    })
}

/// Every value of the verification Secret holds trusted keys (Flux's layout, any data key):
/// ASCII-armored OpenPGP public keys (`gpg --export --armor`) and/or SSH public keys
/// (`ssh-ed25519 AAAA…`, one per line). Each value is parsed here so that a bad one is named
/// by its data key; the `sources` crate reads the values again when it verifies.
pub(crate) fn verification_keys(
    secret: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<sources::Verification, String> {
    let mut values = Vec::new();
    for (key, value) in data {
        let value = String::from_utf8(value.clone())
            .map_err(|_| format!("Secret {secret}: key {key:?} is not valid UTF-8"))?;
        if value.trim().is_empty() {
            continue;
        }
        let one = sources::Verification {
            public_keys: vec![value],
        };
        one.validate().map_err(|e| match e {
            sources::Error::InvalidKey { reason, .. } => {
                format!("Secret {secret}: key {key:?}: {reason}")
            }
            other => format!("Secret {secret}: key {key:?}: {other}"),
        })?;
        values.extend(one.public_keys);
    }
    if values.is_empty() {
        return Err(format!("Secret {secret}: holds no public key"));
    }
    Ok(sources::Verification {
        public_keys: values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn username_and_password_make_basic_auth() {
        let c = credentials("git", &data(&[("username", "u"), ("password", "p")])).unwrap();
        assert!(matches!(c.auth, sources::Auth::Basic { ref username, .. } if username == "u"));
    }

    #[test]
    fn identity_wins_over_basic_keys_and_ca_is_kept() {
        let c = credentials(
            "git",
            &data(&[("identity", "KEY"), ("known_hosts", "h"), ("ca.crt", "PEM")]),
        )
        .unwrap();
        assert!(matches!(c.auth, sources::Auth::Ssh { ref known_hosts, .. } if known_hosts == "h"));
        assert_eq!(c.ca_certificates.as_deref(), Some(&b"PEM"[..]));
    }

    #[test]
    fn username_without_password_is_refused_without_showing_values() {
        let err = credentials("git", &data(&[("username", "secret-user")])).unwrap_err();
        assert!(err.contains("no \"password\""), "{err}");
        assert!(!err.contains("secret-user"), "{err}");
    }

    #[test]
    fn a_broken_key_is_named_by_its_data_key() {
        let err = verification_keys(
            "keys",
            &data(&[
                (
                    "a.asc",
                    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64\n",
                ),
                ("b.pub", ""),
            ]),
        )
        .unwrap_err();
        assert!(err.starts_with("Secret keys: key \"a.asc\": "), "{err}");
        assert!(err.contains("OpenPGP"), "{err}");
    }

    #[test]
    fn a_secret_without_keys_is_refused() {
        let err = verification_keys("keys", &data(&[("empty", "  \n")])).unwrap_err();
        assert_eq!(err, "Secret keys: holds no public key");
    }
}

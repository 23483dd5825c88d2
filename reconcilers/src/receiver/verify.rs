//! Authenticating webhook requests: HMAC signatures (`generic-hmac`, `github`) and GitLab's
//! shared token. Every comparison of secret-derived bytes is constant-time.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// Why a request was not authenticated. Messages name the header, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header carrying the signature or token is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The signature header is not `<algorithm>=<hex>`, names an unknown algorithm, or its hex
    /// does not decode.
    #[error("header {header}: malformed signature (want sha1=, sha256= or sha512= and hex)")]
    Malformed {
        /// The header read.
        header: &'static str,
    },
    /// The signature or token does not match.
    #[error("header {0}: signature does not match the body")]
    Mismatch(&'static str),
}

/// Checks a `<algorithm>=<hex>` signature header value against the HMAC of `body` keyed with
/// `token`. `allowed` lists the algorithms this header may use (GitHub's
/// `X-Hub-Signature-256` is SHA-256 only).
pub fn check_hmac(
    header: &'static str,
    value: Option<&str>,
    token: &[u8],
    body: &[u8],
    allowed: &[&str],
) -> Result<(), AuthError> {
    let value = value.ok_or(AuthError::MissingHeader(header))?;
    let (algorithm, hex_sig) = value
        .trim()
        .split_once('=')
        .ok_or(AuthError::Malformed { header })?;
    if !allowed.contains(&algorithm) {
        return Err(AuthError::Malformed { header });
    }
    let signature = hex::decode(hex_sig).map_err(|_| AuthError::Malformed { header })?;
    // `verify_slice` compares in constant time.
    macro_rules! verify {
        ($digest:ty) => {{
            match Hmac::<$digest>::new_from_slice(token) {
                Ok(mut mac) => {
                    mac.update(body);
                    mac.verify_slice(&signature).is_ok()
                }
                Err(_) => false,
            }
        }};
    }
    let verified = match algorithm {
        "sha1" => verify!(sha1::Sha1),
        "sha256" => verify!(sha2::Sha256),
        "sha512" => verify!(sha2::Sha512),
        _ => return Err(AuthError::Malformed { header }),
    };
    if verified {
        Ok(())
    } else {
        Err(AuthError::Mismatch(header))
    }
}

/// Checks GitLab's `X-Gitlab-Token`, which carries the shared secret itself.
pub fn check_token(
    header: &'static str,
    value: Option<&str>,
    token: &[u8],
) -> Result<(), AuthError> {
    let value = value.ok_or(AuthError::MissingHeader(header))?;
    // `ct_eq` on slices of different lengths is false without comparing contents; the length
    // of the token is not the secret.
    if bool::from(value.as_bytes().ct_eq(token)) {
        Ok(())
    } else {
        Err(AuthError::Mismatch(header))
    }
}

/// The hex HMAC-SHA256 of `body` keyed with `token`, as `sha256=<hex>`: what a sender puts in
/// `X-Signature` or `X-Hub-Signature-256`. Used by tests and by `flotilla` to sign requests.
pub fn sign_sha256(token: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &["sha1", "sha256", "sha512"];

    #[test]
    fn a_correct_sha256_signature_passes() {
        let sig = sign_sha256(b"s3cret", b"{\"ref\":\"refs/heads/main\"}");
        assert_eq!(
            check_hmac(
                "X-Signature",
                Some(&sig),
                b"s3cret",
                b"{\"ref\":\"refs/heads/main\"}",
                ALL
            ),
            Ok(())
        );
    }

    #[test]
    fn github_documented_example_signature_passes() {
        // The example from GitHub's "Validating webhook deliveries" page.
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            check_hmac(
                "X-Hub-Signature-256",
                Some(sig),
                b"It's a Secret to Everybody",
                b"Hello, World!",
                &["sha256"]
            ),
            Ok(())
        );
    }

    #[test]
    fn a_signature_over_another_body_is_refused() {
        let sig = sign_sha256(b"s3cret", b"original");
        assert_eq!(
            check_hmac("X-Signature", Some(&sig), b"s3cret", b"tampered", ALL),
            Err(AuthError::Mismatch("X-Signature"))
        );
    }

    #[test]
    fn a_signature_with_another_key_is_refused() {
        let sig = sign_sha256(b"other", b"body");
        assert_eq!(
            check_hmac("X-Signature", Some(&sig), b"s3cret", b"body", ALL),
            Err(AuthError::Mismatch("X-Signature"))
        );
    }

    #[test]
    fn sha1_and_sha512_signatures_pass_where_allowed() {
        // `printf %s body | openssl dgst -sha1 -hmac s3cret` and `-sha512`.
        let sha1 = "sha1=d286402a7c07f598d096d9042d41809543ede8d6";
        let sha512 = "sha512=60aa706310fb961e7f6e432128d21ca6d3745d3572539c0d2550aac441e6083197878c254a66c7a1b767b24bd0736a07a3e52064374ed3fb02bbc896af96e4de";
        for sig in [sha1, sha512] {
            assert_eq!(
                check_hmac("X-Signature", Some(sig), b"s3cret", b"body", ALL),
                Ok(()),
                "{sig}"
            );
        }
    }

    #[test]
    fn github_header_accepts_sha256_only() {
        let sha1 = "sha1=d286402a7c07f598d096d9042d41809543ede8d6";
        assert_eq!(
            check_hmac(
                "X-Hub-Signature-256",
                Some(sha1),
                b"s3cret",
                b"body",
                &["sha256"]
            ),
            Err(AuthError::Malformed {
                header: "X-Hub-Signature-256"
            })
        );
    }

    #[test]
    fn missing_or_malformed_signatures_are_refused() {
        assert_eq!(
            check_hmac("X-Signature", None, b"k", b"b", ALL),
            Err(AuthError::MissingHeader("X-Signature"))
        );
        for bad in ["sha256", "md5=00", "sha256=zz", ""] {
            assert_eq!(
                check_hmac("X-Signature", Some(bad), b"k", b"b", ALL),
                Err(AuthError::Malformed {
                    header: "X-Signature"
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn gitlab_token_must_match_exactly() {
        assert_eq!(
            check_token("X-Gitlab-Token", Some("s3cret"), b"s3cret"),
            Ok(())
        );
        assert_eq!(
            check_token("X-Gitlab-Token", Some("s3cre"), b"s3cret"),
            Err(AuthError::Mismatch("X-Gitlab-Token"))
        );
        assert_eq!(
            check_token("X-Gitlab-Token", None, b"s3cret"),
            Err(AuthError::MissingHeader("X-Gitlab-Token"))
        );
    }
}

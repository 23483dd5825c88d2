//! The patch formats of `PATCH` requests: JSON patch (RFC 6902), JSON merge
//! patch (RFC 7386) and Kubernetes' strategic merge patch for built-in types.
//! Server-side apply (`application/apply-patch+yaml`) is recognised here but
//! implemented in [`crate::apply`].
//!
//! Boundaries: pure functions from (live object, patch body) to the patched
//! object. Validation, admission and storage happen afterwards, in the caller.
//!
//! Error mapping for the HTTP layer ([`PatchError`] → `Status`):
//! - [`PatchError::UnsupportedMediaType`] → 415 `UnsupportedMediaType`
//!   (the message lists the accepted types, as Kubernetes does);
//! - [`PatchError::Malformed`] → 400 `BadRequest`;
//! - [`PatchError::Failed`] → 422 `Invalid` (Kubernetes answers 422 when a
//!   well-formed patch cannot be applied to the object, e.g. a failed `test`).

mod json;
mod strategic;

pub use json::{json_patch, merge_patch};
pub use strategic::strategic_merge_patch;

use serde_json::Value;

use crate::schema::Node;

/// `Result` with [`PatchError`].
pub type Result<T, E = PatchError> = std::result::Result<T, E>;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The content type names no patch format this resource accepts (415).
    /// The payload is the list of accepted media types.
    #[error("{accepted}")]
    UnsupportedMediaType {
        /// The media types that are accepted, comma-separated.
        accepted: String,
    },
    /// The patch document itself is invalid: not JSON, not a list of
    /// operations, a bad directive (400).
    #[error("{0}")]
    Malformed(String),
    /// The patch is well-formed but does not apply to this object (422).
    #[error("{0}")]
    Failed(String),
}

/// The patch formats, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

const MEDIA_TYPES: [(&str, PatchType); 4] = [
    ("application/json-patch+json", PatchType::Json),
    ("application/merge-patch+json", PatchType::Merge),
    (
        "application/strategic-merge-patch+json",
        PatchType::Strategic,
    ),
    ("application/apply-patch+yaml", PatchType::Apply),
];

/// What custom resources accept: everything but strategic merge patch,
/// which needs Go struct tags CRDs do not have.
const CUSTOM_MEDIA_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

impl PatchType {
    /// The patch type of a `Content-Type` header (parameters such as
    /// `charset` are ignored).
    pub fn from_content_type(content_type: &str) -> Result<Self> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        MEDIA_TYPES
            .iter()
            .find(|(m, _)| *m == media)
            .map(|(_, t)| *t)
            .ok_or_else(|| PatchError::UnsupportedMediaType {
                accepted: MEDIA_TYPES
                    .iter()
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The media type of this patch type.
    pub fn media_type(self) -> &'static str {
        MEDIA_TYPES
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(m, _)| *m)
            .unwrap_or("application/json")
    }
}

/// Parses a patch body. Apply patches are YAML (JSON is YAML too); the
/// others must be JSON.
pub fn parse_body(patch_type: PatchType, body: &[u8]) -> Result<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(json_err) if patch_type == PatchType::Apply => {
            let text = std::str::from_utf8(body)
                .map_err(|e| PatchError::Malformed(format!("error decoding YAML: {e}")))?;
            serde_saphyr::from_str::<Value>(text).map_err(|e| {
                PatchError::Malformed(format!("error decoding YAML: {e} (as JSON: {json_err})"))
            })
        }
        Err(e) => Err(PatchError::Malformed(format!("error decoding patch: {e}"))),
    }
}

/// Applies a JSON, merge or strategic merge patch to `live`.
///
/// `builtin` is the schema of a built-in type; `None` means a custom
/// resource, for which strategic merge patch is refused with 415 like
/// Kubernetes does. Apply patches go to [`crate::apply`] instead.
pub fn apply_patch(
    patch_type: PatchType,
    live: &Value,
    patch: &Value,
    builtin: Option<Node<'_>>,
) -> Result<Value> {
    match patch_type {
        PatchType::Json => json_patch(live, patch),
        PatchType::Merge => Ok(merge_patch(live, patch)),
        PatchType::Strategic => match builtin {
            Some(schema) => strategic_merge_patch(live, patch, Some(schema)),
            None => Err(PatchError::UnsupportedMediaType {
                accepted: CUSTOM_MEDIA_TYPES.to_string(),
            }),
        },
        PatchType::Apply => Err(PatchError::Malformed(
            "apply patches are handled by server-side apply".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_map_to_patch_types_ignoring_parameters() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Ok(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Ok(PatchType::Apply)
        );
        assert!(matches!(
            PatchType::from_content_type("text/plain"),
            Err(PatchError::UnsupportedMediaType { .. })
        ));
    }

    #[test]
    fn strategic_merge_on_a_custom_resource_is_unsupported_media_type() {
        let err = apply_patch(PatchType::Strategic, &json!({}), &json!({}), None);
        assert_eq!(
            err,
            Err(PatchError::UnsupportedMediaType {
                accepted: CUSTOM_MEDIA_TYPES.to_string()
            })
        );
    }

    #[test]
    fn apply_bodies_may_be_yaml() {
        let body = b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"1\"\n";
        let v = parse_body(PatchType::Apply, body).expect("yaml parses");
        assert_eq!(v["data"]["a"], "1");
    }

    #[test]
    fn merge_bodies_must_be_json() {
        assert!(matches!(
            parse_body(PatchType::Merge, b"a: 1"),
            Err(PatchError::Malformed(_))
        ));
    }
}

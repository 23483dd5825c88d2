//! `Receiver`: a webhook endpoint that makes chosen GitRepositories reconcile now, instead of
//! at their next interval. Field names follow Flux's `notification.toolkit.fluxcd.io/v1`
//! Receiver, limited to the generic, HMAC, GitHub and GitLab payloads.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::references::LocalObjectReference;

/// The desired state of a Receiver.
// Each `printcolumn(...)` repeats `type_ = ...`; clippy takes the repeats for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "Receiver",
    plural = "receivers",
    namespaced,
    status = "ReceiverStatus",
    derive = "PartialEq",
    category = "flotilla",
    doc = "A webhook that triggers an immediate reconcile of chosen GitRepositories when a verified request (generic, HMAC-signed, GitHub or GitLab push) arrives at status.webhookPath.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverSpec {
    /// How requests are authenticated and which payloads are understood.
    #[serde(rename = "type")]
    pub type_: ReceiverType,

    /// Event types that trigger a reconcile (`github`: the `X-GitHub-Event` header, e.g.
    /// `push`, `ping`; `gitlab`: the `X-Gitlab-Event` header, e.g. `Push Hook`,
    /// `Tag Push Hook`). When empty, every event does. Ignored by `generic` and
    /// `generic-hmac`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,

    /// The GitRepositories to reconcile.
    #[schemars(length(min = 1))]
    pub resources: Vec<ReceiverResource>,

    /// Secret in the same namespace with key `token`: part of the webhook path, and the
    /// HMAC key (`generic-hmac`, `github`) or shared secret (`gitlab`).
    pub secret_ref: LocalObjectReference,

    /// Answer requests but trigger nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// The request formats a Receiver accepts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ReceiverType {
    /// Any POST to the webhook path triggers; the secret path is the only authentication.
    #[serde(rename = "generic")]
    Generic,
    /// The `X-Signature` header must be `sha256=<hex HMAC-SHA256 of the body, keyed with the
    /// token>` (`sha1=` and `sha512=` are accepted too).
    #[serde(rename = "generic-hmac")]
    GenericHmac,
    /// GitHub webhooks: `X-Hub-Signature-256` must be the HMAC-SHA256 of the body keyed with
    /// the token.
    #[serde(rename = "github")]
    Github,
    /// GitLab webhooks: `X-Gitlab-Token` must equal the token (GitLab sends the shared secret
    /// itself; it does not sign payloads).
    #[serde(rename = "gitlab")]
    Gitlab,
}

/// One object, or a label-selected set of objects, a Receiver reconciles.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.matchLabels) || self.name == '*'"
).message("matchLabels can only be used with name: '*'"))]
pub struct ReceiverResource {
    /// API version of the target; defaults to `flotilla.dev/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the target.
    pub kind: ReceiverTargetKind,
    /// Name of the target, or `*` for all objects of the kind in the namespace (narrowed by
    /// `matchLabels`).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the target; defaults to the Receiver's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// With `name: '*'`, only objects carrying all these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// Kinds a Receiver can trigger.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ReceiverTargetKind {
    /// A [`GitRepository`](crate::GitRepository).
    GitRepository,
}

/// The observed state of a Receiver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// The `metadata.generation` the status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (the token Secret was found and the path is served), `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The path, on the webhook server, that receives this Receiver's requests:
    /// `/hook/<sha256 hex of token + name + namespace>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
}

/// The webhook path for a Receiver: `/hook/` followed by the hex SHA-256 of the token, the
/// Receiver's name and its namespace, concatenated (Flux's scheme, so a leaked path reveals
/// nothing of the token, and a new token gives a new path).
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.as_bytes());
    hasher.update(name.as_bytes());
    hasher.update(namespace.as_bytes());
    format!("/hook/{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_path_is_sha256_of_token_name_namespace() {
        // sha256("s3cretgithubflux-system"), computed with `printf %s … | sha256sum`.
        assert_eq!(
            webhook_path("s3cret", "github", "flux-system"),
            "/hook/0b62b5c763b5db954f765ffabf2473d104d05ba61850fae51897926b625fedee"
        );
    }
}

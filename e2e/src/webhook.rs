//! Playing the Git host: a GitHub-style `push` webhook, signed with
//! `X-Hub-Signature-256` as GitHub signs it, posted to a Receiver's path.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use crds::Receiver;
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::Patch;
use kube::runtime::wait::await_condition;
use serde_json::json;
use sha2::Sha256;

use crate::{NAMESPACE, World, apply_params};

/// A GitHub Receiver in [`NAMESPACE`] for GitRepository `source`, with its
/// token Secret; returns the `webhookPath` once the Receiver publishes it.
pub async fn github_receiver(
    world: &World,
    name: &str,
    token: &str,
    source: &str,
) -> Result<String> {
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("{name}-token"), "namespace": NAMESPACE},
        "stringData": {"token": token},
    });
    Api::<Secret>::namespaced(world.client.clone(), NAMESPACE)
        .patch(
            &format!("{name}-token"),
            &apply_params(),
            &Patch::Apply(secret),
        )
        .await
        .context("creating the webhook token Secret")?;
    let receiver = json!({
        "apiVersion": "flotilla.dev/v1alpha1",
        "kind": "Receiver",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "type": "github",
            "events": ["push"],
            "secretRef": {"name": format!("{name}-token")},
            "resources": [{"kind": "GitRepository", "name": source}],
        },
    });
    let api: Api<Receiver> = Api::namespaced(world.client.clone(), NAMESPACE);
    api.patch(name, &apply_params(), &Patch::Apply(receiver))
        .await
        .with_context(|| format!("creating Receiver {name}"))?;
    let published = tokio::time::timeout(
        Duration::from_secs(15),
        await_condition(api, name, |r: Option<&Receiver>| {
            r.and_then(|r| r.status.as_ref())
                .and_then(|s| s.webhook_path.as_ref())
                .is_some()
        }),
    )
    .await
    .with_context(|| format!("Receiver {name} published no webhookPath within 15 s"))??;
    published
        .and_then(|r| r.status)
        .and_then(|s| s.webhook_path)
        .with_context(|| format!("Receiver {name} vanished"))
}

/// The body GitHub sends for a push of `commit` to `main`.
pub fn github_push_payload(repo_url: &str, commit: &str) -> Vec<u8> {
    json!({
        "ref": "refs/heads/main",
        "after": commit,
        "repository": {"name": "app", "full_name": "e2e/app", "clone_url": repo_url},
        "head_commit": {"id": commit, "message": "e2e push"},
        "pusher": {"name": "e2e"},
    })
    .to_string()
    .into_bytes()
}

/// `sha256=<hex HMAC-SHA256 of body keyed with token>`, GitHub's signature.
pub fn github_signature(token: &str, body: &[u8]) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).context("HMAC key")?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// POSTs a signed GitHub `push` event to `base_url` + `path`; fails unless
/// the answer is 2xx.
pub async fn post_github_push(
    base_url: &str,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> Result<()> {
    let signature = github_signature(token, &body)?;
    let answer = reqwest::Client::new()
        .post(format!("{base_url}{path}"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .context("posting the webhook")?;
    if !answer.status().is_success() {
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        bail!("webhook answered {status}: {text}");
    }
    Ok(())
}

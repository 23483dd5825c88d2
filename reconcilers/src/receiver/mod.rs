//! The Receiver webhook: an HTTP server that turns verified pushes from a Git host into
//! immediate GitRepository reconciles, plus the small controller that publishes each
//! Receiver's `status.webhookPath`.
//!
//! A request to `POST /hook/<digest>` is matched to the Receiver whose `status.webhookPath` it
//! is, authenticated according to `spec.type` (see [`verify`]), filtered by `spec.events`, and
//! then every targeted GitRepository gets the `reconcile.flotilla.dev/requestedAt` annotation
//! set to the current time; the GitRepository reconciler reacts to that change. The server
//! only writes annotations: it never fetches or applies anything itself, so it answers within
//! milliseconds and a flood of requests costs the cluster at most one patch per target each.
//!
//! Answers: 200 triggered (or ping, or suspended), 400 unreadable payload or an event not in
//! `spec.events`, 401 failed authentication, 404 unknown path, 500 when the cluster could not be
//! read or written.

pub mod payload;
pub mod status;
mod trigger;
pub mod verify;

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use crds::receiver::{ReceiverType, webhook_path};
use crds::{Receiver, annotations};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

pub use status::run_status_controller;

/// Errors of the webhook server and the Receiver status controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing an object failed.
    #[error("{kind} {namespace}/{name}: {source}")]
    Kube {
        /// Kind of the object, e.g. `GitRepository`.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name (`*` for a list).
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The Receiver's token Secret or its `token` key is missing.
    #[error("Secret {namespace}/{name}: {reason}")]
    Secret {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The webhook server's listener failed.
    #[error("webhook server: {0}")]
    Serve(#[source] std::io::Error),
}

/// Result of webhook operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// GitHub's signature header (HMAC-SHA256 of the body).
pub const GITHUB_SIGNATURE: &str = "X-Hub-Signature-256";
/// The generic HMAC receiver's signature header.
pub const GENERIC_SIGNATURE: &str = "X-Signature";
/// GitLab's shared-secret header.
pub const GITLAB_TOKEN: &str = "X-Gitlab-Token";

#[derive(Clone)]
struct App {
    client: kube::Client,
    namespace: Option<String>,
}

/// The webhook's routes, for embedding in another server or for tests.
/// `namespace`: look Receivers up in this namespace only (`None`: all namespaces).
pub fn router(client: kube::Client, namespace: Option<String>) -> Router {
    Router::new()
        .route("/hook/{digest}", post(hook))
        .with_state(App { client, namespace })
}

/// Serves the webhook on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: kube::Client,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(client, namespace))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}

/// Reads the `token` key of a Receiver's Secret.
pub(crate) async fn read_token(client: &kube::Client, receiver: &Receiver) -> Result<Vec<u8>> {
    let namespace = receiver.metadata.namespace.clone().unwrap_or_default();
    let name = receiver.spec.secret_ref.name.clone();
    let secret = Api::<Secret>::namespaced(client.clone(), &namespace)
        .get_opt(&name)
        .await
        .map_err(|source| Error::Kube {
            kind: "Secret",
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
    let Some(secret) = secret else {
        return Err(Error::Secret {
            namespace,
            name,
            reason: "not found".to_owned(),
        });
    };
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|b| b.0.clone());
    let from_string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|s| s.as_bytes().to_vec());
    match from_data.or(from_string) {
        Some(token) if !token.is_empty() => Ok(token),
        _ => Err(Error::Secret {
            namespace,
            name,
            reason: "has no key `token`".to_owned(),
        }),
    }
}

type Reply = (StatusCode, String);

fn reply(code: StatusCode, message: impl Into<String>) -> Reply {
    (code, message.into())
}

#[tracing::instrument(skip_all, fields(path = %format!("/hook/{digest}"), receiver = tracing::field::Empty))]
async fn hook(
    State(app): State<App>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let path = format!("/hook/{digest}");
    let api: Api<Receiver> = match &app.namespace {
        Some(ns) => Api::namespaced(app.client.clone(), ns),
        None => Api::all(app.client.clone()),
    };
    let receivers = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            tracing::warn!(error = %e, "listing Receivers failed");
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "cannot list Receivers");
        }
    };
    let Some(receiver) = receivers
        .into_iter()
        .find(|r| r.status.as_ref().and_then(|s| s.webhook_path.as_deref()) == Some(path.as_str()))
    else {
        return reply(StatusCode::NOT_FOUND, "no Receiver serves this path");
    };
    let namespace = receiver.metadata.namespace.clone().unwrap_or_default();
    let name = receiver.metadata.name.clone().unwrap_or_default();
    tracing::Span::current().record("receiver", format!("{namespace}/{name}"));

    let token = match read_token(&app.client, &receiver).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(receiver = %format!("{namespace}/{name}"), error = %e, "reading the token failed");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the Receiver's token",
            );
        }
    };
    // A rotated token gives a new path; until the status catches up the old path is dead.
    if webhook_path(&String::from_utf8_lossy(&token), &name, &namespace) != path {
        return reply(StatusCode::NOT_FOUND, "no Receiver serves this path");
    }

    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let auth = match receiver.spec.type_ {
        ReceiverType::Generic => Ok(()),
        ReceiverType::GenericHmac => verify::check_hmac(
            GENERIC_SIGNATURE,
            header(GENERIC_SIGNATURE),
            &token,
            &body,
            &["sha1", "sha256", "sha512"],
        ),
        ReceiverType::Github => verify::check_hmac(
            GITHUB_SIGNATURE,
            header(GITHUB_SIGNATURE),
            &token,
            &body,
            &["sha256"],
        ),
        ReceiverType::Gitlab => verify::check_token(GITLAB_TOKEN, header(GITLAB_TOKEN), &token),
    };
    if let Err(e) = auth {
        tracing::info!(receiver = %format!("{namespace}/{name}"), error = %e, "request refused");
        return reply(StatusCode::UNAUTHORIZED, e.to_string());
    }

    let payload = match payload::parse(receiver.spec.type_, &headers, &body) {
        Ok(p) => p,
        Err(e) => return reply(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if receiver.spec.suspend {
        return reply(StatusCode::OK, "Receiver is suspended; nothing triggered");
    }
    if payload.is_ping() {
        return reply(StatusCode::OK, "pong");
    }
    if !payload::event_allowed(&receiver.spec.events, &payload) {
        return reply(
            StatusCode::BAD_REQUEST,
            format!(
                "event {:?} is not in spec.events",
                payload.event.as_deref().unwrap_or_default()
            ),
        );
    }

    let requested_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match trigger::trigger(&app.client, &receiver, &requested_at).await {
        Ok(targets) => {
            tracing::info!(
                receiver = %format!("{namespace}/{name}"),
                payload = %payload.summary(),
                targets = targets.len(),
                annotation = annotations::RECONCILE_REQUESTED_AT,
                "reconcile requested"
            );
            reply(
                StatusCode::OK,
                format!(
                    "{}: reconcile requested for {}",
                    payload.summary(),
                    if targets.is_empty() {
                        "no GitRepository (none matched)".to_owned()
                    } else {
                        targets.join(", ")
                    }
                ),
            )
        }
        Err(e) => {
            tracing::warn!(receiver = %format!("{namespace}/{name}"), error = %e, "triggering failed");
            reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

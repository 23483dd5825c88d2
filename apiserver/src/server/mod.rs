//! HTTP serving: authentication, routing, and dispatch to the handlers.
//!
//! One fallback handler parses every path itself (Kubernetes' URL space is
//! dynamic: CRDs add resources at run time), checks credentials, then runs
//! the handler — on a blocking thread, since writes wait for fsync.

pub mod listener;
pub mod routes;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State as AxumState};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use tracing::Instrument;

use crate::discovery;
use crate::error::Error;
use crate::handlers::{self, Request, error_response, respond};
use crate::state::State;
use listener::ConnInfo;
use routes::Route;

/// Shared by every request.
pub struct App {
    pub state: Arc<State>,
    /// `127.0.0.1:PORT`, for `/api`'s serverAddressByClientCIDRs.
    pub address: String,
}

/// The axum router: everything goes to [`dispatch`].
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(app)
}

fn authenticated(app: &App, conn: &ConnInfo, headers: &HeaderMap) -> bool {
    if conn.client_cert {
        return true;
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == app.state.token)
}

async fn dispatch(
    AxumState(app): AxumState<Arc<App>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let span = tracing::info_span!("request", %method, path = uri.path());
    async move {
        let resp = match handle(&app, &conn, &method, &uri, query, headers, body).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, code = e.code(), "request failed");
                error_response(&e)
            }
        };
        tracing::debug!(status = resp.status().as_u16(), "done");
        resp
    }
    .instrument(span)
    .await
}

/// `exec`, `attach`, `portforward` and `log` of a pod: the simulated cluster's pods run no
/// process, so there is nothing to connect to or read; say so plainly (kube-apiserver would
/// proxy to the kubelet), after the pod's own 404 if it does not exist.
fn pod_process(req: &Request, sub: &str) -> Result<Response, Error> {
    req.state
        .get(&req.key())?
        .ok_or_else(|| Error::NotFound(req.target()))?;
    let what = match sub {
        "log" => "has no container output to show",
        "portforward" => "has no process listening to forward to",
        _ => "has no process to attach to or run commands in",
    };
    Err(Error::BadRequest(format!(
        "pod {}/{} {what}: pods of the simulated cluster run no processes",
        req.namespace(),
        req.name()
    )))
}

async fn handle(
    app: &Arc<App>,
    conn: &ConnInfo,
    method: &Method,
    uri: &Uri,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    // Like kube-apiserver's system:public-info-viewer, anyone may read the version and health.
    let public = *method == Method::GET
        && matches!(
            uri.path().trim_end_matches('/'),
            "/version" | "/healthz" | "/readyz" | "/livez"
        );
    if !public && !authenticated(app, conn, &headers) {
        return Err(Error::Unauthorized);
    }
    // Protobuf and CBOR bodies are not decoded; a 415 makes client-go retry as JSON.
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && (ct.contains("protobuf") || ct.contains("cbor"))
    {
        return Err(Error::UnsupportedMediaType(
            "application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml".into(),
        ));
    }
    let registry = app.state.registry();
    let route = routes::parse(uri.path(), &registry)?;
    let get_only = |resp: Response| {
        if method == Method::GET {
            Ok(resp)
        } else {
            Err(Error::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource ({method})"
            )))
        }
    };
    match route {
        Route::Version => get_only(respond(200, &discovery::version(), &[])),
        Route::Health => get_only(Response::new("ok".into())),
        Route::Api => get_only(respond(200, &discovery::api_versions(&app.address), &[])),
        Route::Apis => get_only(respond(200, &discovery::api_group_list(&registry), &[])),
        Route::Group(g) => {
            let doc = discovery::api_group(&registry, &g).ok_or(Error::NoSuchResource)?;
            get_only(respond(200, &doc, &[]))
        }
        Route::GroupVersion(g, v) => {
            let doc = discovery::resource_list(&registry, &g, &v).ok_or(Error::NoSuchResource)?;
            get_only(respond(200, &doc, &[]))
        }
        Route::OpenApiV2 | Route::OpenApiV3Index | Route::OpenApiV3(_) => {
            crate::openapi_routes::serve(&app.state, &route, &registry)
        }
        Route::Resource(path) => {
            let req = Request {
                state: app.state.clone(),
                info: path.info,
                namespace: path.namespace,
                name: path.name,
                subresource: path.subresource,
                query,
                headers,
                body,
            };
            if let Some(sub @ ("exec" | "attach" | "portforward" | "log")) =
                req.subresource.as_deref()
            {
                return pod_process(&req, sub);
            }
            let is_item = req.name.is_some();
            if *method == Method::GET && !is_item && req.flag("watch") {
                return handlers::watch::watch(&req);
            }
            let method = method.clone();
            // Handlers block on the store (fsync on writes).
            tokio::task::spawn_blocking(move || match (method, is_item) {
                (Method::GET, true) => handlers::read::get(&req),
                (Method::GET, false) => handlers::read::list(&req),
                (Method::POST, false) => handlers::write::create(&req),
                (Method::PUT, true) => handlers::write::update(&req),
                (Method::PATCH, true) => handlers::write::patch(&req),
                (Method::DELETE, true) => handlers::delete::delete(&req),
                (Method::DELETE, false) => handlers::delete::delete_collection(&req),
                (m, _) => Err(Error::MethodNotAllowed(format!(
                    "the server does not allow this method on the requested resource ({m})"
                ))),
            })
            .await
            .map_err(|e| Error::Internal(format!("handler failed: {e}")))?
        }
    }
}

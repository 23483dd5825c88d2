//! Request handlers, one module per verb family. [`Request`] carries what
//! every handler needs; [`respond`] turns results into HTTP responses with
//! Kubernetes' content type and `Warning` headers.

pub mod delete;
pub mod graceful;
pub mod read;
pub mod scale;
pub mod watch;
pub mod write;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::error::{Error, Target};
use crate::registry::ResourceInfo;
use crate::state::State;
use crate::store::Key;

/// One request against a resource URL.
pub struct Request {
    pub state: Arc<State>,
    pub info: Arc<ResourceInfo>,
    /// From the URL; `None` for cluster-scoped resources and all-namespace lists.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    pub fn key(&self) -> Key {
        State::key(&self.info, self.namespace(), self.name())
    }

    pub fn target(&self) -> Target {
        crate::objects::target(&self.info, self.name())
    }

    /// `fieldManager`, or like Kubernetes the user agent's program name.
    pub fn field_manager(&self) -> String {
        if let Some(m) = self.param("fieldManager") {
            return m.to_string();
        }
        self.headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    /// The request body as JSON (or YAML, which kubectl never sends but users may).
    pub fn body_json(&self) -> Result<Value, Error> {
        if self.body.is_empty() {
            return Err(Error::BadRequest("request body is empty".into()));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(v) => Ok(v),
            Err(json_err) => {
                let ct = self
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if ct.contains("yaml") {
                    let text = std::str::from_utf8(&self.body)
                        .map_err(|e| Error::BadRequest(e.to_string()))?;
                    serde_saphyr::from_str::<Value>(text)
                        .map_err(|e| Error::BadRequest(format!("error decoding YAML: {e}")))
                } else {
                    Err(Error::BadRequest(format!(
                        "error decoding request body: {json_err}"
                    )))
                }
            }
        }
    }

    /// The Table the client asked for in `Accept`, if any.
    pub fn table(&self) -> Result<Option<crate::table::TableRequest>, Error> {
        crate::table::negotiate(&self.headers, self.param("includeObject"))
    }

    /// The object as a client of this version sees it (CRD versions share storage).
    pub fn present(&self, mut obj: Value) -> Value {
        present(&self.info, &mut obj);
        obj
    }
}

/// Rewrites `apiVersion` to the served version (no schema conversion: CRD
/// versions are served with the `None` conversion strategy).
pub fn present(info: &ResourceInfo, obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(info.api_version()));
        m.insert("kind".into(), Value::String(info.kind.clone()));
    }
}

/// A JSON response with `Warning` headers.
pub fn respond(code: u16, body: &Value, warnings: &[String]) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        // RFC 7234 warning: code 299, agent "-", quoted text.
        let text = format!(
            "299 - \"{}\"",
            w.replace('"', "'").replace(['\n', '\r'], " ")
        );
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// The `Status` response of an error.
pub fn error_response(err: &Error) -> Response {
    respond(err.code(), &err.to_status(), &[])
}

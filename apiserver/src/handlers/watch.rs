//! `watch`: a chunked stream of `{"type": …, "object": …}` JSON lines.
//!
//! `resourceVersion` unset or `0` (or `sendInitialEvents=true`) first sends
//! the current objects as `ADDED`; a specific resourceVersion resumes from the
//! event log, or ends with an `ERROR` event carrying a 410 `Expired` Status
//! (what kube-apiserver does) when the log no longer reaches back that far.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::Request;
use crate::error::Error;
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::watch::Event;

/// How often an idle watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

struct Filter {
    info: Arc<ResourceInfo>,
    resource: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    /// Events as one-row Tables (`kubectl get -w`); the first carries the columns.
    table: Option<crate::table::TableRequest>,
    headers_sent: bool,
}

impl Filter {
    fn matches(&self, e: &Event) -> bool {
        e.resource == self.resource
            && self.namespace.as_ref().is_none_or(|ns| *ns == e.namespace)
            && self.labels.matches(&e.object)
            && self.fields.matches(&e.object)
    }

    fn line(&mut self, kind: &str, obj: &Value) -> Bytes {
        let mut obj = obj.clone();
        super::present(&self.info, &mut obj);
        if let Some(t) = &self.table {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            obj = crate::table::table(
                &self.info,
                t,
                std::slice::from_ref(&obj),
                &rv,
                None,
                !self.headers_sent,
            );
            self.headers_sent = true;
        }
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn bookmark(&self, revision: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": metadata});
        let mut line =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

/// GET on a collection with `watch=true`.
pub fn watch(req: &Request) -> Result<Response, Error> {
    let mut filter = Filter {
        table: req.table()?,
        headers_sent: false,
        info: req.info.clone(),
        resource: req.info.group_resource(),
        namespace: req.namespace.clone().filter(|_| req.info.namespaced),
        labels: LabelSelector::parse(req.param("labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))?,
    };
    let bookmarks = req.flag("allowWatchBookmarks");
    let rv = req.param("resourceVersion").unwrap_or("");
    let send_initial = match req.param("sendInitialEvents") {
        Some("true") => true,
        Some("false") => false,
        _ => rv.is_empty() || rv == "0",
    };
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);

    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial = Vec::new();
    let subscription = if send_initial {
        // List-then-watch without a gap: the listing's revision is where the watch resumes.
        let mut listing_req_query = req.query.clone();
        listing_req_query.remove("limit");
        listing_req_query.remove("continue");
        let listing = super::read::list_objects(&Request {
            state: req.state.clone(),
            info: req.info.clone(),
            namespace: req.namespace.clone(),
            name: None,
            subresource: None,
            query: listing_req_query,
            headers: req.headers.clone(),
            body: Bytes::new(),
        })?;
        for obj in &listing.items {
            initial.push(filter.line("ADDED", obj));
        }
        let end = bookmarks && req.param("sendInitialEvents") == Some("true");
        if end {
            initial.push(filter.bookmark(listing.revision, true));
        }
        Some(
            req.state
                .hub
                .subscribe(listing.revision)
                .map(|s| (s, listing.revision)),
        )
    } else {
        let from = rv
            .parse::<u64>()
            .map_err(|_| Error::BadRequest(format!("invalid resource version: {rv:?}")))?;
        Some(req.state.hub.subscribe(from).map(|s| (s, from)))
    };

    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let (sub, mut last) = match subscription {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                let mut line =
                    serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()}))
                        .unwrap_or_default();
                line.push(b'\n');
                let _ = tx.send(Bytes::from(line)).await;
                return;
            }
            None => return,
        };
        for e in sub.backlog {
            last = e.revision;
            if filter.matches(&e)
                && tx
                    .send(filter.line(e.kind.as_str(), &e.object))
                    .await
                    .is_err()
            {
                return;
            }
        }
        let mut live = sub.live;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                received = live.recv() => match received {
                    Ok(e) => {
                        if e.revision <= last {
                            continue;
                        }
                        last = e.revision;
                        if filter.matches(&e) && tx.send(filter.line(e.kind.as_str(), &e.object)).await.is_err() {
                            return;
                        }
                    }
                    // Too slow a reader: end the watch; the client resumes from its last revision.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    // `last` counts every event received, matching or not, so
                    // resuming from it skips nothing.
                    if tx.send(filter.bookmark(last, false)).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
                _ = until_deadline => return,
            }
        }
    });

    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

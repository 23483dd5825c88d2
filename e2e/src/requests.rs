//! A kube client that counts what it sends, reads apart from writes: how a benchmark shows
//! that a reconcile wrote nothing, without trusting the store's revision (which the
//! simulated cluster's heartbeats move too).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use http::{Method, Request};
use tower::util::MapRequestLayer;

/// Requests sent so far by a [`counting_client`].
#[derive(Debug, Default)]
pub struct RequestCounts {
    reads: AtomicU64,
    /// `METHOD path` of every write, in order.
    writes: Mutex<Vec<String>>,
}

impl RequestCounts {
    /// GETs (including LISTs and WATCHes).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// POSTs, PUTs, PATCHes and DELETEs (`METHOD path`): everything that can change the
    /// store. A server-side apply that changes nothing still counts.
    pub fn writes(&self) -> Vec<String> {
        self.writes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn record<B>(&self, request: &Request<B>) {
        let method = request.method();
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            self.reads.fetch_add(1, Ordering::Relaxed);
        } else if let Ok(mut writes) = self.writes.lock() {
            writes.push(format!("{method} {}", request.uri().path()));
        }
    }
}

/// A client for `kubeconfig` whose every request is counted in `counts`.
pub async fn counting_client(
    kubeconfig: &Path,
    counts: Arc<RequestCounts>,
) -> Result<kube::Client> {
    let config = crate::config_for(kubeconfig).await?;
    let layer = MapRequestLayer::new(move |request: Request<kube::client::Body>| {
        counts.record(&request);
        request
    });
    Ok(kube::client::ClientBuilder::try_from(config)
        .context("building the client")?
        .with_layer(&layer)
        .build())
}

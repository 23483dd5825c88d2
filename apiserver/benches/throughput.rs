//! Throughput of the control plane through the real kube client: creates/s,
//! server-side applies/s, watch events/s delivered to 100 watchers, and
//! resident memory with 10,000 ConfigMaps stored.
//!
//! No reference API server exists on these machines (see TOOLING.md), so the
//! figures stand alone. `FLOTILLA_BENCH_N` scales the counts (default 2,000
//! writes; the memory figure always uses 10,000 ConfigMaps).

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}}))
        .unwrap_or_default()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Runs `total` operations with `concurrency` in flight; returns ops/s.
async fn rate<F, Fut>(total: usize, concurrency: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    futures::stream::iter(0..total)
        .map(op)
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    total as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("FLOTILLA_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir()?;
    let cp = apiserver::ControlPlane::start(apiserver::Config {
        data_dir: dir.path().to_path_buf(),
        port: 0,
    })?;
    let kc = kube::config::Kubeconfig::read_from(cp.kubeconfig_path())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rss_before = rss_kib();

    let creates = rate(n, 16, |i| {
        let api = api.clone();
        async move {
            let _ = api
                .create(&PostParams::default(), &cm(&format!("c-{i}")))
                .await;
        }
    })
    .await;
    println!("creates/s (16 in flight, durable commits): {creates:.0}");

    let applies = rate(n, 16, |i| {
        let api = api.clone();
        async move {
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("a-{}", i % 200)}, "data": {"i": i.to_string()}});
            let _ = api.patch(&format!("a-{}", i % 200), &PatchParams::apply("bench").force(), &Patch::Apply(body)).await;
        }
    })
    .await;
    println!("server-side applies/s (16 in flight): {applies:.0}");

    // 100 watchers, each must receive every event.
    let watchers = 100;
    let events = (n / 4).max(100);
    let rv = api
        .list_metadata(&Default::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let api = api.clone();
        let rv = rv.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = 0usize;
            let Ok(stream) = api
                .watch(&WatchParams::default().labels("bench=watch"), &rv)
                .await
            else {
                return 0;
            };
            let mut stream = stream.boxed();
            while got < events {
                match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
                    Ok(Some(Ok(WatchEvent::Added(_)))) => got += 1,
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            got
        }));
    }
    let start = Instant::now();
    futures::stream::iter(0..events)
        .map(|i| {
            let api = api.clone();
            async move {
                let mut obj = cm(&format!("w-{i}"));
                obj.metadata.labels = Some([("bench".to_string(), "watch".to_string())].into());
                let _ = api.create(&PostParams::default(), &obj).await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let mut delivered = 0usize;
    for t in tasks {
        delivered += t.await.unwrap_or(0);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "watch events delivered/s to {watchers} watchers: {:.0} ({delivered} of {} delivered)",
        delivered as f64 / secs,
        events * watchers
    );

    let stored = api.list_metadata(&Default::default()).await?.items.len();
    let more = 10_000usize.saturating_sub(stored);
    rate(more, 16, |i| {
        let api = api.clone();
        async move {
            let _ = api
                .create(&PostParams::default(), &cm(&format!("m-{i}")))
                .await;
        }
    })
    .await;
    let total = api.list_metadata(&Default::default()).await?.items.len();
    println!(
        "resident memory (VmRSS, server and client in one process) with {total} ConfigMaps: {} MiB (before: {} MiB)",
        rss_kib() / 1024,
        rss_before / 1024
    );
    cp.shutdown();
    Ok(())
}

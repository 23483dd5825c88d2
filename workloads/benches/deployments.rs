//! Benchmark: N Deployments × 3 replicas (default N = 1,000) applied to the
//! local control plane with the simulated cluster running, timed until every
//! Deployment reports Available with 3 available replicas. Prints seconds,
//! API writes (the store's revision counter) and writes per second, and the
//! process's peak RSS (API server and simulation share the process).
//!
//! `FLOTILLA_BENCH_DEPLOYMENTS=N` runs a smaller or larger cluster.
//! Run: `cargo bench -p flotilla-workloads --bench deployments`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{ListParams, PostParams};
use workloads::{SimConfig, Simulation};

const REPLICAS: usize = 3;
const PODS_PER_NODE: usize = 110;

fn main() {
    let count: usize = std::env::var("FLOTILLA_BENCH_DEPLOYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(count));
}

async fn run(count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = apiserver::ControlPlane::start(apiserver::Config {
        data_dir: dir.path().to_path_buf(),
        port: 0,
    })
    .expect("control plane starts");
    let kc = kube::config::Kubeconfig::read_from(cp.kubeconfig_path()).expect("kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
    let client = kube::Client::try_from(config).expect("client");
    // Enough nodes for every pod at kubelet's default of 110 pods per node, plus headroom.
    let nodes = (count * REPLICAS).div_ceil(PODS_PER_NODE) + 2;
    let sim = Simulation::start(
        client.clone(),
        SimConfig {
            nodes,
            ..SimConfig::default()
        },
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let start_revision = cp.revision();
    let start = Instant::now();
    let post = PostParams::default();
    futures::stream::iter(0..count)
        .map(|i| {
            let api = deployments.clone();
            let post = post.clone();
            async move {
                api.create(&post, &deployment(i))
                    .await
                    .unwrap_or_else(|e| panic!("creating deployment {i}: {e}"))
            }
        })
        .buffer_unordered(32)
        .for_each(|_| async {})
        .await;
    let created = start.elapsed();
    let mut last_report = Instant::now();
    loop {
        let list = deployments
            .list(&ListParams::default())
            .await
            .expect("listing deployments");
        let available = list
            .items
            .iter()
            .filter(|d| {
                d.status.as_ref().is_some_and(|s| {
                    s.available_replicas == Some(REPLICAS as i32)
                        && s.conditions.as_ref().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c.type_ == "Available" && c.status == "True")
                        })
                })
            })
            .count();
        if available == count {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {available}/{count} available after {:.1}s",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "only {available}/{count} Deployments Available after 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = start.elapsed();
    let writes = cp.revision() - start_revision;
    println!(
        "{count} Deployments x {REPLICAS} replicas on {nodes} simulated nodes: all Available in {:.2} s (created in {:.2} s)",
        elapsed.as_secs_f64(),
        created.as_secs_f64()
    );
    println!(
        "API writes: {writes} ({:.0} writes/s, {:.1} per pod)",
        writes as f64 / elapsed.as_secs_f64(),
        writes as f64 / (count * REPLICAS) as f64
    );
    // Steady state: a settled cluster should write (almost) nothing but
    // node heartbeats.
    let settled = cp.revision();
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "writes in 3 s after settling: {} (node leases renew every 10 s)",
        cp.revision() - settled
    );
    println!("peak RSS (API server + simulation): {}", peak_rss());
    sim.shutdown().await;
    cp.shutdown();
}

fn deployment(i: usize) -> Deployment {
    let name = format!("app-{i}");
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }]},
            },
        },
    }))
    .expect("deployment")
}

/// VmHWM from /proc/self/status (Linux), e.g. `412 MiB`.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| format!("{} MiB", kb / 1024))
        .unwrap_or_else(|| "unknown (no /proc/self/status)".into())
}

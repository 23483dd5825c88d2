//! Durability: SIGKILL the server in the middle of a write burst, restart it
//! on the same data dir, and find every acknowledged write, with
//! resourceVersions still increasing.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

/// Starts the standalone server binary; returns it once it prints its URL.
fn spawn_server(dir: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla-apiserver"))
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reads URL");
    assert!(
        line.starts_with("https://127.0.0.1:"),
        "unexpected first line {line:?}"
    );
    child
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name}, "data": {"payload": "x".repeat(512)}}),
    )
    .expect("cm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_revisions_stay_monotonic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = spawn_server(dir.path());
    let kubeconfig = dir.path().join("kubeconfig");
    let api: Api<ConfigMap> = Api::namespaced(common::client_for(&kubeconfig).await, "default");

    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let api = api.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}-{i}");
                match api.create(&PostParams::default(), &cm(&name)).await {
                    Ok(made) => {
                        let rv = made
                            .metadata
                            .resource_version
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0);
                        acked.lock().expect("lock").push((name, rv));
                    }
                    // The server is gone: the burst is over.
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once a good number of writes were acknowledged, with writes in flight.
    common::wait_for(
        "200 acknowledged writes",
        std::time::Duration::from_secs(60),
        || (acked.lock().expect("lock").len() >= 200).then_some(()),
    );
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().expect("lock").clone();

    let mut server = spawn_server(dir.path());
    let api: Api<ConfigMap> = Api::namespaced(common::client_for(&kubeconfig).await, "default");
    let mut missing = Vec::new();
    for (name, _) in &acked {
        if api.get_opt(name).await.expect("get").is_none() {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "acknowledged but lost after SIGKILL: {missing:?}"
    );
    let max_rv = acked.iter().map(|(_, rv)| *rv).max().unwrap_or(0);
    let after = api
        .create(&PostParams::default(), &cm("after-restart"))
        .await
        .expect("create after restart");
    let rv: u64 = after
        .metadata
        .resource_version
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    assert!(
        rv > max_rv,
        "resourceVersion went backwards: {rv} <= {max_rv}"
    );
    server.kill().expect("stop");
    let _ = server.wait();
}

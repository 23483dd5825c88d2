//! GitOps benchmark (issue 7): on the local control plane with the simulated
//! cluster and the in-process operator,
//!
//! 1. push a commit of N objects (default 1,000; `FLOTILLA_BENCH_OBJECTS=N`)
//!    and time push → Kustomization Ready with every object healthy;
//! 2. time the no-change reconciles the interval triggers (target: no writes
//!    at all, under 200 ms each): their duration is the operator's own
//!    reconcile histogram, their writes are counted on the operator's client
//!    (every POST/PUT/PATCH/DELETE it sends) and checked on the objects;
//! 3. time a requested reconcile (`flotilla reconcile`: the `requestedAt`
//!    annotation) end to end, until `status.lastHandledReconcileAt` reports it;
//!
//! and, as the reference, `kubectl apply --server-side` of the same rendered
//! objects into another namespace of the same control plane, first and again
//! unchanged.
//!
//! `cargo bench -p flotilla-e2e --bench gitops`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use e2e::requests::{RequestCounts, counting_client};
use e2e::{World, ks_spec};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Resource};

/// Namespace of the benchmark's objects.
const NS: &str = "bench";

/// How many interval-triggered no-change reconciles are timed.
const NO_CHANGE_RECONCILES: u64 = 10;

fn main() -> Result<()> {
    let objects = match std::env::var("FLOTILLA_BENCH_OBJECTS") {
        Ok(v) => v
            .parse::<usize>()
            .with_context(|| format!("FLOTILLA_BENCH_OBJECTS={v} is not a number"))?,
        Err(_) => 1000,
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(objects))
}

async fn run(objects: usize) -> Result<()> {
    let Some(mut world) = World::start_without_operator("gitops bench").await? else {
        return Ok(());
    };
    let requests = Arc::new(RequestCounts::default());
    let operator_client = counting_client(world.kubeconfig(), requests.clone()).await?;
    world.start_operator_with(operator_client).await?;
    // Warm up: the source, the Kustomization and one object, Ready.
    let first = world
        .push(&[("bench/namespace.yaml", &namespace(NS))])
        .await?;
    world.apply_source("bench", "1h").await?;
    let mut spec = ks_spec("bench", "./bench");
    spec["interval"] = "1h".into();
    spec["timeout"] = "10m".into();
    world.apply_kustomization("bench", spec).await?;
    world
        .wait_for_revision("bench", &first, Duration::from_secs(60))
        .await?;

    let files = generate(objects, NS);
    let (configmaps, services, deployments) = counts(objects);
    println!(
        "gitops bench: {objects} objects ({configmaps} ConfigMaps, {services} Services, {deployments} Deployments) + Namespace"
    );

    // 1. push → all Ready.
    let started = Instant::now();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let commit = world.push(&refs).await?;
    world.request_reconcile("GitRepository", "bench").await?;
    world
        .wait_for_revision("bench", &commit, Duration::from_secs(600))
        .await?;
    let push_to_ready = started.elapsed();
    println!(
        "  push → all Ready:            {:>9.3} s",
        push_to_ready.as_secs_f64()
    );

    // 2. no-change reconciles on the interval.
    let (interval_mean, interval_writes) = interval_reconciles(&world, &requests).await?;

    // 3. a requested no-change reconcile, end to end.
    let before = versions(&world, NS).await?;
    let writes_before = requests.writes().len();
    let started = Instant::now();
    let requested = world.request_reconcile("Kustomization", "bench").await?;
    world
        .wait_for_kustomization(
            "bench",
            "the requested reconcile",
            Duration::from_secs(60),
            |k| {
                k.status
                    .as_ref()
                    .and_then(|s| s.last_handled_reconcile_at.as_deref())
                    == Some(requested.as_str())
            },
        )
        .await?;
    let requested_took = started.elapsed();
    let after = versions(&world, NS).await?;
    let written = changed(&before, &after);
    let writes = requests.writes()[writes_before..].to_vec();
    println!(
        "  requested reconcile:         {:>9.3} s  (annotation written → status reports it; {written} of {} objects changed; operator writes: {})",
        requested_took.as_secs_f64(),
        before.len(),
        describe(&writes),
    );

    // Reference: kubectl server-side apply of the same objects.
    let Some(kubectl) = e2e::kubectl::find("gitops bench reference") else {
        return Ok(());
    };
    let rendered = kubectl_input(objects, "bench-kubectl");
    let input = world.path("kubectl-input.yaml");
    std::fs::write(&input, rendered)?;
    let input = input.display().to_string();
    let args = [
        "apply",
        "--server-side",
        "--field-manager=bench",
        "-f",
        input.as_str(),
    ];
    let mut timings = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let out = e2e::kubectl::run(
            &kubectl,
            world.kubeconfig(),
            &world.path("home"),
            &args,
            &[],
        )
        .await?;
        if !out.status.success() {
            bail!(
                "kubectl apply failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        timings.push(started.elapsed());
    }
    println!(
        "  kubectl apply --server-side: {:>9.3} s first, {:>9.3} s unchanged (applies only; no fetch, render, policy or health)",
        timings[0].as_secs_f64(),
        timings[1].as_secs_f64()
    );
    println!(
        "  ratios: push → Ready / kubectl first apply = {:.2}; no-change reconcile / kubectl unchanged apply = {:.3}",
        push_to_ready.as_secs_f64() / timings[0].as_secs_f64(),
        interval_mean.as_secs_f64() / timings[1].as_secs_f64()
    );
    let verdict = if interval_writes == 0 && interval_mean < Duration::from_millis(200) {
        "met"
    } else {
        "NOT met"
    };
    println!("  no-change target (0 writes, < 200 ms): {verdict}");
    Ok(())
}

/// Shortens the Kustomization's interval, lets the reconcile of that spec change finish,
/// then waits for [`NO_CHANGE_RECONCILES`] interval-triggered reconciles. Returns their
/// mean duration and how many writes the operator sent meanwhile.
async fn interval_reconciles(world: &World, requests: &RequestCounts) -> Result<(Duration, usize)> {
    let patch = serde_json::json!({ "spec": { "interval": "1s" } });
    let patched = world
        .kustomizations()
        .patch("bench", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let generation = patched.metadata.generation;
    world
        .wait_for_kustomization(
            "bench",
            "the interval change",
            Duration::from_secs(120),
            |k| {
                e2e::is_ready(k)
                    && k.status.as_ref().and_then(|s| s.observed_generation) == generation
            },
        )
        .await?;
    let metrics = world
        .operator()
        .context("the operator runs in-process")?
        .metrics();
    // The reconcile that wrote observedGeneration is over once its duration is recorded.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (count_before, sum_before) = metrics.reconcile_totals("Kustomization", "success");
    let before = versions(world, NS).await?;
    let writes_before = requests.writes().len();
    let reads_before = requests.reads();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (count, sum) = loop {
        let (count, sum) = metrics.reconcile_totals("Kustomization", "success");
        if count >= count_before + NO_CHANGE_RECONCILES {
            break (count - count_before, sum - sum_before);
        }
        if Instant::now() > deadline {
            bail!("only {} interval reconciles in 120 s", count - count_before);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let writes = requests.writes()[writes_before..].to_vec();
    let reads = requests.reads() - reads_before;
    let after = versions(world, NS).await?;
    let mean = sum / u32::try_from(count)?;
    println!(
        "  no-change reconcile:         {:>9.3} s  (mean of {count} on the interval, the operator's own timing; {} of {} objects changed; operator writes: {}; reads: {:.1} per reconcile)  target: 0 writes, < 0.200 s",
        mean.as_secs_f64(),
        changed(&before, &after),
        before.len(),
        describe(&writes),
        reads as f64 / count as f64,
    );
    Ok((mean, writes.len()))
}

/// How many objects of `before` differ in `after` (or are gone).
fn changed(
    before: &BTreeMap<String, serde_json::Value>,
    after: &BTreeMap<String, serde_json::Value>,
) -> usize {
    before
        .iter()
        .filter(|(key, obj)| after.get(*key) != Some(obj))
        .count()
}

/// `0`, or the count and the distinct `METHOD path`s written.
fn describe(writes: &[String]) -> String {
    if writes.is_empty() {
        return "0".to_owned();
    }
    let mut distinct: Vec<&String> = writes.iter().collect();
    distinct.sort();
    distinct.dedup();
    let shown: Vec<&str> = distinct.iter().take(5).map(|s| s.as_str()).collect();
    format!("{} ({})", writes.len(), shown.join(", "))
}

/// 70% ConfigMaps, 20% Services, 10% Deployments (one replica each).
fn counts(objects: usize) -> (usize, usize, usize) {
    let deployments = objects / 10;
    let services = objects / 5;
    (objects - deployments - services, services, deployments)
}

/// One file per 100 objects, as a repository might group them.
fn generate(objects: usize, ns: &str) -> Vec<(String, String)> {
    let docs = documents(objects, ns);
    docs.chunks(100)
        .enumerate()
        .map(|(i, chunk)| (format!("bench/objects-{i:03}.yaml"), chunk.join("---\n")))
        .collect()
}

/// The same objects as one stream, with the namespace, for kubectl.
fn kubectl_input(objects: usize, ns: &str) -> String {
    let mut docs = vec![namespace(ns)];
    docs.extend(documents(objects, ns));
    docs.join("---\n")
}

fn documents(objects: usize, ns: &str) -> Vec<String> {
    let (configmaps, services, deployments) = counts(objects);
    let mut docs = Vec::with_capacity(objects);
    for i in 0..configmaps {
        let mut data = String::new();
        for k in 0..4 {
            let _ = writeln!(data, "  key{k}: value-{i}-{k}");
        }
        docs.push(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i:04}\n  namespace: {ns}\ndata:\n{data}"
        ));
    }
    for i in 0..services {
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i:04}\n  namespace: {ns}\nspec:\n  selector:\n    app: app-{i:04}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
        ));
    }
    for i in 0..deployments {
        docs.push(format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i:04}
  namespace: {ns}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-{i:04}
  template:
    metadata:
      labels:
        app: app-{i:04}
    spec:
      containers:
      - name: app
        image: ghcr.io/example/app:1.0.{i}
        resources:
          limits:
            cpu: 100m
            memory: 64Mi
"#
        ));
    }
    docs
}

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// kind/name → the object without its status (and without the
/// resourceVersion and status managedFields that status writes change): what
/// an apply by the operator could change. The simulation's controllers keep
/// writing Deployment status, which is not the operator's doing.
async fn versions(world: &World, ns: &str) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    collect::<ConfigMap>(world, ns, &mut out).await?;
    collect::<Service>(world, ns, &mut out).await?;
    collect::<Deployment>(world, ns, &mut out).await?;
    Ok(out)
}

async fn collect<K>(
    world: &World,
    ns: &str,
    out: &mut BTreeMap<String, serde_json::Value>,
) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(world.client.clone(), ns);
    for obj in api.list(&ListParams::default()).await?.items {
        let key = format!(
            "{}/{}",
            K::kind(&K::DynamicType::default()),
            obj.meta().name.clone().unwrap_or_default()
        );
        let mut value = serde_json::to_value(&obj)?;
        if let Some(map) = value.as_object_mut() {
            map.remove("status");
        }
        if let Some(meta) = value
            .get_mut("metadata")
            .and_then(serde_json::Value::as_object_mut)
        {
            meta.remove("resourceVersion");
            if let Some(serde_json::Value::Array(fields)) = meta.get_mut("managedFields") {
                fields.retain(|f| f.get("subresource").and_then(|s| s.as_str()) != Some("status"));
            }
        }
        out.insert(key, value);
    }
    Ok(())
}

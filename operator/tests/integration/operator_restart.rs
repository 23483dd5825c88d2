//! Scenario (issue 7): the operator is killed with SIGKILL in the middle of a
//! large apply; a restarted operator converges to exactly the objects of the
//! revision, each once, and Ready.
//!
//! Here rather than in `e2e/` because only this package's tests are told
//! where cargo built the `flotilla` binary (`CARGO_BIN_EXE_flotilla`); the
//! world (control plane, simulation, git daemon) comes from `flotilla-e2e`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use e2e::operator::ChildOperator;
use e2e::{World, ks_spec};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};

/// Enough objects that the first ones land well before the last.
const OBJECTS: usize = 400;
const NAMESPACE: &str = "bulk";
const OWNED: &str = "flotilla.dev/kustomization-name=app";

fn files() -> Vec<(String, String)> {
    let mut files = vec![(
        "app/namespace.yaml".to_owned(),
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"),
    )];
    for chunk in 0..OBJECTS / 50 {
        let docs: Vec<String> = (chunk * 50..(chunk + 1) * 50)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04}\n  namespace: {NAMESPACE}\ndata:\n  index: \"{i}\"\n"
                )
            })
            .collect();
        files.push((
            format!("app/configmaps-{chunk:02}.yaml"),
            docs.join("---\n"),
        ));
    }
    files
}

async fn owned_names(world: &World) -> anyhow::Result<Vec<String>> {
    let api: Api<ConfigMap> = Api::namespaced(world.client.clone(), NAMESPACE);
    let list = api.list(&ListParams::default().labels(OWNED)).await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_killed_mid_apply_converges_without_duplicates_after_restart() -> anyhow::Result<()>
{
    let test = "operator_killed_mid_apply_converges_without_duplicates_after_restart";
    let Some(world) = World::start_without_operator(test).await? else {
        return Ok(());
    };
    let binary = Path::new(env!("CARGO_BIN_EXE_flotilla"));
    let artifacts = world.path("artifacts");
    // A short Lease, so the second operator takes over soon after the first dies.
    let flags = ["--lease-duration=3"];

    let files = files();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let commit = world.push(&refs).await?;
    world.apply_source("app", "1m").await?;
    world
        .apply_kustomization("app", ks_spec("app", "./app"))
        .await?;

    // Watch for the first ConfigMap the operator applies, then kill it.
    let api: Api<ConfigMap> = Api::namespaced(world.client.clone(), NAMESPACE);
    let applied = watcher(api, watcher::Config::default().labels(OWNED)).applied_objects();
    let mut applied = std::pin::pin!(applied);
    let first = ChildOperator::start(binary, world.kubeconfig(), &artifacts, &flags)?;
    let seen = tokio::time::timeout(Duration::from_secs(60), applied.try_next()).await;
    anyhow::ensure!(
        matches!(seen, Ok(Ok(Some(_)))),
        "the operator applied nothing within 60 s: {seen:?}"
    );
    first.kill().await?;
    let at_kill = owned_names(&world).await?.len();
    eprintln!("killed the operator with {at_kill} of {OBJECTS} ConfigMaps applied");
    assert!(
        at_kill < OBJECTS,
        "the apply finished before the kill; the scenario tested nothing"
    );

    let second = ChildOperator::start(binary, world.kubeconfig(), &artifacts, &flags)?;
    let ks = world
        .wait_for_revision("app", &commit, Duration::from_secs(120))
        .await?;
    drop(second);

    // Exactly the expected objects, each once.
    let names = owned_names(&world).await?;
    let expected: BTreeSet<String> = (0..OBJECTS).map(|i| format!("cm-{i:04}")).collect();
    let unique: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(names.len(), unique.len(), "duplicate ConfigMaps");
    assert_eq!(unique, expected);
    let all = Api::<ConfigMap>::namespaced(world.client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await?;
    let strays: Vec<String> = all
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| !expected.contains(n) && n != "kube-root-ca.crt")
        .collect();
    assert!(strays.is_empty(), "objects nobody asked for: {strays:?}");

    let ids: Vec<String> = ks
        .status
        .and_then(|s| s.inventory)
        .map(|i| i.entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default();
    let unique_ids: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), unique_ids.len(), "duplicate inventory entries");
    assert_eq!(
        ids.len(),
        OBJECTS + 1,
        "inventory: the ConfigMaps and the Namespace"
    );
    Ok(())
}

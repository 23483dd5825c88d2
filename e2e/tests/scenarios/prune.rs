//! Scenario: deleting a file from Git prunes its object, and nothing else:
//! objects Flotilla did not apply, and objects marked `flotilla.dev/prune:
//! disabled`, stay.

use std::time::Duration;

use e2e::{World, apply_params, ks_spec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::Patch;

fn config_map(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n{annotations}data:\n  owner: git\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_file_is_pruned_and_unowned_objects_are_untouched() -> anyhow::Result<()> {
    let test = "deleted_file_is_pruned_and_unowned_objects_are_untouched";
    let Some(world) = World::start(test).await? else {
        return Ok(());
    };
    let keep_annotation = "  annotations:\n    flotilla.dev/prune: disabled\n";
    let first = world
        .push(&[
            ("app/gone.yaml", &config_map("gone", "")),
            ("app/stays.yaml", &config_map("stays", "")),
            ("app/kept.yaml", &config_map("kept", keep_annotation)),
        ])
        .await?;
    // Made by hand, next to the applied objects: not Flotilla's to delete.
    let configmaps: Api<ConfigMap> = Api::namespaced(world.client.clone(), "default");
    let manual = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "manual", "namespace": "default"},
        "data": {"owner": "a human"},
    });
    configmaps
        .patch("manual", &apply_params(), &Patch::Apply(manual))
        .await?;

    world.apply_source("app", "1m").await?;
    world
        .apply_kustomization("app", ks_spec("app", "./app"))
        .await?;
    world
        .wait_for_revision("app", &first, Duration::from_secs(60))
        .await?;
    for name in ["gone", "stays", "kept", "manual"] {
        assert!(
            configmaps.get_opt(name).await?.is_some(),
            "{name} missing after the first apply"
        );
    }

    world.git.delete_and_push("app/kept.yaml").await?;
    let second = world.delete_and_push("app/gone.yaml").await?;
    world.request_reconcile("GitRepository", "app").await?;
    let ks = world
        .wait_for_revision("app", &second, Duration::from_secs(30))
        .await?;

    assert!(
        configmaps.get_opt("gone").await?.is_none(),
        "gone was not pruned"
    );
    assert!(
        configmaps.get_opt("stays").await?.is_some(),
        "stays was deleted"
    );
    assert!(
        configmaps.get_opt("kept").await?.is_some(),
        "prune: disabled was ignored"
    );
    let manual = configmaps.get_opt("manual").await?;
    let owner = manual
        .and_then(|m| m.data)
        .and_then(|d| d.get("owner").cloned());
    assert_eq!(
        owner.as_deref(),
        Some("a human"),
        "the unowned ConfigMap was touched"
    );

    let inventory: Vec<String> = ks
        .status
        .and_then(|s| s.inventory)
        .map(|i| i.entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default();
    assert_eq!(inventory, vec!["default_stays__ConfigMap".to_owned()]);
    Ok(())
}

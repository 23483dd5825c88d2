//! Scenario: a manual `kubectl edit` of an applied object is reverted on the
//! Kustomization's next interval.

use std::time::Duration;

use e2e::{World, ks_spec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::wait::await_condition;

const SETTINGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  mode: from-git\n";

fn mode(cm: Option<&ConfigMap>) -> Option<String> {
    cm?.data.as_ref()?.get("mode").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_kubectl_edit_is_reverted_on_the_next_interval() -> anyhow::Result<()> {
    let test = "manual_kubectl_edit_is_reverted_on_the_next_interval";
    let Some(world) = World::start(test).await? else {
        return Ok(());
    };
    if e2e::kubectl::find(test).is_none() {
        return Ok(());
    }
    let commit = world.push(&[("app/settings.yaml", SETTINGS)]).await?;
    world.apply_source("app", "1m").await?;
    let mut spec = ks_spec("app", "./app");
    spec["interval"] = "2s".into();
    world.apply_kustomization("app", spec).await?;
    world
        .wait_for_revision("app", &commit, Duration::from_secs(60))
        .await?;

    // What a user does: `kubectl edit`, here with sed as the editor.
    let edited = world
        .kubectl_with_env(
            &["edit", "configmap", "settings", "-n", "default"],
            &[("KUBE_EDITOR", "sed -i s/from-git/edited-by-hand/")],
        )
        .await?;
    assert!(
        edited.status.success(),
        "kubectl edit failed: {}",
        String::from_utf8_lossy(&edited.stderr)
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(world.client.clone(), "default");
    assert_eq!(
        mode(configmaps.get("settings").await.ok().as_ref()).as_deref(),
        Some("edited-by-hand")
    );

    let reverted = tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(configmaps, "settings", |cm: Option<&ConfigMap>| {
            mode(cm).as_deref() == Some("from-git")
        }),
    )
    .await;
    assert!(
        matches!(reverted, Ok(Ok(Some(_)))),
        "the edit was not reverted within 20 s (interval 2 s)"
    );
    Ok(())
}

//! Scenario: `dependsOn` orders Kustomizations: `apps` waits, reporting
//! `DependencyNotReady`, until `infra` (which creates its namespace) is Ready,
//! and only then applies.

use std::time::Duration;

use crds::conditions::reasons;
use e2e::{World, ks_spec, ready_reason};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n";
const APP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: team\ndata:\n  tier: app\n";

fn resource_version(meta: &kube::api::ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_applies_after_the_dependency_is_ready() -> anyhow::Result<()> {
    let test = "depends_on_applies_after_the_dependency_is_ready";
    let Some(world) = World::start(test).await? else {
        return Ok(());
    };
    let commit = world
        .push(&[("infra/namespace.yaml", NAMESPACE), ("apps/app.yaml", APP)])
        .await?;
    world.apply_source("fleet", "1m").await?;
    let mut apps = ks_spec("fleet", "./apps");
    apps["dependsOn"] = serde_json::json!([{"name": "infra"}]);
    apps["retryInterval"] = "1s".into();
    world.apply_kustomization("apps", apps).await?;

    // infra does not exist yet: apps must hold back.
    world
        .wait_for_kustomization(
            "apps",
            "Ready=False DependencyNotReady",
            Duration::from_secs(30),
            |k| ready_reason(k).is_some_and(|(r, _)| r == reasons::DEPENDENCY_NOT_READY),
        )
        .await?;
    let ks = world.kustomizations().get("apps").await?;
    let message = ready_reason(&ks)
        .map(|(_, m)| m.to_owned())
        .unwrap_or_default();
    assert!(
        message.contains("infra"),
        "DependencyNotReady does not name infra: {message}"
    );
    let namespaces: Api<Namespace> = Api::all(world.client.clone());
    assert!(
        namespaces.get_opt("team").await?.is_none(),
        "something created namespace team early"
    );

    world
        .apply_kustomization("infra", ks_spec("fleet", "./infra"))
        .await?;
    let infra = world
        .wait_for_revision("infra", &commit, Duration::from_secs(60))
        .await?;
    world
        .wait_for_revision("apps", &commit, Duration::from_secs(60))
        .await?;

    // The store's revisions order the writes: the namespace came first.
    let ns = namespaces.get("team").await?;
    let app = Api::<ConfigMap>::namespaced(world.client.clone(), "team")
        .get("app")
        .await?;
    assert!(
        resource_version(&ns.metadata) < resource_version(&app.metadata),
        "the ConfigMap was written before its namespace"
    );
    let infra_ready = infra
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.last_transition_time.0);
    let app_created = app.metadata.creation_timestamp.map(|t| t.0);
    assert!(infra_ready.is_some() && app_created.is_some());
    assert!(
        infra_ready <= app_created,
        "apps applied before infra was Ready"
    );
    Ok(())
}

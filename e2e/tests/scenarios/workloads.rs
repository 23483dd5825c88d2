//! Scenario: the bundled example (`examples/gitops`: Deployment, StatefulSet
//! with PVCs, DaemonSet, Job, CronJob, Services, Ingress, generated
//! ConfigMap/Secret, NetworkPolicy, gated by its own policies) reconciled from
//! Git on the simulated cluster, every workload Ready.

use std::path::Path;
use std::time::Duration;

use e2e::{World, ks_spec};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_example_workloads_reconcile_from_git_and_become_ready() -> anyhow::Result<()> {
    let test = "bundled_example_workloads_reconcile_from_git_and_become_ready";
    let Some(world) = World::start(test).await? else {
        return Ok(());
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gitops");
    world.git.copy_dir(&example, "demo")?;
    let commit = world.git.commit_and_push("the bundled example").await?;
    world.apply_source("demo", "1m").await?;
    let mut spec = ks_spec("demo", "./demo");
    spec["timeout"] = "90s".into();
    spec["policies"] = serde_json::json!({"from": "Source", "paths": ["./demo/policies"]});
    world.apply_kustomization("demo", spec).await?;
    let ks = world
        .wait_for_revision("demo", &commit, Duration::from_secs(120))
        .await?;

    // `wait: true` made Ready mean healthy; check what kstatus checked, by hand.
    let c = world.client.clone();
    let web = Api::<Deployment>::namespaced(c.clone(), "demo")
        .get("web")
        .await?;
    let web = web.status.unwrap_or_default();
    assert_eq!(
        (web.ready_replicas, web.updated_replicas),
        (Some(2), Some(2)),
        "web"
    );

    let db = Api::<StatefulSet>::namespaced(c.clone(), "demo")
        .get("db")
        .await?;
    assert_eq!(db.status.and_then(|s| s.ready_replicas), Some(1), "db");
    let pvc = Api::<PersistentVolumeClaim>::namespaced(c.clone(), "demo")
        .get("data-db-0")
        .await?;
    assert_eq!(
        pvc.status.and_then(|s| s.phase).as_deref(),
        Some("Bound"),
        "PVC data-db-0"
    );

    let agents = Api::<DaemonSet>::namespaced(c.clone(), "demo")
        .get("log-agent")
        .await?;
    let agents = agents.status.unwrap_or_default();
    assert_eq!(
        agents.desired_number_scheduled, 2,
        "one log agent per simulated node"
    );
    assert_eq!(agents.number_ready, 2, "log-agent");

    let migrate = Api::<Job>::namespaced(c.clone(), "demo")
        .get("migrate")
        .await?;
    assert_eq!(
        migrate.status.and_then(|s| s.succeeded),
        Some(1),
        "migrate Job"
    );
    assert!(
        Api::<CronJob>::namespaced(c.clone(), "demo")
            .get_opt("report")
            .await?
            .is_some()
    );

    let services = Api::<Service>::namespaced(c.clone(), "demo");
    let web_ip = services.get("web").await?.spec.and_then(|s| s.cluster_ip);
    assert!(
        web_ip.is_some_and(|ip| ip != "None"),
        "web Service has no cluster IP"
    );
    let db_ip = services.get("db").await?.spec.and_then(|s| s.cluster_ip);
    assert_eq!(db_ip.as_deref(), Some("None"), "db Service is headless");
    assert!(
        Api::<Ingress>::namespaced(c.clone(), "demo")
            .get_opt("web")
            .await?
            .is_some()
    );
    assert!(
        Api::<NetworkPolicy>::namespaced(c.clone(), "demo")
            .get_opt("db-ingress")
            .await?
            .is_some()
    );

    // Generators' hashed names, as the inventory records them.
    let inventory: Vec<String> = ks
        .status
        .and_then(|s| s.inventory)
        .map(|i| i.entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default();
    let generated = |prefix: &str, kind: &str| {
        inventory.iter().find_map(|id| {
            let rest = id.strip_prefix(&format!("demo_{prefix}-"))?;
            rest.strip_suffix(&format!("__{kind}"))
                .map(|hash| format!("{prefix}-{hash}"))
        })
    };
    let config = generated("web-config", "ConfigMap").expect("web-config in the inventory");
    assert!(
        Api::<ConfigMap>::namespaced(c.clone(), "demo")
            .get_opt(&config)
            .await?
            .is_some()
    );
    let secret = generated("db-credentials", "Secret").expect("db-credentials in the inventory");
    assert!(
        Api::<Secret>::namespaced(c.clone(), "demo")
            .get_opt(&secret)
            .await?
            .is_some()
    );
    assert_eq!(inventory.len(), 12, "inventory: {inventory:#?}");

    // The Source policies were evaluated and passed.
    let Some(out) = world
        .kubectl(
            test,
            &[
                "get",
                "kustomization",
                "demo",
                "-n",
                e2e::NAMESPACE,
                "-o",
                "jsonpath={.status.policyResults[*].policy}",
            ],
        )
        .await?
    else {
        return Ok(());
    };
    let evaluated = String::from_utf8_lossy(&out.stdout);
    for policy in ["require-resource-limits", "forbid-latest-tag"] {
        assert!(
            evaluated.contains(policy),
            "{policy} not in policyResults: {evaluated}"
        );
    }
    Ok(())
}

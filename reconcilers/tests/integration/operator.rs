//! `reconcilers::Operator`: both controllers run on one client, record metrics on every
//! reconcile, and stop when the shutdown future completes.

use crate::source_fixtures;

use std::time::Duration;

use crds::conditions::{ConditionsExt, types};
use reconcilers::{Operator, OperatorConfig};
use source_fixtures::{Cluster, GitRepo, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reconciles_both_kinds_records_metrics_and_shuts_down() {
    let cluster = Cluster::start().await;
    let git = GitRepo::new();
    git.write(
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\ndata:\n  key: v\n",
    );
    git.commit("first");
    let operator = Operator::new(
        cluster.client.clone(),
        OperatorConfig::new(cluster.dir.path().join("artifacts")),
    )
    .expect("operator");
    let metrics = operator.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    cluster
        .apply(&format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: default\nspec:\n  url: {}\n  interval: 1h\n  ref:\n    branch: main\n---\napiVersion: flotilla.dev/v1alpha1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: default\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: deploy\n  interval: 1h\n  prune: true\n",
            git.url()
        ))
        .await;
    let api: kube::Api<crds::Kustomization> = cluster.api("default");
    wait_for("Kustomization Ready", Duration::from_secs(30), || async {
        let ks = api.get("app").await.ok()?;
        ks.status?
            .conditions
            .condition_is_true(types::READY)
            .then_some(())
    })
    .await;

    let text = metrics.encode();
    assert!(
        text.contains(
            r#"flotilla_reconcile_duration_seconds_count{kind="GitRepository",result="success"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"flotilla_reconcile_duration_seconds_count{kind="Kustomization",result="success"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"flotilla_reconcile_condition{kind="Kustomization",name="app",namespace="default",type="Ready",status="True"} 1"#),
        "{text}"
    );

    stop.send(()).expect("operator still running");
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the operator stops after shutdown")
        .expect("task")
        .expect("run returns Ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_concurrency_is_refused() {
    let cluster = Cluster::start().await;
    let mut config = OperatorConfig::new(cluster.dir.path().join("artifacts"));
    config.concurrency = 0;
    let error = Operator::new(cluster.client.clone(), config).expect_err("refused");
    assert!(error.to_string().contains("concurrency"), "{error}");
}

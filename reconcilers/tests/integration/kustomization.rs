//! The Kustomization reconciler end to end inside one process: a real control plane, a real
//! git repository (`file://`), the operator's GitRepository and Kustomization controllers.
//! One behaviour per test.

use crate::source_fixtures;

use std::collections::BTreeMap;
use std::time::Duration;

use crds::Kustomization;
use crds::annotations::RECONCILE_REQUESTED_AT;
use crds::conditions::{ConditionsExt, reasons, types};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use reconcilers::{Operator, OperatorConfig};
use source_fixtures::{Cluster, GitRepo, wait_for};
use tokio::sync::oneshot;

/// A control plane with the operator running on it, and a git repository to render from.
struct Harness {
    cluster: Cluster,
    git: GitRepo,
    stop: Option<oneshot::Sender<()>>,
    operator: Option<tokio::task::JoinHandle<reconcilers::Result<()>>>,
}

impl Harness {
    async fn start() -> Self {
        let cluster = Cluster::start().await;
        let operator = Operator::new(
            cluster.client.clone(),
            OperatorConfig::new(cluster.dir.path().join("artifacts")),
        )
        .expect("operator");
        let (stop, stopped) = oneshot::channel::<()>();
        let operator = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        Self {
            cluster,
            git: GitRepo::new(),
            stop: Some(stop),
            operator: Some(operator),
        }
    }

    /// Creates GitRepository `default/app` on the test repository's `main`.
    async fn source(&self) {
        self.cluster
            .apply(&format!(
                "apiVersion: flotilla.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: app\n  namespace: default\nspec:\n  url: {}\n  interval: 1h\n  ref:\n    branch: main\n",
                self.git.url()
            ))
            .await;
    }

    /// Creates Kustomization `default/<name>` rendering `path` of `app`, with extra spec lines.
    async fn kustomization(&self, name: &str, path: &str, extra: &str) {
        self.cluster
            .apply(&format!(
                "apiVersion: flotilla.dev/v1alpha1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: app\n  path: {path}\n  interval: 1h\n  retryInterval: 1s\n  timeout: 20s\n  prune: true\n{extra}"
            ))
            .await;
    }

    fn kustomizations(&self) -> Api<Kustomization> {
        self.cluster.api("default")
    }

    /// Waits until `name` is Ready=`status` at its current generation; on timeout the
    /// failure shows the last status seen.
    async fn wait_ready(&self, name: &str, status: &str) -> Kustomization {
        let api = self.kustomizations();
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        let mut last = None;
        loop {
            if let Ok(ks) = api.get(name).await {
                if let Some(st) = ks.status.as_ref()
                    && let Some(ready) = st.conditions.find_condition(types::READY)
                    && ready.status == status
                    && st.observed_generation == ks.metadata.generation
                {
                    return ks;
                }
                last = Some(ks.status);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Kustomization {name} not Ready={status}; last status: {last:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `name`'s Ready condition has `reason` (the source may not be ready at
    /// first, so an earlier failure with another reason is passed over).
    async fn wait_reason(&self, name: &str, reason: &str) -> Kustomization {
        let api = self.kustomizations();
        wait_for(
            &format!("{name} with reason {reason}"),
            Duration::from_secs(30),
            || async {
                let ks = api.get(name).await.ok()?;
                let ready = ks
                    .status
                    .as_ref()?
                    .conditions
                    .find_condition(types::READY)?;
                (ready.reason == reason).then_some(ks.clone())
            },
        )
        .await
    }

    /// Sets the requestedAt annotation and waits until the reconcile handled it.
    async fn request_reconcile(&self, name: &str, token: &str) -> Kustomization {
        let api = self.kustomizations();
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"annotations": {RECONCILE_REQUESTED_AT: token}}
            })),
        )
        .await
        .expect("annotate");
        wait_for(
            "the requested reconcile",
            Duration::from_secs(30),
            || async {
                let ks = api.get(name).await.ok()?;
                (ks.status.as_ref()?.last_handled_reconcile_at.as_deref() == Some(token))
                    .then_some(ks.clone())
            },
        )
        .await
    }

    /// Deletes Kustomization `name` and waits until it is gone (its finalizer done).
    async fn delete_kustomization(&self, name: &str) {
        let api = self.kustomizations();
        api.delete(name, &Default::default()).await.expect("delete");
        wait_for(
            "the Kustomization gone",
            Duration::from_secs(30),
            || async { api.get_opt(name).await.ok()?.is_none().then_some(()) },
        )
        .await;
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(operator) = self.operator.take() {
            operator
                .await
                .expect("operator task")
                .expect("operator ran");
        }
    }
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  key: \"{value}\"\n"
    )
}

/// Every resourceVersion of the objects in `default` the tests apply, by kind/name.
async fn resource_versions(cluster: &Cluster) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    let cms: Api<ConfigMap> = cluster.api("default");
    for cm in cms.list(&ListParams::default()).await.expect("list").items {
        versions.insert(
            format!("ConfigMap/{}", cm.metadata.name.unwrap_or_default()),
            cm.metadata.resource_version.unwrap_or_default(),
        );
    }
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_applies_its_source_and_becomes_ready() {
    let h = Harness::start().await;
    h.git.write("deploy/a.yaml", &config_map("a", "one"));
    h.git.write("deploy/b.yaml", &config_map("b", "two"));
    let commit = h.git.commit("two config maps");
    h.source().await;
    h.kustomization("app", "deploy", "").await;

    let ks = h.wait_ready("app", "True").await;
    let status = ks.status.expect("status");
    assert_eq!(
        status.last_applied_revision,
        Some(format!("main@sha1:{commit}"))
    );
    assert_eq!(status.last_attempted_revision, status.last_applied_revision);
    let ready = status
        .conditions
        .find_condition(types::READY)
        .expect("Ready");
    assert_eq!(ready.reason, reasons::RECONCILIATION_SUCCEEDED);
    assert!(ready.message.contains(&commit), "{}", ready.message);
    assert!(
        status
            .conditions
            .find_condition(types::RECONCILING)
            .is_none()
    );
    let ids: Vec<String> = status
        .inventory
        .expect("inventory")
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["default_a__ConfigMap", "default_b__ConfigMap"]);

    let cms: Api<ConfigMap> = h.cluster.api("default");
    let a = cms.get("a").await.expect("a applied");
    assert_eq!(a.data.unwrap_or_default()["key"], "one");
    let events: Api<Event> = h.cluster.api("default");
    let applied = wait_for("the apply Event", Duration::from_secs(10), || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Progressing"))
    })
    .await;
    let message = applied.message.unwrap_or_default();
    assert!(message.contains("ConfigMap/default/a created"), "{message}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_change_reconcile_changes_no_resource_version() {
    let h = Harness::start().await;
    h.git.write("deploy/a.yaml", &config_map("a", "one"));
    h.git.commit("one config map");
    h.source().await;
    h.kustomization("app", "deploy", "").await;
    let ready = h.wait_ready("app", "True").await;
    let before = resource_versions(&h.cluster).await;
    let ks_version = ready.metadata.resource_version.clone();

    let after_request = h.request_reconcile("app", "first").await;

    assert_eq!(resource_versions(&h.cluster).await, before);
    // The one write is the status recording the handled request.
    let status_before = ready.status.expect("status");
    let mut status_after = after_request.status.expect("status");
    status_after.last_handled_reconcile_at = status_before.last_handled_reconcile_at.clone();
    assert_eq!(
        status_after, status_before,
        "nothing but lastHandledReconcileAt changed"
    );
    assert_ne!(after_request.metadata.resource_version, ks_version);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_edit_of_a_managed_field_is_reverted_on_the_next_reconcile() {
    let h = Harness::start().await;
    h.git.write("deploy/a.yaml", &config_map("a", "from-git"));
    h.git.commit("one config map");
    h.source().await;
    h.kustomization("app", "deploy", "").await;
    h.wait_ready("app", "True").await;

    let cms: Api<ConfigMap> = h.cluster.api("default");
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"key": "edited"}})),
    )
    .await
    .expect("manual edit");
    h.request_reconcile("app", "after-edit").await;

    let a = cms.get("a").await.expect("a");
    assert_eq!(a.data.unwrap_or_default()["key"], "from-git");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_deleted_in_git_is_pruned_after_the_new_artifact_arrives() {
    let h = Harness::start().await;
    h.git.write("deploy/a.yaml", &config_map("a", "one"));
    h.git.write("deploy/b.yaml", &config_map("b", "two"));
    h.git.commit("two config maps");
    h.source().await;
    h.kustomization("app", "deploy", "").await;
    h.wait_ready("app", "True").await;

    h.git.remove("deploy/b.yaml");
    let commit = h.git.commit("drop b");
    // Asking the source for a fetch is enough: its new artifact wakes the Kustomization.
    let repos: Api<crds::GitRepository> = h.cluster.api("default");
    repos
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"annotations": {RECONCILE_REQUESTED_AT: "fetch"}}
            })),
        )
        .await
        .expect("annotate source");
    let api = h.kustomizations();
    let revision = format!("main@sha1:{commit}");
    wait_for(
        "the new revision applied",
        Duration::from_secs(30),
        || async {
            let ks = api.get("app").await.ok()?;
            (ks.status?.last_applied_revision? == revision).then_some(())
        },
    )
    .await;

    let cms: Api<ConfigMap> = h.cluster.api("default");
    assert!(
        cms.get_opt("b").await.expect("get").is_none(),
        "b was pruned"
    );
    assert!(cms.get_opt("a").await.expect("get").is_some(), "a stays");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_pruning_kustomization_deletes_its_objects_first() {
    let h = Harness::start().await;
    h.git.write("deploy/a.yaml", &config_map("a", "one"));
    h.git.commit("one config map");
    h.source().await;
    h.kustomization("app", "deploy", "").await;
    let ks = h.wait_ready("app", "True").await;
    assert!(
        ks.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == crds::annotations::FINALIZER),
        "the finalizer is added before the first apply"
    );
    // Someone else's ConfigMap beside ours.
    h.cluster.apply(&config_map("theirs", "x")).await;

    h.delete_kustomization("app").await;

    let cms: Api<ConfigMap> = h.cluster.api("default");
    assert!(
        cms.get_opt("a").await.expect("get").is_none(),
        "a went with its Kustomization"
    );
    assert!(
        cms.get_opt("theirs").await.expect("get").is_some(),
        "an object the Kustomization never applied stays"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_kustomization_without_prune_leaves_its_objects() {
    let h = Harness::start().await;
    h.git.write("deploy/a.yaml", &config_map("a", "one"));
    h.git.commit("one config map");
    h.source().await;
    h.kustomization("keep", "deploy", "").await;
    h.wait_ready("keep", "True").await;
    h.kustomizations()
        .patch(
            "keep",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"prune": false}})),
        )
        .await
        .expect("prune off");

    h.delete_kustomization("keep").await;

    let cms: Api<ConfigMap> = h.cluster.api("default");
    assert!(
        cms.get_opt("a").await.expect("get").is_some(),
        "without prune, deleting the Kustomization orphans its objects"
    );
    h.stop().await;
}

const DENY_FORBIDDEN: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: no-forbidden-values
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["configmaps"]
  validations:
  - expression: "!has(object.data) || !('key' in object.data) || object.data.key != 'forbidden'"
    message: "data.key may not be 'forbidden'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: no-forbidden-values-everywhere
spec:
  policyName: no-forbidden-values
  validationActions: [Deny]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_denial_applies_nothing_and_names_the_policy_and_object() {
    let h = Harness::start().await;
    h.cluster.apply(DENY_FORBIDDEN).await;
    h.git.write("deploy/a.yaml", &config_map("fine", "allowed"));
    h.git
        .write("deploy/b.yaml", &config_map("bad", "forbidden"));
    h.git.commit("one allowed, one denied");
    h.source().await;
    h.kustomization("app", "deploy", "").await;

    let ks = h.wait_reason("app", reasons::POLICY_DENIED).await;
    let status = ks.status.expect("status");
    let ready = status
        .conditions
        .find_condition(types::READY)
        .expect("Ready");
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains("no-forbidden-values"),
        "{}",
        ready.message
    );
    assert!(
        ready.message.contains("ConfigMap default/bad"),
        "{}",
        ready.message
    );
    assert!(
        ready.message.contains("may not be 'forbidden'"),
        "{}",
        ready.message
    );
    assert!(status.last_applied_revision.is_none());
    assert!(status.last_attempted_revision.is_some());
    assert!(
        status
            .policy_results
            .iter()
            .any(|r| r.policy == "no-forbidden-values"
                && r.violations.iter().any(|v| v.object.name == "bad")),
        "{:?}",
        status.policy_results
    );
    let cms: Api<ConfigMap> = h.cluster.api("default");
    assert!(
        cms.get_opt("fine").await.expect("get").is_none(),
        "nothing was applied"
    );
    let events: Api<Event> = h.cluster.api("default");
    wait_for(
        "the PolicyDenied Event",
        Duration::from_secs(10),
        || async {
            events
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("PolicyDenied")
                        && e.type_.as_deref() == Some("Warning")
                })
        },
    )
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_waits_for_the_one_it_depends_on() {
    let h = Harness::start().await;
    h.git.write("first/a.yaml", &config_map("first", "1"));
    h.git.write("second/b.yaml", &config_map("second", "2"));
    h.git.commit("two layers");
    h.source().await;
    h.kustomization("second", "second", "  dependsOn:\n  - name: first\n")
        .await;

    let waiting = h.wait_reason("second", reasons::DEPENDENCY_NOT_READY).await;
    let ready = waiting
        .status
        .expect("status")
        .conditions
        .find_condition(types::READY)
        .cloned()
        .expect("Ready");
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("default/first"), "{}", ready.message);
    let cms: Api<ConfigMap> = h.cluster.api("default");
    assert!(cms.get_opt("second").await.expect("get").is_none());

    h.kustomization("first", "first", "").await;
    h.wait_ready("first", "True").await;
    h.wait_ready("second", "True").await;
    assert!(cms.get_opt("second").await.expect("get").is_some());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_config_secret_applies_to_the_other_cluster() {
    let h = Harness::start().await;
    let remote = Cluster::start().await;
    let kubeconfig = std::fs::read_to_string(remote.cp.kubeconfig_path()).expect("kubeconfig");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = h.cluster.api("default");
    secrets
        .create(
            &Default::default(),
            &k8s_openapi::api::core::v1::Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some("remote-kubeconfig".to_owned()),
                    ..Default::default()
                },
                data: Some(
                    [(
                        "value".to_owned(),
                        k8s_openapi::ByteString(kubeconfig.into_bytes()),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
        )
        .await
        .expect("secret created");
    h.git
        .write("deploy/a.yaml", &config_map("remote-only", "1"));
    h.git.commit("one config map");
    h.source().await;
    h.kustomization(
        "app",
        "deploy",
        "  kubeConfig:\n    secretRef:\n      name: remote-kubeconfig\n",
    )
    .await;

    h.wait_ready("app", "True").await;

    let there: Api<ConfigMap> = remote.api("default");
    let here: Api<ConfigMap> = h.cluster.api("default");
    assert!(there.get_opt("remote-only").await.expect("get").is_some());
    assert!(here.get_opt("remote-only").await.expect("get").is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wait_a_kustomization_is_ready_and_healthy_once_its_deployment_is_available() {
    let h = Harness::start().await;
    let _simulation =
        workloads::Simulation::start(h.cluster.client.clone(), workloads::SimConfig::default());
    h.git.write(
        "deploy/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n",
    );
    h.git.commit("a deployment");
    h.source().await;
    h.kustomization("app", "deploy", "  wait: true\n").await;

    let ks = h.wait_ready("app", "True").await;

    let status = ks.status.expect("status");
    let healthy = status
        .conditions
        .find_condition(types::HEALTHY)
        .expect("Healthy");
    assert_eq!(healthy.status, "True");
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = h.cluster.api("default");
    let web = deployments.get("web").await.expect("web");
    assert_eq!(web.status.and_then(|s| s.available_replicas), Some(2));
    h.stop().await;
}

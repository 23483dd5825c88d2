//! StatefulSets: ordered pods with stable names and their own claims,
//! scaling, Parallel management and rolling updates, as users see them.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{SimCluster, wait_for};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

fn web(replicas: i32, policy: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: {replicas}
  podManagementPolicy: {policy}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"#
    )
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn pod_names(pods: &Api<Pod>) -> Vec<String> {
    let mut names: Vec<String> = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn wait_ready(c: &SimCluster, replicas: i32) -> StatefulSet {
    let sets: Api<StatefulSet> = c.api("default");
    wait_for("statefulset web ready", TIMEOUT, || async {
        let s = sets.get("web").await.ok()?;
        let st = s.status.clone()?;
        (st.ready_replicas == Some(replicas)
            && st.replicas == replicas
            && st.current_revision == st.update_revision)
            .then_some(s)
    })
    .await
}

#[tokio::test]
async fn a_statefulset_of_3_creates_web_0_to_2_in_order_with_bound_pvcs() {
    let c = SimCluster::start().await;
    let pods: Api<Pod> = c.api("default");
    // Watch from before the apply, so every pod event is seen in order.
    let mut events = watcher(pods.clone(), watcher::Config::default().labels("app=web"))
        .applied_objects()
        .boxed();
    c.apply(&web(3, "OrderedReady")).await;
    let mut ready: BTreeMap<String, bool> = BTreeMap::new();
    let mut created: Vec<String> = Vec::new();
    let order = tokio::time::timeout(TIMEOUT, async {
        while let Some(pod) = events.try_next().await.expect("watch") {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if !ready.contains_key(&name) {
                // A new ordinal appears only once its predecessor is Ready.
                let ord: i32 = name.trim_start_matches("web-").parse().expect("ordinal");
                if ord > 0 {
                    assert_eq!(
                        ready.get(&format!("web-{}", ord - 1)),
                        Some(&true),
                        "{name} created before web-{} was Ready",
                        ord - 1
                    );
                }
                created.push(name.clone());
            }
            ready.insert(name, is_ready(&pod));
            if ready.len() == 3 && ready.values().all(|r| *r) {
                return created.clone();
            }
        }
        created.clone()
    })
    .await
    .expect("3 pods Ready in time");
    assert_eq!(order, ["web-0", "web-1", "web-2"]);

    let pod = pods.get("web-1").await.expect("web-1");
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-1");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "1");
    let spec = pod.spec.expect("spec");
    assert_eq!(spec.hostname.as_deref(), Some("web-1"));
    assert_eq!(spec.subdomain.as_deref(), Some("web"));
    let claim_volume = spec
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == "data")
        .and_then(|v| v.persistent_volume_claim)
        .expect("data volume from the claim template");
    assert_eq!(claim_volume.claim_name, "data-web-1");

    let claims: Api<PersistentVolumeClaim> = c.api("default");
    for i in 0..3 {
        let name = format!("data-web-{i}");
        wait_for(&format!("{name} Bound"), TIMEOUT, || async {
            let pvc = claims.get(&name).await.ok()?;
            (pvc.status?.phase.as_deref() == Some("Bound")).then_some(())
        })
        .await;
    }
    let set = wait_ready(&c, 3).await;
    let status = set.status.expect("status");
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.observed_generation, set.metadata.generation);
}

#[tokio::test]
async fn scaling_a_statefulset_down_keeps_its_pvcs() {
    let c = SimCluster::start().await;
    c.apply(&web(3, "Parallel")).await;
    wait_ready(&c, 3).await;
    c.apply(&web(1, "Parallel")).await;
    let pods: Api<Pod> = c.api("default");
    wait_for("only web-0 left", TIMEOUT, || async {
        (pod_names(&pods).await == ["web-0"]).then_some(())
    })
    .await;
    wait_ready(&c, 1).await;
    let claims: Api<PersistentVolumeClaim> = c.api("default");
    let mut names: Vec<String> = claims
        .list(&ListParams::default())
        .await
        .expect("claims")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, ["data-web-0", "data-web-1", "data-web-2"]);
}

#[tokio::test]
async fn ordered_scale_down_removes_the_highest_ordinal_first() {
    let c = SimCluster::start().await;
    c.apply(&web(3, "OrderedReady")).await;
    wait_ready(&c, 3).await;
    c.apply(&web(1, "OrderedReady")).await;
    let pods: Api<Pod> = c.api("default");
    // web-1 may only go once web-2 has.
    let seen = wait_for("scale down to web-0", TIMEOUT, || {
        let pods = pods.clone();
        async move {
            let names = pod_names(&pods).await;
            assert!(
                !names.contains(&"web-2".to_string()) || names.contains(&"web-1".to_string()),
                "web-1 deleted before web-2: {names:?}"
            );
            (names == ["web-0"]).then_some(names)
        }
    })
    .await;
    assert_eq!(seen, ["web-0"]);
}

#[tokio::test]
async fn parallel_creates_all_pods_at_once() {
    let c = SimCluster::start().await;
    let mut yaml = web(3, "Parallel");
    // Pods that never become Ready: OrderedReady would stop at web-0.
    yaml = yaml.replace(
        "      labels: {app: web}\n    spec:",
        "      labels: {app: web}\n      annotations: {sim.flotilla.dev/behavior: never-ready}\n    spec:",
    );
    c.apply(&yaml).await;
    let pods: Api<Pod> = c.api("default");
    let names = wait_for("3 pods", TIMEOUT, || async {
        let names = pod_names(&pods).await;
        (names.len() == 3).then_some(names)
    })
    .await;
    assert_eq!(names, ["web-0", "web-1", "web-2"]);
    // The pods can exist before the controller has written its status: wait
    // for a status that counts all three.
    let sets: Api<StatefulSet> = c.api("default");
    let status = wait_for("status of 3 replicas", TIMEOUT, || async {
        let status = sets.get("web").await.ok()?.status?;
        (status.replicas == 3).then_some(status)
    })
    .await;
    assert_eq!(status.ready_replicas.unwrap_or(0), 0);
}

#[tokio::test]
async fn a_rolling_update_replaces_pods_from_the_highest_ordinal_down_to_the_partition() {
    let c = SimCluster::start().await;
    c.apply(&web(3, "OrderedReady")).await;
    let before = wait_ready(&c, 3).await;
    let old_revision = before
        .status
        .and_then(|s| s.current_revision)
        .expect("current revision");
    let sets: Api<StatefulSet> = c.api("default");
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.28"}]}},
        }})),
    )
    .await
    .expect("patch");
    let pods: Api<Pod> = c.api("default");
    let image = |p: &Pod| {
        p.spec
            .as_ref()
            .map(|s| s.containers[0].image.clone().unwrap_or_default())
            .unwrap_or_default()
    };
    wait_for("web-1 and web-2 updated", TIMEOUT, || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        let updated: Vec<String> = list
            .items
            .iter()
            .filter(|p| image(p) == "nginx:1.28" && is_ready(p))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        (updated.len() == 2).then_some(())
    })
    .await;
    let web0 = pods.get("web-0").await.expect("web-0");
    assert_eq!(image(&web0), "nginx:1.27", "web-0 is below the partition");
    let status = wait_for("status updated 2", TIMEOUT, || async {
        let st = sets.get("web").await.ok()?.status?;
        (st.updated_replicas == Some(2) && st.ready_replicas == Some(3)).then_some(st)
    })
    .await;
    assert_eq!(
        status.current_revision.as_deref(),
        Some(old_revision.as_str())
    );
    assert_ne!(status.update_revision, status.current_revision);
    let revisions: Api<ControllerRevision> = c.api("default");
    let count = revisions
        .list(&ListParams::default())
        .await
        .expect("revisions")
        .items
        .len();
    assert_eq!(count, 2, "one ControllerRevision per template");
}

#[tokio::test]
async fn kubectl_rollout_status_waits_for_the_statefulset() {
    let c = SimCluster::start().await;
    c.apply(&web(2, "OrderedReady")).await;
    let Some(out) = c
        .kubectl(
            "kubectl_rollout_status_waits_for_the_statefulset",
            &["rollout", "status", "statefulset/web", "--timeout=30s"],
        )
        .await
    else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sets: Api<StatefulSet> = c.api("default");
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{:?}",
        String::from_utf8_lossy(&out.stderr),
        sets.get("web")
            .await
            .map(|s| (s.metadata.generation, s.status))
    );
    assert!(
        stdout.contains("partitioned roll out complete") || stdout.contains("roll out complete"),
        "{stdout}"
    );
}

//! Persistent volumes: the default StorageClass, dynamic provisioning,
//! binding, and reclaim when the claim goes.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;

const TIMEOUT: Duration = Duration::from_secs(30);

const CLAIM: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 2Gi
"#;

async fn bound(c: &SimCluster, name: &str) -> PersistentVolumeClaim {
    let claims: Api<PersistentVolumeClaim> = c.api("default");
    wait_for(&format!("claim {name} Bound"), TIMEOUT, || async {
        let pvc = claims.get(name).await.ok()?;
        (pvc.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(pvc)
    })
    .await
}

#[tokio::test]
async fn the_simulation_has_a_default_storage_class() {
    let c = SimCluster::start().await;
    let classes: Api<StorageClass> = Api::all(c.client.clone());
    let standard = wait_for("storageclass standard", TIMEOUT, || async {
        classes.get("standard").await.ok()
    })
    .await;
    assert_eq!(standard.provisioner, "flotilla.dev/local");
    assert_eq!(
        standard.metadata.annotations.expect("annotations")["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
}

#[tokio::test]
async fn a_pvc_binds_to_a_provisioned_pv() {
    let c = SimCluster::start().await;
    c.apply(CLAIM).await;
    let pvc = bound(&c, "data").await;
    let uid = pvc.metadata.uid.clone().expect("uid");
    let spec = pvc.spec.clone().expect("spec");
    assert_eq!(
        spec.storage_class_name.as_deref(),
        Some("standard"),
        "the default class"
    );
    let volume = spec.volume_name.expect("volumeName");
    assert_eq!(volume, format!("pvc-{uid}"));
    assert_eq!(
        pvc.status.and_then(|s| s.capacity).expect("capacity")["storage"].0,
        "2Gi"
    );
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    let pv = wait_for("volume Bound", TIMEOUT, || async {
        let pv = volumes.get(&volume).await.ok()?;
        (pv.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(pv)
    })
    .await;
    let pv_spec = pv.spec.expect("spec");
    let claim_ref = pv_spec.claim_ref.expect("claimRef");
    assert_eq!(claim_ref.name.as_deref(), Some("data"));
    assert_eq!(claim_ref.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(
        pv_spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    assert!(pv_spec.host_path.is_some());
}

#[tokio::test]
async fn deleting_the_claim_deletes_its_provisioned_volume() {
    let c = SimCluster::start().await;
    c.apply(CLAIM).await;
    let volume = bound(&c, "data")
        .await
        .spec
        .and_then(|s| s.volume_name)
        .expect("volume");
    let claims: Api<PersistentVolumeClaim> = c.api("default");
    claims
        .delete("data", &Default::default())
        .await
        .expect("delete claim");
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    wait_for("volume reclaimed", TIMEOUT, || async {
        volumes.get_opt(&volume).await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_claim_binds_to_a_matching_static_volume() {
    let c = SimCluster::start().await;
    c.apply(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: manual
spec:
  storageClassName: standard
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /srv/manual}
"#,
    )
    .await;
    c.apply(&CLAIM.replace("spec:\n", "spec:\n  storageClassName: standard\n"))
        .await;
    let pvc = bound(&c, "data").await;
    assert_eq!(
        pvc.spec.and_then(|s| s.volume_name).as_deref(),
        Some("manual")
    );
    // Retain: the volume outlives its claim, Released.
    let claims: Api<PersistentVolumeClaim> = c.api("default");
    claims
        .delete("data", &Default::default())
        .await
        .expect("delete claim");
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    wait_for("volume Released", TIMEOUT, || async {
        let pv = volumes.get("manual").await.ok()?;
        (pv.status?.phase.as_deref() == Some("Released")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn wait_for_first_consumer_provisions_on_the_pods_node() {
    let c = SimCluster::start().await;
    c.apply(
        r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-wait
provisioner: flotilla.dev/local
volumeBindingMode: WaitForFirstConsumer
"#,
    )
    .await;
    c.apply(&CLAIM.replace("spec:\n", "spec:\n  storageClassName: local-wait\n"))
        .await;
    let claims: Api<PersistentVolumeClaim> = c.api("default");
    wait_for("claim Pending", TIMEOUT, || async {
        let pvc = claims.get("data").await.ok()?;
        (pvc.status?.phase.as_deref() == Some("Pending")).then_some(())
    })
    .await;
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: user
spec:
  containers:
  - name: app
    image: busybox:1.36
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
"#,
    )
    .await;
    let volume = bound(&c, "data")
        .await
        .spec
        .and_then(|s| s.volume_name)
        .expect("volume");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = c.api("default");
    let node = pods
        .get("user")
        .await
        .expect("pod")
        .spec
        .and_then(|s| s.node_name)
        .expect("scheduled");
    let volumes: Api<PersistentVolume> = Api::all(c.client.clone());
    let affinity = volumes
        .get(&volume)
        .await
        .expect("pv")
        .spec
        .and_then(|s| s.node_affinity)
        .expect("node affinity");
    let term = &affinity.required.expect("required").node_selector_terms[0];
    assert_eq!(
        term.match_expressions.as_ref().expect("expressions")[0].values,
        Some(vec![node])
    );
}

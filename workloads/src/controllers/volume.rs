//! Persistent volumes: the default StorageClass `standard` (created at
//! start), claims without a class given the default one, dynamic
//! provisioning by the simulated local provisioner (`pvc-<uid>` hostPath
//! volumes under a simulated path; nothing is written to disk), binding of
//! claims to matching volumes (both `Bound`, the volume's `claimRef` set),
//! `WaitForFirstConsumer` (provisioned once a scheduled pod uses the claim)
//! and the reclaim policy when a claim goes (`Delete` removes the volume,
//! `Retain` leaves it `Released`).
//!
//! Not simulated: volume expansion, access-mode enforcement between pods,
//! volume attachment, the `kubernetes.io/pvc-protection` finalizer.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::workload::{
    Ctx, api_err, build, create_idempotent, delete_quietly, describe, drain, error_policy,
    is_deleting, is_not_found, patch_status,
};
use crate::error::Result;

/// The default StorageClass's name, as kind and minikube call theirs.
pub const DEFAULT_CLASS: &str = "standard";
/// The simulated provisioner's name.
pub const PROVISIONER: &str = "flotilla.dev/local";
/// Annotation marking the default StorageClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// Where provisioned volumes would live on a node (never created).
pub const VOLUME_ROOT: &str = "/var/lib/flotilla/volumes";
/// Annotation a scheduler sets on a `WaitForFirstConsumer` claim.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Creates the default StorageClass, then runs the claim and volume
/// controllers until aborted.
pub(crate) async fn run(client: kube::Client) {
    let classes: Api<StorageClass> = Api::all(client.clone());
    let class: Option<StorageClass> = build(
        "storageclass standard",
        json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": true,
        }),
    )
    .ok();
    if let Some(class) = class {
        // Retried until the API server answers; an existing class (perhaps
        // edited by the user) is left alone.
        loop {
            match create_idempotent(&classes, &class, "storageclass standard").await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "creating the default StorageClass");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let claims = Controller::new(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        watcher::Config::default(),
    );
    // A pod scheduled with a claim wakes that claim (WaitForFirstConsumer).
    let pod_to_claims = move |pod: Pod| {
        let ns = pod.namespace().unwrap_or_default();
        let names: Vec<String> = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.clone())
            })
            .collect();
        names
            .into_iter()
            .map(|n| ObjectRef::<PersistentVolumeClaim>::new(&n).within(&ns))
            .collect::<Vec<_>>()
    };
    let claims = claims
        .watches(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default(),
            pod_to_claims,
        )
        .run(reconcile_claim, error_policy, ctx.clone());
    // A claim's change (its deletion above all) wakes the volume bound to it.
    let claim_to_volume = |claim: PersistentVolumeClaim| {
        claim
            .spec
            .and_then(|s| s.volume_name)
            .map(|v| ObjectRef::<PersistentVolume>::new(&v))
    };
    let volumes = Controller::new(
        Api::<PersistentVolume>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        watcher::Config::default(),
        claim_to_volume,
    )
    .run(reconcile_volume, error_policy, ctx);
    tokio::join!(drain(claims), drain(volumes));
}

/// Bytes of a storage quantity (`1Gi`, `500M`, `1e9`); `None` if unreadable.
pub(crate) fn bytes(q: &Quantity) -> Option<f64> {
    let s = q.0.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "m" => 1e-3,
        _ => return None,
    };
    Some(n * factor)
}

fn requested(claim: &PersistentVolumeClaim) -> Option<Quantity> {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage").cloned())
}

/// Whether an unbound volume can satisfy the claim: same class, enough
/// capacity, every requested access mode.
pub(crate) fn fits(pv: &PersistentVolume, claim: &PersistentVolumeClaim, class: &str) -> bool {
    let Some(spec) = pv.spec.as_ref() else {
        return false;
    };
    if spec.storage_class_name.as_deref().unwrap_or("") != class {
        return false;
    }
    let want = requested(claim).and_then(|q| bytes(&q)).unwrap_or(0.0);
    let have = spec
        .capacity
        .as_ref()
        .and_then(|c| c.get("storage"))
        .and_then(bytes)
        .unwrap_or(0.0);
    let modes = spec.access_modes.clone().unwrap_or_default();
    let wanted_modes = claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.clone())
        .unwrap_or_default();
    have >= want && wanted_modes.iter().all(|m| modes.contains(m))
}

fn claim_ref(claim: &PersistentVolumeClaim) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": claim.namespace(),
        "name": claim.name_any(),
        "uid": claim.metadata.uid,
    })
}

async fn reconcile_claim(claim: Arc<PersistentVolumeClaim>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(claim.as_ref());
    let span = tracing::info_span!("reconcile", kind = "PersistentVolumeClaim", object = %what);
    let _enter = span.enter();
    if is_deleting(claim.as_ref()) {
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let uid = claim.metadata.uid.clone().unwrap_or_default();
    let client = &ctx.client;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let classes: Api<StorageClass> = Api::all(client.clone());
    let spec = claim.spec.clone().unwrap_or_default();
    let phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();

    // Admission's job in Kubernetes: a claim without a class gets the default.
    let Some(class_name) = spec.storage_class_name.clone() else {
        let all = classes
            .list(&ListParams::default())
            .await
            .map_err(api_err("listing storageclasses"))?;
        let default = all.items.iter().find(|c| {
            c.annotations()
                .get(DEFAULT_CLASS_ANNOTATION)
                .map(String::as_str)
                == Some("true")
        });
        if let Some(default) = default {
            claims
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"storageClassName": default.name_any()}})),
                )
                .await
                .map_err(api_err(format!("defaulting the class of {what}")))?;
        }
        return Ok(Action::await_change());
    };

    if phase == "Bound" {
        return Ok(Action::await_change());
    }
    let pvs = volumes
        .list(&ListParams::default())
        .await
        .map_err(api_err("listing persistentvolumes"))?
        .items;
    // A volume already reserved for this claim, or one named by the claim.
    let chosen = pvs
        .iter()
        .find(|pv| {
            pv.spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .is_some_and(|r| r.uid.as_deref() == Some(uid.as_str()))
        })
        .or_else(|| {
            spec.volume_name.as_ref().and_then(|v| {
                pvs.iter().find(|pv| {
                    pv.name_any() == *v
                        && pv
                            .spec
                            .as_ref()
                            .and_then(|s| s.claim_ref.as_ref())
                            .is_none()
                })
            })
        })
        .or_else(|| {
            pvs.iter().find(|pv| {
                pv.spec.as_ref().is_some_and(|s| s.claim_ref.is_none())
                    && pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Released")
                    && fits(pv, &claim, &class_name)
            })
        })
        .cloned();
    let pv = match chosen {
        Some(pv) => pv,
        None => {
            let class = match classes.get(&class_name).await {
                Ok(c) => Some(c),
                Err(e) if is_not_found(&e) => None,
                Err(e) => return Err(api_err(format!("reading storageclass {class_name}"))(e)),
            };
            let Some(class) = class.filter(|c| c.provisioner == PROVISIONER) else {
                // Another provisioner's class, or none: the claim waits, as in Kubernetes.
                set_claim_pending(&claims, &name, &what, &phase).await?;
                return Ok(Action::await_change());
            };
            let mut node = claim.annotations().get(SELECTED_NODE).cloned();
            if class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
                && node.is_none()
            {
                node = first_consumer_node(client, &ns, &name).await?;
                if node.is_none() {
                    set_claim_pending(&claims, &name, &what, &phase).await?;
                    return Ok(Action::await_change());
                }
            }
            let pv = new_volume(&claim, &class, node.as_deref())?;
            tracing::info!(volume = %pv.name_any(), "provisioning volume");
            create_idempotent(
                &volumes,
                &pv,
                &format!("persistentvolume {}", pv.name_any()),
            )
            .await?;
            pv
        }
    };
    let pv_name = pv.name_any();
    // Bind: the volume's claimRef and phase, then the claim's volumeName and phase.
    volumes
        .patch(
            &pv_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"claimRef": claim_ref(&claim)}})),
        )
        .await
        .map_err(api_err(format!("binding persistentvolume {pv_name}")))?;
    patch_status(
        &volumes,
        &pv_name,
        json!({"phase": "Bound"}),
        &format!("persistentvolume {pv_name}"),
    )
    .await?;
    claims
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"annotations": {
                    "pv.kubernetes.io/bind-completed": "yes",
                    "pv.kubernetes.io/bound-by-controller": "yes",
                }},
                "spec": {"volumeName": pv_name},
            })),
        )
        .await
        .map_err(api_err(format!("binding {what}")))?;
    let pv_spec = pv.spec.clone().unwrap_or_default();
    patch_status(
        &claims,
        &name,
        json!({
            "phase": "Bound",
            "accessModes": pv_spec.access_modes,
            "capacity": pv_spec.capacity,
        }),
        &what,
    )
    .await?;
    tracing::info!(volume = %pv_name, "claim bound");
    Ok(Action::await_change())
}

async fn set_claim_pending(
    claims: &Api<PersistentVolumeClaim>,
    name: &str,
    what: &str,
    phase: &str,
) -> Result<()> {
    if phase == "Pending" {
        return Ok(());
    }
    patch_status(claims, name, json!({"phase": "Pending"}), what).await
}

/// The node of the first scheduled pod in `ns` that mounts claim `claim`.
async fn first_consumer_node(
    client: &kube::Client,
    ns: &str,
    claim: &str,
) -> Result<Option<String>> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(api_err(format!("listing pods in {ns}")))?
        .items;
    Ok(pods.iter().find_map(|p| {
        let spec = p.spec.as_ref()?;
        let uses = spec.volumes.iter().flatten().any(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name == claim)
        });
        if uses { spec.node_name.clone() } else { None }
    }))
}

fn new_volume(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: Option<&str>,
) -> Result<PersistentVolume> {
    let name = format!("pvc-{}", claim.metadata.uid.clone().unwrap_or_default());
    let spec = claim.spec.clone().unwrap_or_default();
    let size = requested(claim).unwrap_or_else(|| Quantity("1Gi".into()));
    let mut pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.access_modes.unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
            "persistentVolumeReclaimPolicy": class.reclaim_policy.clone().unwrap_or_else(|| "Delete".into()),
            "storageClassName": class.name_any(),
            "volumeMode": spec.volume_mode.unwrap_or_else(|| "Filesystem".into()),
            "hostPath": {"path": format!("{VOLUME_ROOT}/{name}"), "type": "DirectoryOrCreate"},
            "claimRef": claim_ref(claim),
        },
    });
    if let Some(node) = node {
        pv["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
        ]}});
    }
    build(&format!("persistentvolume {name}"), pv)
}

async fn reconcile_volume(pv: Arc<PersistentVolume>, ctx: Arc<Ctx>) -> Result<Action> {
    let name = pv.name_any();
    let span = tracing::info_span!("reconcile", kind = "PersistentVolume", object = %name);
    let _enter = span.enter();
    if is_deleting(pv.as_ref()) {
        return Ok(Action::await_change());
    }
    let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let what = format!("persistentvolume {name}");
    let spec = pv.spec.clone().unwrap_or_default();
    let phase = pv
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let Some(claim) = spec.claim_ref.clone() else {
        if phase != "Available" {
            patch_status(&volumes, &name, json!({"phase": "Available"}), &what).await?;
        }
        return Ok(Action::await_change());
    };
    let ns = claim.namespace.clone().unwrap_or_default();
    let claim_name = claim.name.clone().unwrap_or_default();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let live = match claims.get(&claim_name).await {
        Ok(c) => Some(c),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(api_err(format!("reading claim {ns}/{claim_name}"))(e)),
    };
    let claim_gone = live
        .as_ref()
        .is_none_or(|c| claim.uid.is_some() && c.metadata.uid != claim.uid);
    if !claim_gone {
        return Ok(Action::await_change());
    }
    // Only volumes that were bound are released; a fresh reservation waits.
    if phase != "Bound" && phase != "Released" {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    match spec
        .persistent_volume_reclaim_policy
        .as_deref()
        .unwrap_or("Retain")
    {
        "Delete" => {
            tracing::info!("claim gone; deleting volume (reclaim policy Delete)");
            delete_quietly(&volumes, &name, false, &what).await?;
        }
        _ if phase != "Released" => {
            patch_status(&volumes, &name, json!({"phase": "Released"}), &what).await?;
        }
        _ => {}
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_in_bytes() {
        assert_eq!(bytes(&Quantity("1Gi".into())), Some(1073741824.0));
        assert_eq!(bytes(&Quantity("500M".into())), Some(5e8));
        assert_eq!(bytes(&Quantity("2".into())), Some(2.0));
        assert_eq!(bytes(&Quantity("1Xi".into())), None);
    }

    #[test]
    fn a_volume_fits_a_claim_of_its_class_and_size() {
        let pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": "pv"},
            "spec": {"storageClassName": "standard", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"]}
        }))
        .unwrap_or_default();
        let claim = |size: &str| -> PersistentVolumeClaim {
            serde_json::from_value(json!({
                "metadata": {"name": "c"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
            }))
            .unwrap_or_default()
        };
        assert!(fits(&pv, &claim("1Gi"), "standard"));
        assert!(!fits(&pv, &claim("3Gi"), "standard"));
        assert!(!fits(&pv, &claim("1Gi"), "fast"));
    }
}

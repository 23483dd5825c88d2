//! The Kustomization's status: conditions set the way Flux's `finalizeStatus` sets them, and
//! one write at the end of a reconcile, skipped when nothing changed (a no-change reconcile
//! writes nothing; conditions keep their `lastTransitionTime` while their status holds).

use crds::conditions::{ConditionStatus, ConditionUpdate, ConditionsExt, Time, reasons, types};
use crds::{Kustomization, KustomizationStatus};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::FIELD_MANAGER;

/// Sets condition `type_` on `status`, stamped with `generation`.
pub fn set(
    status: &mut KustomizationStatus,
    generation: Option<i64>,
    type_: &str,
    value: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) {
    status.conditions.set_condition(
        ConditionUpdate::new(type_, value, reason, message),
        generation,
        Time(Timestamp::now()),
    );
}

/// Marks a reconcile of new work (a revision, generation or request not seen before) as in
/// progress: `Reconciling=True`, `Ready=Unknown`, as Flux does so users see it start.
pub fn progressing(status: &mut KustomizationStatus, generation: Option<i64>, message: &str) {
    set(
        status,
        generation,
        types::RECONCILING,
        ConditionStatus::True,
        reasons::PROGRESSING,
        message,
    );
    set(
        status,
        generation,
        types::READY,
        ConditionStatus::Unknown,
        reasons::PROGRESSING,
        message,
    );
}

/// A successful reconcile: `Ready=True`, no `Reconciling`, no `Stalled`.
pub fn succeeded(status: &mut KustomizationStatus, generation: Option<i64>, revision: &str) {
    set(
        status,
        generation,
        types::READY,
        ConditionStatus::True,
        reasons::RECONCILIATION_SUCCEEDED,
        format!("Applied revision: {revision}"),
    );
    status.conditions.remove_condition(types::RECONCILING);
    status.conditions.remove_condition(types::STALLED);
    status.observed_generation = generation;
}

/// A failed reconcile: `Ready=False` with the reason. A stalled one gets `Stalled=True` and
/// loses `Reconciling`; one to be retried keeps `Reconciling=True` as `ProgressingWithRetry`.
pub fn failed(
    status: &mut KustomizationStatus,
    generation: Option<i64>,
    reason: &str,
    message: &str,
    stalled: bool,
) {
    set(
        status,
        generation,
        types::READY,
        ConditionStatus::False,
        reason,
        message,
    );
    if stalled {
        set(
            status,
            generation,
            types::STALLED,
            ConditionStatus::True,
            reason,
            message,
        );
        status.conditions.remove_condition(types::RECONCILING);
    } else {
        status.conditions.remove_condition(types::STALLED);
        set(
            status,
            generation,
            types::RECONCILING,
            ConditionStatus::True,
            reasons::PROGRESSING_WITH_RETRY,
            message,
        );
    }
    status.observed_generation = generation;
}

/// Writes `status` unless it equals what `ks` already has. Returns whether it wrote.
pub async fn write(
    api: &Api<Kustomization>,
    ks: &Kustomization,
    status: &KustomizationStatus,
) -> Result<bool, kube::Error> {
    if ks.status.as_ref() == Some(status) {
        return Ok(false);
    }
    // Server-side apply of the whole status: fields we stop setting (e.g. policyResults of a
    // revision that no longer has violations) are removed because we own them.
    let patch = json!({
        "apiVersion": Kustomization::api_version(&()),
        "kind": Kustomization::kind(&()),
        "status": status,
    });
    api.patch_status(
        &ks.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(true)
}

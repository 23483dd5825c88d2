//! Status conditions: the condition types and reasons Flotilla reports, and the one setter
//! reconcilers use so that `lastTransitionTime` only moves when a condition's status changes.
//!
//! The vocabulary follows Flux's `meta` package, so `kubectl wait --for=condition=Ready`,
//! `flux`-style dashboards and alerting rules written for Flux read Flotilla objects unchanged.
//!
//! Every object carries at most one condition per type. The summary is `Ready`:
//! - `Ready=True`: the last reconcile of the current generation succeeded.
//! - `Ready=False`: it failed; `reason` says at which stage, `message` says why.
//! - `Ready=Unknown` with `Reconciling=True`: a reconcile is in progress.
//! - `Stalled=True`: retrying cannot help until the spec (or a referenced object) changes,
//!   e.g. an invalid path or a policy that does not compile.

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types.
pub mod types {
    /// The summary condition: is the object's desired state realised?
    pub const READY: &str = "Ready";
    /// A reconcile is in progress; `reason` names the stage.
    pub const RECONCILING: &str = "Reconciling";
    /// Reconciling cannot succeed without a change to the object or what it references.
    pub const STALLED: &str = "Stalled";
    /// Kustomization only: the applied objects (and `spec.healthChecks`) passed health checks.
    pub const HEALTHY: &str = "Healthy";
    /// GitRepository only, with `spec.verify`: the signatures of the artifact's revision were
    /// verified (`True`; the message names the objects and keys) or refused (`False`).
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
}

/// Condition reasons (PascalCase, as Kubernetes requires of `reason`).
pub mod reasons {
    /// The reconcile finished and the object is in its desired state.
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    /// The reconcile failed for a reason not covered by a more specific one.
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// A reconcile is in progress.
    pub const PROGRESSING: &str = "Progressing";
    /// A reconcile is in progress after the previous attempt failed.
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    /// `spec.suspend` is true; nothing is reconciled.
    pub const SUSPENDED: &str = "Suspended";
    /// A Kustomization in `spec.dependsOn` is not Ready yet.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// The source has no artifact yet, or it could not be fetched.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// Rendering the kustomization (or post-build substitution) failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// A ValidatingAdmissionPolicy denied at least one rendered object; nothing was applied.
    pub const POLICY_DENIED: &str = "PolicyDenied";
    /// A policy gating this apply does not compile or has no valid binding.
    pub const POLICY_INVALID: &str = "PolicyInvalid";
    /// Applying rendered objects to the target cluster failed.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// Deleting objects that left the inventory failed.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// Applied objects (or `spec.healthChecks`) did not become ready within `spec.timeout`.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// A git clone, fetch or checkout failed.
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    /// The credentials in `spec.secretRef` were missing or refused.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// Commit or tag signature verification (`spec.verify`) failed.
    pub const VERIFICATION_FAILED: &str = "VerificationFailed";
    /// The spec is valid per the schema but cannot be acted on (e.g. `spec.path` escapes the
    /// source root). Goes with `Stalled=True`.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// A Secret or ConfigMap the object references does not exist or lacks the expected key.
    pub const REFERENCE_NOT_FOUND: &str = "ReferenceNotFound";

    /// Every reason above, for documentation and checks.
    pub const ALL: &[&str] = &[
        RECONCILIATION_SUCCEEDED,
        RECONCILIATION_FAILED,
        PROGRESSING,
        PROGRESSING_WITH_RETRY,
        SUSPENDED,
        DEPENDENCY_NOT_READY,
        ARTIFACT_FAILED,
        BUILD_FAILED,
        POLICY_DENIED,
        POLICY_INVALID,
        APPLY_FAILED,
        PRUNE_FAILED,
        HEALTH_CHECK_FAILED,
        GIT_OPERATION_FAILED,
        AUTHENTICATION_FAILED,
        VERIFICATION_FAILED,
        INVALID_SPEC,
        REFERENCE_NOT_FOUND,
    ];
}

/// The three values of `Condition.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `"True"`
    True,
    /// `"False"`
    False,
    /// `"Unknown"`
    Unknown,
}

impl ConditionStatus {
    /// The wire form: `"True"`, `"False"` or `"Unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reconciler wants a condition to say. Turned into a [`Condition`] by
/// [`ConditionsExt::set_condition`], which supplies `observedGeneration` and the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate {
    /// One of [`types`].
    pub type_: String,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// One of [`reasons`].
    pub reason: String,
    /// For humans; never secrets.
    pub message: String,
}

impl ConditionUpdate {
    /// A condition of `type_` with the given status, reason and message.
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// Kubernetes caps `Condition.message` at 32768 bytes; longer messages are cut (at a char
/// boundary) so a status write never fails because an error was verbose.
pub const MAX_MESSAGE_BYTES: usize = 32768;

/// Reading and writing the condition list of a status.
pub trait ConditionsExt {
    /// The condition of `type_`, if present.
    fn find_condition(&self, type_: &str) -> Option<&Condition>;

    /// Whether the condition of `type_` is present with status `True`.
    fn condition_is_true(&self, type_: &str) -> bool {
        self.find_condition(type_)
            .is_some_and(|c| c.status == ConditionStatus::True.as_str())
    }

    /// Sets the condition of `update.type_`, stamping `observed_generation`.
    /// `lastTransitionTime` becomes `now` only when the condition is new or its status
    /// changes; a changed reason or message alone keeps the old time, as Kubernetes'
    /// `meta.SetStatusCondition` does. Returns whether anything changed.
    fn set_condition(
        &mut self,
        update: ConditionUpdate,
        observed_generation: Option<i64>,
        now: Time,
    ) -> bool;

    /// Removes the condition of `type_`. Returns whether it was present.
    fn remove_condition(&mut self, type_: &str) -> bool;
}

impl ConditionsExt for Vec<Condition> {
    fn find_condition(&self, type_: &str) -> Option<&Condition> {
        self.iter().find(|c| c.type_ == type_)
    }

    fn set_condition(
        &mut self,
        update: ConditionUpdate,
        observed_generation: Option<i64>,
        now: Time,
    ) -> bool {
        let mut message = update.message;
        if message.len() > MAX_MESSAGE_BYTES {
            let mut cut = MAX_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let status = update.status.as_str();
        match self.iter_mut().find(|c| c.type_ == update.type_) {
            Some(existing) => {
                let before = existing.clone();
                if existing.status != status {
                    existing.status = status.to_owned();
                    existing.last_transition_time = now;
                }
                existing.reason = update.reason;
                existing.message = message;
                existing.observed_generation = observed_generation;
                *existing != before
            }
            None => {
                self.push(Condition {
                    type_: update.type_,
                    status: status.to_owned(),
                    reason: update.reason,
                    message,
                    observed_generation,
                    last_transition_time: now,
                });
                true
            }
        }
    }

    fn remove_condition(&mut self, type_: &str) -> bool {
        let before = self.len();
        self.retain(|c| c.type_ != type_);
        self.len() != before
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap())
    }

    fn ready(status: ConditionStatus, reason: &str, message: &str) -> ConditionUpdate {
        ConditionUpdate::new(types::READY, status, reason, message)
    }

    #[test]
    fn reasons_are_valid_kubernetes_reasons_and_documented() {
        // metav1.Condition's validation of `reason`.
        let pattern = regex::Regex::new("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$").unwrap();
        let docs = include_str!("../../docs/crds/README.md");
        for reason in reasons::ALL {
            assert!(pattern.is_match(reason), "{reason} is not a valid reason");
            assert!(
                docs.contains(&format!("`{reason}`")),
                "{reason} is missing from docs/crds/README.md"
            );
        }
    }

    #[test]
    fn a_new_condition_is_added_with_generation_and_time() {
        let mut conditions = Vec::new();
        let changed = conditions.set_condition(
            ready(
                ConditionStatus::True,
                reasons::RECONCILIATION_SUCCEEDED,
                "applied",
            ),
            Some(3),
            at(100),
        );
        assert!(changed);
        let c = conditions.find_condition(types::READY).unwrap();
        assert_eq!(c.status, "True");
        assert_eq!(c.reason, "ReconciliationSucceeded");
        assert_eq!(c.observed_generation, Some(3));
        assert_eq!(c.last_transition_time, at(100));
        assert!(conditions.condition_is_true(types::READY));
    }

    #[test]
    fn transition_time_stays_when_only_reason_or_message_change() {
        let mut conditions = Vec::new();
        conditions.set_condition(
            ready(ConditionStatus::False, reasons::BUILD_FAILED, "bad patch"),
            Some(1),
            at(100),
        );
        let changed = conditions.set_condition(
            ready(ConditionStatus::False, reasons::POLICY_DENIED, "denied"),
            Some(2),
            at(200),
        );
        assert!(changed);
        let c = conditions.find_condition(types::READY).unwrap();
        assert_eq!(c.reason, "PolicyDenied");
        assert_eq!(c.message, "denied");
        assert_eq!(c.observed_generation, Some(2));
        assert_eq!(c.last_transition_time, at(100));
    }

    #[test]
    fn transition_time_moves_when_status_changes() {
        let mut conditions = Vec::new();
        conditions.set_condition(
            ready(ConditionStatus::False, reasons::BUILD_FAILED, "bad patch"),
            Some(1),
            at(100),
        );
        conditions.set_condition(
            ready(
                ConditionStatus::True,
                reasons::RECONCILIATION_SUCCEEDED,
                "ok",
            ),
            Some(1),
            at(200),
        );
        let c = conditions.find_condition(types::READY).unwrap();
        assert_eq!(c.status, "True");
        assert_eq!(c.last_transition_time, at(200));
        assert_eq!(conditions.len(), 1, "one condition per type");
    }

    #[test]
    fn setting_an_identical_condition_reports_no_change() {
        let mut conditions = Vec::new();
        let update = ready(
            ConditionStatus::True,
            reasons::RECONCILIATION_SUCCEEDED,
            "ok",
        );
        conditions.set_condition(update.clone(), Some(1), at(100));
        assert!(!conditions.set_condition(update, Some(1), at(200)));
        assert_eq!(
            conditions[0].last_transition_time,
            at(100),
            "no status change, no new transition time"
        );
    }

    #[test]
    fn overlong_messages_are_cut_at_a_char_boundary() {
        let mut conditions = Vec::new();
        let message = "é".repeat(MAX_MESSAGE_BYTES); // 2 bytes each
        conditions.set_condition(
            ready(ConditionStatus::False, reasons::APPLY_FAILED, &message),
            None,
            at(1),
        );
        let stored = &conditions[0].message;
        assert_eq!(stored.len(), MAX_MESSAGE_BYTES);
        assert!(stored.chars().all(|c| c == 'é'));
    }

    #[test]
    fn removing_a_condition_reports_whether_it_was_there() {
        let mut conditions = Vec::new();
        conditions.set_condition(
            ConditionUpdate::new(
                types::RECONCILING,
                ConditionStatus::True,
                reasons::PROGRESSING,
                "cloning",
            ),
            Some(1),
            at(1),
        );
        assert!(conditions.remove_condition(types::RECONCILING));
        assert!(!conditions.remove_condition(types::RECONCILING));
        assert!(conditions.is_empty());
    }
}

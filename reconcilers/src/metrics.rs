//! Prometheus metrics of the reconcilers, in the shape Flux's controllers export so dashboards
//! and alerts carry over: a reconcile-duration histogram by kind and result, and a condition
//! gauge per object and condition (Flux's `gotk_reconcile_condition`).
//!
//! Serving them over HTTP is `server.rs`'s job; this module only records and encodes.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `flotilla_reconcile_duration_seconds` and `flotilla_reconcile_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `GitRepository` or `Kustomization`.
    pub kind: String,
    /// `success` or the error's metric label (e.g. `apply_failed`).
    pub result: String,
}

/// Labels of `flotilla_reconcile_condition`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    /// Kind of the object.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// Condition type, e.g. `Ready`.
    pub r#type: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
}

type HistogramConstructor = fn() -> Histogram;

/// The reconcilers' metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    durations: Family<ReconcileLabels, Histogram, HistogramConstructor>,
    reconciles: Family<ReconcileLabels, Counter>,
    conditions: Family<ConditionLabels, Gauge>,
    /// Condition types seen per object, so a deleted object's gauges can all be removed.
    seen_types: Mutex<std::collections::HashMap<(String, String, String), Vec<String>>>,
}

const STATUSES: [&str; 3] = ["True", "False", "Unknown"];

fn duration_histogram() -> Histogram {
    // 5 ms to ~82 s: a no-change reconcile is milliseconds, a health wait can be minutes.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `flotilla` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flotilla");
        let durations =
            Family::<ReconcileLabels, Histogram, HistogramConstructor>::new_with_constructor(
                duration_histogram,
            );
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let conditions = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, by kind and result",
            durations.clone(),
        );
        registry.register(
            "reconcile",
            "Reconciles run, by kind and result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_condition",
            "Current condition status of each object (1 for the present status, 0 otherwise)",
            conditions.clone(),
        );
        Self {
            registry,
            durations,
            reconciles,
            conditions,
            seen_types: Mutex::default(),
        }
    }

    /// Records one finished reconcile of `kind` with `result` (`success` or an error label).
    pub fn observe_reconcile(&self, kind: &str, result: &str, took: Duration) {
        let labels = ReconcileLabels {
            kind: kind.to_owned(),
            result: result.to_owned(),
        };
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.reconciles.get_or_create(&labels).inc();
    }

    /// How many reconciles of `kind` ended with `result`, and their summed duration: the
    /// `_count` and `_sum` of the duration histogram, for benchmarks and tests. Read from the
    /// exposition text because `prometheus-client` only exposes them to its own tests.
    pub fn reconcile_totals(&self, kind: &str, result: &str) -> (u64, Duration) {
        let labels = format!("{{kind=\"{kind}\",result=\"{result}\"}} ");
        let text = self.encode();
        let value = |series: &str| {
            let prefix = format!("flotilla_reconcile_duration_seconds_{series}{labels}");
            text.lines()
                .find_map(|line| line.strip_prefix(prefix.as_str()))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let count = value("count");
        // Counts are whole numbers far below 2^53, so the conversion is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let count = count as u64;
        (count, Duration::from_secs_f64(value("sum").max(0.0)))
    }

    /// Sets the condition gauges of one object to its current conditions: 1 for each
    /// condition's present status, 0 for the other two statuses, as Flux does.
    pub fn record_conditions(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        conditions: &[Condition],
    ) {
        for condition in conditions {
            for status in STATUSES {
                let labels = condition_labels(kind, namespace, name, &condition.type_, status);
                let value = i64::from(condition.status == status);
                self.conditions.get_or_create(&labels).set(value);
            }
        }
        let key = (kind.to_owned(), namespace.to_owned(), name.to_owned());
        let types: Vec<String> = conditions.iter().map(|c| c.type_.clone()).collect();
        if let Ok(mut seen) = self.seen_types.lock() {
            let previous = seen.insert(key, types.clone()).unwrap_or_default();
            for gone in previous.iter().filter(|t| !types.contains(t)) {
                for status in STATUSES {
                    self.conditions
                        .remove(&condition_labels(kind, namespace, name, gone, status));
                }
            }
        }
    }

    /// Removes every condition gauge of a deleted object.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        self.record_conditions(kind, namespace, name, &[]);
        if let Ok(mut seen) = self.seen_types.lock() {
            seen.remove(&(kind.to_owned(), namespace.to_owned(), name.to_owned()));
        }
    }

    /// All metrics in the Prometheus text exposition format (OpenMetrics flavour).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error here would be a bug in the encoder.
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("encoding metrics failed");
        }
        out
    }
}

fn condition_labels(
    kind: &str,
    namespace: &str,
    name: &str,
    type_: &str,
    status: &str,
) -> ConditionLabels {
    ConditionLabels {
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        r#type: type_.to_owned(),
        status: status.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn condition(type_: &str, status: &str) -> Condition {
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: "ReconciliationSucceeded".to_owned(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn a_reconcile_is_counted_in_the_histogram_by_kind_and_result() {
        let metrics = Metrics::new();
        metrics.observe_reconcile("Kustomization", "success", Duration::from_millis(12));
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"flotilla_reconcile_duration_seconds_count{kind="Kustomization",result="success"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"flotilla_reconcile_total{kind="Kustomization",result="success"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn reconcile_totals_add_up_the_observed_durations() {
        let metrics = Metrics::new();
        metrics.observe_reconcile("Kustomization", "success", Duration::from_millis(100));
        metrics.observe_reconcile("Kustomization", "success", Duration::from_millis(50));
        metrics.observe_reconcile("Kustomization", "kube_error", Duration::from_secs(1));
        let (count, sum) = metrics.reconcile_totals("Kustomization", "success");
        assert_eq!(count, 2);
        assert!((sum.as_secs_f64() - 0.150).abs() < 1e-9, "{sum:?}");
        assert_eq!(
            metrics.reconcile_totals("GitRepository", "success"),
            (0, Duration::ZERO)
        );
    }

    #[test]
    fn the_condition_gauge_is_one_for_the_present_status_only() {
        let metrics = Metrics::new();
        metrics.record_conditions(
            "Kustomization",
            "apps",
            "web",
            &[condition("Ready", "False")],
        );
        let text = metrics.encode();
        assert!(text.contains(r#"flotilla_reconcile_condition{kind="Kustomization",name="web",namespace="apps",type="Ready",status="False"} 1"#), "{text}");
        assert!(text.contains(r#"flotilla_reconcile_condition{kind="Kustomization",name="web",namespace="apps",type="Ready",status="True"} 0"#), "{text}");
    }

    #[test]
    fn forgetting_an_object_removes_its_gauges() {
        let metrics = Metrics::new();
        metrics.record_conditions(
            "Kustomization",
            "apps",
            "web",
            &[condition("Ready", "True")],
        );
        metrics.forget("Kustomization", "apps", "web");
        assert!(!metrics.encode().contains(r#"name="web""#));
    }
}

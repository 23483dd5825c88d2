//! Label selectors (matchLabels and matchExpressions) evaluated against an
//! object's labels, through kube's `Selector`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

/// Whether `labels` satisfy `selector`. An empty selector matches
/// everything, as in the API; an invalid one (unknown operator) nothing.
pub(crate) fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

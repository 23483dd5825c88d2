//! Label selectors (matchLabels and matchExpressions) evaluated against an
//! object's labels, through kube's `Selector`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

/// Refuses a spec whose pod template the selector does not select (or an empty selector):
/// such a controller would never count the pods it creates and create without end. The
/// API server refuses these specs too; this guard holds whichever server stored them.
pub(crate) fn check_template_selected(
    object: String,
    selector: Option<&LabelSelector>,
    template_labels: Option<&BTreeMap<String, String>>,
) -> Result<(), crate::error::Error> {
    let empty = BTreeMap::new();
    let template_labels = template_labels.unwrap_or(&empty);
    let Some(selector) = selector.filter(|s| {
        s.match_labels.as_ref().is_some_and(|m| !m.is_empty())
            || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
    }) else {
        return Err(crate::error::Error::Invalid {
            object,
            message: "spec.selector: Invalid value: empty selector is invalid".into(),
        });
    };
    if matches(selector, template_labels) {
        return Ok(());
    }
    Err(crate::error::Error::Invalid {
        object,
        message: format!(
            "spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`",
            serde_json::to_string(template_labels).unwrap_or_default()
        ),
    })
}

/// Whether `labels` satisfy `selector`. An empty selector matches
/// everything, as in the API; an invalid one (unknown operator) nothing.
pub(crate) fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    fn selector(app: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
            ..Default::default()
        }
    }

    #[test]
    fn a_template_the_selector_selects_passes() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        assert!(
            check_template_selected("rs".into(), Some(&selector("web")), Some(&labels)).is_ok()
        );
    }

    #[test]
    fn a_template_outside_the_selector_is_refused_before_any_pod_is_made() {
        let labels = BTreeMap::from([("app".to_string(), "other".to_string())]);
        let err = check_template_selected("rs".into(), Some(&selector("web")), Some(&labels))
            .expect_err("mismatch refused");
        assert_eq!(
            err.to_string(),
            "rs: spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn an_empty_selector_is_refused() {
        assert!(
            check_template_selected("rs".into(), Some(&LabelSelector::default()), None).is_err()
        );
        assert!(check_template_selected("rs".into(), None, None).is_err());
    }
}

//! Which requests a policy or binding applies to: `matchConstraints` and
//! binding `matchResources` (resource rules with wildcards and
//! subresources, operations, scope, resource names, exclusions, namespace
//! and object selectors, match policy).

use std::collections::BTreeMap;

use super::request::Request;
use super::types::{LabelSelector, MatchPolicy, MatchResources, NamedRuleWithOperations};

/// Whether `m` matches the request. `namespace_labels` are the labels of
/// the request's namespace (of the object itself for a Namespace).
pub(crate) fn matches(
    m: &MatchResources,
    req: &Request,
    namespace_labels: &BTreeMap<String, String>,
) -> bool {
    if let Some(sel) = &m.namespace_selector {
        // The namespace selector does not apply to cluster-scoped objects,
        // except Namespaces themselves, which it matches by their own labels.
        let applies = req.namespace.is_some() || req.resource.resource == "namespaces";
        if applies && !selector_matches(sel, namespace_labels) {
            return false;
        }
    }
    if let Some(sel) = &m.object_selector
        && !selector_matches(sel, &req.object_labels())
    {
        return false;
    }
    let policy = m.match_policy.unwrap_or(MatchPolicy::Equivalent);
    if m.exclude_resource_rules
        .iter()
        .any(|r| rule_matches(r, policy, req))
    {
        return false;
    }
    // An empty rule list only occurs on bindings, where it does not narrow
    // what the policy matches.
    m.resource_rules.is_empty()
        || m.resource_rules
            .iter()
            .any(|r| rule_matches(r, policy, req))
}

fn contains_or_star(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

/// One `NamedRuleWithOperations` against the request.
pub(crate) fn rule_matches(
    rule: &NamedRuleWithOperations,
    policy: MatchPolicy,
    req: &Request,
) -> bool {
    if !contains_or_star(&rule.operations, req.operation.as_str()) {
        return false;
    }
    if !contains_or_star(&rule.api_groups, &req.resource.group) {
        return false;
    }
    // Offline there is no table of equivalent versions; under `Equivalent`
    // another version of the same group and resource is taken to be one.
    if policy == MatchPolicy::Exact && !contains_or_star(&rule.api_versions, &req.resource.version)
    {
        return false;
    }
    if rule.api_versions.is_empty() {
        return false;
    }
    if !rule
        .resources
        .iter()
        .any(|r| resource_matches(r, &req.resource.resource, &req.sub_resource))
    {
        return false;
    }
    match rule.scope.as_deref().unwrap_or("*") {
        "Cluster" if req.namespace.is_some() => return false,
        "Namespaced" if req.namespace.is_none() => return false,
        _ => {}
    }
    rule.resource_names.is_empty() || rule.resource_names.contains(&req.name)
}

/// `*` (all resources, no subresource), `*/*` (everything), `res`,
/// `res/sub`, `*/sub`, `res/*`.
fn resource_matches(pattern: &str, resource: &str, sub: &str) -> bool {
    let (p_res, p_sub) = pattern.split_once('/').unwrap_or((pattern, ""));
    let res_ok = p_res == "*" || p_res == resource;
    let sub_ok = if pattern.contains('/') {
        p_sub == "*" || p_sub == sub
    } else {
        sub.is_empty()
    };
    res_ok && sub_ok
}

/// `metav1.LabelSelector` semantics: all `matchLabels` and all
/// `matchExpressions` hold; an empty selector matches everything.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().all(|e| {
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| e.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // An unknown operator is rejected by the API server; here
                // it matches nothing rather than everything.
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::resource_matches;

    #[test]
    fn resource_patterns_follow_kubernetes_wildcards() {
        assert!(resource_matches("*", "pods", ""));
        assert!(!resource_matches("*", "pods", "status"));
        assert!(resource_matches("*/*", "pods", "status"));
        assert!(resource_matches("*/*", "pods", ""));
        assert!(resource_matches("pods/status", "pods", "status"));
        assert!(!resource_matches("pods", "pods", "status"));
        assert!(resource_matches("*/scale", "deployments", "scale"));
        assert!(resource_matches("pods/*", "pods", "exec"));
    }
}

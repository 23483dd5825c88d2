//! `namePrefix` / `nameSuffix`: renames every object except the kinds whose
//! names are global identifiers kustomize leaves alone.

use crate::resource::Resource;

/// (group, kind) never renamed: CRD names must be `<plural>.<group>`,
/// APIService names `<version>.<group>`, and Namespaces are set by `namespace:`.
const SKIPPED: &[(&str, &str)] = &[
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("", "Namespace"),
];

/// Adds `prefix` and `suffix` to every name that takes them.
pub fn apply(resources: &mut [Resource], prefix: &str, suffix: &str) {
    if prefix.is_empty() && suffix.is_empty() {
        return;
    }
    for res in resources.iter_mut() {
        let (kind, group) = (res.kind(), res.group());
        let skip = SKIPPED.iter().any(|(g, k)| *k == kind && *g == group);
        if skip {
            continue;
        }
        let name = format!("{prefix}{}{suffix}", res.name());
        res.set_name(&name);
        if !prefix.is_empty() {
            res.prefixes.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            res.suffixes.push(suffix.to_string());
        }
    }
}

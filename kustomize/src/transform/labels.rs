//! `commonLabels` and `labels`: where labels go, with kustomize's field
//! specs (metadata, pod templates, selectors).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::fieldspec::FieldSpec;
use crate::kustomization::Label;
use crate::resource::Resource;

/// Every object's own labels.
pub const METADATA: FieldSpec = FieldSpec::any("metadata/labels", true);

/// Pod template (and job template) labels.
pub const TEMPLATES: &[FieldSpec] = &[
    FieldSpec::version_kind(
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    FieldSpec::kind("Deployment", "spec/template/metadata/labels", true),
    FieldSpec::kind("ReplicaSet", "spec/template/metadata/labels", true),
    FieldSpec::kind("DaemonSet", "spec/template/metadata/labels", true),
    FieldSpec::group_kind("apps", "StatefulSet", "spec/template/metadata/labels", true),
    FieldSpec::group_kind("batch", "Job", "spec/template/metadata/labels", true),
    FieldSpec::group_kind("batch", "CronJob", "spec/jobTemplate/metadata/labels", true),
    FieldSpec::group_kind(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// Selectors and other label-matching fields (`commonLabels`, `includeSelectors`).
pub const SELECTORS: &[FieldSpec] = &[
    FieldSpec::version_kind("v1", "Service", "spec/selector", true),
    FieldSpec::version_kind("v1", "ReplicationController", "spec/selector", true),
    FieldSpec::kind("Deployment", "spec/selector/matchLabels", true),
    FieldSpec::group_kind(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "Deployment",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::kind("ReplicaSet", "spec/selector/matchLabels", true),
    FieldSpec::kind("DaemonSet", "spec/selector/matchLabels", true),
    FieldSpec::group_kind("apps", "StatefulSet", "spec/selector/matchLabels", true),
    FieldSpec::group_kind(
        "apps",
        "StatefulSet",
        "spec/volumeClaimTemplates/metadata/labels",
        true,
    ),
    FieldSpec::group_kind(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "apps",
        "StatefulSet",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind("batch", "Job", "spec/selector/matchLabels", false),
    FieldSpec::group_kind(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "policy",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "networking.k8s.io",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "networking.k8s.io",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    FieldSpec::group_kind(
        "networking.k8s.io",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

/// Adds `pairs` into the maps that `specs` reach.
pub fn add(resources: &mut [Resource], pairs: &BTreeMap<String, String>, specs: &[FieldSpec]) {
    if pairs.is_empty() {
        return;
    }
    for res in resources.iter_mut() {
        let (group, version, kind) = (
            res.group().to_string(),
            res.version().to_string(),
            res.kind().to_string(),
        );
        for spec in specs {
            if spec.matches_gvk(&group, &version, &kind) {
                spec.visit(res, &mut |v: &mut Value| merge_into(v, pairs));
            }
        }
    }
}

/// `commonLabels`: metadata, templates and selectors.
pub fn apply_common(resources: &mut [Resource], pairs: &BTreeMap<String, String>) {
    add(resources, pairs, &all_specs(true, true));
}

/// One `labels` entry.
pub fn apply_label(resources: &mut [Resource], label: &Label) {
    let specs = if label.include_selectors {
        all_specs(true, true)
    } else {
        all_specs(label.include_templates, false)
    };
    add(resources, &label.pairs, &specs);
}

fn all_specs(templates: bool, selectors: bool) -> Vec<FieldSpec> {
    let mut specs = vec![METADATA];
    if selectors {
        specs.extend_from_slice(SELECTORS);
    }
    if templates {
        specs.extend_from_slice(TEMPLATES);
    }
    specs
}

/// Makes `v` a map (a `null` becomes an empty one) and inserts `pairs`.
pub fn merge_into(v: &mut Value, pairs: &BTreeMap<String, String>) {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    if let Value::Object(map) = v {
        for (k, val) in pairs {
            map.insert(k.clone(), Value::String(val.clone()));
        }
    }
}

//! `commonAnnotations`: object metadata and pod/job templates.

use std::collections::BTreeMap;

use crate::fieldspec::FieldSpec;
use crate::resource::Resource;

/// Where `commonAnnotations` go.
const SPECS: &[FieldSpec] = &[
    FieldSpec::any("metadata/annotations", true),
    FieldSpec::version_kind(
        "v1",
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    FieldSpec::kind("Deployment", "spec/template/metadata/annotations", true),
    FieldSpec::kind("ReplicaSet", "spec/template/metadata/annotations", true),
    FieldSpec::kind("DaemonSet", "spec/template/metadata/annotations", true),
    FieldSpec::group_kind(
        "apps",
        "StatefulSet",
        "spec/template/metadata/annotations",
        true,
    ),
    FieldSpec::group_kind("batch", "Job", "spec/template/metadata/annotations", true),
    FieldSpec::group_kind(
        "batch",
        "CronJob",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    FieldSpec::group_kind(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// Adds `pairs` as annotations.
pub fn apply(resources: &mut [Resource], pairs: &BTreeMap<String, String>) {
    super::labels::add(resources, pairs, SPECS);
}

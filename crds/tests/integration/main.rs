//! The crds crate's integration tests, in one binary: each module is one area, and
//! linking one test binary instead of 7 keeps CI's build time and disk use down.

mod support;

mod agrees_with_the_control_plane_validator;
mod crd_yaml_in_sync;
mod docs_match_the_types;
mod installs_into_the_control_plane;
mod kubectl_reads_the_yaml;
mod schema_is_structural;
mod validation_rules;

//! The operator crate's integration tests, in one binary: each module is one area, and
//! linking one test binary instead of 7 keeps CI's build time and disk use down.

mod crds_cli;
mod gitops_cli;
mod install_manifest;
mod operator_cli;
mod operator_restart;
mod up;
mod validate_cli;

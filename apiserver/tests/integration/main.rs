//! The apiserver crate's integration tests, in one binary: each module is one area, and
//! linking one test binary instead of 7 keeps CI's build time and disk use down.

mod common;

mod admission_kubectl;
mod apply_kube;
mod crash;
mod kube_client;
mod kubectl;
mod openapi_patch_kubectl;
mod service_allocation;
mod table_kubectl;

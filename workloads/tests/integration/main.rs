//! The workloads crate's integration tests, in one binary: each module is one area, and
//! linking one test binary instead of 12 keeps CI's build time and disk use down.

mod common;

mod cronjob;
mod daemonset;
mod deployments;
mod ingress;
mod job;
mod kubelet;
mod namespace;
mod nodes;
mod scheduler;
mod service;
mod statefulset;
mod volume;

//! The GitOps loop end to end, one module per scenario of issue 7, all in
//! one test binary (one link instead of seven; worlds take turns anyway).
//! The "operator killed mid-apply" scenario needs the `flotilla` binary, so
//! it lives in `operator/tests/integration/operator_restart.rs`, where cargo builds it.

mod depends_on;
mod drift;
mod example;
mod harness;
mod policy_gate;
mod prune;
mod webhook;
mod workloads;

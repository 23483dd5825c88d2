//! Flotilla's controllers, built on `kube::runtime`: the GitRepository
//! reconciler (fetch and store artifacts), the Kustomization reconciler
//! (render, substitute, policy gate, staged server-side apply, prune, health,
//! status), the Receiver webhook, Prometheus metrics and Lease-based leader
//! election.
//!
//! The crate talks to a cluster only through a [`kube::Client`]; starting a
//! local control plane and the CLI are the `flotilla` binary's job.
//! [`Operator`] is the entry point: it runs every controller until shut down.

mod error;
pub mod events;
pub mod gitrepository;
pub mod kustomization;
pub mod leader;
pub mod metrics;
pub mod operator;
pub mod receiver;
pub mod server;

pub use error::{Error, Result};
pub use operator::{Operator, OperatorConfig};

/// The field manager of every server-side apply Flotilla makes.
pub const FIELD_MANAGER: &str = "flotilla";

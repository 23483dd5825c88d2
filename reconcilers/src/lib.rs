//! Flotilla's controllers, built on `kube::runtime`: the GitRepository
//! reconciler (fetch and store artifacts), the Kustomization reconciler
//! (render, substitute, policy gate, staged server-side apply, prune, health,
//! status), the Receiver webhook, Prometheus metrics and Lease-based leader
//! election.
//!
//! The crate talks to a cluster only through a [`kube::Client`]; starting a
//! local control plane and the CLI are the `flotilla` binary's job.

pub mod metrics;

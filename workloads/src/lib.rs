//! The cluster behind the local control plane: simulated nodes (Node objects,
//! Lease heartbeats, a kubelet that moves pods through their phases and can be
//! told to fail), a scheduler, and the workload controllers with Kubernetes'
//! status semantics (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
//! CronJob, Service endpoints, volumes, Ingress).
//!
//! Like kwok, nothing runs: containers are simulated. Everything talks to the
//! API server through an ordinary [`kube::Client`], as kube-controller-manager
//! and the kubelet do, so this crate works against any API server and the
//! API server knows nothing of it. Start it all with [`Simulation::start`].

pub mod controllers;
mod error;
mod events;
mod labels;
pub mod nodes;
mod pods;
pub mod quantity;
pub mod scheduler;
mod simulation;
mod status;

pub use error::{Error, Result};
pub use simulation::{SimConfig, SimHandle, Simulation};

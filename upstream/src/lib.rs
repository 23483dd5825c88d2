//! The upstream Kubernetes control plane, run from the pinned oracle binaries: what
//! `flotilla control-plane --engine kubernetes` and `flotilla up --engine kubernetes` start,
//! and what tests use to prove Flotilla against the real API server.
//!
//! [`ControlPlane::start`] generates a PKI (kubeadm's layout: cluster CA, serving certificate
//! with the usual SANs, front-proxy CA and client, service-account key pair, one client
//! certificate per component), then starts etcd, kube-apiserver (RBAC and Node authorisation
//! on), kube-controller-manager and kube-scheduler as child processes on 127.0.0.1 and writes
//! an admin kubeconfig at `DATA_DIR/kubeconfig`, where the embedded engine writes its own.
//! Every process is stopped when the handle is shut down or dropped.
//!
//! Boundaries: this crate starts and stops processes and writes files under the data dir; it
//! does not build the binaries (`oracles/build` does) and runs no controller of its own.
//! Nodes come from the `workloads` simulation, which registers them through the API.

mod binaries;
mod control_plane;
mod error;
mod pki;
mod process;

pub use binaries::{Binaries, Binary, find_binary, oracles_dir};
pub use control_plane::{Config, ControlPlane, RunningControlPlane};
pub use error::Error;

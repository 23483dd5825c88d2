//! The local control plane.
//!
//! A Kubernetes-compatible API server (HTTPS, discovery, OpenAPI, the core
//! verbs, watch, server-side apply, CRDs, admission) over an embedded durable
//! store, so Flotilla runs end to end on one machine and real clients
//! (`kubectl`, `kube`) work against it unmodified.
//!
//! Boundaries: serves the API and stores objects; workload controllers and
//! GitOps reconcilers live elsewhere and talk to it as clients.

pub mod allocator;
pub mod control_plane;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod gc;
pub mod handlers;
pub mod hooks;
pub mod kubeconfig;
pub mod objects;
mod openapi_routes;
pub mod registry;
pub mod selectors;
pub mod server;
pub mod state;
pub mod store;
pub mod table;
pub mod tls;
pub mod validation;
pub mod watch;
pub mod workload_defaults;

// Semantics modules (owned by a colleague): OpenAPI documents, CRD schemas,
// patch formats, server-side apply, admission policies.
pub mod admission;
pub mod apply;
pub mod openapi;
pub mod patch;
pub mod schema;

pub use control_plane::{Config, ControlPlane, RunningControlPlane, StartError};
pub use error::{Error, Result};
pub use registry::{Registry, ResourceInfo};

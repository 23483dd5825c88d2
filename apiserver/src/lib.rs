//! The local control plane.
//!
//! A Kubernetes-compatible API server (HTTPS, discovery, OpenAPI, the core
//! verbs, watch, server-side apply, CRDs, admission) over an embedded durable
//! store, so Flotilla runs end to end on one machine and real clients
//! (`kubectl`, `kube`) work against it unmodified.
//!
//! Boundaries: serves the API and stores objects; workload controllers and
//! GitOps reconcilers live elsewhere and talk to it as clients.

pub mod error;
pub mod registry;
pub mod store;

// Semantics modules (owned by a colleague): OpenAPI documents, CRD schemas,
// patch formats, server-side apply, admission policies.
pub mod admission;
pub mod apply;
pub mod openapi;
pub mod patch;
pub mod schema;

pub use error::{Error, Result};
pub use registry::{Registry, ResourceInfo};

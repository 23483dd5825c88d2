//! The local control plane.
//!
//! A Kubernetes-compatible API server (HTTPS, discovery, OpenAPI, the core
//! verbs, watch, server-side apply, CRDs, admission) over an embedded durable
//! store, so Flotilla runs end to end on one machine and real clients
//! (`kubectl`, `kube`) work against it unmodified.
//!
//! Boundaries: serves the API and stores objects; workload controllers and
//! GitOps reconcilers live elsewhere and talk to it as clients.

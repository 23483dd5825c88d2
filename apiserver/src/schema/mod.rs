//! Object schemas: the built-in catalog (k8s-openapi plus Kubernetes' vendor
//! extensions), a cursor to walk any schema, and for custom resources the
//! structural-schema checks Kubernetes applies on writes.
//!
//! Boundaries: pure functions over `serde_json::Value`; the HTTP layer
//! decides when to call them and maps their errors to `Status` objects.

pub mod builtin;
pub mod node;

pub use node::{Catalog, ListType, Node};

//! The workload controllers, one module each.

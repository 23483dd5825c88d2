//! Prometheus metrics of the reconcilers.

//! The container behaviours a pod can ask the simulated kubelet for.

//! Simulated nodes: Node objects, Lease heartbeats and the kubelet.

//! The CEL policy engine.
//!
//! Loads `ValidatingAdmissionPolicy` and `ValidatingAdmissionPolicyBinding`
//! objects (admissionregistration.k8s.io/v1), matches them against objects,
//! evaluates them with Kubernetes semantics and reports the verdicts.
//!
//! Boundaries: no I/O and no cluster access; callers hand in objects, params
//! and namespaces. The same engine serves `flotilla validate`, the
//! reconcilers' policy gate and the local control plane's admission.

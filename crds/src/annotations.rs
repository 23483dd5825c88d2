//! Annotations with a meaning to Flotilla's reconcilers.

/// Setting this annotation on a GitRepository or Kustomization (to any new value, usually the
/// current time in RFC 3339) asks for an immediate reconcile. The reconciler copies the value
/// to `status.lastHandledReconcileAt` once done, so a client can wait for its request to be
/// handled. Receivers set it on the GitRepositories they target. Flux's
/// `reconcile.fluxcd.io/requestedAt` works the same way.
pub const RECONCILE_REQUESTED_AT: &str = "reconcile.flotilla.dev/requestedAt";

/// The finalizer the Kustomization reconciler puts on every Kustomization it reconciles, so
/// that deleting one with `spec.prune: true` first deletes the objects of its inventory
/// (Flux's `finalizers.fluxcd.io` does the same). A suspended Kustomization, or one without
/// `prune`, leaves its objects in place when deleted.
pub const FINALIZER: &str = "finalizers.flotilla.dev";

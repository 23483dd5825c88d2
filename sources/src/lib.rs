//! Git sources.
//!
//! Fetches Git repositories with `gix` into a per-URL bare cache, resolves
//! Flux-style references (branch, tag, semver range, commit, ref name),
//! verifies commit signatures and exports the tree into content-addressed
//! artifact folders.
//!
//! Boundaries: talks to Git servers and the local filesystem only; knows
//! nothing of Kubernetes objects.

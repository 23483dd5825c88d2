//! Git sources.
//!
//! Fetches Git repositories with `gix` into a per-URL bare cache, resolves
//! Flux-style references (branch, tag, semver range, commit, ref name),
//! verifies OpenPGP and SSH signatures of commits and annotated tags, and
//! exports the tree into content-addressed artifact folders.
//!
//! Boundaries: talks to Git servers and the local filesystem only; knows
//! nothing of Kubernetes objects. Everything here is blocking (gix is): async
//! callers use `spawn_blocking` and pass a cancellation flag.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use sources::{Cache, FetchRequest, Reference};
//!
//! let cache = Cache::open("/var/cache/flotilla")?;
//! let request = FetchRequest::new("https://example.com/fleet.git")
//!     .with_reference(Reference::Branch("main".into()))
//!     .with_path("clusters/prod");
//! let artifact = cache.fetch(&request, &AtomicBool::new(false))?;
//! println!("{} {} {}", artifact.revision, artifact.digest, artifact.path.display());
//! # Ok::<(), sources::Error>(())
//! ```

mod cache;
mod deadline;
mod error;
mod export;
pub mod ignore;
mod request;
mod resolve;
mod transport;
mod verify;

pub use cache::Cache;
pub use error::{Error, Result};
pub use request::{
    Artifact, Auth, FetchRequest, FetchStats, Reference, SignatureFormat, SignedObject,
    Verification, VerificationMode, VerifiedSignature,
};

//! Object storage: the [`Store`] trait and its embedded backend.
//!
//! The store knows nothing of Kubernetes semantics beyond one rule: every
//! commit gets the next value of a global, monotonic revision, written into
//! each stored object's `metadata.resourceVersion`. Semantics (preconditions,
//! finalizers, generation) live in the handlers, which serialise writes.
//! The trait is small so that an etcd backend can sit behind it later.

pub mod redb;

use serde_json::Value;

/// Where an object lives: `group/plural`, namespace (`""` when cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// `group/plural`, e.g. `apps/deployments` or `/configmaps` for the core group.
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(
        resource: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// One change inside a commit.
#[derive(Debug, Clone)]
pub enum Write {
    /// Create or replace the object at the key.
    Put(Key, Value),
    /// Remove the object at the key (absent is not an error).
    Delete(Key),
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Value>,
    /// The key of the last item when more remain (for `continue` tokens).
    pub next: Option<Key>,
    /// The store revision the page was read at.
    pub revision: u64,
}

/// Failures of the storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database reported an error (I/O, corruption, lock held by another process).
    #[error("database {path}: {source}")]
    Database {
        path: String,
        #[source]
        source: Box<::redb::Error>,
    },
    /// A stored value is not valid JSON (the file was damaged or written by something else).
    #[error("stored object {key:?} is not valid JSON: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// An object to store has no `metadata` map to hold its resourceVersion.
    #[error("object at {0:?} has no metadata")]
    NoMetadata(Key),
}

/// A durable key/value store of JSON objects with a global revision.
pub trait Store: Send + Sync + 'static {
    /// The object at `key`, if any.
    fn get(&self, key: &Key) -> Result<Option<Value>, StoreError>;

    /// Objects of `resource` (all namespaces when `namespace` is `None`), in key
    /// order, starting after `after`, at most `limit` items.
    fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: Option<&Key>,
        limit: Option<usize>,
    ) -> Result<Page, StoreError>;

    /// Every stored object with its key (start-up scans and garbage collection).
    fn scan_all(&self) -> Result<Vec<(Key, Value)>, StoreError>;

    /// Applies `writes` atomically under the next revision, durably, and returns
    /// that revision. Each `Put` object gets `metadata.resourceVersion` set to it
    /// (the caller's copies are updated too, so they can be returned as stored).
    fn commit(&self, writes: &mut [Write]) -> Result<u64, StoreError>;

    /// The revision of the latest commit (0 for an empty store).
    fn revision(&self) -> Result<u64, StoreError>;
}

/// Sets `metadata.resourceVersion` to `rev`.
pub(crate) fn stamp(key: &Key, obj: &mut Value, rev: u64) -> Result<(), StoreError> {
    let meta = obj
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| StoreError::NoMetadata(key.clone()))?;
    meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
    Ok(())
}

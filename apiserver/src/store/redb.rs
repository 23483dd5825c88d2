//! The embedded backend: one redb file, `store.redb`, in the data dir.
//!
//! redb commits are durable when `commit` returns (`Durability::Immediate`,
//! fsync before acknowledging), so an acknowledged write survives `kill -9`.
//! The revision counter is stored in the same transaction as the objects, so
//! it can never run behind the data after a crash.

use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

use super::{Key, Page, Store, StoreError, Write, stamp};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REVISION: &str = "revision";

/// A [`Store`] in a single redb file.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    // Declared after `db`, so it drops only once the database is closed; see
    // [`RedbStore::closed`].
    _closed: std::sync::mpsc::SyncSender<()>,
}

/// Tells when a [`RedbStore`] has closed its file: `Arc` lets a waiter see the
/// last strong reference go before the value's drop (and redb's close) has
/// finished on another thread, which is too early to open the file again.
#[derive(Debug)]
pub struct Closed(std::sync::mpsc::Receiver<()>);

impl Closed {
    /// Waits until the store is closed or `limit` passes; true when closed.
    pub fn wait(&self, limit: std::time::Duration) -> bool {
        // Nothing is ever sent: the channel only disconnects, when the sender drops.
        matches!(
            self.0.recv_timeout(limit),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        )
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish()
    }
}

// Key bytes: resource, namespace, name joined by NUL, which no Kubernetes
// name, namespace or resource contains, so prefixes select exactly one
// resource or one namespace of it.
fn encode(key: &Key) -> String {
    format!("{}\0{}\0{}", key.resource, key.namespace, key.name)
}

fn decode(s: &str) -> Key {
    let mut parts = s.splitn(3, '\0');
    let resource = parts.next().unwrap_or_default();
    let namespace = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    Key::new(resource, namespace, name)
}

impl RedbStore {
    /// Opens (or creates) `store.redb` under `dir`.
    pub fn open(dir: &Path) -> Result<(Self, Closed), StoreError> {
        let path = dir.join("store.redb");
        let db = Database::create(&path).map_err(|e| db_err(&path, e))?;
        let (closed, signal) = std::sync::mpsc::sync_channel(0);
        let store = Self {
            db,
            path,
            _closed: closed,
        };
        // Create both tables so reads never meet a missing table.
        let txn = store.db.begin_write().map_err(|e| store.err(e))?;
        {
            txn.open_table(OBJECTS).map_err(|e| store.err(e))?;
            txn.open_table(META).map_err(|e| store.err(e))?;
        }
        txn.commit().map_err(|e| store.err(e))?;
        Ok((store, Closed(signal)))
    }

    fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        db_err(&self.path, e)
    }

    fn parse(key: &str, bytes: &[u8]) -> Result<Value, StoreError> {
        serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
            key: key.replace('\0', "/"),
            source,
        })
    }
}

fn db_err(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    StoreError::Database {
        path: path.display().to_string(),
        source: Box::new(e.into()),
    }
}

impl Store for RedbStore {
    fn get(&self, key: &Key) -> Result<Option<Value>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
        let k = encode(key);
        match table.get(k.as_str()).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(Self::parse(&k, v.value())?)),
            None => Ok(None),
        }
    }

    fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: Option<&Key>,
        limit: Option<usize>,
    ) -> Result<Page, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let revision = txn
            .open_table(META)
            .map_err(|e| self.err(e))?
            .get(REVISION)
            .map_err(|e| self.err(e))?
            .map(|v| v.value())
            .unwrap_or(0);
        let table = txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
        let prefix = match namespace {
            Some(ns) => format!("{resource}\0{ns}\0"),
            None => format!("{resource}\0"),
        };
        let start = match after {
            // The smallest key strictly greater than `after`.
            Some(k) => format!("{}\0", encode(k)),
            None => prefix.clone(),
        };
        let mut page = Page {
            revision,
            ..Page::default()
        };
        let mut last = None;
        for entry in table.range(start.as_str()..).map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let k = k.value();
            if !k.starts_with(&prefix) {
                break;
            }
            if limit.is_some_and(|l| page.items.len() >= l) {
                page.next = last.take().map(|k: String| decode(&k));
                break;
            }
            page.items.push(Self::parse(k, v.value())?);
            last = Some(k.to_string());
        }
        Ok(page)
    }

    fn scan_all(&self) -> Result<Vec<(Key, Value)>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            out.push((decode(k.value()), Self::parse(k.value(), v.value())?));
        }
        Ok(out)
    }

    fn commit(&self, writes: &mut [Write]) -> Result<u64, StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.err(e))?;
        let rev;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            rev = meta
                .get(REVISION)
                .map_err(|e| self.err(e))?
                .map(|v| v.value())
                .unwrap_or(0)
                + 1;
            meta.insert(REVISION, rev).map_err(|e| self.err(e))?;
            let mut table = txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
            for w in writes.iter_mut() {
                match w {
                    Write::Put(key, obj) => {
                        stamp(key, obj, rev)?;
                        let bytes =
                            serde_json::to_vec(obj).map_err(|source| StoreError::Corrupt {
                                key: encode(key).replace('\0', "/"),
                                source,
                            })?;
                        table
                            .insert(encode(key).as_str(), bytes.as_slice())
                            .map_err(|e| self.err(e))?;
                    }
                    Write::Delete(key) => {
                        table
                            .remove(encode(key).as_str())
                            .map_err(|e| self.err(e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.err(e))?;
        Ok(rev)
    }

    fn revision(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = txn.open_table(META).map_err(|e| self.err(e))?;
        Ok(meta
            .get(REVISION)
            .map_err(|e| self.err(e))?
            .map(|v| v.value())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn each_commit_gets_the_next_revision_stamped_into_the_objects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path()).expect("open").0;
        let key = Key::new("/configmaps", "default", "a");
        let mut writes = [Write::Put(key.clone(), cm("a"))];
        assert_eq!(store.commit(&mut writes).expect("commit"), 1);
        let mut writes = [Write::Put(key.clone(), cm("a"))];
        assert_eq!(store.commit(&mut writes).expect("commit"), 2);
        let got = store.get(&key).expect("get").expect("present");
        assert_eq!(got["metadata"]["resourceVersion"], "2");
    }

    #[test]
    fn revision_and_objects_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = RedbStore::open(dir.path()).expect("open").0;
            for n in ["a", "b", "c"] {
                store
                    .commit(&mut [Write::Put(Key::new("/configmaps", "default", n), cm(n))])
                    .expect("commit");
            }
        }
        let store = RedbStore::open(dir.path()).expect("reopen").0;
        assert_eq!(store.revision().expect("rev"), 3);
        assert!(
            store
                .get(&Key::new("/configmaps", "default", "b"))
                .expect("get")
                .is_some()
        );
    }

    #[test]
    fn listing_pages_by_key_within_one_namespace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path()).expect("open").0;
        for (ns, n) in [
            ("default", "a"),
            ("default", "b"),
            ("default", "c"),
            ("other", "d"),
        ] {
            store
                .commit(&mut [Write::Put(Key::new("/configmaps", ns, n), cm(n))])
                .expect("commit");
        }
        let first = store
            .list("/configmaps", Some("default"), None, Some(2))
            .expect("list");
        assert_eq!(first.items.len(), 2);
        let next = first.next.expect("more remain");
        assert_eq!(next.name, "b");
        let second = store
            .list("/configmaps", Some("default"), Some(&next), Some(2))
            .expect("list");
        assert_eq!(second.items.len(), 1);
        assert!(second.next.is_none());
        let all = store.list("/configmaps", None, None, None).expect("list");
        assert_eq!(all.items.len(), 4);
    }

    #[test]
    fn deleting_removes_the_object_and_still_advances_the_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path()).expect("open").0;
        let key = Key::new("/configmaps", "default", "a");
        store
            .commit(&mut [Write::Put(key.clone(), cm("a"))])
            .expect("commit");
        assert_eq!(
            store
                .commit(&mut [Write::Delete(key.clone())])
                .expect("commit"),
            2
        );
        assert!(store.get(&key).expect("get").is_none());
    }
}

//! The shared state of a running control plane and its one write path.
//!
//! Writes are serialised by a single lock: read the current object, compute
//! the new one, commit durably, publish the watch event — all before the next
//! writer runs, so watch events come out in revision order and every
//! read-modify-write (preconditions, finalizers, apply) sees the latest state.

use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;

use crate::error::Error;
use crate::registry::{Registry, ResourceInfo};
use crate::store::{Key, Store, Write};
use crate::watch::{Event, EventType, Hub};

/// What a write decided to do with the object at its key.
#[derive(Debug)]
pub enum Change {
    /// Store this object (create or replace).
    Put(Value),
    /// Remove the object; the value is its last state (sent in the DELETED event).
    Delete(Value),
    /// Store nothing and answer with this object (dry run, no-op).
    Keep(Value),
}

/// What a write did.
#[derive(Debug)]
pub struct Outcome {
    /// The object as stored (or as it would have been, for `Keep`).
    pub object: Value,
    /// Whether the key held no object before.
    pub created: bool,
    /// Whether the object was removed.
    pub deleted: bool,
}

/// Everything the handlers share.
pub struct State {
    pub store: Arc<dyn Store>,
    pub registry: RwLock<Registry>,
    pub hub: Hub,
    write_lock: Mutex<()>,
    /// The bearer token accepted as admin.
    pub token: String,
    /// Woken after deletions so the garbage collector runs.
    pub gc: tokio::sync::Notify,
    /// Cached OpenAPI v3 documents.
    pub openapi: crate::openapi::OpenApiV3,
    /// The loaded ValidatingAdmissionPolicies and bindings.
    pub admission: crate::admission::Admission,
    /// `apiVersion`/`kind` of the params the loaded policies use.
    param_kinds: Mutex<Vec<(String, String)>>,
    policies_loaded: std::sync::atomic::AtomicBool,
}

impl State {
    pub fn new(store: Arc<dyn Store>, registry: Registry, token: String, revision: u64) -> Self {
        Self {
            store,
            registry: RwLock::new(registry),
            hub: Hub::new(revision, 100_000),
            write_lock: Mutex::new(()),
            token,
            gc: tokio::sync::Notify::new(),
            openapi: crate::openapi::OpenApiV3::new(),
            admission: crate::admission::Admission::new(),
            param_kinds: Mutex::new(Vec::new()),
            policies_loaded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether any admission policy is stored.
    pub fn has_policies(&self) -> bool {
        self.policies_loaded
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reloads policies and bindings from the store (after they change).
    pub fn reload_policies(&self) -> Result<(), Error> {
        let mut objects = Vec::new();
        let mut kinds = Vec::new();
        for resource in [
            "admissionregistration.k8s.io/validatingadmissionpolicies",
            "admissionregistration.k8s.io/validatingadmissionpolicybindings",
        ] {
            for mut obj in self.store.list(resource, None, None, None)?.items {
                if let (Some(av), Some(k)) = (
                    obj.pointer("/spec/paramKind/apiVersion")
                        .and_then(Value::as_str),
                    obj.pointer("/spec/paramKind/kind").and_then(Value::as_str),
                ) {
                    kinds.push((av.to_string(), k.to_string()));
                }
                if let Some(m) = obj.as_object_mut() {
                    m.insert(
                        "apiVersion".into(),
                        Value::String("admissionregistration.k8s.io/v1".into()),
                    );
                }
                objects.push(obj);
            }
        }
        for problem in self.admission.load(&objects) {
            tracing::warn!(%problem, "admission policy not loaded");
        }
        *self.param_kinds.lock().unwrap_or_else(|p| p.into_inner()) = kinds;
        self.policies_loaded
            .store(!objects.is_empty(), std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// What policies may look up: namespaces and objects of their param kinds.
    pub fn admission_lookup(&self) -> Result<crate::admission::ObjectSet, Error> {
        let mut objects = self.store.list("/namespaces", None, None, None)?.items;
        let kinds = self
            .param_kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let registry = self.registry();
        for (av, kind) in kinds {
            if let Some(info) = registry.lookup_kind(&av, &kind) {
                objects.extend(
                    self.store
                        .list(&info.group_resource(), None, None, None)?
                        .items,
                );
            }
        }
        Ok(crate::admission::ObjectSet::new(objects))
    }

    /// A snapshot of the resource table.
    pub fn registry(&self) -> Registry {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the resource table (CRD registration).
    pub fn set_registry(&self, registry: Registry) {
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = registry;
    }

    /// The storage key of an object of `info`.
    pub fn key(info: &ResourceInfo, namespace: &str, name: &str) -> Key {
        Key::new(
            info.group_resource(),
            if info.namespaced { namespace } else { "" },
            name,
        )
    }

    /// Reads an object.
    pub fn get(&self, key: &Key) -> Result<Option<Value>, Error> {
        Ok(self.store.get(key)?)
    }

    /// The one write path: runs `decide` on the current object at `key` under
    /// the write lock, commits its decision durably and publishes the event.
    /// Blocking (fsync): call from a blocking context.
    pub fn write(
        &self,
        key: &Key,
        decide: impl FnOnce(Option<Value>) -> Result<Change, Error>,
    ) -> Result<Outcome, Error> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.store.get(key)?;
        let created = current.is_none();
        match decide(current)? {
            Change::Keep(object) => Ok(Outcome {
                object,
                created,
                deleted: false,
            }),
            Change::Put(object) => {
                let mut writes = [Write::Put(key.clone(), object)];
                let revision = self.store.commit(&mut writes)?;
                let [Write::Put(_, object)] = writes else {
                    return Err(Error::Internal("commit changed its write".into()));
                };
                self.hub.publish(Event {
                    revision,
                    kind: if created {
                        EventType::Added
                    } else {
                        EventType::Modified
                    },
                    resource: key.resource.clone(),
                    namespace: key.namespace.clone(),
                    object: Arc::new(object.clone()),
                });
                Ok(Outcome {
                    object,
                    created,
                    deleted: false,
                })
            }
            Change::Delete(mut object) => {
                let revision = self.store.commit(&mut [Write::Delete(key.clone())])?;
                crate::store::stamp(key, &mut object, revision)?;
                self.hub.publish(Event {
                    revision,
                    kind: EventType::Deleted,
                    resource: key.resource.clone(),
                    namespace: key.namespace.clone(),
                    object: Arc::new(object.clone()),
                });
                self.gc.notify_one();
                Ok(Outcome {
                    object,
                    created: false,
                    deleted: true,
                })
            }
        }
    }
}

//! The garbage collector: owner references, propagation policies and
//! namespace deletion.
//!
//! Woken after every delete (and once at start-up), it repeats passes until
//! nothing changes:
//! - an object all of whose owners are gone is deleted (background cascade);
//! - an owner held by `foregroundDeletion` has its dependents deleted, and is
//!   released once none remain;
//! - an owner held by `orphan` has its uid removed from its dependents'
//!   `ownerReferences`, then is released;
//! - a terminating namespace has its content deleted, then is removed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::Error;
use crate::handlers::delete::{DeleteOptions, FOREGROUND, ORPHAN, delete_object};
use crate::objects;
use crate::state::{Change, State};
use crate::store::Key;

/// Runs forever, one collection per wake-up.
pub async fn run(state: Arc<State>) {
    loop {
        let s = state.clone();
        let result = tokio::task::spawn_blocking(move || collect(&s)).await;
        match result {
            Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection pass failed"),
            Err(e) => tracing::warn!(error = %e, "garbage collection task failed"),
            Ok(Ok(())) => {}
        }
        state.gc.notified().await;
    }
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn info_for(state: &State, key: &Key) -> Option<Arc<crate::registry::ResourceInfo>> {
    let (group, plural) = key.resource.split_once('/')?;
    state
        .registry()
        .resources()
        .find(|r| r.group == group && r.plural == plural)
        .cloned()
}

fn delete_background(state: &State, key: &Key) -> Result<(), Error> {
    let Some(info) = info_for(state, key) else {
        return Ok(());
    };
    match delete_object(state, &info, key, &DeleteOptions::default()) {
        Ok(_) | Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes finalizer `f` from the object at `key` (deleting it when none remain).
fn release(state: &State, key: &Key, f: &str) -> Result<(), Error> {
    state.write(key, |current| {
        let Some(old) = current else {
            return Ok(Change::Keep(Value::Null));
        };
        let mut fins = objects::finalizers(&old);
        fins.retain(|x| x != f);
        let mut new = old.clone();
        objects::set_finalizers(&mut new, &fins);
        Ok(if fins.is_empty() && objects::is_deleting(&new) {
            Change::Delete(new)
        } else {
            Change::Put(new)
        })
    })?;
    Ok(())
}

/// One collection: passes until a fixed point (bounded, in case of churn).
pub fn collect(state: &State) -> Result<(), Error> {
    for _ in 0..32 {
        if !pass(state)? {
            break;
        }
    }
    Ok(())
}

fn pass(state: &State) -> Result<bool, Error> {
    let all = state.store.scan_all()?;
    let uids: HashSet<&str> = all.iter().map(|(_, o)| objects::uid(o)).collect();
    let mut dependents: HashMap<&str, Vec<&Key>> = HashMap::new();
    for (key, obj) in &all {
        for owner in obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(uid) = owner.get("uid").and_then(Value::as_str) {
                dependents.entry(uid).or_default().push(key);
            }
        }
    }
    let mut changed = false;
    for (key, obj) in &all {
        // Orphans: every owner gone.
        let owners = owner_uids(obj);
        if !owners.is_empty()
            && owners.iter().all(|u| !uids.contains(u.as_str()))
            && !objects::is_deleting(obj)
        {
            delete_background(state, key)?;
            changed = true;
            continue;
        }
        if !objects::is_deleting(obj) {
            continue;
        }
        let fins = objects::finalizers(obj);
        let deps = dependents
            .get(objects::uid(obj))
            .cloned()
            .unwrap_or_default();
        if fins.iter().any(|f| f == FOREGROUND) {
            if deps.is_empty() {
                release(state, key, FOREGROUND)?;
            } else {
                for dep in deps {
                    delete_background(state, dep)?;
                }
            }
            changed = true;
        } else if fins.iter().any(|f| f == ORPHAN) {
            let uid = objects::uid(obj).to_string();
            for dep in deps {
                state.write(dep, |current| {
                    let Some(old) = current else {
                        return Ok(Change::Keep(Value::Null));
                    };
                    let mut new = old.clone();
                    if let Some(refs) = new
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                        if refs.is_empty()
                            && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
                        {
                            m.remove("ownerReferences");
                        }
                    }
                    Ok(Change::Put(new))
                })?;
            }
            release(state, key, ORPHAN)?;
            changed = true;
        } else if key.resource == "/namespaces" {
            let ns = key.name.as_str();
            let content: Vec<&(Key, Value)> = all
                .iter()
                .filter(|(k, _)| k.namespace == ns && k.resource != "/namespaces")
                .collect();
            if content.is_empty() {
                state.write(key, |current| {
                    Ok(match current {
                        Some(old) if objects::finalizers(&old).is_empty() => Change::Delete(old),
                        Some(old) => Change::Keep(old),
                        None => Change::Keep(json!(null)),
                    })
                })?;
            } else {
                for (k, o) in content {
                    if !objects::is_deleting(o) {
                        delete_background(state, k)?;
                    }
                }
            }
            changed = true;
        }
    }
    Ok(changed)
}

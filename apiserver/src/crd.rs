//! CustomResourceDefinition lifecycle: validate and accept names on write,
//! serve the versions as soon as the write commits, stop serving (and drop
//! the custom resources) when the CRD is deleted.

use serde_json::{Value, json};

use crate::error::{Cause, Error, Target};
use crate::objects;
use crate::registry::RegistryError;
use crate::state::State;

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": kind,
        "status": "True",
        "lastTransitionTime": objects::now(),
        "reason": reason,
        "message": message,
    })
}

/// Checks that the CRD can be served (on a copy of the registry) and fills in
/// the status a real API server reports once it serves it: `NamesAccepted`,
/// `Established`, `acceptedNames`, `storedVersions`.
pub fn prepare(state: &State, crd: &mut Value) -> Result<(), Error> {
    let name = objects::name(crd).to_string();
    let target = Target::new(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        &name,
    );
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name != format!("{plural}.{group}") {
        return Err(Error::Invalid {
            target,
            causes: vec![Cause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
            )],
        });
    }
    crate::schema::check_crd(crd).map_err(|invalid| invalid.into_error(&target))?;
    let mut registry = state.registry();
    registry.add_crd(crd).map_err(|e| {
        let (field, message) = match &e {
            RegistryError::InvalidCrd { field, message, .. } => (field.clone(), message.clone()),
            RegistryError::NameConflict { message, .. } => {
                ("spec.names".to_string(), message.clone())
            }
        };
        Error::Invalid {
            target: target.clone(),
            causes: vec![Cause::new("FieldValueInvalid", &field, message)],
        }
    })?;
    let storage = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|v| v.get("name").cloned())
        .unwrap_or(Value::Null);
    let mut stored: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !stored.contains(&storage) {
        stored.push(storage);
    }
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
    Ok(())
}

/// Serves the CRD's versions (after its write committed).
pub fn register(state: &State, crd: &Value) {
    let mut registry = state.registry();
    match registry.add_crd(crd) {
        Ok(()) => state.set_registry(registry),
        Err(e) => tracing::warn!(error = %e, "stored CRD cannot be served"),
    }
}

/// Stops serving a deleted CRD and removes its custom resources.
pub fn unregister(state: &State, crd_name: &str) {
    let mut registry = state.registry();
    let resources: Vec<String> = registry
        .resources()
        .filter(|r| matches!(&r.schema, crate::registry::SchemaSource::Crd { crd_name: n, .. } if n == crd_name))
        .map(|r| r.group_resource())
        .collect();
    registry.remove_crd(crd_name);
    state.set_registry(registry);
    let Some(resource) = resources.first() else {
        return;
    };
    let Ok(all) = state.store.scan_all() else {
        return;
    };
    for (key, _) in all.into_iter().filter(|(k, _)| k.resource == *resource) {
        let _ = state.write(&key, |current| {
            Ok(match current {
                Some(obj) => crate::state::Change::Delete(obj),
                None => crate::state::Change::Keep(Value::Null),
            })
        });
    }
}

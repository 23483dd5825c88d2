//! The `scale` subresource: an `autoscaling/v1` `Scale` view of an object's
//! replica count, at the paths its resource declares.

use axum::response::Response;
use serde_json::{Value, json};

use super::write::{WriteOptions, finish_update};
use super::{Request, respond};
use crate::error::{Error, Target};
use crate::objects;
use crate::patch::PatchType;
use crate::registry::ResourceInfo;

fn pointer(path: &str) -> String {
    // `.spec.replicas` → `/spec/replicas`
    path.replace('.', "/")
}

fn scale_info(info: &ResourceInfo) -> Result<&crate::registry::ScaleInfo, Error> {
    info.scale.as_ref().ok_or_else(|| {
        Error::NotFound(Target::new(
            &info.group,
            &format!("{}/scale", info.plural),
            "Scale",
            "",
        ))
    })
}

/// The selector string of the scale status: from `labelSelectorPath`, or for
/// built-ins from `spec.selector.matchLabels`.
fn selector(info: &ResourceInfo, obj: &Value) -> Option<String> {
    if !info.is_custom() {
        let labels = obj.pointer("/spec/selector/matchLabels")?.as_object()?;
        return Some(
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let path = info.scale.as_ref()?.label_selector_path.as_ref()?;
    obj.pointer(&pointer(path))?.as_str().map(str::to_string)
}

/// The `Scale` object of `obj`.
pub fn scale_of(info: &ResourceInfo, obj: &Value) -> Result<Value, Error> {
    let s = scale_info(info)?;
    let spec = obj
        .pointer(&pointer(&s.spec_replicas_path))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status = obj
        .pointer(&pointer(&s.status_replicas_path))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": objects::name(obj),
            "uid": objects::uid(obj),
            "resourceVersion": objects::resource_version(obj),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
        },
        "spec": {"replicas": spec},
        "status": {"replicas": status},
    });
    if info.namespaced {
        scale["metadata"]["namespace"] = json!(objects::namespace(obj));
    }
    if let Some(sel) = selector(info, obj) {
        scale["status"]["selector"] = json!(sel);
    }
    Ok(scale)
}

/// Sets `value` at a dotted path, creating maps on the way.
fn set_path(obj: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = obj;
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i == parts.len() - 1 {
            map.insert((*p).to_string(), value);
            return;
        }
        cur = map.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

/// PUT (body = Scale) or PATCH (patch of the Scale) on `scale`.
pub fn update_scale(req: &Request, patch: Option<(PatchType, Value)>) -> Result<Response, Error> {
    let s = scale_info(&req.info)?.clone();
    let body = match &patch {
        None => Some(req.body_json()?),
        Some(_) => None,
    };
    let mut opts = WriteOptions::from_request(req)?;
    opts.subresource = "scale".into();
    let state = req.state.clone();
    let info = req.info.clone();
    let target = req.target();
    let outcome = state.write(&req.key(), |current| {
        let old = current.ok_or_else(|| Error::NotFound(target.clone()))?;
        let scale = scale_of(&info, &old)?;
        let new_scale = match (&body, &patch) {
            (Some(b), _) => b.clone(),
            (None, Some((t, p))) => {
                // Scale is a built-in type: strategic merge patch works like merge patch on it.
                let t = if *t == PatchType::Strategic { PatchType::Merge } else { *t };
                crate::patch::apply_patch(t, &scale, p, None).map_err(|e| Error::BadRequest(e.to_string()))?
            }
            (None, None) => scale.clone(),
        };
        let sent_rv = objects::resource_version(&new_scale);
        if !sent_rv.is_empty() && sent_rv != objects::resource_version(&old) {
            return Err(Error::Conflict {
                target: target.clone(),
                message: "the object has been modified; please apply your changes to the latest version and try again".into(),
            });
        }
        let replicas = new_scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::BadRequest("Scale.spec.replicas must be an integer".into()))?;
        let mut new = old.clone();
        set_path(&mut new, &s.spec_replicas_path, json!(replicas));
        let (change, _) = finish_update(&state, &info, &old, new, &opts)?;
        Ok(change)
    })?;
    Ok(respond(200, &scale_of(&req.info, &outcome.object)?, &[]))
}

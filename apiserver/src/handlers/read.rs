//! `get` and `list` (label/field selectors, `limit` and `continue`).

use axum::response::Response;
use serde_json::{Value, json};

use super::{Request, respond};
use crate::error::Error;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::Key;

/// GET on an object (or its `status` subresource).
pub fn get(req: &Request) -> Result<Response, Error> {
    if req.info.plural == "componentstatuses" && req.info.group.is_empty() {
        return component_status_response(req);
    }
    let obj = req
        .state
        .get(&req.key())?
        .ok_or_else(|| Error::NotFound(req.target()))?;
    if req.subresource.as_deref() == Some("scale") {
        return Ok(respond(200, &super::scale::scale_of(&req.info, &obj)?, &[]));
    }
    let obj = req.present(obj);
    if let Some(t) = req.table()? {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let body = crate::table::table(&req.info, &t, std::slice::from_ref(&obj), &rv, None, true);
        return Ok(respond(200, &body, &[]));
    }
    Ok(respond(200, &obj, &[]))
}

/// The matching objects and the revision they were read at.
pub struct Listing {
    pub items: Vec<Value>,
    pub revision: u64,
    pub continue_token: Option<String>,
}

/// Continue tokens are opaque to clients; ours is the hex of the last key
/// returned (`namespace NUL name`).
fn encode_continue(obj: &Value) -> String {
    hex_encode(
        format!(
            "{}\0{}",
            crate::objects::namespace(obj),
            crate::objects::name(obj)
        )
        .as_bytes(),
    )
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(resource: &str, token: &str) -> Result<Key, Error> {
    let bad = || Error::BadRequest(format!("continue key is not valid: {token:?}"));
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>, Error>>()?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = text.split_once('\0').ok_or_else(bad)?;
    Ok(Key::new(resource, ns, name))
}

/// Reads matching objects: selectors applied before `limit`, like Kubernetes.
pub fn list_objects(req: &Request) -> Result<Listing, Error> {
    let labels = LabelSelector::parse(req.param("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))?;
    let limit = match req.param("limit") {
        Some(l) if !l.is_empty() => l
            .parse::<usize>()
            .map_err(|_| Error::BadRequest(format!("invalid limit: {l:?}")))?,
        _ => 0,
    };
    let resource = req.info.group_resource();
    let namespace = req.namespace.as_deref().filter(|_| req.info.namespaced);
    let mut after = match req.param("continue") {
        Some(t) if !t.is_empty() => Some(decode_continue(&resource, t)?),
        _ => None,
    };
    let mut items = Vec::new();
    let mut revision = None;
    let chunk = if limit == 0 {
        None
    } else {
        Some(limit.max(100))
    };
    loop {
        let page = req
            .state
            .store
            .list(&resource, namespace, after.as_ref(), chunk)?;
        revision.get_or_insert(page.revision);
        for obj in page.items {
            if labels.matches(&obj) && fields.matches(&obj) {
                items.push(req.present(obj));
                if limit > 0 && items.len() == limit {
                    break;
                }
            }
        }
        if limit > 0 && items.len() == limit {
            // More may remain: hand out a token (possibly for an empty last page, as Kubernetes may).
            let more = page.next.is_some() || {
                let last = items.last().map(|o| {
                    Key::new(
                        resource.as_str(),
                        crate::objects::namespace(o),
                        crate::objects::name(o),
                    )
                });
                req.state
                    .store
                    .list(&resource, namespace, last.as_ref(), Some(1))?
                    .items
                    .iter()
                    .any(|o| labels.matches(o) && fields.matches(o))
            };
            let token = if more {
                items.last().map(encode_continue)
            } else {
                None
            };
            return Ok(Listing {
                items,
                revision: revision.unwrap_or(0),
                continue_token: token,
            });
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(Listing {
        items,
        revision: revision.unwrap_or(0),
        continue_token: None,
    })
}

/// What `componentstatuses` reports: the parts a kubeadm control plane has, all served by
/// this process (the store answering is what `etcd-0` means here).
fn component_statuses(req: &Request) -> Result<Vec<Value>, Error> {
    req.state.store.revision()?;
    Ok(["controller-manager", "scheduler", "etcd-0"]
        .iter()
        .map(|n| {
            json!({"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": n},
                "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]})
        })
        .collect())
}

const COMPONENT_STATUS_WARNING: &str = "v1 ComponentStatus is deprecated in v1.19+";

/// GET on `componentstatuses` (list or one), with the deprecation warning kube-apiserver sends.
fn component_status_response(req: &Request) -> Result<Response, Error> {
    let mut items = component_statuses(req)?;
    if let Some(name) = req.name.as_deref() {
        items.retain(|o| crate::objects::name(o) == name);
        if items.is_empty() {
            return Err(Error::NotFound(req.target()));
        }
    }
    let warning = [COMPONENT_STATUS_WARNING.to_string()];
    if let Some(t) = req.table()? {
        let body = crate::table::table(&req.info, &t, &items, "", None, true);
        return Ok(respond(200, &body, &warning));
    }
    let body = match (req.name.is_some(), items.pop()) {
        (true, Some(one)) => one,
        (_, last) => {
            items.extend(last);
            json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items})
        }
    };
    Ok(respond(200, &body, &warning))
}

/// GET on a collection.
pub fn list(req: &Request) -> Result<Response, Error> {
    if req.info.plural == "componentstatuses" && req.info.group.is_empty() {
        return component_status_response(req);
    }
    let listing = list_objects(req)?;
    if let Some(t) = req.table()? {
        let body = crate::table::table(
            &req.info,
            &t,
            &listing.items,
            &listing.revision.to_string(),
            listing.continue_token.as_deref(),
            true,
        );
        return Ok(respond(200, &body, &[]));
    }
    let mut metadata = json!({"resourceVersion": listing.revision.to_string()});
    if let Some(t) = listing.continue_token {
        metadata["continue"] = json!(t);
    }
    let body = json!({
        "kind": req.info.list_kind,
        "apiVersion": req.info.api_version(),
        "metadata": metadata,
        "items": listing.items,
    });
    Ok(respond(200, &body, &[]))
}

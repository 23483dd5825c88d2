//! `delete` and `deletecollection`: finalizers, `deletionTimestamp`, and the
//! propagation policies (`Background`, `Foreground`, `Orphan`) that the
//! garbage collector then carries out.

use axum::response::Response;
use serde_json::{Value, json};

use super::{Request, respond};
use crate::error::Error;
use crate::objects;
use crate::registry::ResourceInfo;
use crate::state::{Change, Outcome, State};
use crate::store::Key;

/// Finalizer that holds an owner until its dependents are gone.
pub const FOREGROUND: &str = "foregroundDeletion";
/// Finalizer that holds an owner until its dependents are released.
pub const ORPHAN: &str = "orphan";

/// How to delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
    /// `gracePeriodSeconds` (body or query); see [`super::graceful`].
    pub grace_period: Option<i64>,
}

impl DeleteOptions {
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        let body: Value = if req.body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&req.body)
                .map_err(|e| Error::BadRequest(format!("invalid DeleteOptions: {e}")))?
        };
        let propagation = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| req.param("propagationPolicy").map(str::to_string))
            .or_else(
                || match body.get("orphanDependents").and_then(Value::as_bool) {
                    Some(true) => Some("Orphan".into()),
                    _ => None,
                },
            );
        if let Some(p) = &propagation
            && !matches!(p.as_str(), "Background" | "Foreground" | "Orphan")
        {
            return Err(Error::BadRequest(format!(
                "propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        let dry_run = req.dry_run()
            || body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All"));
        Ok(Self {
            propagation,
            uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            resource_version: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run,
            grace_period: body
                .get("gracePeriodSeconds")
                .and_then(Value::as_i64)
                .or_else(|| req.param("gracePeriodSeconds").and_then(|g| g.parse().ok())),
        })
    }
}

/// Deletes one object: the shared path of the handler and the garbage collector.
pub fn delete_object(
    state: &State,
    info: &ResourceInfo,
    key: &Key,
    opts: &DeleteOptions,
) -> Result<Outcome, Error> {
    let target = objects::target(info, &key.name);
    state.write(key, |current| {
        let old = current.ok_or_else(|| Error::NotFound(target.clone()))?;
        if opts.uid.as_deref().is_some_and(|u| u != objects::uid(&old)) {
            return Err(Error::Conflict {
                target: target.clone(),
                message: format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    opts.uid.as_deref().unwrap_or(""),
                    objects::uid(&old)
                ),
            });
        }
        if opts
            .resource_version
            .as_deref()
            .is_some_and(|rv| rv != objects::resource_version(&old))
        {
            return Err(Error::Conflict {
                target: target.clone(),
                message: "Precondition failed: the object has been modified".into(),
            });
        }
        let mut new = old.clone();
        let is_namespace = info.group.is_empty() && info.plural == "namespaces";
        if is_namespace {
            // Namespaces always go through Terminating: the collector empties them first.
            if objects::is_deleting(&old) {
                return Ok(Change::Keep(old));
            }
            objects::meta_mut(&mut new).insert("deletionTimestamp".into(), json!(objects::now()));
            new["status"] = json!({"phase": "Terminating"});
            return Ok(if opts.dry_run {
                Change::Keep(new)
            } else {
                Change::Put(new)
            });
        }
        if let Some(grace) = super::graceful::grace_period(info, &old, opts.grace_period) {
            let marked = super::graceful::mark(&old, grace);
            if objects::is_deleting(&old)
                && old.pointer("/metadata/deletionGracePeriodSeconds")
                    == marked.pointer("/metadata/deletionGracePeriodSeconds")
            {
                return Ok(Change::Keep(old));
            }
            return Ok(if opts.dry_run {
                Change::Keep(marked)
            } else {
                Change::Put(marked)
            });
        }
        let mut finalizers = objects::finalizers(&old);
        let extra = match opts.propagation.as_deref() {
            Some("Foreground") => Some(FOREGROUND),
            Some("Orphan") => Some(ORPHAN),
            _ => None,
        };
        if let Some(f) = extra
            && !objects::is_deleting(&old)
            && !finalizers.iter().any(|x| x == f)
        {
            finalizers.push(f.to_string());
        }
        if finalizers.is_empty() {
            return Ok(if opts.dry_run {
                Change::Keep(old)
            } else {
                Change::Delete(old)
            });
        }
        objects::set_finalizers(&mut new, &finalizers);
        let meta = objects::meta_mut(&mut new);
        if !meta.contains_key("deletionTimestamp") {
            meta.insert("deletionTimestamp".into(), json!(objects::now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        }
        if new == old {
            return Ok(Change::Keep(new));
        }
        Ok(if opts.dry_run {
            Change::Keep(new)
        } else {
            Change::Put(new)
        })
    })
}

/// DELETE on an object.
pub fn delete(req: &Request) -> Result<Response, Error> {
    let opts = DeleteOptions::from_request(req)?;
    let outcome = delete_object(&req.state, &req.info, &req.key(), &opts)?;
    if !opts.dry_run {
        req.state.gc.notify_one();
        if req.info.group == "admissionregistration.k8s.io"
            && let Err(e) = req.state.reload_policies()
        {
            tracing::warn!(error = %e, "reloading admission policies");
        }
        if outcome.deleted
            && req.info.group == "apiextensions.k8s.io"
            && req.info.plural == "customresourcedefinitions"
        {
            crate::crd::unregister(&req.state, objects::name(&outcome.object));
        }
    }
    Ok(respond(200, &req.present(outcome.object), &[]))
}

/// DELETE on a collection: every matching object, as individual deletes.
pub fn delete_collection(req: &Request) -> Result<Response, Error> {
    let opts = DeleteOptions::from_request(req)?;
    let listing = super::read::list_objects(req)?;
    let mut deleted = Vec::new();
    for obj in listing.items {
        let key = State::key(&req.info, objects::namespace(&obj), objects::name(&obj));
        match delete_object(&req.state, &req.info, &key, &opts) {
            Ok(o) => deleted.push(req.present(o.object)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    req.state.gc.notify_one();
    Ok(respond(
        200,
        &json!({
            "kind": req.info.list_kind,
            "apiVersion": req.info.api_version(),
            "metadata": {"resourceVersion": req.state.hub.latest().to_string()},
            "items": deleted,
        }),
        &[],
    ))
}

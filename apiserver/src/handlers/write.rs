//! `create` (POST), `update` (PUT) and `patch` (PATCH, server-side apply
//! included), on objects and their `status` subresource.
//!
//! Every write ends in [`finish_create`] or [`finish_update`], which apply
//! the object semantics (names, uid, generation, status rules), schema
//! validation, admission and managedFields, in that order, under the write
//! lock.

use axum::http::header;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Request, respond};
use crate::error::{Cause, Error, Target};
use crate::hooks::{self, FieldValidation};
use crate::objects;
use crate::patch::PatchType;
use crate::registry::ResourceInfo;
use crate::state::{Change, State};

/// What a write needs besides the object.
pub struct WriteOptions {
    pub manager: String,
    pub dry_run: bool,
    pub validation: FieldValidation,
    pub subresource: String,
}

impl WriteOptions {
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        Ok(Self {
            manager: req.field_manager(),
            dry_run: req.dry_run(),
            validation: FieldValidation::parse(req.param("fieldValidation"))?,
            subresource: req.subresource.clone().unwrap_or_default(),
        })
    }
}

/// Checks `kind`/`apiVersion` of a body against the URL's resource and fills
/// them in when missing; stores under the storage version.
fn check_type(info: &ResourceInfo, obj: &mut Value, target: &Target) -> Result<(), Error> {
    if !obj.is_object() {
        return Err(Error::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != info.kind
    {
        return Err(Error::BadRequest(format!(
            "the kind of the object ({kind}) does not match the kind of the URL ({})",
            info.kind
        )));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
    {
        let (g, _) = crate::registry::split_api_version(av);
        if g != info.group {
            return Err(Error::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                info.api_version()
            )));
        }
    }
    let _ = target;
    let storage = if info.group.is_empty() {
        info.storage_version.clone()
    } else {
        format!("{}/{}", info.group, info.storage_version)
    };
    obj["apiVersion"] = json!(storage);
    obj["kind"] = json!(info.kind);
    Ok(())
}

/// Namespaced objects need an existing namespace that is not terminating.
pub fn check_namespace(
    state: &State,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<(), Error> {
    if !info.namespaced {
        return Ok(());
    }
    if namespace.is_empty() {
        return Err(Error::BadRequest(
            "the namespace of the object is required".into(),
        ));
    }
    let ns_key = crate::store::Key::new("/namespaces", "", namespace);
    match state.get(&ns_key)? {
        None => Err(Error::NotFound(Target::new(
            "",
            "namespaces",
            "Namespace",
            namespace,
        ))),
        Some(ns) if objects::is_deleting(&ns) => Err(Error::Forbidden {
            target: objects::target(info, name),
            message: format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                objects::target(info, name).group_resource()
            ),
        }),
        Some(_) => Ok(()),
    }
}

/// Object semantics of a create; returns the object to store and warnings.
pub fn finish_create(
    state: &State,
    info: &ResourceInfo,
    namespace: &str,
    mut obj: Value,
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>), Error> {
    let name = objects::name(&obj).to_string();
    let target = objects::target(info, &name);
    check_type(info, &mut obj, &target)?;
    let meta = objects::meta_mut(&mut obj);
    if info.namespaced {
        meta.insert("namespace".into(), json!(namespace));
    } else {
        meta.remove("namespace");
    }
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        meta.remove(f);
    }
    meta.insert("uid".into(), json!(objects::new_uid()));
    meta.insert("creationTimestamp".into(), json!(objects::now()));
    objects::validate_name(info, &name)?;
    check_namespace(state, info, namespace, &name)?;
    // With a status subresource, status is the controllers' to write.
    if info.status
        && info.is_custom()
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    objects::apply_builtin_defaults(info, &mut obj);
    objects::drop_empty_metadata(&mut obj);
    if info.group.is_empty() && info.plural == "services" {
        crate::allocator::allocate_service(state, None, &mut obj, &target)?;
    }
    // Objects with a spec (and every custom resource) track generation;
    // data-only kinds like ConfigMap have none, as in Kubernetes.
    if info.is_custom() || obj.get("spec").is_some() {
        objects::meta_mut(&mut obj).insert("generation".into(), json!(1));
    }
    if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
        crate::crd::prepare(state, &mut obj)?;
    }
    let mut warnings = hooks::validate_object(info, &mut obj, None, opts.validation, &target)?;
    warnings.extend(hooks::admit(
        state,
        info,
        "CREATE",
        Some(&obj),
        None,
        &target,
    )?);
    let obj = hooks::track_update(info, None, obj, &opts.manager, &opts.subresource);
    Ok((obj, warnings))
}

/// Object semantics of an update of `old` to `new`.
pub fn finish_update(
    state: &State,
    info: &ResourceInfo,
    old: &Value,
    mut new: Value,
    opts: &WriteOptions,
) -> Result<(Change, Vec<String>), Error> {
    let name = objects::name(old).to_string();
    let target = objects::target(info, &name);
    check_type(info, &mut new, &target)?;
    let sent_rv = objects::resource_version(&new).to_string();
    if !sent_rv.is_empty() && sent_rv != objects::resource_version(old) {
        return Err(Error::Conflict {
            target,
            message: "the object has been modified; please apply your changes to the latest version and try again".into(),
        });
    }
    let sent_name = objects::name(&new);
    if !sent_name.is_empty() && sent_name != name {
        return Err(Error::BadRequest(format!(
            "the name of the object ({sent_name}) does not match the name on the URL ({name})"
        )));
    }
    let sent_ns = objects::namespace(&new);
    if info.namespaced && !sent_ns.is_empty() && sent_ns != objects::namespace(old) {
        return Err(Error::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    let status_only = opts.subresource == "status";
    // Defaults and allocations first, so restoring a field a client left
    // out (clusterIP, a Job's selector) is no spec change.
    if !status_only {
        let meta = objects::meta_mut(&mut new);
        for field in ["name", "namespace", "uid"] {
            if let Some(v) = old.pointer(&format!("/metadata/{field}")) {
                meta.insert(field.into(), v.clone());
            }
        }
        if info.group.is_empty() && info.plural == "services" {
            crate::allocator::allocate_service(state, Some(old), &mut new, &target)?;
        }
        crate::workload_defaults::apply(info, &mut new);
    }
    let mut new = objects::prepare_update(info, old, new, status_only);
    objects::drop_empty_metadata(&mut new);
    if info.group == "apiextensions.k8s.io"
        && info.plural == "customresourcedefinitions"
        && !status_only
    {
        crate::crd::prepare(state, &mut new)?;
    }
    let mut warnings = hooks::validate_object(info, &mut new, Some(old), opts.validation, &target)?;
    warnings.extend(hooks::admit(
        state,
        info,
        "UPDATE",
        Some(&new),
        Some(old),
        &target,
    )?);
    let mut new = hooks::track_update(info, Some(old), new, &opts.manager, &opts.subresource);
    // Same resourceVersion as stored, so an unchanged object compares equal.
    objects::meta_mut(&mut new).insert(
        "resourceVersion".into(),
        json!(objects::resource_version(old)),
    );
    if new == *old {
        return Ok((Change::Keep(new), warnings));
    }
    if objects::is_deleting(&new) && objects::finalizers(&new).is_empty() {
        return Ok((
            if opts.dry_run {
                Change::Keep(new)
            } else {
                Change::Delete(new)
            },
            warnings,
        ));
    }
    Ok((
        if opts.dry_run {
            Change::Keep(new)
        } else {
            Change::Put(new)
        },
        warnings,
    ))
}

fn after_write(req: &Request, obj: &Value, deleted: bool) {
    if req.info.group == "admissionregistration.k8s.io"
        && !req.dry_run()
        && let Err(e) = req.state.reload_policies()
    {
        tracing::warn!(error = %e, "reloading admission policies");
    }
    if req.info.group == "apiextensions.k8s.io"
        && req.info.plural == "customresourcedefinitions"
        && !req.dry_run()
    {
        if deleted {
            crate::crd::unregister(&req.state, objects::name(obj));
        } else {
            crate::crd::register(&req.state, obj);
        }
    }
}

/// POST on a collection.
pub fn create(req: &Request) -> Result<Response, Error> {
    let mut obj = req.body_json()?;
    let opts = WriteOptions::from_request(req)?;
    let url_ns = req.namespace().to_string();
    let body_ns = objects::namespace(&obj).to_string();
    if req.info.namespaced && !body_ns.is_empty() && body_ns != url_ns {
        return Err(Error::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    if objects::name(&obj).is_empty() {
        let prefix = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if prefix.is_empty() {
            return Err(Error::Invalid {
                target: req.target(),
                causes: vec![Cause::new(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            });
        }
        objects::meta_mut(&mut obj).insert("name".into(), json!(objects::generate_name(&prefix)));
    }
    let name = objects::name(&obj).to_string();
    let key = State::key(&req.info, &url_ns, &name);
    let state = req.state.clone();
    let info = req.info.clone();
    let mut warnings = Vec::new();
    let outcome = state.write(&key, |current| {
        if current.is_some() {
            return Err(Error::AlreadyExists(objects::target(&info, &name)));
        }
        let (obj, w) = finish_create(&state, &info, &url_ns, obj, &opts)?;
        warnings = w;
        Ok(if opts.dry_run {
            Change::Keep(obj)
        } else {
            Change::Put(obj)
        })
    })?;
    after_write(req, &outcome.object, false);
    Ok(respond(201, &req.present(outcome.object), &warnings))
}

/// PUT on an object or its `status`.
pub fn update(req: &Request) -> Result<Response, Error> {
    if req.subresource.as_deref() == Some("scale") {
        return super::scale::update_scale(req, None);
    }
    let new = req.body_json()?;
    let opts = WriteOptions::from_request(req)?;
    let state = req.state.clone();
    let info = req.info.clone();
    let target = req.target();
    let mut warnings = Vec::new();
    let outcome = state.write(&req.key(), |current| {
        let old = current.ok_or_else(|| Error::NotFound(target.clone()))?;
        let (change, w) = finish_update(&state, &info, &old, new, &opts)?;
        warnings = w;
        Ok(change)
    })?;
    after_write(req, &outcome.object, outcome.deleted);
    Ok(respond(200, &req.present(outcome.object), &warnings))
}

/// PATCH on an object or its `status` (JSON, merge, strategic, apply).
pub fn patch(req: &Request) -> Result<Response, Error> {
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let patch_type = PatchType::from_content_type(content_type).map_err(|e| match e {
        crate::patch::PatchError::UnsupportedMediaType { accepted } => {
            Error::UnsupportedMediaType(accepted)
        }
        other => Error::BadRequest(other.to_string()),
    })?;
    let patch = hooks::parse_patch(patch_type, &req.body)?;
    if req.subresource.as_deref() == Some("scale") {
        return super::scale::update_scale(req, Some((patch_type, patch)));
    }
    let opts = WriteOptions::from_request(req)?;
    if patch_type == PatchType::Apply && req.param("fieldManager").is_none_or(str::is_empty) {
        return Err(Error::BadRequest(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
        ));
    }
    let force = req.flag("force");
    let state = req.state.clone();
    let info = req.info.clone();
    let target = req.target();
    let ns = req.namespace().to_string();
    let name = req.name().to_string();
    let mut warnings = Vec::new();
    let mut created = false;
    let outcome = state.write(&req.key(), |current| match (current, patch_type) {
        (None, PatchType::Apply) => {
            let mut applied = hooks::server_side_apply(
                &info,
                None,
                &patch,
                &opts.manager,
                force,
                &opts.subresource,
                &target,
            )?;
            let meta = objects::meta_mut(&mut applied);
            meta.insert("name".into(), json!(name));
            let (obj, w) = finish_create(&state, &info, &ns, applied, &opts)?;
            warnings = w;
            created = true;
            Ok(if opts.dry_run {
                Change::Keep(obj)
            } else {
                Change::Put(obj)
            })
        }
        (None, _) => Err(Error::NotFound(target.clone())),
        (Some(old), PatchType::Apply) => {
            let mut live = old.clone();
            super::present(&info, &mut live);
            let applied = hooks::server_side_apply(
                &info,
                Some(&live),
                &patch,
                &opts.manager,
                force,
                &opts.subresource,
                &target,
            )?;
            let (change, w) = finish_update(&state, &info, &old, applied, &opts)?;
            warnings = w;
            Ok(change)
        }
        (Some(old), t) => {
            let mut live = old.clone();
            super::present(&info, &mut live);
            let patched = hooks::apply_patch(&info, t, &live, &patch, &target)?;
            let (change, w) = finish_update(&state, &info, &old, patched, &opts)?;
            warnings = w;
            Ok(change)
        }
    })?;
    after_write(req, &outcome.object, outcome.deleted);
    Ok(respond(
        if created { 201 } else { 200 },
        &req.present(outcome.object),
        &warnings,
    ))
}

//! Staged server-side apply of a Kustomization's objects.
//!
//! Stage 1 applies CustomResourceDefinitions and Namespaces and waits for the CRDs to be
//! Established; stage 2 applies everything else, so a revision may carry a CRD and its custom
//! resources, or a Namespace and its contents. Every object gets the ownership labels and is
//! applied with field manager `flotilla` and `force=true`, as Flux does (Git wins conflicts).
//!
//! Writes are skipped when they cannot change anything: the live objects are LISTed per kind
//! and namespace, and an object whose live state already holds every desired field is left
//! alone. That check alone would miss a field removed from Git (it is absent from the desired
//! object, so nothing differs), so on a new revision or generation ([`Mode::Full`]) every
//! object is applied and the API server drops the no-ops; between revisions
//! ([`Mode::DriftOnly`]) only objects that drifted are.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crds::inventory::{ObjectId, ResourceInventory, ResourceRef};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::resources::{Resource, Resources, split_api_version};
use crate::FIELD_MANAGER;

/// Label naming the Kustomization that applied an object.
pub const NAME_LABEL: &str = "flotilla.dev/kustomization-name";
/// Label naming the namespace of the Kustomization that applied an object.
pub const NAMESPACE_LABEL: &str = "flotilla.dev/kustomization-namespace";

/// How many writes run at once; the API server serialises them anyway, a few in flight hide
/// the round trips.
const PARALLEL_WRITES: usize = 8;
/// LISTs in flight at once while reading a stage's live objects.
const PARALLEL_LISTS: usize = 4;

/// Why applying failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A rendered object lacks `apiVersion`, `kind` or `metadata.name`.
    #[error("object #{index} ({kind} {name}): {message}")]
    InvalidObject {
        /// Position in the build output.
        index: usize,
        /// Kind, if known.
        kind: String,
        /// Name, if known.
        name: String,
        /// What is missing.
        message: String,
    },
    /// The cluster does not serve the kind (no CRD for it, or a typo in `apiVersion`).
    #[error("{object}: no API resource for {api_version} {kind}: {source}")]
    UnknownKind {
        /// `Kind/namespace/name`.
        object: String,
        /// `apiVersion` as rendered.
        api_version: String,
        /// Kind as rendered.
        kind: String,
        /// The discovery error.
        #[source]
        source: Box<kube::Error>,
    },
    /// One or more objects were refused by the API server; each line names the object.
    #[error("{}", failures.join("\n"))]
    Refused {
        /// `Kind/namespace/name: message`, one per refused object.
        failures: Vec<String>,
    },
    /// Listing live objects failed.
    #[error("listing {what}: {source}")]
    List {
        /// `Deployments in apps`, …
        what: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A CustomResourceDefinition did not become Established in time.
    #[error("CustomResourceDefinition/{name} not Established after {waited:?}")]
    CrdNotEstablished {
        /// The CRD's name.
        name: String,
        /// How long we waited.
        waited: Duration,
    },
}

/// Which objects get a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Apply every object (new revision or generation): removed fields are removed too.
    Full,
    /// Apply only objects whose live state lacks a desired field or value.
    DriftOnly,
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed and the apply changed it.
    Configured,
    /// Nothing to change (no write, or a write the API server found to be a no-op).
    Unchanged,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
        }
    }
}

/// What one write did (with the live object after it), or why it was refused.
type WriteResult = Result<(Action, Value), String>;

/// One object ready to apply.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Inventory id parts.
    pub id: ObjectId,
    /// `apiVersion` as rendered.
    pub api_version: String,
    /// The object, with ownership labels and a namespace if its kind is namespaced.
    pub object: Value,
}

impl Desired {
    /// `Kind/namespace/name` (or `Kind/name` when cluster-scoped), as Flux prints objects.
    pub fn display(&self) -> String {
        display_id(&self.id)
    }
}

/// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
pub fn display_id(id: &ObjectId) -> String {
    if id.namespace.is_empty() {
        format!("{}/{}", id.kind, id.name)
    } else {
        format!("{}/{}/{}", id.kind, id.namespace, id.name)
    }
}

/// The outcome of a successful apply.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Each object with what happened to it, in apply order.
    pub changes: Vec<(ObjectId, Action)>,
    /// The inventory of everything applied.
    pub inventory: ResourceInventory,
    /// The live objects after the apply, by inventory id (health checks start from them).
    pub live: HashMap<String, Value>,
}

impl Applied {
    /// Flux-style summary of what changed, one `Kind/ns/name action` per line; empty when
    /// nothing did.
    pub fn summary(&self) -> String {
        self.changes
            .iter()
            .filter(|(_, action)| *action != Action::Unchanged)
            .map(|(id, action)| format!("{} {}", display_id(id), action.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The Kustomization an apply is for (ownership labels, default namespace).
#[derive(Clone, Debug)]
pub struct Owner {
    /// The Kustomization's name.
    pub name: String,
    /// The Kustomization's namespace; also the namespace of rendered namespaced objects that
    /// have none.
    pub namespace: String,
}

/// Where and how to apply.
pub struct Target<'a> {
    /// Client of the target cluster (impersonating if asked).
    pub client: &'a kube::Client,
    /// Discovery cache of that cluster.
    pub resources: &'a Resources,
    /// Recreate objects whose immutable fields changed.
    pub force: bool,
    /// Deadline for CRDs to become Established.
    pub deadline: Instant,
}

/// Labels every object, gives namespaced objects without a namespace the owner's, and
/// resolves each kind. Order is kept.
pub async fn prepare(
    objects: &[Value],
    owner: &Owner,
    target: &Target<'_>,
) -> Result<Vec<Desired>, ApplyError> {
    let mut desired = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        let mut object = object.clone();
        let invalid = |message: &str, object: &Value| ApplyError::InvalidObject {
            index,
            kind: str_at(object, "/kind").to_owned(),
            name: str_at(object, "/metadata/name").to_owned(),
            message: message.to_owned(),
        };
        let api_version = str_at(&object, "/apiVersion").to_owned();
        let kind = str_at(&object, "/kind").to_owned();
        let name = str_at(&object, "/metadata/name").to_owned();
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return Err(invalid(
                "apiVersion, kind and metadata.name are required",
                &object,
            ));
        }
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(invalid("metadata is not an object", &object));
        };
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(NAME_LABEL.into(), Value::String(owner.name.clone()));
            labels.insert(
                NAMESPACE_LABEL.into(),
                Value::String(owner.namespace.clone()),
            );
        }
        // Stage-1 kinds are always cluster-scoped built-ins; resolving them here would need
        // discovery of a CRD not yet applied for stage 2, so stage 2 kinds resolve lazily.
        let namespaced = match stage_of(&api_version, &kind) {
            Stage::Cluster => false,
            Stage::Rest => {
                let (group, _) = split_api_version(&api_version);
                match target
                    .resources
                    .resolve(target.client, &gvk(&api_version, &kind))
                    .await
                {
                    Ok(resource) => resource.namespaced,
                    // A kind from a CRD of this same revision: namespaced unless the CRD
                    // says otherwise (checked again after stage 1).
                    Err(_) if defines_group(objects, group) => {
                        crd_scope_namespaced(objects, group, &kind)
                    }
                    Err(source) => {
                        return Err(ApplyError::UnknownKind {
                            object: format!("{kind}/{name}"),
                            api_version,
                            kind,
                            source: Box::new(source),
                        });
                    }
                }
            }
        };
        let mut namespace = str_at(&object, "/metadata/namespace").to_owned();
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            if namespaced && namespace.is_empty() {
                namespace = owner.namespace.clone();
                metadata.insert("namespace".into(), Value::String(namespace.clone()));
            } else if !namespaced && !namespace.is_empty() {
                // kubectl drops a namespace on a cluster-scoped object; so do we.
                metadata.remove("namespace");
                namespace.clear();
            }
        }
        let (group, _) = split_api_version(&api_version);
        desired.push(Desired {
            id: ObjectId {
                namespace,
                name,
                group: group.to_owned(),
                kind,
            },
            api_version,
            object,
        });
    }
    Ok(desired)
}

/// The inventory of `desired`, sorted by id, without duplicates.
pub fn inventory_of(desired: &[Desired]) -> ResourceInventory {
    let mut entries: Vec<ResourceRef> = desired
        .iter()
        .map(|d| ResourceRef::new(&d.id, &d.api_version))
        .collect();
    entries.sort();
    entries.dedup_by(|a, b| a.id == b.id);
    ResourceInventory { entries }
}

/// Applies `desired` in stages. Objects of stage 1 must be applied (and CRDs Established)
/// before stage 2 starts; within a stage every object is attempted and all refusals are
/// reported together.
pub async fn apply(
    desired: &[Desired],
    mode: Mode,
    target: &Target<'_>,
) -> Result<Applied, ApplyError> {
    let (cluster, rest): (Vec<&Desired>, Vec<&Desired>) = desired
        .iter()
        .partition(|d| stage_of(&d.api_version, &d.id.kind) == Stage::Cluster);
    let mut applied = Applied {
        inventory: inventory_of(desired),
        ..Applied::default()
    };
    apply_stage(&cluster, mode, target, &mut applied).await?;
    let crds: Vec<&&Desired> = cluster
        .iter()
        .filter(|d| d.id.kind == "CustomResourceDefinition")
        .collect();
    for crd in &crds {
        wait_established(target, &crd.id.name).await?;
        if let Some(group) = crd.object.pointer("/spec/group").and_then(Value::as_str) {
            target.resources.forget_group(group);
        }
    }
    apply_stage(&rest, mode, target, &mut applied).await?;
    Ok(applied)
}

async fn apply_stage(
    stage: &[&Desired],
    mode: Mode,
    target: &Target<'_>,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    if stage.is_empty() {
        return Ok(());
    }
    // One LIST per kind and namespace gives every live object of the stage.
    let mut groups: BTreeMap<(String, String, String), Vec<&Desired>> = BTreeMap::new();
    for d in stage {
        groups
            .entry((
                d.api_version.clone(),
                d.id.kind.clone(),
                d.id.namespace.clone(),
            ))
            .or_default()
            .push(d);
    }
    // The LISTs run concurrently: on a no-change reconcile they are most of the time spent,
    // and the server encodes one list while we decode another.
    let mut lists = Vec::with_capacity(groups.len());
    for ((api_version, kind, namespace), members) in groups {
        lists.push(async move {
            let resource = resolve(target, &api_version, &kind, members[0]).await?;
            let live = list_live(target.client, &resource, &namespace).await?;
            Ok::<_, ApplyError>((resource, live, members))
        });
    }
    let listed: Vec<(Resource, HashMap<String, Value>, Vec<&Desired>)> =
        futures::stream::iter(lists)
            .buffered(PARALLEL_LISTS)
            .try_collect()
            .await?;
    let mut work = Vec::new();
    for (resource, mut live, members) in listed {
        for d in members {
            // Moved, not cloned: each name appears once in a stage (ids are unique).
            let current = live.remove(&d.id.name);
            work.push((d, resource.clone(), current));
        }
    }
    // Futures built in a loop, not a `map` closure: a closure here trips rustc's
    // higher-ranked lifetime check when the controller requires the reconcile to be `Send`.
    let mut writes = Vec::with_capacity(work.len());
    for (d, resource, current) in work {
        writes.push(async move {
            let outcome = apply_one(d, &resource, current, mode, target).await;
            (d.id.clone(), outcome)
        });
    }
    let results: Vec<(ObjectId, WriteResult)> = futures::stream::iter(writes)
        .buffered(PARALLEL_WRITES)
        .collect()
        .await;
    let mut failures = Vec::new();
    for (id, result) in results {
        match result {
            Ok((action, live)) => {
                applied.live.insert(id.to_id(), live);
                applied.changes.push((id, action));
            }
            Err(message) => failures.push(format!("{}: {message}", display_id(&id))),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Refused { failures })
    }
}

async fn resolve(
    target: &Target<'_>,
    api_version: &str,
    kind: &str,
    example: &Desired,
) -> Result<Resource, ApplyError> {
    target
        .resources
        .resolve(target.client, &gvk(api_version, kind))
        .await
        .map_err(|source| ApplyError::UnknownKind {
            object: example.display(),
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            source: Box::new(source),
        })
}

/// The live objects of one kind in one namespace (all namespaces' objects for cluster-scoped
/// kinds), by name.
pub async fn list_live(
    client: &kube::Client,
    resource: &Resource,
    namespace: &str,
) -> Result<HashMap<String, Value>, ApplyError> {
    let api = dynamic_api(client, resource, namespace);
    let what = || {
        if namespace.is_empty() {
            resource.api.plural.clone()
        } else {
            format!("{} in {namespace}", resource.api.plural)
        }
    };
    // Read as plain JSON: the comparison works on JSON, and a thousand objects decoded into
    // `DynamicObject`s only to be encoded again cost more than the LIST itself.
    let request = kube::core::Request::new(api.resource_url())
        .list(&ListParams::default())
        .map_err(|e| ApplyError::List {
            what: what(),
            source: Box::new(kube::Error::BuildRequest(e)),
        })?;
    let mut list: Value = client
        .request(request)
        .await
        .map_err(|source| ApplyError::List {
            what: what(),
            source: Box::new(source),
        })?;
    let items = match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let mut live = HashMap::with_capacity(items.len());
    for mut item in items {
        // Items of a list carry no apiVersion/kind; health checks and callers expect them.
        if let Some(object) = item.as_object_mut() {
            object
                .entry("apiVersion")
                .or_insert_with(|| Value::String(resource.api.api_version.clone()));
            object
                .entry("kind")
                .or_insert_with(|| Value::String(resource.api.kind.clone()));
        }
        let name = str_at(&item, "/metadata/name").to_owned();
        live.insert(name, item);
    }
    Ok(live)
}

/// An API for `resource` in `namespace` (ignored for cluster-scoped resources).
pub fn dynamic_api(
    client: &kube::Client,
    resource: &Resource,
    namespace: &str,
) -> Api<DynamicObject> {
    if resource.namespaced && !namespace.is_empty() {
        Api::namespaced_with(client.clone(), namespace, &resource.api)
    } else {
        Api::all_with(client.clone(), &resource.api)
    }
}

async fn apply_one(
    desired: &Desired,
    resource: &Resource,
    current: Option<Value>,
    mode: Mode,
    target: &Target<'_>,
) -> Result<(Action, Value), String> {
    if let Some(live) = &current
        && mode == Mode::DriftOnly
        && contains(live, &desired.object)
    {
        return Ok((Action::Unchanged, live.clone()));
    }
    let api = dynamic_api(target.client, resource, &desired.id.namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let before = current
        .as_ref()
        .map(|live| str_at(live, "/metadata/resourceVersion").to_owned());
    let result = api
        .patch(&desired.id.name, &params, &Patch::Apply(&desired.object))
        .await;
    let patched = match result {
        Ok(object) => object,
        Err(kube::Error::Api(status)) if target.force && is_immutable_refusal(&status) => {
            tracing::info!(object = %desired.display(), "recreating: immutable field changed");
            recreate(&api, desired, &params).await?
        }
        Err(kube::Error::Api(status)) => return Err(status.message),
        Err(other) => return Err(other.to_string()),
    };
    let after = patched
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let value = serde_json::to_value(&patched).map_err(|e| e.to_string())?;
    let action = match before {
        None => Action::Created,
        Some(before) if before == after => Action::Unchanged,
        Some(_) => Action::Configured,
    };
    Ok((action, value))
}

/// Whether the API server refused a change to an immutable field (Kubernetes answers 422
/// with "field is immutable", or "Forbidden: updates to ... are forbidden" for pod specs of
/// StatefulSets and Jobs).
fn is_immutable_refusal(status: &kube::core::Status) -> bool {
    status.code == 422
        && (status.message.contains("immutable")
            || status.message.contains("updates to")
            || status.message.contains("Forbidden"))
}

/// `spec.force`: delete the object, wait until it is gone, apply it again.
async fn recreate(
    api: &Api<DynamicObject>,
    desired: &Desired,
    params: &PatchParams,
) -> Result<DynamicObject, String> {
    let delete = DeleteParams::background();
    match api.delete(&desired.id.name, &delete).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => return Err(format!("deleting to recreate: {e}")),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pause = Duration::from_millis(20);
    loop {
        match api.get_opt(&desired.id.name).await {
            Ok(None) => break,
            Ok(Some(_)) if Instant::now() < deadline => {}
            Ok(Some(_)) => return Err("deleted to recreate, but it is still there".to_owned()),
            Err(e) => return Err(format!("waiting for deletion: {e}")),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
    api.patch(&desired.id.name, params, &Patch::Apply(&desired.object))
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) => status.message,
            other => other.to_string(),
        })
}

/// Polls a CRD until its `Established` condition is True.
async fn wait_established(target: &Target<'_>, name: &str) -> Result<(), ApplyError> {
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(target.client.clone());
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let established = api
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|crd| crd.status)
            .and_then(|status| status.conditions)
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return Ok(());
        }
        if Instant::now() >= target.deadline {
            return Err(ApplyError::CrdNotEstablished {
                name: name.to_owned(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Whether `live` holds every field of `desired` with the same value. Lists must have the
/// same length and match element by element; numbers compare by value (`1` and `1.0`).
/// `null` in `desired` asks for the field's absence.
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (desired, live) {
        (Value::Object(want), Value::Object(have)) => {
            want.iter().all(|(key, want)| match have.get(key) {
                Some(have) => contains(have, want),
                None => want.is_null() || is_empty_container(want),
            })
        }
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| contains(h, w))
        }
        (Value::Number(want), Value::Number(have)) => {
            want == have || want.as_f64() == have.as_f64()
        }
        (want, have) => want == have,
    }
}

/// An empty map or list in a manifest leaves no trace in the stored object.
fn is_empty_container(value: &Value) -> bool {
    matches!(value, Value::Object(m) if m.is_empty())
        || matches!(value, Value::Array(a) if a.is_empty())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// CRDs and Namespaces.
    Cluster,
    /// Everything else.
    Rest,
}

fn stage_of(api_version: &str, kind: &str) -> Stage {
    let (group, _) = split_api_version(api_version);
    match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") | ("", "Namespace") => Stage::Cluster,
        _ => Stage::Rest,
    }
}

fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = split_api_version(api_version);
    GroupVersionKind::gvk(group, version, kind)
}

fn defines_group(objects: &[Value], group: &str) -> bool {
    objects.iter().any(|o| {
        str_at(o, "/kind") == "CustomResourceDefinition" && str_at(o, "/spec/group") == group
    })
}

fn crd_scope_namespaced(objects: &[Value], group: &str, kind: &str) -> bool {
    objects
        .iter()
        .find(|o| {
            str_at(o, "/kind") == "CustomResourceDefinition"
                && str_at(o, "/spec/group") == group
                && str_at(o, "/spec/names/kind") == kind
        })
        .is_none_or(|crd| str_at(crd, "/spec/scope") != "Cluster")
}

pub(crate) fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::contains;

    #[test]
    fn live_with_defaulted_extra_fields_contains_the_desired_object() {
        let desired = json!({"spec": {"ports": [{"port": 80}]}});
        let live =
            json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "clusterIP": "10.0.0.1"}});
        assert!(contains(&live, &desired));
    }

    #[test]
    fn a_changed_value_is_drift() {
        let desired = json!({"data": {"key": "from-git"}});
        let live = json!({"data": {"key": "edited"}});
        assert!(!contains(&live, &desired));
    }

    #[test]
    fn a_list_of_different_length_is_drift() {
        let desired = json!({"args": ["a"]});
        let live = json!({"args": ["a", "b"]});
        assert!(!contains(&live, &desired));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(contains(&json!({"x": 1.0}), &json!({"x": 1})));
    }
}

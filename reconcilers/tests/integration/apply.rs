//! Staged server-side apply (`reconcilers::kustomization::apply`) against a real control
//! plane, with objects the tests construct.

use crate::source_fixtures;

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use reconcilers::kustomization::apply::{
    self, Action, Mode, NAME_LABEL, NAMESPACE_LABEL, Owner, Target,
};
use reconcilers::kustomization::resources::Resources;
use serde_json::{Value, json};
use source_fixtures::Cluster;
use tokio::time::Instant;

fn owner() -> Owner {
    Owner {
        name: "app".to_owned(),
        namespace: "flotilla-system".to_owned(),
    }
}

fn target<'a>(cluster: &'a Cluster, resources: &'a Resources) -> Target<'a> {
    Target {
        client: &cluster.client,
        resources,
        force: false,
        deadline: Instant::now() + Duration::from_secs(20),
    }
}

async fn apply_all(cluster: &Cluster, objects: &[Value], mode: Mode) -> apply::Applied {
    let resources = Resources::default();
    let target = target(cluster, &resources);
    let desired = apply::prepare(objects, &owner(), &target)
        .await
        .expect("prepare");
    apply::apply(&desired, mode, &target).await.expect("apply")
}

fn config_map(namespace: &str, name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": namespace},
           "data": {"key": value}})
}

async fn get(
    cluster: &Cluster,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Value {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = format!("{}s", kind.to_lowercase());
    let resource = ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        plural,
    };
    let api: Api<DynamicObject> = if namespace.is_empty() {
        Api::all_with(cluster.client.clone(), &resource)
    } else {
        Api::namespaced_with(cluster.client.clone(), namespace, &resource)
    };
    serde_json::to_value(api.get(name).await.expect("object exists")).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_objects_carry_ownership_labels_and_the_flotilla_field_manager() {
    let cluster = Cluster::start().await;
    let applied = apply_all(&cluster, &[config_map("default", "web", "v1")], Mode::Full).await;
    assert_eq!(applied.changes.len(), 1);
    assert_eq!(applied.changes[0].1, Action::Created);

    let live = get(&cluster, "v1", "ConfigMap", "default", "web").await;
    assert_eq!(live["metadata"]["labels"][NAME_LABEL], "app");
    assert_eq!(
        live["metadata"]["labels"][NAMESPACE_LABEL],
        "flotilla-system"
    );
    let managers: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|m| m["manager"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(managers, ["flotilla"]);
    assert_eq!(live["metadata"]["managedFields"][0]["operation"], "Apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespaced_object_without_namespace_lands_in_the_kustomization_namespace() {
    let cluster = Cluster::start().await;
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flotilla-system"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}),
    ];
    let applied = apply_all(&cluster, &objects, Mode::Full).await;
    let ids: Vec<String> = applied
        .inventory
        .entries
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "_flotilla-system__Namespace",
            "flotilla-system_settings__ConfigMap"
        ]
    );
    get(&cluster, "v1", "ConfigMap", "flotilla-system", "settings").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_and_its_custom_resource_apply_in_one_revision() {
    let cluster = Cluster::start().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}
    });
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": 3}});
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    // Custom resource first in the input: staging, not input order, makes this work.
    let applied = apply_all(&cluster, &[widget, namespace, crd], Mode::Full).await;

    let order: Vec<&str> = applied
        .changes
        .iter()
        .map(|(id, _)| id.kind.as_str())
        .collect();
    assert_eq!(
        order.last(),
        Some(&"Widget"),
        "custom resources come after their CRD: {order:?}"
    );
    let live = get(&cluster, "example.com/v1", "Widget", "shop", "w").await;
    assert_eq!(live["spec"]["size"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_only_apply_of_unchanged_objects_writes_nothing() {
    let cluster = Cluster::start().await;
    let objects = [
        config_map("default", "a", "1"),
        config_map("default", "b", "2"),
    ];
    apply_all(&cluster, &objects, Mode::Full).await;
    let revision = cluster.cp.revision();

    let applied = apply_all(&cluster, &objects, Mode::DriftOnly).await;

    assert!(applied.changes.iter().all(|(_, a)| *a == Action::Unchanged));
    assert_eq!(cluster.cp.revision(), revision, "the store was not written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_apply_of_unchanged_objects_changes_no_resource_version() {
    let cluster = Cluster::start().await;
    let objects = [config_map("default", "a", "1")];
    apply_all(&cluster, &objects, Mode::Full).await;
    let before = get(&cluster, "v1", "ConfigMap", "default", "a").await;

    let applied = apply_all(&cluster, &objects, Mode::Full).await;

    assert_eq!(applied.changes[0].1, Action::Unchanged);
    let after = get(&cluster, "v1", "ConfigMap", "default", "a").await;
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_only_apply_reverts_a_field_someone_changed() {
    let cluster = Cluster::start().await;
    let objects = [config_map("default", "a", "from-git")];
    apply_all(&cluster, &objects, Mode::Full).await;
    let api: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        "default",
        &ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    api.patch(
        "a",
        &PatchParams::apply("kubectl-edit").force(),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"key": "edited"}})),
    )
    .await
    .expect("edit");

    let applied = apply_all(&cluster, &objects, Mode::DriftOnly).await;

    assert_eq!(applied.changes[0].1, Action::Configured);
    let live = get(&cluster, "v1", "ConfigMap", "default", "a").await;
    assert_eq!(live["data"]["key"], "from-git");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_object_is_named_in_the_error() {
    let cluster = Cluster::start().await;
    let resources = Resources::default();
    let target = target(&cluster, &resources);
    // Not a DNS subdomain: every API server refuses the name.
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "Bad_Name", "namespace": "default"}, "data": {"key": "v"}});
    let desired = apply::prepare(
        &[config_map("default", "good", "1"), bad],
        &owner(),
        &target,
    )
    .await
    .expect("prepare");

    let error = apply::apply(&desired, Mode::Full, &target)
        .await
        .expect_err("refused");

    let message = error.to_string();
    assert!(
        message.starts_with("ConfigMap/default/Bad_Name: "),
        "{message}"
    );
    get(&cluster, "v1", "ConfigMap", "default", "good").await;
}

/// A CRD whose `spec.size` may not change once set (a CEL transition rule), standing in for
/// built-in immutable fields.
fn immutable_widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "size is immutable"}]}}}}}}}]}
    })
}

fn gadget(size: i64) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g", "namespace": "default"}, "spec": {"size": size}})
}

async fn apply_forced(
    cluster: &Cluster,
    objects: &[Value],
    force: bool,
) -> Result<apply::Applied, apply::ApplyError> {
    let resources = Resources::default();
    let target = Target {
        force,
        ..target(cluster, &resources)
    };
    let desired = apply::prepare(objects, &owner(), &target)
        .await
        .expect("prepare");
    apply::apply(&desired, Mode::Full, &target).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_field_change_fails_without_force() {
    let cluster = Cluster::start().await;
    apply_forced(&cluster, &[immutable_widget_crd(), gadget(1)], false)
        .await
        .expect("first apply");

    let error = apply_forced(&cluster, &[immutable_widget_crd(), gadget(2)], false)
        .await
        .expect_err("immutable");

    assert!(error.to_string().contains("Gadget/default/g"), "{error}");
    assert!(error.to_string().contains("immutable"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_recreates_an_object_whose_immutable_field_changed() {
    let cluster = Cluster::start().await;
    apply_forced(&cluster, &[immutable_widget_crd(), gadget(1)], true)
        .await
        .expect("first apply");
    let before = get(&cluster, "example.com/v1", "Gadget", "default", "g").await;

    apply_forced(&cluster, &[immutable_widget_crd(), gadget(2)], true)
        .await
        .expect("recreated");

    let after = get(&cluster, "example.com/v1", "Gadget", "default", "g").await;
    assert_eq!(after["spec"]["size"], 2);
    assert_ne!(
        after["metadata"]["uid"], before["metadata"]["uid"],
        "a new object"
    );
}

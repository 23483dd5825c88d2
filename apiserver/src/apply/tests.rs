//! Server-side apply and managedFields, one behaviour per test.

use super::*;
use crate::schema::builtin;
use serde_json::json;

const T: &str = "2026-01-01T00:00:00Z";

fn opts(manager: &str, force: bool) -> ApplyOptions<'_> {
    ApplyOptions {
        manager,
        force,
        api_version: "v1",
        subresource: None,
        has_status_subresource: false,
        time: T,
    }
}

fn cm_schema() -> Option<Node<'static>> {
    builtin::node("io.k8s.api.core.v1.ConfigMap")
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": data})
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_string(),
                e["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn apply_on_create_records_the_applied_fields() {
    let out = server_side_apply(
        None,
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    let mf = &out["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "kubectl");
    assert_eq!(mf["operation"], "Apply");
    assert_eq!(mf["fieldsType"], "FieldsV1");
    assert_eq!(mf["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    assert_eq!(out["data"], json!({"a": "1"}));
}

#[test]
fn applying_the_same_value_as_another_owner_shares_it() {
    let live = update_managed_fields(
        None,
        cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl-client-side-apply", false),
    )
    .expect("tracks");
    let out = server_side_apply(
        Some(&live),
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("no conflict");
    assert_eq!(managers(&out).len(), 2);
}

#[test]
fn changing_a_field_another_manager_owns_conflicts_like_kubectl_prints() {
    let live = update_managed_fields(
        None,
        cm(json!({"key": "1"})),
        cm_schema(),
        &opts("kubectl-client-side-apply", false),
    )
    .expect("tracks");
    let err = server_side_apply(
        Some(&live),
        &cm(json!({"key": "2"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.key"
    );
}

#[test]
fn force_takes_ownership_from_the_other_manager() {
    let live = update_managed_fields(
        None,
        cm(json!({"key": "1", "other": "x"})),
        cm_schema(),
        &opts("editor", false),
    )
    .expect("tracks");
    let out = server_side_apply(
        Some(&live),
        &cm(json!({"key": "2"})),
        cm_schema(),
        &opts("kubectl", true),
    )
    .expect("forced");
    assert_eq!(out["data"], json!({"key": "2", "other": "x"}));
    let editor = &out["metadata"]["managedFields"][0];
    assert_eq!(editor["manager"], "editor");
    assert_eq!(
        editor["fieldsV1"],
        json!({"f:data": {".": {}, "f:other": {}}})
    );
}

#[test]
fn fields_no_longer_applied_are_removed() {
    let first = server_side_apply(
        None,
        &cm(json!({"a": "1", "b": "2"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    let second = server_side_apply(
        Some(&first),
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    assert_eq!(second["data"], json!({"a": "1"}));
}

#[test]
fn fields_no_longer_applied_stay_when_someone_else_owns_them() {
    let first = server_side_apply(
        None,
        &cm(json!({"a": "1", "b": "2"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    let shared = server_side_apply(
        Some(&first),
        &cm(json!({"b": "2"})),
        cm_schema(),
        &opts("other", false),
    )
    .expect("applies");
    let second = server_side_apply(
        Some(&shared),
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    assert_eq!(second["data"], json!({"a": "1", "b": "2"}));
}

#[test]
fn fields_set_by_others_are_kept() {
    let first = server_side_apply(
        None,
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    let mut edited = first.clone();
    edited["data"]["z"] = json!("9");
    let edited = update_managed_fields(Some(&first), edited, cm_schema(), &opts("editor", false))
        .expect("tracks");
    let second = server_side_apply(
        Some(&edited),
        &cm(json!({"a": "2"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    assert_eq!(second["data"], json!({"a": "2", "z": "9"}));
    assert_eq!(
        managers(&second),
        vec![
            ("kubectl".into(), "Apply".into()),
            ("editor".into(), "Update".into())
        ]
    );
}

#[test]
fn containers_merge_by_name_under_apply() {
    let pod = builtin::node("io.k8s.api.core.v1.Pod");
    let live = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}});
    let live = update_managed_fields(None, live, pod, &opts("creator", false)).expect("tracks");
    let applied = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "b", "image": "b:1"}]}});
    let out =
        server_side_apply(Some(&live), &applied, pod, &opts("kubectl", false)).expect("applies");
    assert_eq!(out["spec"]["containers"].as_array().map(Vec::len), Some(2));
}

#[test]
fn an_update_takes_changed_fields_from_other_managers() {
    let first = server_side_apply(
        None,
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    let mut edited = first.clone();
    edited["data"]["a"] = json!("2");
    let out = update_managed_fields(Some(&first), edited, cm_schema(), &opts("editor", false))
        .expect("tracks");
    assert_eq!(managers(&out), vec![("editor".into(), "Update".into())]);
    assert_eq!(
        out["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
}

#[test]
fn labels_are_owned_but_name_is_not() {
    let mut obj = cm(json!({}));
    obj["metadata"]["labels"] = json!({"app": "x"});
    let out = server_side_apply(None, &obj, cm_schema(), &opts("kubectl", false)).expect("applies");
    assert_eq!(
        out["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {}, "f:metadata": {"f:labels": {"f:app": {}}}})
    );
}

#[test]
fn a_client_rewrite_of_managed_fields_is_kept() {
    let first = server_side_apply(
        None,
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    let mut rewritten = first.clone();
    rewritten["metadata"]["managedFields"][0]["manager"] = json!("renamed");
    let out = update_managed_fields(
        Some(&first),
        rewritten,
        cm_schema(),
        &opts("kubectl-client-side-apply", false),
    )
    .expect("tracks");
    assert_eq!(managers(&out), vec![("renamed".into(), "Apply".into())]);
}

#[test]
fn main_resource_apply_leaves_status_to_the_subresource() {
    let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1}, "status": {"replicas": 1}});
    let applied = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 2}, "status": {"replicas": 7}});
    let schema = builtin::node("io.k8s.api.apps.v1.Deployment");
    let mut o = opts("kubectl", false);
    o.has_status_subresource = true;
    let out = server_side_apply(Some(&live), &applied, schema, &o).expect("applies");
    assert_eq!(out["spec"]["replicas"], 2);
    assert_eq!(out["status"]["replicas"], 1);
    o.subresource = Some("status");
    let out = server_side_apply(Some(&live), &applied, schema, &o).expect("applies");
    assert_eq!(out["spec"]["replicas"], 1);
    assert_eq!(out["status"]["replicas"], 7);
    assert_eq!(out["metadata"]["managedFields"][0]["subresource"], "status");
}

#[test]
fn a_conflict_with_a_subresource_writer_names_the_subresource() {
    let scale = ApplyOptions {
        subresource: Some("scale"),
        ..opts("kubectl", false)
    };
    let live =
        update_managed_fields(None, cm(json!({"k": "1"})), cm_schema(), &scale).expect("tracks");
    let err = server_side_apply(
        Some(&live),
        &cm(json!({"k": "2"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using v1: .data.k"
    );
}

#[test]
fn re_applying_the_same_manifest_changes_nothing() {
    let first = server_side_apply(
        None,
        &cm(json!({"a": "1"})),
        cm_schema(),
        &opts("kubectl", false),
    )
    .expect("applies");
    let later = ApplyOptions {
        time: "2030-01-01T00:00:00Z",
        ..opts("kubectl", false)
    };
    let again = server_side_apply(Some(&first), &cm(json!({"a": "1"})), cm_schema(), &later)
        .expect("applies");
    assert_eq!(again, first);
}

#[test]
fn a_port_without_protocol_matches_the_stored_tcp_port() {
    let schema = builtin::node("io.k8s.api.core.v1.Service");
    let applied = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "d"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
    let mut stored =
        server_side_apply(None, &applied, schema, &opts("flotilla", false)).expect("applies");
    // The API server defaults the protocol when it stores the Service.
    stored["spec"]["ports"][0]["protocol"] = json!("TCP");
    let later = ApplyOptions {
        time: "2030-01-01T00:00:00Z",
        ..opts("flotilla", false)
    };
    let again = server_side_apply(Some(&stored), &applied, schema, &later).expect("applies");
    assert_eq!(
        again["spec"]["ports"],
        json!([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]),
        "one port, not a second copy"
    );
    assert_eq!(again, stored, "re-applying changes nothing");
}

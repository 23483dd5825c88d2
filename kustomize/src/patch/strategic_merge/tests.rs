//! Expected values below were produced by `kubectl kustomize` (kustomize v5.5.0).

use super::*;
use serde_json::json;

fn merged(base: Value, patch: Value) -> Value {
    let mut out = base;
    assert!(strategic_merge(&mut out, &patch).unwrap());
    out
}

fn deployment(pod_spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": pod_spec}}
    })
}

fn pod_spec(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]
}

#[test]
fn maps_merge_and_scalars_are_replaced() {
    let out = merged(
        json!({"kind": "X", "a": {"b": 1, "c": 2}}),
        json!({"a": {"c": 3, "d": 4}}),
    );
    assert_eq!(out, json!({"kind": "X", "a": {"b": 1, "c": 3, "d": 4}}));
}

#[test]
fn null_in_the_patch_deletes_the_field() {
    let out = merged(json!({"a": {"b": 1, "c": 2}}), json!({"a": {"b": null}}));
    assert_eq!(out, json!({"a": {"c": 2}}));
}

#[test]
fn null_in_the_base_is_kept() {
    let out = merged(json!({"a": null, "b": 1}), json!({"b": 2}));
    assert_eq!(out, json!({"a": null, "b": 2}));
}

#[test]
fn nulls_inside_added_maps_are_dropped() {
    let out = merged(json!({}), json!({"a": {"b": null, "c": 1}}));
    assert_eq!(out, json!({"a": {"c": 1}}));
}

#[test]
fn containers_merge_by_name_and_new_ones_come_first() {
    let base = deployment(json!({"containers": [
        {"name": "app", "image": "nginx", "env": [{"name": "A", "value": "1"}]},
        {"name": "other", "image": "x"}
    ]}));
    let patch = deployment(json!({"containers": [
        {"name": "side", "image": "busybox"},
        {"name": "app", "env": [{"name": "NEW", "value": "x"}]}
    ]}));
    let out = merged(base, patch);
    assert_eq!(
        pod_spec(&out)["containers"],
        json!([
            {"name": "side", "image": "busybox"},
            {"name": "app", "image": "nginx", "env": [{"name": "NEW", "value": "x"}, {"name": "A", "value": "1"}]},
            {"name": "other", "image": "x"}
        ])
    );
}

#[test]
fn element_delete_directive_removes_the_element() {
    let base = deployment(json!({"containers": [{"name": "a"}, {"name": "b"}]}));
    let patch = deployment(json!({"containers": [{"name": "a", "$patch": "delete"}]}));
    assert_eq!(
        pod_spec(&merged(base, patch))["containers"],
        json!([{"name": "b"}])
    );
}

#[test]
fn element_replace_directive_keeps_the_base_element_like_kustomize() {
    let base = deployment(json!({"containers": [{"name": "a", "image": "y"}]}));
    let patch =
        deployment(json!({"containers": [{"name": "a", "$patch": "replace", "image": "z"}]}));
    assert_eq!(
        pod_spec(&merged(base, patch))["containers"],
        json!([{"name": "a", "image": "y"}])
    );
}

#[test]
fn list_replace_directive_replaces_the_whole_list() {
    let base = deployment(json!({"containers": [{"name": "a"}, {"name": "b"}]}));
    let patch = deployment(json!({"containers": [{"$patch": "replace"}, {"name": "c"}]}));
    assert_eq!(
        pod_spec(&merged(base, patch))["containers"],
        json!([{"name": "c"}])
    );
}

#[test]
fn map_replace_directive_replaces_the_map() {
    let out = merged(
        json!({"kind": "X", "a": {"b": 1}}),
        json!({"a": {"$patch": "replace", "c": 2}}),
    );
    assert_eq!(out, json!({"kind": "X", "a": {"c": 2}}));
}

#[test]
fn top_level_delete_directive_deletes_the_object() {
    let mut base = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a"}});
    let deleted = !strategic_merge(&mut base, &json!({"$patch": "delete"})).unwrap();
    assert!(deleted);
}

#[test]
fn ports_merge_by_port_and_protocol_with_kustomize_ordering() {
    let base = deployment(json!({"containers": [{"name": "app", "ports": [
        {"containerPort": 80},
        {"containerPort": 53, "protocol": "UDP"},
        {"containerPort": 9000}
    ]}]}));
    let patch = deployment(json!({"containers": [{"name": "app", "ports": [
        {"containerPort": 80, "protocol": "TCP", "name": "http"},
        {"containerPort": 53, "protocol": "TCP"},
        {"containerPort": 7}
    ]}]}));
    assert_eq!(
        pod_spec(&merged(base, patch))["containers"][0]["ports"],
        json!([
            {"containerPort": 53, "protocol": "TCP"},
            {"containerPort": 7},
            {"containerPort": 80},
            {"containerPort": 53, "protocol": "UDP"},
            {"containerPort": 9000}
        ])
    );
}

#[test]
fn finalizers_merge_as_a_set_with_patch_values_first() {
    let out = merged(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["c", "a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
}

#[test]
fn lists_of_custom_resources_are_replaced() {
    let out = merged(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"items": [{"name": "a"}]}}),
        json!({"spec": {"items": [{"name": "b"}]}}),
    );
    assert_eq!(out["spec"]["items"], json!([{"name": "b"}]));
}

#[test]
fn tolerations_are_replaced_whole() {
    let base = deployment(json!({"tolerations": [{"key": "a"}]}));
    let patch = deployment(json!({"tolerations": [{"key": "b"}]}));
    assert_eq!(
        pod_spec(&merged(base, patch))["tolerations"],
        json!([{"key": "b"}])
    );
}

#[test]
fn kind_mismatch_names_the_field() {
    let mut base = json!({"kind": "X", "spec": {"a": 1}});
    let err = strategic_merge(&mut base, &json!({"spec": [1]})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field spec: cannot merge a list into a map"
    );
}

#[test]
fn unknown_directive_is_an_error() {
    let mut base = json!({"kind": "X", "spec": {"a": 1}});
    let err = strategic_merge(&mut base, &json!({"spec": {"$patch": "explode"}})).unwrap_err();
    assert!(
        err.to_string().contains("unknown patch strategy 'explode'"),
        "{err}"
    );
}

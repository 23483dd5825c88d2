//! Expected objects were checked against `kubectl kustomize` (kustomize v5.5.0).

use super::*;
use serde_json::json;

fn res(object: Value) -> Resource {
    Resource::new(object, "res.yaml")
}

fn fixture() -> Vec<Resource> {
    vec![
        res(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src"},
                   "data": {"image": "nginx:1.2", "num": "7"}}),
        ),
        res(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"replicas": 1, "template": {"spec": {"containers": [
                       {"name": "app", "image": "busybox:old", "ports": [{"containerPort": 80}]},
                       {"name": "myapp", "image": "busybox:old"}]}}}}),
        ),
    ]
}

fn replacement(yaml: Value) -> Replacement {
    serde_json::from_value(yaml).unwrap()
}

fn run(resources: &mut [Resource], r: Value) -> Result<(), ReplacementError> {
    apply_one(resources, &replacement(r), "test")
}

#[test]
fn delimiter_and_index_take_and_replace_one_part() {
    let mut rs = fixture();
    run(&mut rs, json!({
        "source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.image", "options": {"delimiter": ":", "index": 1}},
        "targets": [{"select": {"kind": "Deployment"},
                     "fieldPaths": ["spec.template.spec.containers.[name=app].image"],
                     "options": {"delimiter": ":", "index": 1}}]
    })).unwrap();
    let containers = &rs[1].object["spec"]["template"]["spec"]["containers"];
    // `[name=app]` is an unanchored regex in kustomize: `myapp` matches too.
    assert_eq!(containers[0]["image"], json!("busybox:1.2"));
    assert_eq!(containers[1]["image"], json!("busybox:1.2"));
}

#[test]
fn existing_scalars_keep_their_type_and_created_ones_read_as_their_text() {
    let mut rs = fixture();
    run(&mut rs, json!({
        "source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.num"},
        "targets": [{"select": {"kind": "Deployment"},
                     "fieldPaths": ["spec.replicas", "spec.template.spec.containers.0.ports.0.containerPort",
                                    "spec.template.metadata.labels.n"],
                     "options": {"create": true}}]
    })).unwrap();
    let d = &rs[1].object;
    assert_eq!(d["spec"]["replicas"], json!(7));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        json!(7)
    );
    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["n"], json!(7));
}

#[test]
fn missing_target_field_without_create_is_an_error() {
    let mut rs = fixture();
    let err = run(
        &mut rs,
        json!({
            "source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.num"},
            "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.nothere"]}]
        }),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "test: target Deployment/web: field spec.nothere: unable to find field in replacement target"
    );
}

#[test]
fn missing_source_is_an_error() {
    let mut rs = fixture();
    let err = run(
        &mut rs,
        json!({
            "source": {"kind": "ConfigMap", "name": "nope"},
            "targets": [{"select": {"kind": "Deployment"}}]
        }),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nothing selected"), "{err}");
}

#[test]
fn missing_source_field_is_an_error_naming_the_object() {
    let mut rs = fixture();
    let err = run(
        &mut rs,
        json!({
            "source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.missing"},
            "targets": [{"select": {"kind": "Deployment"}}]
        }),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "test: fieldPath `data.missing` is missing in source ConfigMap/src"
    );
}

#[test]
fn reject_leaves_objects_out() {
    let mut rs = fixture();
    run(
        &mut rs,
        json!({
            "source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.num"},
            "targets": [{"select": {"name": ".*"}, "reject": [{"kind": "ConfigMap"}],
                         "fieldPaths": ["metadata.annotations.n"], "options": {"create": true}}]
        }),
    )
    .unwrap();
    assert!(rs[0].object["metadata"].get("annotations").is_none());
    assert_eq!(rs[1].object["metadata"]["annotations"]["n"], json!(7));
}

#[test]
fn source_matches_an_earlier_name() {
    let mut rs = fixture();
    rs[0].set_name("p-src");
    run(&mut rs, json!({
        "source": {"kind": "ConfigMap", "name": "src"},
        "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.spec.containers.[name=app].name"]}]
    })).unwrap();
    assert_eq!(
        rs[1].object["spec"]["template"]["spec"]["containers"][0]["name"],
        json!("p-src")
    );
}

#[test]
fn whole_maps_are_copied() {
    let mut rs = fixture();
    run(&mut rs, json!({
        "source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data"},
        "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.metadata.annotations"],
                     "options": {"create": true}}]
    })).unwrap();
    assert_eq!(
        rs[1].object["spec"]["template"]["metadata"]["annotations"],
        json!({"image": "nginx:1.2", "num": "7"})
    );
}

#[test]
fn paths_keep_dots_inside_brackets_and_after_backslashes() {
    assert_eq!(split_path("a.[name=x.y].b"), vec!["a", "[name=x.y]", "b"]);
    assert_eq!(
        split_path(r"metadata.annotations.example\.com/x"),
        vec!["metadata", "annotations", "example.com/x"]
    );
}

#[test]
fn text_that_does_not_fit_an_existing_number_is_an_error() {
    let mut rs = fixture();
    rs[0].object["data"]["flag"] = json!("true");
    let err = run(
        &mut rs,
        json!({
            "source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.flag"},
            "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.replicas"]}]
        }),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot write 'true' into a field holding an integer"),
        "{err}"
    );
}

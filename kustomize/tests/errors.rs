//! Bad input gets an error that names the file (and the object or field
//! where there is one), never a panic. One test per kind of mistake.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

/// Writes `files` (path, content) under a fresh temporary directory.
fn tree(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (rel, content) in files {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, content).expect("write");
    }
    dir
}

fn render_err(dir: &Path) -> String {
    match kustomize::build(dir) {
        Ok(out) => panic!("expected an error, got output:\n{out}"),
        Err(e) => e.to_string(),
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";

#[test]
fn unknown_kustomization_field_is_named_with_its_file() {
    let t = tree(&[("kustomization.yaml", "resourcez:\n- cm.yaml\n")]);
    let msg = render_err(t.path());
    assert!(
        msg.contains("kustomization.yaml: unknown field \"resourcez\""),
        "{msg}"
    );
}

#[test]
fn malformed_yaml_names_the_resource_file() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- bad.yaml\n"),
        ("bad.yaml", "apiVersion: v1\nkind: [unclosed\n"),
    ]);
    let msg = render_err(t.path());
    assert!(msg.contains("bad.yaml"), "{msg}");
}

#[test]
fn missing_resource_file_is_named() {
    let t = tree(&[("kustomization.yaml", "resources:\n- nothere.yaml\n")]);
    let msg = render_err(t.path());
    assert!(msg.contains("nothere.yaml"), "{msg}");
}

#[test]
fn directory_without_kustomization_is_named() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- base\n"),
        ("base/cm.yaml", CM),
    ]);
    let msg = render_err(t.path());
    assert!(msg.contains("base: no kustomization file"), "{msg}");
}

#[test]
fn file_outside_the_kustomization_root_is_refused() {
    let t = tree(&[
        (
            "overlay/kustomization.yaml",
            "resources:\n- ../shared/cm.yaml\n",
        ),
        ("shared/cm.yaml", CM),
    ]);
    let msg = render_err(&t.path().join("overlay"));
    assert!(msg.contains("shared/cm.yaml"), "{msg}");
    assert!(
        msg.contains("not in or below the kustomization root"),
        "{msg}"
    );
}

#[test]
fn cyclic_bases_are_reported_with_the_chain() {
    let t = tree(&[
        ("a/kustomization.yaml", "resources:\n- ../b\n"),
        ("b/kustomization.yaml", "resources:\n- ../a\n"),
    ]);
    let msg = render_err(&t.path().join("a"));
    assert!(msg.contains("cycle in kustomization bases"), "{msg}");
    assert!(msg.contains("->"), "{msg}");
}

#[test]
fn alias_bomb_is_stopped_by_the_expansion_budget() {
    let mut bomb =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n");
    bomb.push_str("  a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    let mut prev = 'a';
    for c in 'b'..='k' {
        let refs = vec![format!("*{prev}"); 10].join(",");
        bomb.push_str(&format!("  {c}: &{c} [{refs}]\n"));
        prev = c;
    }
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- bomb.yaml\n"),
        ("bomb.yaml", &bomb),
    ]);
    let msg = render_err(t.path());
    assert!(msg.contains("bomb.yaml"), "{msg}");
}

#[test]
fn duplicate_objects_name_the_id_and_both_files() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- one.yaml\n- two.yaml\n"),
        ("one.yaml", CM),
        ("two.yaml", CM),
    ]);
    let msg = render_err(t.path());
    assert!(msg.contains("ConfigMap/cm"), "{msg}");
    assert!(
        msg.contains("one.yaml") && msg.contains("two.yaml"),
        "{msg}"
    );
}

#[test]
fn object_without_name_names_the_file_and_kind() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- noname.yaml\n"),
        (
            "noname.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        ),
    ]);
    let msg = render_err(t.path());
    assert!(
        msg.contains("noname.yaml") && msg.contains("ConfigMap has no metadata.name"),
        "{msg}"
    );
}

#[test]
fn document_that_is_not_a_mapping_is_refused() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- list.yaml\n"),
        ("list.yaml", "- just\n- a list\n"),
    ]);
    let msg = render_err(t.path());
    assert!(
        msg.contains("list.yaml") && msg.contains("expected a Kubernetes object"),
        "{msg}"
    );
}

#[test]
fn kustomization_under_components_is_refused() {
    let t = tree(&[
        ("kustomization.yaml", "components:\n- comp\n"),
        ("comp/kustomization.yaml", "resources: []\n"),
    ]);
    let msg = render_err(t.path());
    assert!(msg.contains("comp/kustomization.yaml: kind"), "{msg}");
    assert!(msg.contains("expected kind \"Component\""), "{msg}");
}

#[test]
fn component_under_resources_is_refused() {
    let t = tree(&[
        ("kustomization.yaml", "resources:\n- comp\n"),
        // `resources: []` keeps the file from counting as empty, which
        // kustomize refuses first.
        (
            "comp/kustomization.yaml",
            "kind: Component\nresources: []\n",
        ),
    ]);
    let msg = render_err(t.path());
    assert!(msg.contains("must be listed under `components`"), "{msg}");
}

#[test]
fn kustomization_with_only_kind_is_refused_as_empty() {
    let t = tree(&[("kustomization.yaml", "kind: Kustomization\n")]);
    let msg = render_err(t.path());
    assert!(msg.contains("kustomization.yaml is empty"), "{msg}");
}

#[test]
fn replicas_naming_no_workload_is_refused() {
    let t = tree(&[
        (
            "kustomization.yaml",
            "resources:\n- cm.yaml\nreplicas:\n- name: db\n  count: 2\n",
        ),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\n",
        ),
    ]);
    let msg = render_err(t.path());
    assert!(
        msg.contains("resource with name db does not match"),
        "{msg}"
    );
}

#[test]
fn unsupported_features_are_refused_not_ignored() {
    let t = tree(&[("kustomization.yaml", "vars:\n- name: X\n")]);
    let msg = render_err(t.path());
    assert!(msg.contains("field \"vars\" is not supported"), "{msg}");
}

#[test]
fn wrong_type_in_kustomization_names_the_file() {
    let t = tree(&[("kustomization.yaml", "namePrefix: [a, b]\n")]);
    let msg = render_err(t.path());
    assert!(msg.contains("kustomization.yaml: invalid type"), "{msg}");
}

#[test]
fn ambiguous_name_reference_names_the_referrer_and_field() {
    // Two ConfigMaps once named `cfg` in the same namespace, renamed by
    // different bases: a Deployment that says `cfg` could mean either.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      volumes:\n      - name: v\n        configMap:\n          name: cfg\n";
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n";
    let t = tree(&[
        (
            "kustomization.yaml",
            "resources:\n- a\n- b\n- deploy.yaml\n",
        ),
        (
            "a/kustomization.yaml",
            "namePrefix: a-\nresources:\n- cm.yaml\n",
        ),
        ("a/cm.yaml", cm),
        (
            "b/kustomization.yaml",
            "namePrefix: b-\nresources:\n- cm.yaml\n",
        ),
        ("b/cm.yaml", cm),
        ("deploy.yaml", deploy),
    ]);
    let msg = render_err(t.path());
    assert!(msg.contains("Deployment/web"), "{msg}");
    assert!(
        msg.contains("spec/template/spec/volumes/configMap/name"),
        "{msg}"
    );
    assert!(msg.contains("multiple possible referrals"), "{msg}");
}

#[test]
fn with_many_bases_the_first_bad_one_in_list_order_is_reported() {
    // Bases may render in parallel; the error must still be the first one
    // in the order the kustomization lists them.
    let mut files: Vec<(String, String)> = Vec::new();
    let mut list = String::from("resources:\n");
    for i in 0..16 {
        list.push_str(&format!("- b{i:02}\n"));
        let body = if i == 5 || i == 13 {
            "resourcez: []\n".to_string()
        } else {
            format!("resources:\n- cm.yaml\nnamePrefix: p{i}-\n")
        };
        files.push((format!("b{i:02}/kustomization.yaml"), body));
        files.push((format!("b{i:02}/cm.yaml"), CM.to_string()));
    }
    files.push(("kustomization.yaml".into(), list));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let t = tree(&refs);
    let msg = render_err(t.path());
    assert!(msg.contains("b05/kustomization.yaml"), "{msg}");
}

#[test]
fn duplicate_key_in_kustomization_keeps_the_last_value() {
    let t = tree(&[
        (
            "kustomization.yaml",
            "namePrefix: a-\nresources:\n- cm.yaml\nnamePrefix: b-\n",
        ),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        ),
    ]);
    let out = kustomize::build(t.path()).unwrap_or_else(|e| panic!("render failed: {e}"));
    assert!(out.contains("name: b-cm"), "{out}");
}

#[test]
fn empty_patch_file_without_target_is_refused() {
    let t = tree(&[
        (
            "kustomization.yaml",
            "resources:\n- cm.yaml\npatches:\n- path: empty.yaml\n",
        ),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        ),
        ("empty.yaml", ""),
    ]);
    let msg = render_err(t.path());
    assert!(
        msg.contains("must specify a target for JSON patch"),
        "{msg}"
    );
}

#[test]
fn image_name_that_is_not_a_regular_expression_is_refused() {
    let t = tree(&[
        (
            "kustomization.yaml",
            "resources:\n- cm.yaml\nimages:\n- name: \"nginx[\"\n  newTag: \"2\"\n",
        ),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        ),
    ]);
    let msg = render_err(t.path());
    assert!(
        msg.contains("images[0].name: not a valid regular expression"),
        "{msg}"
    );
}

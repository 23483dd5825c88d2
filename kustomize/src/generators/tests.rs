//! Expected objects were checked against `kubectl kustomize` (kustomize v5.5.0).

use super::*;
use serde_json::json;
use std::fs;

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn file(self, name: &str, bytes: &[u8]) -> Self {
        fs::write(self.tmp.path().join(name), bytes).unwrap();
        self
    }
    fn loader(&self) -> Loader {
        Loader::new(self.tmp.path()).unwrap()
    }
}

fn literals(name: &str, lits: &[&str]) -> GeneratorArgs {
    GeneratorArgs {
        name: name.into(),
        literals: lits.iter().map(|s| s.to_string()).collect(),
        ..GeneratorArgs::default()
    }
}

fn generate_one(cms: &[GeneratorArgs], secrets: &[GeneratorArgs], dir: &Dir) -> Vec<Resource> {
    let mut out = Vec::new();
    run(cms, secrets, None, &dir.loader(), &mut out).unwrap();
    out
}

#[test]
fn configmap_from_literals_env_and_files() {
    let dir = Dir::new()
        .file("app.env", b"A=1\nB\n")
        .file("f.txt", b"l1\nl2\n");
    let args = GeneratorArgs {
        name: "cm".into(),
        envs: vec!["app.env".into()],
        literals: vec!["L='q'".into()],
        files: vec!["f.txt".into(), "renamed=f.txt".into()],
        ..GeneratorArgs::default()
    };
    let out = generate_one(&[args], &[], &dir);
    assert_eq!(
        out[0].object,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
               "data": {"A": "1", "B": "", "L": "q", "f.txt": "l1\nl2\n", "renamed": "l1\nl2\n"}})
    );
    assert!(out[0].needs_hash);
}

#[test]
fn non_utf8_file_goes_to_binary_data() {
    let dir = Dir::new().file("bin", &[0xff, 0x00, 0x41]);
    let args = GeneratorArgs {
        name: "cm".into(),
        files: vec!["bin".into()],
        ..GeneratorArgs::default()
    };
    let out = generate_one(&[args], &[], &dir);
    assert_eq!(out[0].object["binaryData"], json!({"bin": "/wBB"}));
    assert!(out[0].object.get("data").is_none());
}

#[test]
fn secret_data_is_base64_wrapped_at_70_columns() {
    let long = format!("long={}", "a".repeat(93));
    let out = generate_one(&[], &[literals("s", &["a=b", &long])], &Dir::new());
    assert_eq!(out[0].object["type"], json!("Opaque"));
    assert_eq!(out[0].object["data"]["a"], json!("Yg=="));
    assert_eq!(
        out[0].object["data"]["long"],
        json!(
            "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYW\nFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\n"
        )
    );
}

#[test]
fn empty_secret_still_has_data() {
    let out = generate_one(&[], &[literals("s", &[])], &Dir::new());
    assert_eq!(out[0].object["data"], json!({}));
    assert_eq!(hash::suffix(&out[0].object), "46f8b28mk5");
}

#[test]
fn local_options_win_over_generator_options() {
    let mut args = literals("cm", &["a=b"]);
    args.options = Some(GeneratorOptions {
        labels: [("x".to_string(), "local".to_string())].into(),
        ..GeneratorOptions::default()
    });
    let global = GeneratorOptions {
        labels: [
            ("x".to_string(), "global".to_string()),
            ("g".to_string(), "h".to_string()),
        ]
        .into(),
        immutable: true,
        disable_name_suffix_hash: true,
        ..GeneratorOptions::default()
    };
    let mut out = Vec::new();
    run(&[args], &[], Some(&global), &Dir::new().loader(), &mut out).unwrap();
    assert_eq!(
        out[0].object["metadata"]["labels"],
        json!({"g": "h", "x": "local"})
    );
    assert_eq!(out[0].object["immutable"], json!(true));
    assert!(!out[0].needs_hash);
}

#[test]
fn repeated_key_is_an_error_naming_the_generator() {
    let mut out = Vec::new();
    let err = run(
        &[literals("cm", &["a=1", "a=2"])],
        &[],
        None,
        &Dir::new().loader(),
        &mut out,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("configMapGenerator[0] (cm)"), "{text}");
    assert!(text.contains("key 'a' appears more than once"), "{text}");
}

#[test]
fn missing_file_is_an_error_naming_the_file() {
    let args = GeneratorArgs {
        name: "cm".into(),
        files: vec!["nope.txt".into()],
        ..GeneratorArgs::default()
    };
    let mut out = Vec::new();
    let err = run(&[args], &[], None, &Dir::new().loader(), &mut out).unwrap_err();
    assert!(err.to_string().contains("nope.txt"), "{err}");
}

#[test]
fn merge_behavior_folds_into_the_base_object() {
    let dir = Dir::new();
    let mut base = Vec::new();
    let mut args = literals("cm", &["a=1", "b=2"]);
    args.options = Some(GeneratorOptions {
        labels: [("base".to_string(), "yes".to_string())].into(),
        ..Default::default()
    });
    run(&[args], &[], None, &dir.loader(), &mut base).unwrap();
    base[0].set_name("p-cm");
    let mut overlay = literals("cm", &["b=3", "c=4"]);
    overlay.behavior = "merge".into();
    run(&[overlay], &[], None, &dir.loader(), &mut base).unwrap();
    assert_eq!(base.len(), 1);
    assert_eq!(
        base[0].object,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "p-cm", "labels": {"base": "yes"}},
               "data": {"a": "1", "b": "3", "c": "4"}})
    );
}

#[test]
fn replace_behavior_keeps_only_new_data() {
    let dir = Dir::new();
    let mut res = Vec::new();
    run(
        &[literals("cm", &["x=1"])],
        &[],
        None,
        &dir.loader(),
        &mut res,
    )
    .unwrap();
    let mut over = literals("cm", &["y=2"]);
    over.behavior = "replace".into();
    run(&[over], &[], None, &dir.loader(), &mut res).unwrap();
    assert_eq!(res[0].object["data"], json!({"y": "2"}));
}

#[test]
fn hash_only_when_base_and_overlay_both_want_it() {
    let dir = Dir::new();
    let mut res = Vec::new();
    let mut base = literals("cm", &[]);
    base.options = Some(GeneratorOptions {
        disable_name_suffix_hash: true,
        ..Default::default()
    });
    run(&[base], &[], None, &dir.loader(), &mut res).unwrap();
    let mut over = literals("cm", &[]);
    over.behavior = "merge".into();
    run(&[over], &[], None, &dir.loader(), &mut res).unwrap();
    assert!(!res[0].needs_hash);
}

#[test]
fn merge_without_base_object_is_an_error() {
    let mut over = literals("cm", &[]);
    over.behavior = "merge".into();
    let err = run(&[over], &[], None, &Dir::new().loader(), &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, GeneratorError::NothingToMerge { .. }),
        "{err}"
    );
}

#[test]
fn create_over_an_existing_object_is_an_error() {
    let dir = Dir::new();
    let mut res = Vec::new();
    run(&[literals("cm", &[])], &[], None, &dir.loader(), &mut res).unwrap();
    let err = run(&[literals("cm", &[])], &[], None, &dir.loader(), &mut res).unwrap_err();
    assert!(matches!(err, GeneratorError::AlreadyExists { .. }), "{err}");
}

#[test]
fn configmaps_come_before_secrets() {
    let out = generate_one(&[literals("cm", &[])], &[literals("s", &[])], &Dir::new());
    let kinds: Vec<&str> = out.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, ["ConfigMap", "Secret"]);
}

//! Differential test: the control plane's own custom-resource validator
//! (`apiserver::schema::check_custom_resource`, an independent implementation of pruning,
//! defaulting, structural validation and CEL rules) and this crate's test validator must
//! agree on which objects the generated schemas accept, and the control plane must accept
//! the CRDs themselves.

use crate::support;

use serde_json::Value;

fn object(kind: &str, spec: &str) -> Value {
    let yaml = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: x\n  namespace: default\nspec:\n{}",
        spec.lines().map(|l| format!("  {l}\n")).collect::<String>()
    );
    serde_saphyr::from_str(&yaml).unwrap()
}

/// What the control plane decides, with `fieldValidation=Strict` (kubectl's default):
/// `Ok(defaulted object)` or the causes.
fn control_plane(object: &Value) -> Result<Value, String> {
    let schema = support::schema_of(object["kind"].as_str().unwrap());
    let mut object = object.clone();
    match apiserver::schema::check_custom_resource(Some(&schema), &mut object, None) {
        Ok(checked) => match checked.strict_error() {
            Some(unknown) => Err(unknown),
            None => Ok(object),
        },
        Err(invalid) => Err(format!("{:?}", invalid.errors)),
    }
}

const GIT: &str = "url: https://h/r\ninterval: 1m";
const KS: &str = "interval: 10m\nprune: true\nsourceRef:\n  kind: GitRepository\n  name: app";
const RCV: &str =
    "type: github\nsecretRef:\n  name: t\nresources:\n- kind: GitRepository\n  name: app";

fn cases() -> Vec<(&'static str, String, bool)> {
    vec![
        ("GitRepository", GIT.into(), true),
        (
            "GitRepository",
            format!("{GIT}\nref:\n  branch: main"),
            true,
        ),
        (
            "GitRepository",
            format!("{GIT}\nref:\n  branch: main\n  commit: {}", "a".repeat(40)),
            true,
        ),
        (
            "GitRepository",
            format!("{GIT}\nref:\n  branch: main\n  tag: v1"),
            false,
        ),
        ("GitRepository", format!("{GIT}\nref: {{}}"), false),
        (
            "GitRepository",
            format!("{GIT}\nref:\n  commit: abc"),
            false,
        ),
        (
            "GitRepository",
            "url: https://h/r\ninterval: 5 min".into(),
            false,
        ),
        (
            "GitRepository",
            "url: git@h:r.git\ninterval: 1m".into(),
            false,
        ),
        ("GitRepository", "interval: 1m".into(), false),
        (
            "GitRepository",
            format!("{GIT}\nverify:\n  mode: Bogus\n  secretRef:\n    name: k"),
            false,
        ),
        ("GitRepository", format!("{GIT}\nbranch: main"), false),
        ("Kustomization", KS.into(), true),
        ("Kustomization", format!("{KS}\npath: ../x"), false),
        (
            "Kustomization",
            format!("{KS}\ntargetNamespace: Bad_NS"),
            false,
        ),
        (
            "Kustomization",
            format!("{KS}\npolicies:\n  from: Both\n  paths: [./p]"),
            true,
        ),
        (
            "Kustomization",
            format!("{KS}\npolicies:\n  from: Source"),
            false,
        ),
        (
            "Kustomization",
            format!("{KS}\npolicies:\n  from: Source\n  paths: [./p]\n  selector: {{}}"),
            false,
        ),
        (
            "Kustomization",
            format!("{KS}\npostBuild:\n  substituteFrom:\n  - kind: Pod\n    name: x"),
            false,
        ),
        ("Kustomization", KS.replace("prune: true\n", ""), false),
        ("Receiver", RCV.into(), true),
        ("Receiver", RCV.replace("github", "bitbucket"), false),
        (
            "Receiver",
            format!("{RCV}\n  matchLabels:\n    a: b"),
            false,
        ),
        (
            "Receiver",
            RCV.replace("name: app", "name: '*'") + "\n  matchLabels:\n    a: b",
            true,
        ),
    ]
}

#[test]
fn both_validators_accept_and_reject_the_same_objects() {
    for (kind, spec, valid) in cases() {
        let object = object(kind, &spec);
        let ours = support::violations(&object);
        let theirs = control_plane(&object);
        assert_eq!(
            ours.is_empty(),
            valid,
            "our validator on {kind}:\n{spec}\n{ours:#?}"
        );
        assert_eq!(
            theirs.is_ok(),
            valid,
            "control plane on {kind}:\n{spec}\n{theirs:?}"
        );
    }
}

#[test]
fn the_control_plane_applies_the_schema_defaults() {
    let object = object(
        "GitRepository",
        &format!("{GIT}\nverify:\n  secretRef:\n    name: keys"),
    );
    let defaulted = control_plane(&object).unwrap();
    assert_eq!(defaulted["spec"]["timeout"], "60s");
    assert_eq!(defaulted["spec"]["verify"]["mode"], "HEAD");
}

#[test]
fn the_control_plane_accepts_the_crds() {
    for crd in crds::all_crds() {
        let crd = serde_json::to_value(&crd).unwrap();
        if let Err(invalid) = apiserver::schema::check_crd(&crd) {
            panic!("{}: {:?}", crd["metadata"]["name"], invalid.errors);
        }
    }
}

//! The committed CRD YAML must mean the same to Kubernetes' Go YAML stack as to us: kubectl's
//! kustomize parses `crds/yaml/all.yaml` and prints it back, and every object it prints must
//! equal the CRD our types generate. This catches YAML that Go reads differently (folded
//! strings, implicit typing of scalars like `on`/`1e3`, quoting of CEL rules).
//!
//! `kubectl apply --dry-run=client` is not used: it needs an API server for discovery even in
//! client mode.

use std::process::Command;

#[test]
fn kubectl_kustomize_reads_all_yaml_as_our_crds() {
    let Ok(version) = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
    else {
        eprintln!("SKIPPED: kubectl not found on PATH");
        return;
    };
    assert!(version.status.success(), "kubectl version --client failed");

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/yaml/all.yaml"),
        dir.path().join("all.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n- all.yaml\n",
    )
    .unwrap();
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl kustomize rejected all.yaml:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();

    let mut from_kubectl: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&printed).expect("kubectl prints valid YAML");
    let mut ours: Vec<serde_json::Value> = crds::all_crds()
        .iter()
        .map(|crd| serde_json::to_value(crd).unwrap())
        .collect();
    let by_name = |v: &serde_json::Value| v["metadata"]["name"].as_str().unwrap().to_owned();
    from_kubectl.sort_by_key(by_name);
    ours.sort_by_key(by_name);
    assert_eq!(from_kubectl.len(), ours.len());
    for (theirs, ours) in from_kubectl.iter().zip(&ours) {
        assert_eq!(
            theirs,
            ours,
            "kubectl reads {} differently from what the types generate",
            by_name(ours)
        );
    }
}

//! Size limits: big real-world inputs render, only pathological ones stop.

use std::fmt::Write as _;

#[test]
fn a_file_with_two_thousand_documents_renders() {
    // Bigger than serde-saphyr's default document budget (1,024), like a
    // generated bundle or a CRD collection.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut big = String::new();
    for i in 0..2000 {
        let _ = write!(
            big,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  k: v\n"
        );
    }
    std::fs::write(dir.path().join("big.yaml"), big).expect("write");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n- big.yaml\n",
    )
    .expect("write");
    let out = kustomize::build(dir.path()).expect("render");
    assert_eq!(out.matches("kind: ConfigMap").count(), 2000);
}

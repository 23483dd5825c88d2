//! `flotilla crds` prints exactly the checked-in `crds/yaml/all.yaml`.

use std::process::Command;

#[test]
fn crds_prints_the_checked_in_all_yaml() {
    let output = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "flotilla crds failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/yaml/all.yaml"
    ))
    .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

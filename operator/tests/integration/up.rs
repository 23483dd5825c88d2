//! `flotilla up --exit-when-ready` end to end with the real binary: control plane, simulated
//! nodes, operator, GitRepository and Kustomization in one process, until Ready or a failure.

use std::path::Path;
use std::process::{Command, Output};

fn up(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("up")
        .args(args)
        .args(["--exit-when-ready", "--timeout", "120s"])
        .env("FLOTILLA_LOG", "warn")
        .output()
        .expect("run flotilla up")
}

fn text(output: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write(dir: &Path, file: &str, content: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: default\ndata:\n  hello: world\n";

fn git_available(test: &str) -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "SKIPPED: {test}: git not found (the operator fetches file:// with git upload-pack)"
        );
    }
    ok
}

#[test]
fn a_plain_directory_is_snapshotted_applied_and_ready() {
    if !git_available("a_plain_directory_is_snapshotted_applied_and_ready") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "app/configmap.yaml", CONFIGMAP);
    let data = tempfile::tempdir().expect("tempdir");
    let out = up(&[
        dir.path().join("app").to_str().expect("utf-8"),
        "--data-dir",
        data.path().to_str().expect("utf-8"),
        "--nodes",
        "1",
    ]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("export KUBECONFIG="),
        "prints the kubeconfig: {all}"
    );
    assert!(
        all.contains("snapshot of"),
        "a plain dir is snapshotted: {all}"
    );
    assert!(all.contains("✔ source ready: main@sha1:"), "{all}");
    assert!(all.contains("✔ applied 1 objects"), "{all}");
    assert!(all.contains("✔ Ready"), "{all}");
}

#[test]
fn a_directory_in_a_git_work_tree_is_served_from_its_branch() {
    if !git_available("a_directory_in_a_git_work_tree_is_served_from_its_branch") {
        return;
    }
    let repo = tempfile::tempdir().expect("tempdir");
    write(repo.path(), "deploy/configmap.yaml", CONFIGMAP);
    write(
        repo.path(),
        "deploy/kustomization.yaml",
        "resources:\n- configmap.yaml\n",
    );
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    };
    git(&["init", "-q", "-b", "trunk"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "one ConfigMap"]);
    let out = up(&[
        repo.path().join("deploy").to_str().expect("utf-8"),
        "--nodes",
        "0",
    ]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("branch trunk, path ./deploy"), "{all}");
    assert!(all.contains("✔ source ready: trunk@sha1:"), "{all}");
    assert!(all.contains("✔ Ready"), "{all}");
}

#[test]
fn a_render_error_exits_non_zero_with_the_reason() {
    if !git_available("a_render_error_exits_non_zero_with_the_reason") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "kustomization.yaml",
        "resources:\n- missing.yaml\n",
    );
    let out = up(&[dir.path().to_str().expect("utf-8"), "--nodes", "0"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("BuildFailed"), "names the reason: {all}");
    assert!(all.contains("missing.yaml"), "names the file: {all}");
}

#[test]
fn the_bundled_example_becomes_ready() {
    if !git_available("the_bundled_example_becomes_ready") {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gitops");
    if !example.join("kustomization.yaml").exists() {
        eprintln!("SKIPPED: the_bundled_example_becomes_ready: examples/gitops not present");
        return;
    }
    let out = up(&[example.to_str().expect("utf-8")]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("✔ Ready"), "{all}");
}

//! `flotilla get`, `reconcile` and `diff` against a running `flotilla up`: the commands a user
//! types in a second terminal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

struct Up {
    child: Child,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: default\ndata:\n  hello: world\n";

/// Starts `flotilla up DIR` and returns once it printed Ready.
fn up(dir: &Path, data: &Path) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("up")
        .arg(dir)
        .arg("--data-dir")
        .arg(data)
        .args(["--nodes", "0", "--name", "greeting"])
        .env("FLOTILLA_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flotilla up");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.starts_with("✔ Ready") {
                    break;
                }
            }
            _ => panic!("flotilla up ended before Ready:\n{seen}"),
        }
    }
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Up { child }
}

fn flotilla(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("FLOTILLA_LOG", "error")
        .output()
        .expect("run flotilla")
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn get_reconcile_and_diff_work_against_a_running_up() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIPPED: get_reconcile_and_diff_work_against_a_running_up: git not found");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("configmap.yaml"), CONFIGMAP).expect("write");
    let data = dir.path().join("data");
    let _up = up(&app, &data);
    let kubeconfig = data.join("control-plane/kubeconfig");

    let out = flotilla(&kubeconfig, &["get", "kustomizations"]);
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut rows = stdout.lines();
    let header = rows.next().expect("header");
    assert!(
        header.starts_with("NAME") && header.contains("REVISION") && header.ends_with("AGE"),
        "{text}"
    );
    let row = rows.next().expect("one row");
    assert!(row.starts_with("greeting"), "{text}");
    assert!(row.contains("main@sha1:") && row.contains("True"), "{text}");

    let out = flotilla(&kubeconfig, &["get", "sources", "-A"]);
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("NAMESPACE") && text.contains("flotilla-system"),
        "{text}"
    );

    let out = flotilla(
        &kubeconfig,
        &["reconcile", "kustomization", "greeting", "--with-source"],
    );
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("✔ GitRepository flotilla-system/greeting"),
        "{text}"
    );
    assert!(
        text.contains("✔ Kustomization flotilla-system/greeting"),
        "{text}"
    );

    // What is applied is what Git has: no difference.
    let out = flotilla(&kubeconfig, &["diff", "kustomization", "greeting"]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("0 changed, 0 to create, 1 unchanged"),
        "{text}"
    );

    // A local edit shows as a diff of the field, and a new object as a creation.
    let edited = dir.path().join("edited");
    std::fs::create_dir_all(&edited).expect("mkdir");
    std::fs::write(
        edited.join("configmap.yaml"),
        CONFIGMAP.replace("hello: world", "hello: there"),
    )
    .expect("write");
    std::fs::write(
        edited.join("new.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\ndata:\n  a: b\n",
    )
    .expect("write");
    let out = flotilla(&kubeconfig, &["diff", edited.to_str().expect("utf-8")]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(1), "differences found: {text}");
    assert!(
        text.contains("--- live/ConfigMap/default/greeting"),
        "{text}"
    );
    assert!(
        text.contains("-  hello: world") && text.contains("+  hello: there"),
        "{text}"
    );
    assert!(
        text.contains("+++ dry-run/ConfigMap/default/fresh"),
        "{text}"
    );
    assert!(
        text.contains("1 changed, 1 to create, 0 unchanged"),
        "{text}"
    );

    // The dry run wrote nothing.
    let out = flotilla(&kubeconfig, &["diff", "kustomization", "greeting"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

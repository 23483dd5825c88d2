//! The conformance suite: every directory under `tests/conformance/` is a
//! kustomization (its `kustomization.yaml` at the case root, bases and
//! components in subdirectories) with the output of `kubectl kustomize`
//! (kustomize v5.5.0) committed beside it as `expected.yaml`.
//!
//! - `cases_render_like_kubectl_kustomize` renders each case with Flotilla
//!   and compares byte for byte, with a line diff on failure.
//! - `kubectl_still_agrees_with_expected_files` re-renders each case with
//!   `kubectl kustomize` when kubectl is on PATH, so a stale or hand-edited
//!   `expected.yaml` cannot hide a difference.
//!
//! `FLOTILLA_BLESS=1 cargo test -p flotilla-kustomize --test conformance`
//! regenerates every `expected.yaml` from kubectl.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    out.sort();
    out
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn kubectl_kustomize(dir: &Path) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| format!("running kubectl: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// A readable diff: the first differing line with context from both sides.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let first = e
        .iter()
        .zip(a.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let from = first.saturating_sub(3);
    let mut out = format!("first difference at line {}:\n", first + 1);
    for (i, line) in e.iter().enumerate().skip(from).take(first - from + 8) {
        let mark = if i >= first { "-" } else { " " };
        out.push_str(&format!("{mark}{:4} {line}\n", i + 1));
    }
    out.push_str("  ----\n");
    for (i, line) in a.iter().enumerate().skip(from).take(first - from + 8) {
        let mark = if i >= first { "+" } else { " " };
        out.push_str(&format!("{mark}{:4} {line}\n", i + 1));
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(final newline differs)\n");
    }
    out
}

fn name(case: &Path) -> String {
    case.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn cases_render_like_kubectl_kustomize() {
    let bless = std::env::var_os("FLOTILLA_BLESS").is_some();
    let cases = cases();
    assert!(!cases.is_empty(), "no conformance cases found");
    let mut failures = Vec::new();
    for case in &cases {
        let expected_path = case.join("expected.yaml");
        if bless {
            match kubectl_kustomize(case) {
                Ok(text) => std::fs::write(&expected_path, text)
                    .unwrap_or_else(|e| panic!("writing {}: {e}", expected_path.display())),
                Err(e) => panic!("FLOTILLA_BLESS: kubectl kustomize {}: {e}", case.display()),
            }
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", expected_path.display()));
        match kustomize::build(case) {
            Ok(actual) if actual == expected => {}
            Ok(actual) => failures.push(format!("{}:\n{}", name(case), diff(&expected, &actual))),
            Err(e) => failures.push(format!("{}: error: {e}", name(case))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from kubectl kustomize:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} conformance cases match", cases.len());
}

#[test]
fn kubectl_still_agrees_with_expected_files() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl not on PATH");
        return;
    }
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected.yaml")).unwrap_or_default();
        match kubectl_kustomize(case) {
            Ok(actual) if actual == expected => {}
            Ok(actual) => failures.push(format!("{}:\n{}", name(case), diff(&expected, &actual))),
            Err(e) => failures.push(format!("{}: kubectl failed: {e}", name(case))),
        }
    }
    assert!(
        failures.is_empty(),
        "kubectl kustomize disagrees with {} committed expected.yaml files \
         (rerun with FLOTILLA_BLESS=1 after checking):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

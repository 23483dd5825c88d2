//! The feature corpus: every directory under `tests/features/` is a
//! kustomization tree written for one feature of issue 18 (vars,
//! configurations, crds, openapi, buildMetadata, built-in plugin configs,
//! helmCharts, remote bases, namespace-aware name references, inputs
//! kustomize refuses). kubectl kustomize v5.5.0 is the oracle: its output is
//! committed as `expected.yaml`, or, when it refuses the input, its message
//! as `expected.error`.
//!
//! A case agrees when Flotilla renders the same bytes, or refuses an input
//! kubectl refuses. `tests/features/STATUS` lists, per case, whether it agrees
//! today; the test fails when a case's outcome changes in either direction,
//! so a fix must update the list (and `docs/kustomize.md`'s table) and a
//! regression cannot pass unnoticed.
//!
//! `FLOTILLA_BLESS=1` re-records the expected files from kubectl.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/features")
}

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root())
        .unwrap_or_else(|e| panic!("reading tests/features: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    out.sort();
    out
}

fn name(case: &Path) -> String {
    case.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// kubectl's answer: `Ok(output)` or `Err(message)`; `None` when kubectl is missing.
fn kubectl_kustomize(dir: &Path) -> Option<Result<String, String>> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .ok()?;
    Some(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

fn recorded(case: &Path) -> Result<String, String> {
    match std::fs::read_to_string(case.join("expected.yaml")) {
        Ok(text) => Ok(text),
        Err(_) => Err(std::fs::read_to_string(case.join("expected.error"))
            .unwrap_or_else(|e| panic!("{}: no expected.yaml or expected.error: {e}", name(case)))),
    }
}

fn agrees(oracle: &Result<String, String>, ours: &Result<String, String>) -> bool {
    match (oracle, ours) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

fn status_list() -> BTreeMap<String, bool> {
    let text = std::fs::read_to_string(root().join("STATUS"))
        .unwrap_or_else(|e| panic!("reading tests/features/STATUS: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let case = parts.next().unwrap_or_default().to_owned();
            let state = parts.next().unwrap_or_default();
            assert!(
                state == "agree" || state == "differ",
                "STATUS line {l:?}: state must be agree or differ"
            );
            (case, state == "agree")
        })
        .collect()
}

#[test]
fn feature_cases_agree_with_kubectl_as_listed_in_status() {
    let bless = std::env::var_os("FLOTILLA_BLESS").is_some();
    let listed = status_list();
    let mut changed = Vec::new();
    let mut agreeing = 0;
    let cases = cases();
    for case in &cases {
        let n = name(case);
        if bless {
            let _ = std::fs::remove_file(case.join("expected.yaml"));
            let _ = std::fs::remove_file(case.join("expected.error"));
            match kubectl_kustomize(case) {
                Some(Ok(text)) => std::fs::write(case.join("expected.yaml"), text),
                Some(Err(msg)) => std::fs::write(case.join("expected.error"), msg),
                None => panic!("FLOTILLA_BLESS needs kubectl on PATH"),
            }
            .unwrap_or_else(|e| panic!("{n}: writing expected file: {e}"));
        }
        let oracle = recorded(case);
        let ours = kustomize::build(case).map_err(|e| e.to_string());
        let ok = agrees(&oracle, &ours);
        // Triage aid: FLOTILLA_FEATURES_OUT=DIR writes Flotilla's answer per case.
        if let Some(out) = std::env::var_os("FLOTILLA_FEATURES_OUT") {
            let text = ours.clone().unwrap_or_else(|e| format!("error: {e}\n"));
            std::fs::write(Path::new(&out).join(format!("{n}.yaml")), text)
                .unwrap_or_else(|e| panic!("{n}: writing triage output: {e}"));
        }
        agreeing += usize::from(ok);
        match listed.get(&n) {
            Some(&want) if want == ok => {}
            Some(&want) => changed.push(format!(
                "{n}: listed as {} but {}; ours: {}",
                if want { "agree" } else { "differ" },
                if ok { "agrees now" } else { "differs now" },
                match &ours {
                    Ok(_) => "rendered".to_owned(),
                    Err(e) => format!("error: {e}"),
                }
            )),
            None => changed.push(format!("{n}: missing from STATUS (agrees: {ok})")),
        }
    }
    eprintln!(
        "{agreeing} of {} feature cases agree with kubectl kustomize",
        cases.len()
    );
    assert!(
        changed.is_empty(),
        "feature cases changed outcome:\n{}",
        changed.join("\n")
    );
}

#[test]
fn kubectl_still_gives_the_recorded_answers() {
    let Some(_) = kubectl_kustomize(&root()) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("kubectl not on PATH (CI=true: the oracle is required)");
        }
        eprintln!("SKIPPED: kubectl not on PATH, feature corpus not re-checked against the oracle");
        return;
    };
    let mut stale = Vec::new();
    for case in cases() {
        let Some(live) = kubectl_kustomize(&case) else {
            continue;
        };
        let same = match (&live, &recorded(&case)) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            stale.push(name(&case));
        }
    }
    assert!(
        stale.is_empty(),
        "expected files out of date (rerun with FLOTILLA_BLESS=1): {stale:?}"
    );
}

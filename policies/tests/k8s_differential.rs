//! Differential test of Flotilla's CEL against Kubernetes' own: every
//! expression of `fixtures/k8s_cel_corpus.txt` (written for Flotilla) and
//! of `fixtures/k8s_cel_fuzz_regressions.txt` (disagreements the fuzzer
//! found, minimised) is evaluated by Flotilla and by `cel-oracle`, a Go
//! program over k8s.io/apiserver v0.37.2's ValidatingAdmissionPolicy
//! compiler (`oracles/kubernetes/cmd/cel-oracle`, built by
//! `oracles/build`). Both must give the same typed value, or an error of
//! the same class: compile time or run time.
//!
//! Differences that cannot be removed are listed in
//! `fixtures/k8s_cel_known_differences.txt` with the reason; the test
//! prints them and the per-library agreement table (docs/policies.md).
//! Without the oracle the test skips loudly, under `CI=true` it fails.

mod k8s_oracle;

use k8s_oracle::{Answer, Flotilla, oracle_or_skip};

const CORPUS: &str = include_str!("fixtures/k8s_cel_corpus.txt");
const REGRESSIONS: &str = include_str!("fixtures/k8s_cel_fuzz_regressions.txt");
const KNOWN: &str = include_str!("fixtures/k8s_cel_known_differences.txt");

/// `(section, expression)` for each case of a corpus file.
fn cases(text: &str) -> Vec<(String, String)> {
    let mut section = String::from("unsectioned");
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            section = name.trim().to_string();
        } else if !line.trim().is_empty() && !line.starts_with('#') {
            out.push((section.clone(), line.to_string()));
        }
    }
    out
}

/// Expression → reason, from the known-differences file (`expr<TAB>reason`).
fn known() -> Vec<(String, String)> {
    KNOWN
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(e, r)| (e.to_string(), r.to_string()))
        .collect()
}

#[test]
fn flotilla_evaluates_cel_as_kubernetes_does() {
    let Some(mut oracle) = oracle_or_skip() else {
        return;
    };
    let mut all = cases(CORPUS);
    all.extend(cases(REGRESSIONS));
    let exprs: Vec<&str> = all.iter().map(|(_, e)| e.as_str()).collect();
    let theirs = oracle.ask_many(&exprs);
    let flotilla = Flotilla::new();
    let known = known();

    // section → (cases, agreeing, known)
    let mut table: Vec<(String, usize, usize, usize)> = Vec::new();
    let mut disagreements = Vec::new();
    let mut stale = Vec::new();
    for ((section, expr), theirs) in all.iter().zip(&theirs) {
        if let Answer::Other(m) = theirs {
            panic!("the oracle could not evaluate {expr}: {m}");
        }
        let ours = flotilla.answer(expr);
        let agree = ours.agrees(theirs);
        let listed = known.iter().any(|(e, _)| e == expr);
        let is_known = !agree && listed;
        if agree && listed {
            stale.push(expr.clone());
        }
        let row = match table.iter_mut().find(|r| &r.0 == section) {
            Some(r) => r,
            None => {
                table.push((section.clone(), 0, 0, 0));
                table.last_mut().expect("just pushed")
            }
        };
        row.1 += 1;
        row.2 += usize::from(agree);
        row.3 += usize::from(is_known);
        if !agree {
            let line = format!(
                "[{section}] {expr}\n    flotilla:   {}\n    kubernetes: {}",
                ours.brief(),
                theirs.brief()
            );
            if is_known {
                eprintln!("known difference: {line}");
            } else {
                disagreements.push(line);
            }
        }
    }
    eprintln!("| library | cases | agree | known differences |\n|---|---|---|---|");
    for (section, n, agree, k) in &table {
        eprintln!("| {section} | {n} | {agree} | {k} |");
    }
    let (n, a): (usize, usize) = table.iter().fold((0, 0), |(n, a), r| (n + r.1, a + r.2));
    eprintln!(
        "| total | {n} | {a} | {} |",
        table.iter().map(|r| r.3).sum::<usize>()
    );
    assert!(
        stale.is_empty(),
        "these cases agree now; remove them from k8s_cel_known_differences.txt:\n{}",
        stale.join("\n")
    );
    assert!(
        disagreements.is_empty(),
        "{} of {n} cases disagree with Kubernetes:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

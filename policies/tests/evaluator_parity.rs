//! Differential test between Flotilla's compiled evaluator and the `cel`
//! crate's interpreter, which it replaced on the hot path: every CEL
//! expression found in this crate's tests, fixtures and the repository's
//! examples is evaluated both ways, against the same variables, and must
//! give the same value, or the same error.
//!
//! Expressions are collected from the string literals of `tests/*.rs` and
//! `src/**/*.rs`, the two corpora in `tests/fixtures` (`evaluator_corpus.txt`
//! aims at the evaluator's fast paths and their edges), and the `expression`, `messageExpression` and
//! `valueExpression` fields of the YAML fixtures and examples. Literals
//! that are not CEL (messages, YAML snippets) do not compile and are
//! skipped; the test requires a few hundred that do, so it cannot pass by
//! finding nothing.

use std::path::{Path, PathBuf};

use policies::cel::{Activation, Env, Value, compile};
use serde_json::json;

const VARIABLES: &[&str] = &[
    "object",
    "oldObject",
    "params",
    "request",
    "namespaceObject",
    "self",
    "oldSelf",
];

fn activation() -> Activation {
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default",
            "labels": {"app": "web", "team": "a"}, "annotations": {"owner": "x"}},
        "spec": {
            "replicas": 3, "ratio": 0.5, "enabled": true, "nothing": null,
            "template": {"spec": {"containers": [
                {"name": "app", "image": "registry.example.com/app:1",
                 "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}},
                {"name": "proxy", "image": "docker.io/proxy:latest",
                 "resources": {"limits": {"cpu": "100m", "memory": "8Gi"}}},
            ]}},
            "containers": [
                {"name": "app", "image": "registry.example.com/app:1"},
                {"name": "proxy", "image": "registry.example.com/proxy:2"},
            ],
        },
    });
    let mut act = Activation::new();
    act.insert_json("object", &object).expect("binds");
    act.insert_json("self", &object).expect("binds");
    act.insert_json("oldObject", &json!(null)).expect("binds");
    act.insert_json("oldSelf", &object["spec"]).expect("binds");
    act.insert_json(
        "params",
        &json!({"maxReplicas": 5, "registries": ["registry.example.com"]}),
    )
    .expect("binds");
    act.insert_json(
        "request",
        &json!({"operation": "CREATE", "userInfo": {"username": "alice", "groups": ["dev"]}}),
    )
    .expect("binds");
    act.insert_json(
        "namespaceObject",
        &json!({"metadata": {"name": "default", "labels": {"env": "prod"}}}),
    )
    .expect("binds");
    act
}

/// The contents of the string literals of a Rust source, unescaped.
fn rust_string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // Skip line comments: doc text is not code.
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            // A raw string: r#"..."#, verbatim.
            'r' if chars.peek() == Some(&'#') => {
                let mut lookahead = chars.clone();
                lookahead.next();
                if lookahead.next() == Some('"') {
                    chars.next();
                    chars.next();
                    let mut s = String::new();
                    while let Some(c) = chars.next() {
                        if c == '"' && chars.peek() == Some(&'#') {
                            chars.next();
                            break;
                        }
                        s.push(c);
                    }
                    out.push(s);
                }
            }
            // A char literal such as '"' must not open a string.
            '\'' => {
                let mut lookahead = chars.clone();
                let first = lookahead.next();
                let second = lookahead.next();
                if first == Some('\\') || second == Some('\'') {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                }
            }
            '"' => {
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('\n') => {
                                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                                    chars.next();
                                }
                            }
                            Some(other) => s.push(other),
                            None => break,
                        },
                        '"' => break,
                        other => s.push(other),
                    }
                }
                out.push(s);
            }
            _ => {}
        }
    }
    out
}

/// `expression`, `messageExpression` and `valueExpression` fields anywhere
/// in a YAML stream.
fn yaml_expressions(text: &str) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        (
                            "expression" | "messageExpression" | "valueExpression" | "rule",
                            serde_json::Value::String(s),
                        ) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(docs) = policies::parse_documents(text) {
        docs.iter().for_each(|d| walk(d, &mut out));
    }
    out
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn expressions() -> Vec<String> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut sources = Vec::new();
    files_under(&crate_dir.join("tests"), "rs", &mut sources);
    files_under(&crate_dir.join("src"), "rs", &mut sources);
    for f in sources {
        let text = std::fs::read_to_string(&f).expect("reads source");
        for literal in rust_string_literals(&text) {
            // Policies written as YAML inside tests.
            if literal.contains("expression") {
                found.extend(yaml_expressions(&literal));
            }
            found.push(literal);
        }
    }
    for corpus in ["differential_corpus.txt", "evaluator_corpus.txt"] {
        let text = std::fs::read_to_string(crate_dir.join("tests/fixtures").join(corpus))
            .expect("reads corpus");
        found.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    let mut yaml = Vec::new();
    files_under(&crate_dir.join("tests/fixtures"), "yaml", &mut yaml);
    files_under(&crate_dir.join("../examples"), "yaml", &mut yaml);
    for f in yaml {
        let text = std::fs::read_to_string(&f).expect("reads YAML");
        found.extend(yaml_expressions(&text));
    }
    found.sort();
    found.dedup();
    found
}

/// Map iteration order is unspecified in CEL and differs between the two
/// (hash order against sorted names); lists built from iterating a map are
/// compared as multisets.
fn same(a: &Value, b: &Value, expr: &str) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::List(x), Value::List(y)) if iterates_map(expr) => {
            let mut x: Vec<String> = x.iter().map(|v| format!("{v:?}")).collect();
            let mut y: Vec<String> = y.iter().map(|v| format!("{v:?}")).collect();
            x.sort();
            y.sort();
            x == y
        }
        _ => false,
    }
}

/// Errors may print a map, whose order is the hash order: equal messages
/// up to that order have the same characters.
fn same_message(a: &str, b: &str) -> bool {
    let sorted = |s: &str| {
        let mut c: Vec<char> = s.chars().collect();
        c.sort_unstable();
        c
    };
    a == b || (a.contains("Map(") && sorted(a) == sorted(b))
}

fn iterates_map(expr: &str) -> bool {
    expr.contains(".map(") || expr.contains(".filter(")
}

#[test]
fn compiled_evaluator_agrees_with_the_interpreter() {
    let env = Env::new(VARIABLES.iter().copied());
    let act = activation();
    let mut compared = 0;
    let mut compiled = 0;
    let mut mismatches = Vec::new();
    for expr in expressions() {
        let Ok(program) = compile(&expr, &env) else {
            continue;
        };
        compared += 1;
        if program.is_compiled() {
            compiled += 1;
        }
        let ours = program.evaluate(&act);
        let reference = program.evaluate_interpreted(&act);
        let agree = match (&ours, &reference) {
            (Ok(a), Ok(b)) => same(a, b, &expr),
            (Err(a), Err(b)) => same_message(&a.to_string(), &b.to_string()),
            _ => false,
        };
        if !agree {
            mismatches.push(format!(
                "{expr}\n    compiled:    {ours:?}\n    interpreter: {reference:?}"
            ));
        }
    }
    eprintln!("{compared} expressions compared, {compiled} on the compiled evaluator");
    assert!(
        compared >= 300,
        "only {compared} expressions found: the collection is broken"
    );
    assert!(
        compiled * 10 >= compared * 9,
        "only {compiled} of {compared} expressions run compiled"
    );
    assert!(
        mismatches.is_empty(),
        "{} disagreements:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

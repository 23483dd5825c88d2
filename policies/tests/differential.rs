//! Differential test of core CEL semantics against cel-expr-python
//! (Google's cel-cpp). Each expression of `fixtures/differential_corpus.txt`
//! is evaluated by both; they must agree on error-or-value, and on the
//! value. Skips loudly when python3 or `cel-expr-python` is missing
//! (`pip install cel-expr-python`).

use std::io::Write;
use std::process::{Command, Stdio};

use policies::cel::{Activation, Env, Value, cel_to_json, compile};
use serde_json::{Value as Json, json};

const CORPUS: &str = include_str!("fixtures/differential_corpus.txt");

/// Expressions where Flotilla deliberately or knowingly differs from
/// cel-cpp, with why. Each is still evaluated; the test only reports it.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "1 < 2.5",
        "Kubernetes enables cross-type numeric comparisons; cel-cpp's default environment does not",
    ),
    (
        "[1, [2, 3]] == [1, [2, 3]]",
        "Kubernetes refuses non-homogeneous literals; cel-cpp's default environment accepts them",
    ),
];

fn object() -> Json {
    json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3, "ratio": 0.5, "enabled": true, "nothing": null,
            "containers": [
                {"name": "app", "image": "registry.example.com/app:1"},
                {"name": "proxy", "image": "registry.example.com/proxy:2"},
            ],
        },
    })
}

const SCRIPT: &str = r#"
import json, sys
from cel_expr_python import cel
env = cel.NewEnv(variables={'object': cel.Type.DYN})
req = json.loads(sys.stdin.read())
out = []
for e in req['exprs']:
    try:
        v = env.compile(e).eval(data={'object': req['object']})
        t = v.type().name()
        if t == 'ERROR':
            out.append({'error': str(v.value())})
        else:
            p = v.plain_value()
            if isinstance(p, bytes):
                p = p.decode('utf-8', 'replace')
            elif t in ('DURATION', 'TIMESTAMP', 'TYPE'):
                p = str(p)
            out.append({'type': t, 'value': p})
    except Exception as ex:
        out.append({'error': str(ex).splitlines()[0]})
print(json.dumps(out))
"#;

/// cel-cpp's type name reduced to the kind both sides can name.
fn kind_of_reference(t: &str) -> &str {
    let base = t.split('<').next().unwrap_or(t);
    match base {
        "INT" | "int" => "int",
        "UINT" | "uint" => "uint",
        "DOUBLE" | "double" => "double",
        "STRING" | "string" => "string",
        "BOOL" | "bool" => "bool",
        "LIST" | "list" => "list",
        "MAP" | "map" => "map",
        "NULL_TYPE" | "null_type" => "null",
        "BYTES" | "bytes" => "bytes",
        "DURATION" | "google.protobuf.Duration" => "duration",
        "TIMESTAMP" | "google.protobuf.Timestamp" => "timestamp",
        other => other,
    }
}

fn kind_of_ours(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Null => "null",
        Value::Bytes(_) => "bytes",
        Value::Duration(_) => "duration",
        Value::Timestamp(_) => "timestamp",
        _ => "other",
    }
}

fn numbers_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| numbers_equal(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| numbers_equal(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn core_semantics_agree_with_cel_cpp() {
    let exprs: Vec<&str> = CORPUS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let request = json!({"exprs": exprs, "object": object()});
    let child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(request.to_string().as_bytes())
            .expect("write to python");
    }
    let out = child.wait_with_output().expect("python runs");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named") {
            eprintln!("SKIPPED: cel-expr-python is not installed (pip install cel-expr-python)");
            return;
        }
        panic!("reference script failed: {err}");
    }
    let reference: Vec<Json> = serde_json::from_slice(&out.stdout).expect("reference JSON");
    assert_eq!(reference.len(), exprs.len());

    let env = Env::new(["object"]);
    let mut act = Activation::new();
    act.insert_json("object", &object())
        .expect("object converts");
    let mut disagreements = Vec::new();
    for (expr, theirs) in exprs.iter().zip(&reference) {
        let ours = compile(expr, &env)
            .map_err(|e| e.to_string())
            .and_then(|p| p.evaluate(&act).map_err(|e| e.to_string()));
        let agree = match (&ours, theirs.get("error")) {
            (Err(_), Some(_)) => true,
            (Ok(v), None) => {
                let same_kind = kind_of_ours(v)
                    == kind_of_reference(theirs["type"].as_str().unwrap_or_default());
                let same_value = match v {
                    // Durations and timestamps print differently; their
                    // comparisons in the corpus check the values.
                    Value::Duration(_) | Value::Timestamp(_) => true,
                    other => numbers_equal(&cel_to_json(other), &theirs["value"]),
                };
                same_kind && same_value
            }
            _ => false,
        };
        if !agree {
            let known = KNOWN_DIFFERENCES.iter().find(|(e, _)| e == expr);
            let line = format!("{expr}\n    flotilla: {ours:?}\n    cel-cpp:  {theirs}");
            match known {
                Some((_, why)) => eprintln!("known difference ({why}): {line}"),
                None => disagreements.push(line),
            }
        }
    }
    eprintln!(
        "differential: {} expressions, {} disagreements",
        exprs.len(),
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "disagreements with cel-cpp:\n{}",
        disagreements.join("\n")
    );
}

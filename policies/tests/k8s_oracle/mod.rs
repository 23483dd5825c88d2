//! The harness the Kubernetes CEL differential tests share: the oracle
//! process (`cel-oracle`, built from k8s.io/apiserver by `oracles/build`),
//! the fixture bindings both sides see, Flotilla's side of a case, and the
//! comparison of the two answers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use policies::cel::lib::authz::{Authorizer, AuthorizerRule};
use policies::cel::{Activation, Env, Value, compile};
use serde_json::{Value as Json, json};

/// Where the oracle is: `$FLOTILLA_ORACLES/cel-oracle`, else the default
/// oracle directory, else `cel-oracle` on PATH.
pub fn oracle_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FLOTILLA_ORACLES") {
        let p = PathBuf::from(dir).join("cel-oracle");
        return p.is_file().then_some(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home)
            .join(".cache/flotilla/oracles/kubernetes-v1.37.2-helm-v4.3.2/bin/cel-oracle");
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("cel-oracle"))
            .find(|p| p.is_file())
    })
}

/// The oracle, or `None` after saying loudly why the test skips. Under
/// `CI=true` a missing oracle fails the test instead.
pub fn oracle_or_skip() -> Option<Oracle> {
    match oracle_path() {
        Some(p) => Some(Oracle::start(&p)),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cel-oracle is missing (run oracles/build); CI must not skip the Kubernetes CEL differential tests"
            );
            eprintln!(
                "SKIPPED: cel-oracle not found in $FLOTILLA_ORACLES, the default oracle directory or PATH (run oracles/build)"
            );
            None
        }
    }
}

/// A long-lived oracle process answering one case per line.
pub struct Oracle {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    fn start(path: &std::path::Path) -> Oracle {
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Oracle {
            child,
            stdin,
            stdout,
        }
    }

    /// Kubernetes' answer for `expr` over the fixture bindings.
    pub fn ask(&mut self, expr: &str) -> Answer {
        self.ask_many(&[expr]).remove(0)
    }

    /// Kubernetes' answers for many expressions: all are written before
    /// any answer is read, so the pipe is not a round trip per case.
    pub fn ask_many(&mut self, exprs: &[&str]) -> Vec<Answer> {
        let mut answers = Vec::with_capacity(exprs.len());
        // Batches keep both pipes' buffers from filling up and deadlocking.
        for chunk in exprs.chunks(200) {
            for expr in chunk {
                let mut case = fixture_case();
                case["expr"] = json!(expr);
                writeln!(self.stdin, "{case}").expect("write to cel-oracle");
            }
            self.stdin.flush().expect("flush to cel-oracle");
            for _ in chunk {
                let mut line = String::new();
                self.stdout.read_line(&mut line).expect("read cel-oracle");
                let reply: Json = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("cel-oracle answered {line:?}: {e}"));
                answers.push(Answer::from_oracle(&reply));
            }
        }
        answers
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What evaluating an expression gave, in a form both sides share.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A value, typed as the oracle prints it.
    Value(Json),
    /// The expression does not compile.
    Compile(String),
    /// The expression compiled and failed when evaluated.
    Runtime(String),
    /// The harness could not pose the question (a bug in the test).
    Other(String),
}

impl Answer {
    fn from_oracle(reply: &Json) -> Answer {
        if let Some(v) = reply.get("value") {
            return Answer::Value(v.clone());
        }
        let message = reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match reply["error"]["class"].as_str() {
            Some("compile") => Answer::Compile(message),
            Some("runtime") => Answer::Runtime(message),
            _ => Answer::Other(message),
        }
    }

    /// Whether two answers agree: the same typed value, or an error of the
    /// same class (messages differ in wording and are not compared).
    pub fn agrees(&self, other: &Answer) -> bool {
        match (self, other) {
            (Answer::Value(a), Answer::Value(b)) => same_value(a, b),
            (Answer::Compile(_), Answer::Compile(_)) | (Answer::Runtime(_), Answer::Runtime(_)) => {
                true
            }
            _ => false,
        }
    }

    /// One line for reports.
    pub fn brief(&self) -> String {
        let cut = |s: &str| {
            s.lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(160)
                .collect::<String>()
        };
        match self {
            Answer::Value(v) => format!("value {v}"),
            Answer::Compile(m) => format!("compile error: {}", cut(m)),
            Answer::Runtime(m) => format!("runtime error: {}", cut(m)),
            Answer::Other(m) => format!("harness error: {}", cut(m)),
        }
    }
}

/// Typed values are equal, maps regardless of entry order, doubles by
/// value (NaN equal to NaN: both sides computed "not a number").
fn same_value(a: &Json, b: &Json) -> bool {
    if a["t"] != b["t"] {
        return false;
    }
    match a["t"].as_str().unwrap_or_default() {
        "double" => {
            // Both sides give doubles as text; compared as the doubles the
            // text reads back as (NaN equal to NaN).
            let read = |v: &Json| {
                v.as_str().and_then(|s| match s {
                    "+Inf" => Some(f64::INFINITY),
                    "-Inf" => Some(f64::NEG_INFINITY),
                    "NaN" => Some(f64::NAN),
                    other => other.parse::<f64>().ok(),
                })
            };
            match (read(&a["v"]), read(&b["v"])) {
                (Some(x), Some(y)) => x == y || x.is_nan() && y.is_nan(),
                _ => false,
            }
        }
        "list" => match (a["v"].as_array(), b["v"].as_array()) {
            (Some(x), Some(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
            }
            _ => false,
        },
        "map" => match (a["v"].as_array(), b["v"].as_array()) {
            (Some(x), Some(y)) => {
                x.len() == y.len()
                    && x.iter().all(|e| {
                        y.iter()
                            .any(|f| same_value(&e[0], &f[0]) && same_value(&e[1], &f[1]))
                    })
            }
            _ => false,
        },
        "optional" => match (&a["v"], &b["v"]) {
            (Json::Null, Json::Null) => true,
            (x, y) => same_value(x, y),
        },
        // Library types (quantity, IP, URL, …) compare by type only: their
        // string forms are each library's own; the corpus compares their
        // contents through the libraries' accessors.
        "int" | "uint" | "string" | "bool" | "bytes" | "null" | "duration" | "timestamp"
        | "type" => a["v"] == b["v"],
        _ => true,
    }
}

/// The object every case sees as `object` (also `oldObject` with one
/// replica fewer, and `params`/`namespaceObject` below).
pub fn fixture_object() -> Json {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"owner": "team-a"},
        },
        "spec": {
            "replicas": 3,
            "ratio": 0.5,
            "paused": false,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "registry.example.com/app:1.2.3",
                         "ports": [{"containerPort": 8080}],
                         "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}},
                        {"name": "proxy", "image": "docker.io/envoy:v1",
                         "resources": {"limits": {"cpu": "1", "memory": "256Mi"}}},
                    ],
                },
            },
        },
    })
}

pub fn fixture_old_object() -> Json {
    let mut old = fixture_object();
    old["spec"]["replicas"] = json!(2);
    old
}

pub fn fixture_params() -> Json {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "limits", "namespace": "default"},
        "data": {"maxReplicas": "5", "registry": "registry.example.com"},
    })
}

pub fn fixture_namespace() -> Json {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "default", "labels": {"env": "prod"}},
    })
}

/// The case the oracle gets, without its expression.
fn fixture_case() -> Json {
    json!({
        "object": fixture_object(),
        "oldObject": fixture_old_object(),
        "params": fixture_params(),
        "namespaceObject": fixture_namespace(),
        "operation": "UPDATE",
        "user": "alice",
        "groups": ["dev"],
        "authorizer": true,
    })
}

/// The `request` variable Flotilla's VAP layer binds for the same UPDATE.
fn fixture_request() -> Json {
    json!({
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "subResource": "",
        "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "requestSubResource": "",
        "name": "web",
        "namespace": "default",
        "operation": "UPDATE",
        "userInfo": {"username": "alice", "groups": ["dev"]},
        "dryRun": false,
        "options": null,
    })
}

/// The rule set that says what the oracle's authorizer says: alice may get
/// and list core pods anywhere and get `/healthz`.
fn fixture_rules() -> Vec<AuthorizerRule> {
    vec![
        AuthorizerRule {
            users: vec!["alice".into()],
            verbs: vec!["get".into(), "list".into()],
            api_groups: vec![String::new()],
            resources: vec!["pods".into()],
            ..AuthorizerRule::default()
        },
        AuthorizerRule {
            users: vec!["alice".into()],
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into()],
            ..AuthorizerRule::default()
        },
    ]
}

/// Flotilla's side: the environment and bindings of a VAP expression.
pub struct Flotilla {
    env: Env,
    activation: Activation,
}

impl Flotilla {
    pub fn new() -> Flotilla {
        let env = Env::new([
            "object",
            "oldObject",
            "params",
            "request",
            "namespaceObject",
            "authorizer",
        ])
        .with_composition_variables(Vec::<String>::new());
        let mut activation = Activation::new();
        for (name, value) in [
            ("object", fixture_object()),
            ("oldObject", fixture_old_object()),
            ("params", fixture_params()),
            ("request", fixture_request()),
            ("namespaceObject", fixture_namespace()),
        ] {
            activation
                .insert_json(name, &value)
                .expect("fixture converts");
        }
        let authz = Authorizer::new(Arc::new(fixture_rules()), "alice");
        activation
            .insert("authorizer", authz.into_value())
            .expect("authorizer binds");
        Flotilla { env, activation }
    }

    pub fn answer(&self, expr: &str) -> Answer {
        let program = match compile(expr, &self.env) {
            Ok(p) => p,
            Err(e) => return Answer::Compile(e.to_string()),
        };
        match program.evaluate(&self.activation) {
            Ok(v) => match typed(&v) {
                Some(t) => Answer::Value(t),
                None => Answer::Other(format!("untyped result of kind {}", v.type_of())),
            },
            Err(e) => Answer::Runtime(e.to_string()),
        }
    }
}

/// A Flotilla value in the oracle's typed form.
pub fn typed(v: &Value) -> Option<Json> {
    Some(match v {
        Value::Int(i) => json!({"t": "int", "v": i}),
        Value::UInt(u) => json!({"t": "uint", "v": u}),
        Value::Float(f) if f.is_nan() => json!({"t": "double", "v": "NaN"}),
        Value::Float(f) if f.is_infinite() => {
            json!({"t": "double", "v": if *f > 0.0 { "+Inf" } else { "-Inf" }})
        }
        Value::Float(f) => json!({"t": "double", "v": format!("{f:e}")}),
        Value::String(s) => json!({"t": "string", "v": s.as_str()}),
        Value::Bool(b) => json!({"t": "bool", "v": b}),
        Value::Bytes(b) => {
            use base64::Engine as _;
            json!({"t": "bytes", "v": base64::engine::general_purpose::STANDARD.encode(b.as_slice())})
        }
        Value::Null => json!({"t": "null"}),
        Value::Duration(d) => json!({"t": "duration", "v": d.num_nanoseconds()?}),
        Value::Timestamp(t) => {
            json!({"t": "timestamp", "v": [t.timestamp(), t.timestamp_subsec_nanos()]})
        }
        Value::List(items) => {
            let items: Option<Vec<Json>> = items.iter().map(typed).collect();
            json!({"t": "list", "v": items?})
        }
        Value::Map(m) => {
            let mut entries = Vec::new();
            for (k, v) in m.map.iter() {
                let k: Value = k.clone().into();
                entries.push(json!([typed(&k)?, typed(v)?]));
            }
            json!({"t": "map", "v": entries})
        }
        Value::Opaque(o) if o.runtime_type_name() == "optional_type" => {
            let inner = <&cel::objects::OptionalValue>::try_from(v).ok()?;
            match inner.value() {
                Some(x) => json!({"t": "optional", "v": typed(x)?}),
                None => json!({"t": "optional", "v": null}),
            }
        }
        Value::Opaque(o) => json!({"t": o.runtime_type_name(), "v": null}),
        _ => return None,
    })
}

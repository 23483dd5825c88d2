//! Helm charts rendered the way `helm template` renders them.
//!
//! [`template`] loads a chart directory, merges values in Helm's order (chart defaults,
//! then each `-f` file, then `--set`/`--set-string`), runs every template through a Go
//! `text/template` engine of our own ([`template`](mod@template) explains why not a crate)
//! with the Sprig and Helm functions charts use, and prints the manifests in Helm's install
//! order, each under `---` and a `# Source:` comment.
//!
//! Not yet: packaged `.tgz` charts, `import-values`, tags, library-chart checks, and
//! `values.schema.json` validation (see `docs/charts.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub mod chart;
pub mod funcs;
mod semver;
pub mod template;
pub mod value;
pub mod yaml;

pub use value::Value;

/// What can go wrong rendering a chart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A YAML file (Chart.yaml, values, a rendered manifest) does not parse.
    #[error("YAML parse error on {path}: {message}")]
    Yaml {
        /// The file or template.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A template failed to parse or execute; the message names file, line and expression.
    #[error("{0}")]
    Template(Box<template::TemplateError>),
    /// A `--set` expression is malformed.
    #[error("failed parsing --set data: {0}")]
    Set(String),
    /// A chart feature this renderer does not support yet.
    #[error("unsupported chart feature: {0}")]
    Unsupported(String),
}

/// The `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `helm template`'s flags that change the output.
#[derive(Clone, Debug)]
pub struct TemplateOptions {
    /// The release name (`helm template NAME`); helm's default is `release-name`.
    pub release_name: String,
    /// `-n/--namespace`; default `default`.
    pub namespace: String,
    /// `-f/--values` files, merged in order.
    pub values_files: Vec<PathBuf>,
    /// `--set` expressions, in order.
    pub set_values: Vec<String>,
    /// `--set-string` expressions, in order.
    pub set_string_values: Vec<String>,
    /// `--kube-version`; default v1.37.0 (helm v4.3.2's built-in).
    pub kube_version: Option<String>,
    /// `--api-versions`, added to the built-in list.
    pub api_versions: Vec<String>,
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// `--is-upgrade`.
    pub is_upgrade: bool,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            values_files: vec![],
            set_values: vec![],
            set_string_values: vec![],
            kube_version: None,
            api_versions: vec![],
            include_crds: false,
            skip_tests: false,
            is_upgrade: false,
        }
    }
}

/// Renders the chart at `chart_path` as `helm template` would print it.
pub fn template(chart_path: &Path, opts: &TemplateOptions) -> Result<String> {
    let chart = chart::load_dir(chart_path)?;
    let user = user_values(opts)?;
    chart::render(&chart, &user, opts)
}

/// The user's values: `-f` files, then `--set`, then `--set-string`, later ones winning.
pub fn user_values(opts: &TemplateOptions) -> Result<Value> {
    let mut user = Value::Map(Rc::new(BTreeMap::new()));
    for f in &opts.values_files {
        let text = std::fs::read_to_string(f).map_err(|source| Error::Io {
            path: f.display().to_string(),
            source,
        })?;
        let v = yaml::parse(&text).map_err(|message| Error::Yaml {
            path: f.display().to_string(),
            message,
        })?;
        user = merge_user(&user, &v);
    }
    for s in &opts.set_values {
        user = set_value(&user, s, false)?;
    }
    for s in &opts.set_string_values {
        user = set_value(&user, s, true)?;
    }
    Ok(user)
}

/// Later `-f` files override earlier ones key by key (maps merge, `null` kept for deletion).
fn merge_user(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Map(b), Value::Map(o)) => {
            let mut out = (**b).clone();
            for (k, v) in o.iter() {
                let nv = match (out.get(k), v) {
                    (Some(bv @ Value::Map(_)), Value::Map(_)) => merge_user(bv, v),
                    _ => v.clone(),
                };
                out.insert(k.clone(), nv);
            }
            Value::Map(Rc::new(out))
        }
        (_, Value::Nil) => base.clone(),
        (_, o) => o.clone(),
    }
}

/// One `--set a.b=c,d=e` expression (Helm's strvals, without list indices yet).
fn set_value(base: &Value, expr: &str, as_string: bool) -> Result<Value> {
    let mut out = base.clone();
    for part in split_unescaped(expr, ',') {
        let Some((key, val)) = part.split_once('=') else {
            return Err(Error::Set(format!("key {part:?} has no value")));
        };
        let v = if as_string {
            Value::str(val)
        } else {
            match val {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Nil,
                _ => val
                    .parse::<i64>()
                    .map(Value::Int)
                    .unwrap_or_else(|_| Value::str(val)),
            }
        };
        let path: Vec<&str> = key.split('.').collect();
        out = set_path(&out, &path, v);
    }
    Ok(out)
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut esc = false;
    for c in s.chars() {
        if esc {
            if let Some(l) = out.last_mut() {
                l.push(c);
            }
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(String::new());
        } else if let Some(l) = out.last_mut() {
            l.push(c);
        }
    }
    out
}

fn set_path(base: &Value, path: &[&str], v: Value) -> Value {
    let mut m = base.as_map().cloned().unwrap_or_default();
    match path {
        [] => v,
        [k] => {
            m.insert((*k).to_string(), v);
            Value::Map(Rc::new(m))
        }
        [k, rest @ ..] => {
            let child = m.get(*k).cloned().unwrap_or(Value::Nil);
            m.insert((*k).to_string(), set_path(&child, rest, v));
            Value::Map(Rc::new(m))
        }
    }
}

//! Loading a chart directory and rendering it as `helm template` does.

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use crate::funcs::{api_versions_object, files_object};
use crate::template::{TemplateError, Templates};
use crate::value::Value;
use crate::{Error, TemplateOptions, yaml};

/// A loaded chart and its subcharts.
#[derive(Clone, Debug)]
pub struct Chart {
    /// `Chart.yaml` as read.
    pub metadata: Value,
    /// `values.yaml`.
    pub values: Value,
    /// `templates/…` files: path inside the chart → source.
    pub templates: Vec<(String, String)>,
    /// `crds/…` files.
    pub crds: Vec<(String, String)>,
    /// Other files, for `.Files`.
    pub files: BTreeMap<String, Value>,
    /// Subcharts from `charts/`.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    /// The chart's name from `Chart.yaml`.
    pub fn name(&self) -> String {
        self.metadata
            .as_map()
            .and_then(|m| m.get("name"))
            .map(crate::funcs::strval)
            .unwrap_or_default()
    }
}

/// Loads a chart directory.
pub fn load_dir(dir: &Path) -> Result<Chart, Error> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| Error::Io {
            path: p.display().to_string(),
            source,
        })
    };
    let chart_yaml = dir.join("Chart.yaml");
    let metadata = yaml::parse(&read(&chart_yaml)?).map_err(|message| Error::Yaml {
        path: chart_yaml.display().to_string(),
        message,
    })?;
    let values_path = dir.join("values.yaml");
    let values = if values_path.exists() {
        yaml::parse(&read(&values_path)?).map_err(|message| Error::Yaml {
            path: values_path.display().to_string(),
            message,
        })?
    } else {
        Value::Nil
    };
    let ignore = IgnoreRules::load(dir);
    let mut all = Vec::new();
    walk(dir, "", &ignore, &mut all)?;
    let mut chart = Chart {
        metadata,
        values,
        templates: vec![],
        crds: vec![],
        files: BTreeMap::new(),
        dependencies: vec![],
    };
    let mut sub_dirs = BTreeMap::new();
    for rel in all {
        if let Some(rest) = rel.strip_prefix("charts/") {
            if let Some((sub, _)) = rest.split_once('/') {
                sub_dirs.insert(sub.to_string(), ());
            } else if rest.ends_with(".tgz") {
                return Err(Error::Unsupported(format!(
                    "packaged subchart charts/{rest}"
                )));
            }
            continue;
        }
        let text = read(&dir.join(&rel))?;
        if rel.starts_with("templates/") {
            chart.templates.push((rel, text));
        } else if rel.starts_with("crds/") {
            chart.crds.push((rel, text));
        } else if rel != "Chart.yaml" && rel != "values.yaml" && rel != "Chart.lock" {
            chart.files.insert(rel, Value::str(text));
        }
    }
    chart.templates.sort();
    chart.crds.sort();
    for sub in sub_dirs.keys() {
        let p = dir.join("charts").join(sub);
        if p.join("Chart.yaml").exists() {
            chart.dependencies.push(load_dir(&p)?);
        }
    }
    Ok(chart)
}

fn walk(root: &Path, rel: &str, ignore: &IgnoreRules, out: &mut Vec<String>) -> Result<(), Error> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let rd = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if ignore.ignored(&path, &name, is_dir) {
            continue;
        }
        if is_dir {
            walk(root, &path, ignore, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// `.helmignore`: glob lines, `dir/` for directories, `!` negation unsupported (as in Helm).
struct IgnoreRules {
    rules: Vec<(regex::Regex, bool, bool)>,
}

impl IgnoreRules {
    fn load(dir: &Path) -> IgnoreRules {
        let mut rules = Vec::new();
        if let Ok(t) = std::fs::read_to_string(dir.join(".helmignore")) {
            for line in t.lines() {
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let dir_only = l.ends_with('/');
                let pat = l.trim_end_matches('/');
                let anchored = pat.contains('/');
                if let Some(re) = glob_regex(pat.trim_start_matches('/')) {
                    rules.push((re, dir_only, anchored));
                }
            }
        }
        IgnoreRules { rules }
    }

    fn ignored(&self, path: &str, name: &str, is_dir: bool) -> bool {
        self.rules.iter().any(|(re, dir_only, anchored)| {
            if *dir_only && !is_dir {
                return false;
            }
            if *anchored {
                re.is_match(path)
            } else {
                re.is_match(name)
            }
        })
    }
}

/// A shell glob (`*`, `?`, `[...]`, `**`) as a regex over slash paths.
pub fn glob_regex(glob: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    re.push(d);
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

/// Helm's coalescing: `user` over `defaults`, maps merging deeply, `null` deleting keys.
pub fn coalesce(user: &Value, defaults: &Value) -> Value {
    match (user, defaults) {
        (Value::Map(u), Value::Map(d)) => {
            let mut out = (**d).clone();
            for (k, uv) in u.iter() {
                match uv {
                    Value::Nil => {
                        out.remove(k);
                    }
                    _ => {
                        let nv = match out.get(k) {
                            Some(dv) => coalesce(uv, dv),
                            None => strip_nulls(uv),
                        };
                        out.insert(k.clone(), nv);
                    }
                }
            }
            Value::Map(Rc::new(out))
        }
        (Value::Nil, d) => d.clone(),
        (u, _) => u.clone(),
    }
}

fn strip_nulls(v: &Value) -> Value {
    v.clone()
}

const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

struct Manifest {
    source: String,
    content: String,
    kind: String,
    hook: Option<String>,
}

/// One template scheduled for rendering: its full name and the chart scope it runs in.
struct Job {
    name: String,
    top: Value,
}

/// Renders `chart` with the user's values, as `helm template` prints it.
pub fn render(chart: &Chart, user_values: &Value, opts: &TemplateOptions) -> Result<String, Error> {
    let values = coalesce(user_values, &chart.values);
    let kube = opts
        .kube_version
        .clone()
        .unwrap_or_else(|| "v1.37.0".into());
    let kube = if kube.starts_with('v') {
        kube
    } else {
        format!("v{kube}")
    };
    let (major, minor) = {
        let t = kube.trim_start_matches('v');
        let mut p = t.split('.');
        (
            p.next().unwrap_or("").to_string(),
            p.next().unwrap_or("").to_string(),
        )
    };
    let mut apis: Vec<String> = include_str!("default_api_versions.txt")
        .lines()
        .map(str::to_string)
        .collect();
    apis.extend(opts.api_versions.iter().cloned());
    let caps = map(vec![
        ("APIVersions", api_versions_object(apis)),
        (
            "KubeVersion",
            map(vec![
                ("Version", Value::str(kube.as_str())),
                ("GitVersion", Value::str(kube.as_str())),
                ("Major", Value::str(major)),
                ("Minor", Value::str(minor)),
            ]),
        ),
        (
            "HelmVersion",
            map(vec![
                ("Version", Value::str("v4.3.2")),
                ("GitCommit", Value::str("")),
                ("GitTreeState", Value::str("clean")),
                ("GoVersion", Value::str("go1.26.8")),
            ]),
        ),
    ]);
    let release = map(vec![
        ("Name", Value::str(opts.release_name.as_str())),
        ("Namespace", Value::str(opts.namespace.as_str())),
        ("IsInstall", Value::Bool(!opts.is_upgrade)),
        ("IsUpgrade", Value::Bool(opts.is_upgrade)),
        ("Revision", Value::Int(1)),
        ("Service", Value::str("Helm")),
    ]);
    let mut tpls = Templates::default();
    let mut jobs = Vec::new();
    let mut sources = Vec::new();
    collect(
        chart,
        &values,
        &chart.name(),
        true,
        &caps,
        &release,
        &mut sources,
        &mut jobs,
    );
    // Helm parses deeper paths first and, at one depth, in reverse name order, so that a
    // parent's `define` overrides a subchart's of the same name.
    sources.sort_by(|a: &(String, String), b| {
        let (ca, cb) = (a.0.matches('/').count(), b.0.matches('/').count());
        cb.cmp(&ca).then_with(|| b.0.cmp(&a.0))
    });
    for (name, src) in &sources {
        tpls.add(name, src)
            .map_err(|e| Error::Template(Box::new(TemplateError::Parse(e))))?;
    }
    let mut rendered: BTreeMap<String, String> = BTreeMap::new();
    for job in &jobs {
        let base = job.name.rsplit('/').next().unwrap_or(&job.name);
        if base.starts_with('_') || base == "NOTES.txt" {
            continue;
        }
        let out = tpls
            .execute(&job.name, &job.top)
            .map_err(|e| Error::Template(Box::new(e)))?;
        rendered.insert(job.name.clone(), out.replace("<no value>", ""));
    }
    let mut manifests = Vec::new();
    for (name, content) in &rendered {
        if content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(content) {
            let head = yaml::parse(&doc).map_err(|message| Error::Yaml {
                path: name.clone(),
                message,
            })?;
            let kind = head
                .as_map()
                .and_then(|m| m.get("kind"))
                .map(crate::funcs::strval)
                .unwrap_or_default();
            let hook = head
                .as_map()
                .and_then(|m| m.get("metadata"))
                .and_then(|m| m.as_map().and_then(|m| m.get("annotations")))
                .and_then(|a| a.as_map().and_then(|a| a.get("helm.sh/hook")))
                .map(crate::funcs::strval);
            manifests.push(Manifest {
                source: name.clone(),
                content: doc,
                kind,
                hook,
            });
        }
    }
    let order = |k: &str| INSTALL_ORDER.iter().position(|x| *x == k);
    let sort = |v: &mut Vec<&Manifest>| {
        v.sort_by(|a, b| match (order(&a.kind), order(&b.kind)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.kind.cmp(&b.kind),
        })
    };
    let mut generic: Vec<&Manifest> = manifests.iter().filter(|m| m.hook.is_none()).collect();
    let mut hooks: Vec<&Manifest> = manifests.iter().filter(|m| m.hook.is_some()).collect();
    sort(&mut generic);
    sort(&mut hooks);
    let mut out = String::new();
    if opts.include_crds {
        for c in all_crds(chart, &chart.name()) {
            out.push_str(&format!("---\n# Source: {}\n{}\n", c.0, c.1));
        }
    }
    for m in generic {
        out.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    // `helm template` prints the release manifest trimmed plus a newline, then the hooks
    // as they are.
    let mut out = format!("{}\n", out.trim());
    for m in hooks {
        if opts.skip_tests
            && m.hook.as_deref().is_some_and(|h| {
                h.split(',')
                    .any(|x| x.trim() == "test" || x.trim() == "test-success")
            })
        {
            continue;
        }
        out.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    Ok(out)
}

fn all_crds(chart: &Chart, prefix: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = chart
        .crds
        .iter()
        .map(|(p, c)| (format!("{prefix}/{p}"), c.clone()))
        .collect();
    for d in &chart.dependencies {
        v.extend(all_crds(d, &format!("{prefix}/charts/{}", d.name())));
    }
    v
}

/// Splits a rendered file into YAML documents at lines starting `---`, as Helm 4 does for
/// v2 charts: each document loses its leading white space but keeps its trailing newline,
/// and a `---` glued to content by `{{-` still separates.
fn split_manifests(s: &str) -> Vec<String> {
    let t = s.trim_start();
    match regex::Regex::new(r"(?m)^---[ \t]*") {
        Ok(re) => re
            .split(t)
            .filter(|d| !d.trim().is_empty())
            .map(|d| d.trim_start().to_string())
            .collect(),
        Err(_) => vec![t.to_string()],
    }
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(Rc::new(
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    ))
}

/// The `.Chart` object: Chart.yaml's fields under Helm's Go names, zero values filled in.
fn chart_object(meta: &Value, is_root: bool) -> Value {
    let m = meta.as_map().cloned().unwrap_or_default();
    let get = |k: &str, zero: Value| m.get(k).cloned().unwrap_or(zero);
    let s = || Value::str("");
    let l = || Value::List(Rc::new(vec![]));
    map(vec![
        ("APIVersion", get("apiVersion", s())),
        (
            "Annotations",
            get("annotations", Value::Map(Rc::new(BTreeMap::new()))),
        ),
        ("AppVersion", get("appVersion", s())),
        ("Condition", get("condition", s())),
        ("Dependencies", get("dependencies", l())),
        ("Deprecated", get("deprecated", Value::Bool(false))),
        ("Description", get("description", s())),
        ("Home", get("home", s())),
        ("Icon", get("icon", s())),
        ("IsRoot", Value::Bool(is_root)),
        ("Keywords", get("keywords", l())),
        ("KubeVersion", get("kubeVersion", s())),
        ("Maintainers", get("maintainers", l())),
        ("Name", get("name", s())),
        ("Sources", get("sources", l())),
        ("Tags", get("tags", s())),
        ("Type", get("type", Value::str("application"))),
        ("Version", get("version", s())),
    ])
}

#[allow(clippy::too_many_arguments)]
fn collect(
    chart: &Chart,
    values: &Value,
    path: &str,
    is_root: bool,
    caps: &Value,
    release: &Value,
    sources: &mut Vec<(String, String)>,
    jobs: &mut Vec<Job>,
) {
    let chart_obj = chart_object(&chart.metadata, is_root);
    for (rel, src) in &chart.templates {
        let name = format!("{path}/{rel}");
        let top = map(vec![
            ("Values", values.clone()),
            ("Release", release.clone()),
            ("Chart", chart_obj.clone()),
            ("Capabilities", caps.clone()),
            ("Files", files_object(chart.files.clone())),
            (
                "Template",
                map(vec![
                    ("Name", Value::str(name.as_str())),
                    ("BasePath", Value::str(format!("{path}/templates"))),
                ]),
            ),
        ]);
        if !is_root && rel == "templates/NOTES.txt" {
            continue;
        }
        sources.push((name.clone(), src.clone()));
        jobs.push(Job { name, top });
    }
    for dep in &chart.dependencies {
        let dn = dep.name();
        if !dependency_enabled(chart, &dn, values) {
            continue;
        }
        let parent_sub = values
            .as_map()
            .and_then(|m| m.get(&dn))
            .cloned()
            .unwrap_or(Value::Nil);
        let mut sub_values = coalesce(&parent_sub, &dep.values);
        // Globals flow down: the parent's `global` over the subchart's own.
        if let Some(g) = values.as_map().and_then(|m| m.get("global")) {
            let mut m = sub_values.as_map().cloned().unwrap_or_default();
            let own = m.get("global").cloned().unwrap_or(Value::Nil);
            m.insert("global".into(), coalesce(g, &own));
            sub_values = Value::Map(Rc::new(m));
        }
        collect(
            dep,
            &sub_values,
            &format!("{path}/charts/{dn}"),
            false,
            caps,
            release,
            sources,
            jobs,
        );
    }
}

/// A dependency's `condition` (first path that resolves to a bool decides), default on.
fn dependency_enabled(parent: &Chart, name: &str, values: &Value) -> bool {
    let deps = parent
        .metadata
        .as_map()
        .and_then(|m| m.get("dependencies"))
        .cloned()
        .unwrap_or(Value::Nil);
    let Value::List(deps) = deps else { return true };
    for d in deps.iter() {
        let Some(dm) = d.as_map() else { continue };
        let dn = dm
            .get("alias")
            .or_else(|| dm.get("name"))
            .map(crate::funcs::strval)
            .unwrap_or_default();
        if dn != name {
            continue;
        }
        if let Some(cond) = dm.get("condition").map(crate::funcs::strval) {
            for c in cond.split(',') {
                let mut v = values.clone();
                for part in c.trim().split('.') {
                    v = v
                        .as_map()
                        .and_then(|m| m.get(part))
                        .cloned()
                        .unwrap_or(Value::Nil);
                }
                if let Value::Bool(b) = v {
                    return b;
                }
            }
        }
    }
    true
}

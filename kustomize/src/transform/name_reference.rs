//! Name references: after every rename (prefix, suffix, hash, namespace),
//! fields that name another object by its old name are rewritten to the new
//! one, following kustomize's built-in name reference table.
//!
//! A reference is resolved against objects of the referred kind that ever
//! had that name, in the referrer's namespace (unless either side is
//! cluster-scoped or the reference names a namespace itself); when several
//! remain, the one renamed by the same prefixes/suffixes as the referrer
//! wins, as in kustomize. An index by (kind, name) keeps this linear.

use std::collections::HashMap;

use serde_json::Value;

use super::scope::is_cluster_scoped;
use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, split_path, visit};
use crate::resource::{ResId, Resource};

/// One row of the table: objects of `kind` (in `group`) are referred to by
/// the fields `referrers`.
struct Referral {
    group: &'static str,
    kind: &'static str,
    referrers: Vec<FieldSpec>,
}

fn pod_spec_paths(prefix: &'static str, leaves: &[&'static str]) -> Vec<String> {
    leaves.iter().map(|l| format!("{prefix}{l}")).collect()
}

/// Workload kinds with a pod template, and where their pod spec sits.
const WORKLOADS: &[(&str, &str)] = &[
    ("Pod", "spec/"),
    ("PodTemplate", "template/spec/"),
    ("Deployment", "spec/template/spec/"),
    ("ReplicaSet", "spec/template/spec/"),
    ("DaemonSet", "spec/template/spec/"),
    ("StatefulSet", "spec/template/spec/"),
    ("Job", "spec/template/spec/"),
    ("CronJob", "spec/jobTemplate/spec/template/spec/"),
    ("ReplicationController", "spec/template/spec/"),
];

fn leak(s: String) -> &'static str {
    // The table is built once per process (see `table`), so this is bounded.
    Box::leak(s.into_boxed_str())
}

fn pod_specs(kinds: &[&str], leaves: &[&'static str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (kind, prefix) in WORKLOADS {
        if !kinds.contains(kind) {
            continue;
        }
        for path in pod_spec_paths(prefix, leaves) {
            out.push(FieldSpec::kind(kind, leak(path), false));
        }
    }
    out
}

const CONFIG_MAP_LEAVES: &[&str] = &[
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
];

const SECRET_LEAVES: &[&str] = &[
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
];

const TEMPLATED: &[&str] = &[
    "Pod",
    "PodTemplate",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
];

const SA_KINDS: &[&str] = &[
    "Pod",
    "StatefulSet",
    "Deployment",
    "ReplicationController",
    "CronJob",
    "Job",
    "DaemonSet",
];

fn table() -> &'static [Referral] {
    static TABLE: std::sync::OnceLock<Vec<Referral>> = std::sync::OnceLock::new();
    TABLE.get_or_init(build_table)
}

/// One referrer field, ready to walk: the referral it points at, the spec
/// and its path already split.
struct Check {
    referral: &'static Referral,
    spec: FieldSpec,
    segments: Vec<String>,
}

/// The table by referrer kind, so each object only looks at its own fields.
fn checks_by_kind() -> &'static HashMap<&'static str, Vec<Check>> {
    static BY_KIND: std::sync::OnceLock<HashMap<&'static str, Vec<Check>>> =
        std::sync::OnceLock::new();
    BY_KIND.get_or_init(|| {
        let mut by_kind: HashMap<&'static str, Vec<Check>> = HashMap::new();
        for referral in table() {
            for spec in &referral.referrers {
                // Every referrer spec in the table names its kind.
                let kind = spec.kind.unwrap_or("");
                by_kind.entry(kind).or_default().push(Check {
                    referral,
                    spec: *spec,
                    segments: split_path(spec.path),
                });
            }
        }
        by_kind
    })
}

fn build_table() -> Vec<Referral> {
    let hpa = || {
        vec![FieldSpec::kind(
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
            false,
        )]
    };
    let mut config_map = pod_specs(TEMPLATED, CONFIG_MAP_LEAVES);
    config_map.extend([
        FieldSpec::kind("Node", "spec/configSource/configMap", false),
        FieldSpec::kind("Role", "rules/resourceNames", false),
        FieldSpec::kind("ClusterRole", "rules/resourceNames", false),
        FieldSpec::kind(
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
            false,
        ),
    ]);
    let mut secret = pod_specs(TEMPLATED, SECRET_LEAVES);
    secret.extend([
        FieldSpec::kind("Ingress", "spec/tls/secretName", false),
        FieldSpec::kind(
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
            false,
        ),
        FieldSpec::kind(
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
            false,
        ),
        FieldSpec::kind(
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
            false,
        ),
        FieldSpec::kind("ServiceAccount", "imagePullSecrets/name", false),
        FieldSpec::kind("StorageClass", "parameters/secretName", false),
        FieldSpec::kind("StorageClass", "parameters/adminSecretName", false),
        FieldSpec::kind("StorageClass", "parameters/userSecretName", false),
        FieldSpec::kind("StorageClass", "parameters/secretRef", false),
        FieldSpec::kind("Role", "rules/resourceNames", false),
        FieldSpec::kind("ClusterRole", "rules/resourceNames", false),
        FieldSpec::group_kind(
            "serving.knative.dev",
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
            false,
        ),
        FieldSpec::kind("PersistentVolume", "spec/azureFile/secretName", false),
    ]);
    let service = vec![
        FieldSpec::group_kind("apps", "StatefulSet", "spec/serviceName", false),
        FieldSpec::kind(
            "Ingress",
            "spec/rules/http/paths/backend/serviceName",
            false,
        ),
        FieldSpec::kind("Ingress", "spec/backend/serviceName", false),
        FieldSpec::kind(
            "Ingress",
            "spec/rules/http/paths/backend/service/name",
            false,
        ),
        FieldSpec::kind("Ingress", "spec/defaultBackend/service/name", false),
        FieldSpec::group_kind(
            "apiregistration.k8s.io",
            "APIService",
            "spec/service/name",
            false,
        ),
        FieldSpec::group_kind(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            "webhooks/clientConfig/service",
            false,
        ),
        FieldSpec::group_kind(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            "webhooks/clientConfig/service",
            false,
        ),
        FieldSpec::kind("HTTPRoute", "spec/rules/backendRefs/name", false),
    ];
    let rbac = "rbac.authorization.k8s.io";
    let mut service_account = vec![
        FieldSpec::group_kind(rbac, "RoleBinding", "subjects", false),
        FieldSpec::group_kind(rbac, "ClusterRoleBinding", "subjects", false),
    ];
    service_account.extend(pod_specs(SA_KINDS, &["serviceAccountName"]));
    let pvc = pod_specs(SA_KINDS, &["volumes/persistentVolumeClaim/claimName"]);
    let priority = pod_specs(SA_KINDS, &["priorityClassName"]);
    vec![
        Referral {
            group: "apps",
            kind: "Deployment",
            referrers: hpa(),
        },
        Referral {
            group: "",
            kind: "ReplicationController",
            referrers: hpa(),
        },
        Referral {
            group: "apps",
            kind: "ReplicaSet",
            referrers: hpa(),
        },
        Referral {
            group: "apps",
            kind: "StatefulSet",
            referrers: hpa(),
        },
        Referral {
            group: "",
            kind: "ConfigMap",
            referrers: config_map,
        },
        Referral {
            group: "",
            kind: "Secret",
            referrers: secret,
        },
        Referral {
            group: "",
            kind: "Service",
            referrers: service,
        },
        Referral {
            group: rbac,
            kind: "Role",
            referrers: vec![FieldSpec::group_kind(
                rbac,
                "RoleBinding",
                "roleRef/name",
                false,
            )],
        },
        Referral {
            group: rbac,
            kind: "ClusterRole",
            referrers: vec![
                FieldSpec::group_kind(rbac, "RoleBinding", "roleRef/name", false),
                FieldSpec::group_kind(rbac, "ClusterRoleBinding", "roleRef/name", false),
            ],
        },
        Referral {
            group: "",
            kind: "ServiceAccount",
            referrers: service_account,
        },
        Referral {
            group: "",
            kind: "PersistentVolumeClaim",
            referrers: pvc,
        },
        Referral {
            group: "",
            kind: "PersistentVolume",
            referrers: vec![
                FieldSpec::kind("PersistentVolumeClaim", "spec/volumeName", false),
                FieldSpec::kind("ClusterRole", "rules/resourceNames", false),
            ],
        },
        Referral {
            group: "storage.k8s.io",
            kind: "StorageClass",
            referrers: vec![
                FieldSpec::kind("PersistentVolume", "spec/storageClassName", false),
                FieldSpec::kind("PersistentVolumeClaim", "spec/storageClassName", false),
                FieldSpec::kind(
                    "StatefulSet",
                    "spec/volumeClaimTemplates/spec/storageClassName",
                    false,
                ),
            ],
        },
        Referral {
            group: "scheduling.k8s.io",
            kind: "PriorityClass",
            referrers: priority,
        },
        Referral {
            group: "admissionregistration.k8s.io",
            kind: "ValidatingAdmissionPolicy",
            referrers: vec![FieldSpec::group_kind(
                "admissionregistration.k8s.io",
                "ValidatingAdmissionPolicyBinding",
                "spec/policyName",
                false,
            )],
        },
        // kustomize's table lists IngressClass with group
        // "networking.k8s.io/v1", which matches no object, so
        // `ingressClassName` is never rewritten; we do the same on purpose.
    ]
}

/// What name resolution needs to know about a candidate referral.
struct Info {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
    // The resource's own rename history, moved here (not cloned) for the
    // rewrite and moved back after it.
    previous: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Info {
    /// Current and earlier namespaces.
    fn namespaces(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.namespace.as_str())
            .chain(self.previous.iter().map(|p| p.namespace.as_str()))
    }
}

/// (kind, any name the object ever had) -> objects.
type Index<'a> = HashMap<(&'a str, &'a str), Vec<usize>>;

/// Rewrites every name reference in `resources` to the referred object's
/// current name.
pub fn apply(resources: &mut [Resource]) -> Result<()> {
    apply_with_threads(resources, crate::threads::spare())
}

/// [`apply`] on at most `threads` threads.
fn apply_with_threads(resources: &mut [Resource], threads: usize) -> Result<()> {
    let infos: Vec<Info> = resources
        .iter_mut()
        .map(|r| {
            let [group, version, kind, name, namespace] = r.id_parts();
            Info {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                name: name.to_string(),
                namespace: namespace.to_string(),
                previous: std::mem::take(&mut r.previous),
                prefixes: std::mem::take(&mut r.prefixes),
                suffixes: std::mem::take(&mut r.suffixes),
            }
        })
        .collect();
    let result = rewrite_all(resources, &infos, threads);
    for (r, info) in resources.iter_mut().zip(infos) {
        r.previous = info.previous;
        r.prefixes = info.prefixes;
        r.suffixes = info.suffixes;
    }
    result
}

/// Rewrites the references in `resources`, whose ids and histories are in
/// `infos`, on at most `threads` threads.
fn rewrite_all(resources: &mut [Resource], infos: &[Info], threads: usize) -> Result<()> {
    let mut index: Index = HashMap::new();
    for (i, info) in infos.iter().enumerate() {
        let kind = info.kind.as_str();
        let mut names: Vec<&str> = vec![info.name.as_str()];
        names.extend(
            info.previous
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| p.name.as_str()),
        );
        names.sort_unstable();
        names.dedup();
        for name in names {
            index.entry((kind, name)).or_default().push(i);
        }
    }
    let threads = threads.min(resources.len() / PARALLEL_MIN);
    if threads < 2 {
        return rewrite_run(resources, 0, infos, &index);
    }
    // Every object's references are rewritten from the shared infos and
    // index alone, so runs of objects are independent; on large renders they
    // are split across the render threads. Each run stops at its first
    // error and the earliest run's error wins, as a sequential pass would.
    let per_thread = resources.len().div_ceil(threads);
    let runs = resources.chunks_mut(per_thread).enumerate();
    crate::threads::in_order(runs, |(n, run)| {
        rewrite_run(run, n * per_thread, infos, &index)
    })
    .into_iter()
    .collect()
}

/// Below this many objects one thread rewrites references.
const PARALLEL_MIN: usize = 512;

/// Rewrites the references held by `run`, whose first object is
/// `resources[first]` (`infos` is indexed by position in the whole list).
fn rewrite_run(run: &mut [Resource], first: usize, infos: &[Info], index: &Index) -> Result<()> {
    let by_kind = checks_by_kind();
    for (offset, res) in run.iter_mut().enumerate() {
        let referrer = &infos[first + offset];
        let Some(checks) = by_kind.get(referrer.kind.as_str()) else {
            continue;
        };
        for check in checks {
            let (referral, spec) = (check.referral, &check.spec);
            if !spec.matches_gvk(&referrer.group, &referrer.version, &referrer.kind) {
                continue;
            }
            let mut failure: Option<String> = None;
            visit(
                &mut res.object,
                &check.segments,
                false,
                &mut |v: &mut Value| {
                    if failure.is_none()
                        && let Err(e) = rewrite(v, referral, referrer, infos, index)
                    {
                        failure = Some(e);
                    }
                },
            );
            if let Some(message) = failure {
                return Err(Error::NameReference {
                    path: res.origin.clone(),
                    referrer: res.id().describe(),
                    field: spec.path.replace("\\/", "/"),
                    message,
                });
            }
        }
    }
    Ok(())
}

fn rewrite(
    v: &mut Value,
    referral: &Referral,
    referrer: &Info,
    infos: &[Info],
    index: &Index,
) -> Result<(), String> {
    match v {
        Value::String(name) => {
            if let Some(found) = resolve(name, None, referral, referrer, infos, index)? {
                *name = infos[found].name.clone();
            }
        }
        Value::Object(map) => {
            // Subjects name their kind; other object references (webhook
            // services, node config maps) are of the referral's kind.
            if let Some(kind) = map.get("kind").and_then(Value::as_str)
                && kind != referral.kind
            {
                return Ok(());
            }
            let Some(name) = map.get("name").and_then(Value::as_str) else {
                return Ok(());
            };
            let ns = map.get("namespace").and_then(Value::as_str);
            if let Some(found) = resolve(name, ns, referral, referrer, infos, index)? {
                map.insert("name".into(), Value::String(infos[found].name.clone()));
                // Object references (subjects, webhook services) follow the
                // namespace of the object they resolved to.
                if !infos[found].namespace.is_empty() {
                    map.insert(
                        "namespace".into(),
                        Value::String(infos[found].namespace.clone()),
                    );
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn resolve(
    name: &str,
    namespace: Option<&str>,
    referral: &Referral,
    referrer: &Info,
    infos: &[Info],
    index: &Index,
) -> Result<Option<usize>, String> {
    let Some(all) = index.get(&(referral.kind, name)) else {
        return Ok(None);
    };
    let same_ns = |a: &str, b: &str| {
        a == b || (a.is_empty() || a == "default") && (b.is_empty() || b == "default")
    };
    let candidates: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&c| infos[c].group == referral.group)
        .filter(|&c| {
            if is_cluster_scoped(referral.kind) {
                return true;
            }
            match namespace {
                Some(ns) => infos[c].namespaces().any(|had| same_ns(had, ns)),
                None if is_cluster_scoped(&referrer.kind) => true,
                None => same_ns(&infos[c].namespace, &referrer.namespace),
            }
        })
        .collect();
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(Some(candidates[0])),
        _ => {
            let same_affixes: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&c| {
                    affixes_match(&infos[c].prefixes, &referrer.prefixes)
                        && affixes_match(&infos[c].suffixes, &referrer.suffixes)
                })
                .collect();
            match same_affixes.len() {
                1 => Ok(Some(same_affixes[0])),
                // Several candidates that all carry the same name are one
                // choice as far as the reference goes: kustomize takes the first.
                n if n > 1
                    && same_affixes
                        .iter()
                        .all(|&c| infos[c].name == infos[same_affixes[0]].name) =>
                {
                    Ok(Some(same_affixes[0]))
                }
                _ => Err(format!(
                    "found multiple possible referrals for {} {name:?}: {}",
                    referral.kind,
                    candidates
                        .iter()
                        .map(|&c| format!("{}/{}", infos[c].namespace, infos[c].name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
}

/// kustomize's affix comparison for ambiguous references: no affixes match
/// only no affixes, otherwise the shorter list of affixes must be the end of
/// the longer one (so a base object prefixed `base-` then `pre-` matches an
/// overlay object prefixed only `pre-`, and the reference stays ambiguous).
fn affixes_match(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.ends_with(short)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `apps` ConfigMaps renamed `x-` + name and as many Deployments that
    /// refer to them by their old names: more objects than one thread takes.
    fn renamed_apps(apps: usize) -> Vec<Resource> {
        let mut out = Vec::new();
        for i in 0..apps {
            let mut cm = Resource::new(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm{i}")}}),
                "cm.yaml",
            );
            cm.set_name(&format!("x-cm{i}"));
            out.push(cm);
            out.push(Resource::new(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("app{i}")},
                       "spec": {"template": {"spec": {"volumes": [{"name": "c", "configMap": {"name": format!("cm{i}")}}]}}}}),
                "app.yaml",
            ));
        }
        out
    }

    fn volume_name(r: &Resource) -> &str {
        r.object["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
            .as_str()
            .unwrap_or("")
    }

    #[test]
    fn threads_rewrite_the_same_references_as_one_pass() {
        let mut sequential = renamed_apps(PARALLEL_MIN * 2);
        let mut parallel = sequential.clone();
        apply_with_threads(&mut sequential, 1).expect("one thread");
        apply_with_threads(&mut parallel, 3).expect("three threads");
        let last = &parallel[parallel.len() - 1];
        assert_eq!(volume_name(last), format!("x-cm{}", PARALLEL_MIN * 2 - 1));
        let objects = |rs: &[Resource]| rs.iter().map(|r| r.object.clone()).collect::<Vec<_>>();
        assert_eq!(objects(&sequential), objects(&parallel));
    }

    #[test]
    fn rename_history_is_kept_after_rewriting() {
        let mut resources = renamed_apps(2);
        let before: Vec<Vec<ResId>> = resources.iter().map(|r| r.previous.clone()).collect();
        apply_with_threads(&mut resources, 1).expect("rewrites");
        let after: Vec<Vec<ResId>> = resources.iter().map(|r| r.previous.clone()).collect();
        assert_eq!(before, after);
        assert_eq!(after[0][0].name, "cm0");
    }

    #[test]
    fn threads_report_the_error_a_single_pass_meets_first() {
        let mut resources = renamed_apps(PARALLEL_MIN * 2);
        // Two ConfigMaps that were both `cm7` (and later `cm1000`): the
        // Deployments referring to those names are ambiguous, one early in
        // the list and one in the last thread's run.
        for (at, old) in [(0, "cm7"), (PARALLEL_MIN * 4 - 2, "cm1000")] {
            let mut twin = Resource::new(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": old}}),
                "twin.yaml",
            );
            twin.set_name(&format!("twin-{old}"));
            resources.insert(at, twin);
        }
        let mut sequential = resources.clone();
        let one = apply_with_threads(&mut sequential, 1).expect_err("ambiguous");
        let three = apply_with_threads(&mut resources, 3).expect_err("ambiguous");
        assert_eq!(one.to_string(), three.to_string());
        assert!(one.to_string().contains("\"cm7\""), "{one}");
    }
}

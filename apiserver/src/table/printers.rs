//! kube-apiserver's printer columns for the built-in kinds, and their cells computed from
//! the stored JSON. Column names, types, priorities and cell formats follow
//! `pkg/printers/internalversion` of Kubernetes 1.37; descriptions are our own words.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::age;

/// (name, type, format, priority, description)
pub type Col = (&'static str, &'static str, &'static str, i64, &'static str);
pub type Cells = fn(&Value, DateTime<Utc>) -> Vec<Value>;

pub const NAME: &str =
    "The object's name, unique within its namespace (or the cluster for cluster-scoped kinds).";
pub const CREATED: &str = "When the object was created (shown as its age).";
const AGE: Col = ("Age", "string", "", 0, CREATED);
const NAME_COL: Col = ("Name", "string", "name", 0, NAME);
const CONTAINERS: Col = (
    "Containers",
    "string",
    "",
    1,
    "Names of the template's containers.",
);
const IMAGES: Col = (
    "Images",
    "string",
    "",
    1,
    "Images of the template's containers.",
);
const SELECTOR: Col = (
    "Selector",
    "string",
    "",
    1,
    "The label selector of the pods this object manages.",
);

/// The printer of a built-in kind, if kube-apiserver has one.
pub fn builtin(group: &str, kind: &str) -> Option<(&'static [Col], Cells)> {
    let p: (&'static [Col], Cells) = match (group, kind) {
        ("", "Pod") => (POD, pod),
        ("", "Node") => (NODE, node),
        ("", "Namespace") => (NAMESPACE, namespace),
        ("", "Service") => (SERVICE, service),
        ("", "Endpoints") => (ENDPOINTS, endpoints),
        ("", "ConfigMap") => (CONFIGMAP, configmap),
        ("", "Secret") => (SECRET, secret),
        ("", "ServiceAccount") => (NAME_AGE, name_age),
        ("", "PersistentVolume") => (PV, pv),
        ("", "PersistentVolumeClaim") => (PVC, pvc),
        ("", "Event") => (EVENT, core_event),
        ("events.k8s.io", "Event") => (EVENT, events_event),
        ("", "ComponentStatus") => (COMPONENT_STATUS, component_status),
        ("", "ReplicationController") => (REPLICASET, replicaset),
        ("apps", "Deployment") => (DEPLOYMENT, deployment),
        ("apps", "ReplicaSet") => (REPLICASET, replicaset),
        ("apps", "StatefulSet") => (STATEFULSET, statefulset),
        ("apps", "DaemonSet") => (DAEMONSET, daemonset),
        ("apps", "ControllerRevision") => (CONTROLLER_REVISION, controller_revision),
        ("batch", "Job") => (JOB, job),
        ("batch", "CronJob") => (CRONJOB, cronjob),
        ("networking.k8s.io", "Ingress") => (INGRESS, ingress),
        ("networking.k8s.io", "IngressClass") => (INGRESS_CLASS, ingress_class),
        ("networking.k8s.io", "NetworkPolicy") => (NETWORK_POLICY, network_policy),
        ("discovery.k8s.io", "EndpointSlice") => (ENDPOINT_SLICE, endpoint_slice),
        ("storage.k8s.io", "StorageClass") => (STORAGE_CLASS, storage_class),
        ("coordination.k8s.io", "Lease") => (LEASE, lease),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => (BINDING, binding),
        ("scheduling.k8s.io", "PriorityClass") => (PRIORITY_CLASS, priority_class),
        ("autoscaling", "HorizontalPodAutoscaler") => (HPA, hpa),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => (VAP, vap),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => (VAPB, vapb),
        _ => return None,
    };
    Some(p)
}

/// Row conditions: pods that finished are marked `Completed`.
pub fn row_conditions(obj: &Value) -> Option<Value> {
    if obj.get("kind").and_then(Value::as_str) != Some("Pod") {
        return None;
    }
    match s(obj, "/status/phase") {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    }
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn i(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn name(obj: &Value) -> Value {
    json!(s(obj, "/metadata/name"))
}

fn created(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(age(obj.pointer("/metadata/creationTimestamp"), now))
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn or_none(v: &str) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v.into()
    }
}

/// `a=1,b=2` sorted by key, `<none>` when empty (labels.FormatLabels).
pub fn format_labels(map: Option<&Value>) -> String {
    let Some(m) = map.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let sorted: BTreeMap<&String, &Value> = m.iter().collect();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",")
}

/// A LabelSelector as selector text (`app=web,tier in (a,b)`), requirements sorted by key;
/// `None` when the selector is absent.
fn selector_string(sel: Option<&Value>) -> Option<String> {
    let sel = sel.filter(|v| !v.is_null())?;
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = s(e, "/key").to_string();
        let mut values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        values.sort_unstable();
        let text = match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Some("<error>".into()),
        };
        reqs.push((key, text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(reqs.into_iter().map(|r| r.1).collect::<Vec<_>>().join(","))
}

/// metav1.FormatLabelSelector: `<none>` for an empty selector.
fn format_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Some(t) if !t.is_empty() => t,
        _ => "<none>".into(),
    }
}

fn containers_cells(obj: &Value, ptr: &str) -> (Value, Value) {
    let cs = arr(obj, ptr);
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

const NAME_AGE: &[Col] = &[NAME_COL, AGE];
fn name_age(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(o), created(o, now)]
}

const POD: &[Col] = &[
    NAME_COL,
    (
        "Ready",
        "string",
        "",
        0,
        "Ready containers of all containers.",
    ),
    ("Status", "string", "", 0, "The pod's aggregate status."),
    (
        "Restarts",
        "string",
        "",
        0,
        "Container restarts, and how long ago the last one was.",
    ),
    AGE,
    ("IP", "string", "", 1, "The pod's IP address."),
    ("Node", "string", "", 1, "The node the pod is bound to."),
    (
        "Nominated Node",
        "string",
        "",
        1,
        "The node preemption nominated for the pod.",
    ),
    (
        "Readiness Gates",
        "string",
        "",
        1,
        "Readiness gates that are true, of all.",
    ),
];

fn is_restartable_init(c: Option<&Value>) -> bool {
    c.is_some_and(|c| s(c, "/restartPolicy") == "Always")
}

fn pod(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut restarts = 0i64;
    let mut restartable_restarts = 0i64;
    let init_specs = arr(o, "/spec/initContainers");
    let total = arr(o, "/spec/containers").len()
        + init_specs
            .iter()
            .filter(|c| is_restartable_init(Some(c)))
            .count();
    let mut ready = 0usize;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable: Option<DateTime<Utc>> = None;
    let phase = s(o, "/status/phase");
    let mut reason = match s(o, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if arr(o, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let finished_at = |c: &Value| {
        c.pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(super::parse_time)
    };
    let later = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let init_spec = |n: &str| init_specs.iter().find(|c| s(c, "/name") == n);
    let mut initializing = false;
    let init_statuses = arr(o, "/status/initContainerStatuses");
    for (idx, c) in init_statuses.iter().enumerate() {
        restarts += i(c, "/restartCount");
        last_restart = later(last_restart, finished_at(c));
        let restartable = is_restartable_init(init_spec(s(c, "/name")));
        if restartable {
            restartable_restarts += i(c, "/restartCount");
            last_restartable = later(last_restartable, finished_at(c));
        }
        let terminated = c.pointer("/state/terminated").filter(|v| !v.is_null());
        let waiting = s(c, "/state/waiting/reason");
        if terminated.is_some_and(|t| i(t, "/exitCode") == 0) {
            continue;
        }
        if restartable && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match s(t, "/reason") {
                "" if i(t, "/signal") != 0 => format!("Init:Signal:{}", i(t, "/signal")),
                "" => format!("Init:ExitCode:{}", i(t, "/exitCode")),
                r => format!("Init:{r}"),
            };
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            reason = format!("Init:{waiting}");
        } else {
            reason = format!("Init:{idx}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized = arr(o, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "Initialized" && s(c, "/status") == "True");
    if !initializing || initialized {
        restarts = restartable_restarts;
        last_restart = last_restartable;
        let mut has_running = false;
        let mut error_reason = String::new();
        for c in arr(o, "/status/containerStatuses").iter().rev() {
            restarts += i(c, "/restartCount");
            last_restart = later(last_restart, finished_at(c));
            let waiting = s(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated").filter(|v| !v.is_null());
            let running = c.pointer("/state/running").is_some_and(|v| !v.is_null());
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = match s(t, "/reason") {
                    "" if i(t, "/signal") != 0 => format!("Signal:{}", i(t, "/signal")),
                    "" => format!("ExitCode:{}", i(t, "/exitCode")),
                    r => r.to_string(),
                };
                if i(t, "/exitCode") != 0 {
                    error_reason = reason.clone();
                }
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && running {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" {
            let pod_ready = arr(o, "/status/conditions")
                .iter()
                .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
            if has_running && pod_ready {
                reason = "Running".into();
            } else if !error_reason.is_empty() {
                reason = error_reason;
            } else if has_running {
                reason = "NotReady".into();
            }
        }
    }
    if deleting(o) && s(o, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting(o) && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".into();
    }
    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            super::human_duration(now.signed_duration_since(t))
        ),
        _ => restarts.to_string(),
    };
    let ip = arr(o, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip"))
        .unwrap_or("");
    let gates = arr(o, "/spec/readinessGates");
    let gates_text = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(o, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        name(o),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_text),
        created(o, now),
        json!(or_none(ip)),
        json!(or_none(s(o, "/spec/nodeName"))),
        json!(or_none(s(o, "/status/nominatedNodeName"))),
        json!(gates_text),
    ]
}

const NODE: &[Col] = &[
    NAME_COL,
    ("Status", "string", "", 0, "The node's readiness."),
    (
        "Roles",
        "string",
        "",
        0,
        "The node's roles (node-role.kubernetes.io/ labels).",
    ),
    AGE,
    ("Version", "string", "", 0, "The kubelet's version."),
    (
        "Internal-IP",
        "string",
        "",
        1,
        "The node's internal address.",
    ),
    (
        "External-IP",
        "string",
        "",
        1,
        "The node's external address.",
    ),
    (
        "OS-Image",
        "string",
        "",
        1,
        "The node's operating system image.",
    ),
    (
        "Kernel-Version",
        "string",
        "",
        1,
        "The node's kernel version.",
    ),
    (
        "Container-Runtime",
        "string",
        "",
        1,
        "The node's container runtime and version.",
    ),
];

fn node(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<String> = arr(o, "/status/conditions")
        .iter()
        .filter(|c| s(c, "/type") == "Ready")
        .take(1)
        .map(|c| {
            if s(c, "/status") == "True" {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            }
        })
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles = std::collections::BTreeSet::new();
    if let Some(labels) = o.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" && v.as_str().is_some_and(|v| !v.is_empty()) {
                roles.insert(v.as_str().unwrap_or("").to_string());
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let address = |kind: &str| {
        arr(o, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == kind)
            .map(|a| s(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let unknown = |v: &str| {
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    let mut kernel = unknown(s(o, "/status/nodeInfo/kernelVersion"));
    let arch = s(o, "/status/nodeInfo/architecture");
    if !arch.is_empty() {
        kernel = format!("{kernel} ({arch})");
    }
    vec![
        name(o),
        json!(status.join(",")),
        json!(roles),
        created(o, now),
        json!(s(o, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(unknown(s(o, "/status/nodeInfo/osImage"))),
        json!(kernel),
        json!(unknown(s(o, "/status/nodeInfo/containerRuntimeVersion"))),
    ]
}

const NAMESPACE: &[Col] = &[
    NAME_COL,
    ("Status", "string", "", 0, "The namespace's phase."),
    AGE,
];
fn namespace(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(o), json!(s(o, "/status/phase")), created(o, now)]
}

const SERVICE: &[Col] = &[
    NAME_COL,
    ("Type", "string", "", 0, "How the service is exposed."),
    ("Cluster-IP", "string", "", 0, "The service's cluster IP."),
    (
        "External-IP",
        "string",
        "",
        0,
        "External addresses of the service.",
    ),
    ("Port(s)", "string", "", 0, "The service's ports."),
    AGE,
    (
        "Selector",
        "string",
        "",
        1,
        "The labels of the pods behind the service.",
    ),
];

fn service(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ty = s(o, "/spec/type");
    let cluster_ip = arr(o, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let external: Vec<&str> = arr(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<String> = arr(o, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| match (s(i, "/ip"), s(i, "/hostname")) {
                    ("", "") => None,
                    ("", h) => Some(h.to_string()),
                    (ip, _) => Some(ip.to_string()),
                })
                .collect();
            lb.sort();
            lb.dedup();
            if !external.is_empty() {
                lb.extend(external.iter().map(|e| e.to_string()));
                lb.join(",")
            } else if lb.is_empty() {
                "<pending>".to_string()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = s(p, "/protocol");
            let port = i(p, "/port");
            match i(p, "/nodePort") {
                n if n > 0 => format!("{port}:{n}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name(o),
        json!(ty),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        created(o, now),
        json!(format_labels(o.pointer("/spec/selector"))),
    ]
}

const ENDPOINTS: &[Col] = &[
    NAME_COL,
    (
        "Endpoints",
        "string",
        "",
        0,
        "Addresses and ports of the endpoints.",
    ),
    AGE,
];

fn endpoints(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let subsets = arr(o, "/subsets");
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let max = 3;
        let mut list: Vec<String> = Vec::new();
        let mut more = false;
        let mut count = 0;
        for ss in subsets {
            let addrs = arr(ss, "/addresses");
            let ports = arr(ss, "/ports");
            if ports.is_empty() {
                count += addrs.len();
                for a in addrs {
                    if list.len() == max {
                        more = true;
                        break;
                    }
                    list.push(s(a, "/ip").to_string());
                }
                continue;
            }
            for p in ports {
                count += addrs.len();
                for a in addrs {
                    if list.len() == max {
                        more = true;
                        break;
                    }
                    let ip = s(a, "/ip");
                    let port = i(p, "/port");
                    list.push(if ip.contains(':') {
                        format!("[{ip}]:{port}")
                    } else {
                        format!("{ip}:{port}")
                    });
                }
            }
        }
        let joined = list.join(",");
        if more {
            format!("{joined} + {} more...", count - max)
        } else {
            joined
        }
    };
    vec![name(o), json!(text), created(o, now)]
}

const ENDPOINT_SLICE: &[Col] = &[
    NAME_COL,
    (
        "AddressType",
        "string",
        "",
        0,
        "The kind of addresses the slice holds.",
    ),
    ("Ports", "string", "", 0, "The slice's ports."),
    (
        "Endpoints",
        "string",
        "",
        0,
        "The slice's endpoint addresses.",
    ),
    AGE,
];

fn list_with_more(list: Vec<String>, more: bool, count: usize, max: usize) -> String {
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - max)
    } else if joined.is_empty() {
        "<unset>".into()
    } else {
        joined
    }
}

fn endpoint_slice(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let max = 3;
    let (mut ports, mut more, mut count) = (Vec::new(), false, 0);
    for p in arr(o, "/ports") {
        if ports.len() < max {
            ports.push(match p.get("port").and_then(Value::as_i64) {
                Some(n) => n.to_string(),
                None => match p.get("name").and_then(Value::as_str) {
                    Some(n) => n.to_string(),
                    None => "*".into(),
                },
            });
        } else if ports.len() == max {
            more = true;
        }
        count += 1;
    }
    let ports = list_with_more(ports, more, count, max);
    let (mut eps, mut more, mut count) = (Vec::new(), false, 0);
    for e in arr(o, "/endpoints") {
        for a in arr(e, "/addresses") {
            if eps.len() < max {
                eps.push(a.as_str().unwrap_or("").to_string());
            } else if eps.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    let eps = list_with_more(eps, more, count, max);
    vec![
        name(o),
        json!(s(o, "/addressType")),
        json!(ports),
        json!(eps),
        created(o, now),
    ]
}

const CONFIGMAP: &[Col] = &[
    NAME_COL,
    (
        "Data",
        "string",
        "",
        0,
        "How many keys the ConfigMap holds.",
    ),
    AGE,
];
fn configmap(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let n = |k: &str| o.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
    vec![name(o), json!(n("data") + n("binaryData")), created(o, now)]
}

const SECRET: &[Col] = &[
    NAME_COL,
    ("Type", "string", "", 0, "The secret's type."),
    ("Data", "string", "", 0, "How many keys the secret holds."),
    AGE,
];
fn secret(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let n = o
        .get("data")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    vec![name(o), json!(s(o, "/type")), json!(n), created(o, now)]
}

fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

fn storage_class_of(o: &Value) -> String {
    if let Some(c) = o
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str)
    {
        return c.to_string();
    }
    s(o, "/spec/storageClassName").to_string()
}

const PV: &[Col] = &[
    NAME_COL,
    ("Capacity", "string", "", 0, "The volume's capacity."),
    (
        "Access Modes",
        "string",
        "",
        0,
        "How the volume can be mounted.",
    ),
    (
        "Reclaim Policy",
        "string",
        "",
        0,
        "What happens to the volume when its claim goes.",
    ),
    ("Status", "string", "", 0, "The volume's phase."),
    ("Claim", "string", "", 0, "The claim bound to the volume."),
    (
        "StorageClass",
        "string",
        "",
        0,
        "The volume's storage class.",
    ),
    (
        "VolumeAttributesClass",
        "string",
        "",
        0,
        "The volume's attributes class.",
    ),
    ("Reason", "string", "", 0, "Why the volume is in its phase."),
    AGE,
    ("VolumeMode", "string", "", 1, "Filesystem or Block."),
];
fn pv(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match o.pointer("/spec/claimRef").filter(|v| !v.is_null()) {
        Some(c) => format!("{}/{}", s(c, "/namespace"), s(c, "/name")),
        None => String::new(),
    };
    let phase = if deleting(o) {
        "Terminating"
    } else {
        s(o, "/status/phase")
    };
    let unset = |v: &str| {
        if v.is_empty() {
            "<unset>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        name(o),
        json!(s(o, "/spec/capacity/storage")),
        json!(access_modes(arr(o, "/spec/accessModes"))),
        json!(s(o, "/spec/persistentVolumeReclaimPolicy")),
        json!(phase),
        json!(claim),
        json!(storage_class_of(o)),
        json!(unset(s(o, "/spec/volumeAttributesClassName"))),
        json!(s(o, "/status/reason")),
        created(o, now),
        json!(unset(s(o, "/spec/volumeMode"))),
    ]
}

const PVC: &[Col] = &[
    NAME_COL,
    ("Status", "string", "", 0, "The claim's phase."),
    ("Volume", "string", "", 0, "The volume bound to the claim."),
    ("Capacity", "string", "", 0, "The bound volume's capacity."),
    (
        "Access Modes",
        "string",
        "",
        0,
        "How the bound volume can be mounted.",
    ),
    (
        "StorageClass",
        "string",
        "",
        0,
        "The claim's storage class.",
    ),
    (
        "VolumeAttributesClass",
        "string",
        "",
        0,
        "The claim's attributes class.",
    ),
    AGE,
    ("VolumeMode", "string", "", 1, "Filesystem or Block."),
];
fn pvc(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = if deleting(o) {
        "Terminating"
    } else {
        s(o, "/status/phase")
    };
    let volume = s(o, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            s(o, "/status/capacity/storage").to_string(),
            access_modes(arr(o, "/status/accessModes")),
        )
    };
    let unset = |v: &str| {
        if v.is_empty() {
            "<unset>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        name(o),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(storage_class_of(o)),
        json!(unset(s(o, "/spec/volumeAttributesClassName"))),
        created(o, now),
        json!(unset(s(o, "/spec/volumeMode"))),
    ]
}

const EVENT: &[Col] = &[
    (
        "Last Seen",
        "string",
        "",
        0,
        "When the event was last seen.",
    ),
    ("Type", "string", "", 0, "Normal or Warning."),
    (
        "Reason",
        "string",
        "",
        0,
        "Why the event happened, in one word.",
    ),
    ("Object", "string", "", 0, "The object the event is about."),
    (
        "Subobject",
        "string",
        "",
        1,
        "The part of the object (e.g. a container).",
    ),
    (
        "Source",
        "string",
        "",
        1,
        "The component that reported the event.",
    ),
    ("Message", "string", "", 0, "What happened."),
    (
        "First Seen",
        "string",
        "",
        1,
        "When the event was first seen.",
    ),
    ("Count", "string", "", 1, "How often the event happened."),
    ("Name", "string", "name", 1, NAME),
];

/// The fields of an Event, whichever API group stored it.
struct EventView<'a> {
    first: Option<&'a Value>,
    last: Option<&'a Value>,
    event_time: Option<&'a Value>,
    series: Option<&'a Value>,
    count: i64,
    kind: &'a str,
    object: &'a str,
    field_path: &'a str,
    component: &'a str,
    host: &'a str,
    controller: &'a str,
    instance: &'a str,
    message: &'a str,
    reason: &'a str,
    ty: &'a str,
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null() && v.as_str() != Some(""))
}

fn core_event(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    event_cells(
        o,
        &EventView {
            first: non_null(o.get("firstTimestamp")),
            last: non_null(o.get("lastTimestamp")),
            event_time: non_null(o.get("eventTime")),
            series: non_null(o.get("series")),
            count: i(o, "/count"),
            kind: s(o, "/involvedObject/kind"),
            object: s(o, "/involvedObject/name"),
            field_path: s(o, "/involvedObject/fieldPath"),
            component: s(o, "/source/component"),
            host: s(o, "/source/host"),
            controller: s(o, "/reportingComponent"),
            instance: s(o, "/reportingInstance"),
            message: s(o, "/message"),
            reason: s(o, "/reason"),
            ty: s(o, "/type"),
        },
        now,
    )
}

fn events_event(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    event_cells(
        o,
        &EventView {
            first: non_null(o.get("deprecatedFirstTimestamp")),
            last: non_null(o.get("deprecatedLastTimestamp")),
            event_time: non_null(o.get("eventTime")),
            series: non_null(o.get("series")),
            count: i(o, "/deprecatedCount"),
            kind: s(o, "/regarding/kind"),
            object: s(o, "/regarding/name"),
            field_path: s(o, "/regarding/fieldPath"),
            component: s(o, "/deprecatedSource/component"),
            host: s(o, "/deprecatedSource/host"),
            controller: s(o, "/reportingController"),
            instance: s(o, "/reportingInstance"),
            message: s(o, "/note"),
            reason: s(o, "/reason"),
            ty: s(o, "/type"),
        },
        now,
    )
}

fn event_cells(o: &Value, e: &EventView, now: DateTime<Utc>) -> Vec<Value> {
    let first = match e.first {
        Some(t) => age(Some(t), now),
        None => age(e.event_time, now),
    };
    let mut last = match e.last {
        Some(t) => age(Some(t), now),
        None => first.clone(),
    };
    let mut count = e.count;
    if let Some(series) = e.series {
        last = age(series.get("lastObservedTime"), now);
        count = i(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let target = if e.object.is_empty() {
        e.kind.to_lowercase()
    } else {
        format!("{}/{}", e.kind.to_lowercase(), e.object)
    };
    let component = if e.component.is_empty() {
        e.controller
    } else {
        e.component
    };
    let host = if e.host.is_empty() {
        e.instance
    } else {
        e.host
    };
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(e.ty),
        json!(e.reason),
        json!(target),
        json!(e.field_path),
        json!(source),
        json!(e.message.trim()),
        json!(first),
        json!(count),
        name(o),
    ]
}

const COMPONENT_STATUS: &[Col] = &[
    NAME_COL,
    ("Status", "string", "", 0, "Healthy, Unhealthy or Unknown."),
    (
        "Message",
        "string",
        "",
        0,
        "The component's health message.",
    ),
    ("Error", "string", "", 0, "The component's health error."),
];
fn component_status(o: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let healthy = arr(o, "/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) => (
            if s(c, "/status") == "True" {
                "Healthy"
            } else {
                "Unhealthy"
            },
            s(c, "/message"),
            s(c, "/error"),
        ),
        None => ("Unknown", "", ""),
    };
    vec![name(o), json!(status), json!(message), json!(error)]
}

const DEPLOYMENT: &[Col] = &[
    NAME_COL,
    ("Ready", "string", "", 0, "Ready pods of desired pods."),
    (
        "Up-to-date",
        "string",
        "",
        0,
        "Pods of the current template.",
    ),
    ("Available", "string", "", 0, "Pods available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
fn deployment(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers_cells(o, "/spec/template/spec/containers");
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            i(o, "/status/readyReplicas"),
            i(o, "/spec/replicas")
        )),
        json!(i(o, "/status/updatedReplicas")),
        json!(i(o, "/status/availableReplicas")),
        created(o, now),
        names,
        images,
        json!(selector_string(o.pointer("/spec/selector")).unwrap_or_default()),
    ]
}

const REPLICASET: &[Col] = &[
    NAME_COL,
    ("Desired", "integer", "", 0, "Desired pods."),
    ("Current", "integer", "", 0, "Pods that exist."),
    ("Ready", "integer", "", 0, "Ready pods."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
fn replicaset(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers_cells(o, "/spec/template/spec/containers");
    vec![
        name(o),
        json!(i(o, "/spec/replicas")),
        json!(i(o, "/status/replicas")),
        json!(i(o, "/status/readyReplicas")),
        created(o, now),
        names,
        images,
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

const STATEFULSET: &[Col] = &[
    NAME_COL,
    ("Ready", "string", "", 0, "Ready pods of desired pods."),
    AGE,
    CONTAINERS,
    IMAGES,
];
fn statefulset(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers_cells(o, "/spec/template/spec/containers");
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            i(o, "/status/readyReplicas"),
            i(o, "/spec/replicas")
        )),
        created(o, now),
        names,
        images,
    ]
}

const DAEMONSET: &[Col] = &[
    NAME_COL,
    (
        "Desired",
        "integer",
        "",
        0,
        "Nodes that should run the pod.",
    ),
    ("Current", "integer", "", 0, "Nodes that run the pod."),
    ("Ready", "integer", "", 0, "Nodes whose pod is ready."),
    (
        "Up-to-date",
        "integer",
        "",
        0,
        "Nodes that run the current template.",
    ),
    (
        "Available",
        "integer",
        "",
        0,
        "Nodes whose pod is available.",
    ),
    (
        "Node Selector",
        "string",
        "",
        0,
        "The nodes the pods may run on.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
fn daemonset(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers_cells(o, "/spec/template/spec/containers");
    vec![
        name(o),
        json!(i(o, "/status/desiredNumberScheduled")),
        json!(i(o, "/status/currentNumberScheduled")),
        json!(i(o, "/status/numberReady")),
        json!(i(o, "/status/updatedNumberScheduled")),
        json!(i(o, "/status/numberAvailable")),
        json!(format_labels(o.pointer("/spec/template/spec/nodeSelector"))),
        created(o, now),
        names,
        images,
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

const CONTROLLER_REVISION: &[Col] = &[
    NAME_COL,
    (
        "Controller",
        "string",
        "",
        0,
        "The object that owns the revision.",
    ),
    ("Revision", "string", "", 0, "The revision number."),
    AGE,
];
fn controller_revision(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let owner = arr(o, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
    let controller = match owner {
        Some(r) => {
            let group = s(r, "/apiVersion")
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or("");
            let kind = s(r, "/kind").to_lowercase();
            if group.is_empty() {
                format!("{kind}/{}", s(r, "/name"))
            } else {
                format!("{kind}.{group}/{}", s(r, "/name"))
            }
        }
        None => "<none>".into(),
    };
    vec![
        name(o),
        json!(controller),
        json!(i(o, "/revision")),
        created(o, now),
    ]
}

const JOB: &[Col] = &[
    NAME_COL,
    ("Status", "string", "", 0, "The job's state."),
    (
        "Completions",
        "string",
        "",
        0,
        "Succeeded pods of required completions.",
    ),
    ("Duration", "string", "", 0, "How long the job ran."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn has_condition(o: &Value, kind: &str) -> bool {
    arr(o, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == kind)
        .is_some_and(|c| s(c, "/status") == "True")
}

fn job(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = i(o, "/status/succeeded");
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = i(o, "/spec/parallelism");
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let t = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .and_then(super::parse_time)
    };
    let duration = match (t("/status/startTime"), t("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => super::human_duration(now.signed_duration_since(start)),
        (Some(start), Some(end)) => super::human_duration(end.signed_duration_since(start)),
    };
    let status = if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if deleting(o) {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else if has_condition(o, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(o, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let (names, images) = containers_cells(o, "/spec/template/spec/containers");
    vec![
        name(o),
        json!(status),
        json!(completions),
        json!(duration),
        created(o, now),
        names,
        images,
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

const CRONJOB: &[Col] = &[
    NAME_COL,
    ("Schedule", "string", "", 0, "The cron schedule."),
    ("Timezone", "string", "", 0, "The schedule's time zone."),
    (
        "Suspend",
        "boolean",
        "",
        0,
        "Whether new runs are suspended.",
    ),
    ("Active", "integer", "", 0, "Jobs running now."),
    (
        "Last Schedule",
        "string",
        "",
        0,
        "When a job was last scheduled.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
fn cronjob(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last = match non_null(o.pointer("/status/lastScheduleTime")) {
        Some(t) => age(Some(t), now),
        None => "<none>".into(),
    };
    let suspend = match o.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (names, images) = containers_cells(o, "/spec/jobTemplate/spec/template/spec/containers");
    vec![
        name(o),
        json!(s(o, "/spec/schedule")),
        json!(or_none(s(o, "/spec/timeZone"))),
        json!(suspend),
        json!(arr(o, "/status/active").len()),
        json!(last),
        created(o, now),
        names,
        images,
        json!(format_selector(
            o.pointer("/spec/jobTemplate/spec/selector")
        )),
    ]
}

const INGRESS: &[Col] = &[
    NAME_COL,
    ("Class", "string", "", 0, "The ingress class."),
    ("Hosts", "string", "", 0, "Hosts the rules match."),
    (
        "Address",
        "string",
        "",
        0,
        "Where the load balancer listens.",
    ),
    ("Ports", "string", "", 0, "Ports the ingress opens."),
    AGE,
];
fn ingress(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let rules = arr(o, "/spec/rules");
    let max = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for r in rules {
        if hosts.len() == max {
            more = true;
        }
        let h = s(r, "/host");
        if !more && !h.is_empty() {
            hosts.push(h);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - max)
    } else {
        hosts.join(",")
    };
    let mut addrs: Vec<String> = arr(o, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| match (s(i, "/ip"), s(i, "/hostname")) {
            ("", "") => None,
            ("", h) => Some(h.to_string()),
            (ip, _) => Some(ip.to_string()),
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    let ports = if arr(o, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(o),
        json!(or_none(s(o, "/spec/ingressClassName"))),
        json!(hosts),
        json!(addrs.join(",")),
        json!(ports),
        created(o, now),
    ]
}

const INGRESS_CLASS: &[Col] = &[
    NAME_COL,
    (
        "Controller",
        "string",
        "",
        0,
        "The controller that implements the class.",
    ),
    (
        "Parameters",
        "string",
        "",
        0,
        "The class's parameters object.",
    ),
    AGE,
];
fn ingress_class(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut n = s(o, "/metadata/name").to_string();
    if s(
        o,
        "/metadata/annotations/ingressclass.kubernetes.io~1is-default-class",
    ) == "true"
    {
        n.push_str(" (default)");
    }
    let params = match o.pointer("/spec/parameters").filter(|v| !v.is_null()) {
        Some(p) => {
            let mut t = s(p, "/kind").to_string();
            if let Some(g) = p.get("apiGroup").and_then(Value::as_str) {
                t = format!("{t}.{g}");
            }
            format!("{t}/{}", s(p, "/name"))
        }
        None => "<none>".into(),
    };
    vec![
        json!(n),
        json!(s(o, "/spec/controller")),
        json!(params),
        created(o, now),
    ]
}

const NETWORK_POLICY: &[Col] = &[
    NAME_COL,
    (
        "Pod-Selector",
        "string",
        "",
        0,
        "The pods the policy applies to.",
    ),
    AGE,
];
fn network_policy(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let sel = o
        .pointer("/spec/podSelector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    vec![name(o), json!(format_selector(Some(&sel))), created(o, now)]
}

const STORAGE_CLASS: &[Col] = &[
    NAME_COL,
    (
        "Provisioner",
        "string",
        "",
        0,
        "The volume plugin that provisions volumes.",
    ),
    (
        "ReclaimPolicy",
        "string",
        "",
        0,
        "What happens to volumes when their claim goes.",
    ),
    (
        "VolumeBindingMode",
        "string",
        "",
        0,
        "When volumes are bound.",
    ),
    (
        "AllowVolumeExpansion",
        "string",
        "",
        0,
        "Whether volumes may grow.",
    ),
    AGE,
];
fn storage_class(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut n = s(o, "/metadata/name").to_string();
    let ann = |k: &str| {
        o.pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            == Some("true")
    };
    if ann("storageclass.kubernetes.io/is-default-class")
        || ann("storageclass.beta.kubernetes.io/is-default-class")
    {
        n.push_str(" (default)");
    }
    let or = |v: &str, d: &str| {
        if v.is_empty() {
            d.to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        json!(n),
        json!(s(o, "/provisioner")),
        json!(or(s(o, "/reclaimPolicy"), "Delete")),
        json!(or(s(o, "/volumeBindingMode"), "Immediate")),
        json!(
            o.get("allowVolumeExpansion")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        ),
        created(o, now),
    ]
}

const LEASE: &[Col] = &[
    NAME_COL,
    ("Holder", "string", "", 0, "Who holds the lease."),
    AGE,
];
fn lease(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(s(o, "/spec/holderIdentity")),
        created(o, now),
    ]
}

const BINDING: &[Col] = &[
    NAME_COL,
    ("Role", "string", "", 0, "The role the binding grants."),
    AGE,
    ("Users", "string", "", 1, "Users the binding names."),
    ("Groups", "string", "", 1, "Groups the binding names."),
    (
        "ServiceAccounts",
        "string",
        "",
        1,
        "Service accounts the binding names.",
    ),
];
fn binding(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for sub in arr(o, "/subjects") {
        match s(sub, "/kind") {
            "User" => users.push(s(sub, "/name").to_string()),
            "Group" => groups.push(s(sub, "/name").to_string()),
            "ServiceAccount" => sas.push(format!("{}/{}", s(sub, "/namespace"), s(sub, "/name"))),
            _ => {}
        }
    }
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            s(o, "/roleRef/kind"),
            s(o, "/roleRef/name")
        )),
        created(o, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

const PRIORITY_CLASS: &[Col] = &[
    NAME_COL,
    (
        "Value",
        "integer",
        "",
        0,
        "The priority of pods of this class.",
    ),
    (
        "Global-Default",
        "boolean",
        "",
        0,
        "Whether pods without a class get this one.",
    ),
    AGE,
    (
        "PreemptionPolicy",
        "string",
        "",
        1,
        "Whether pods of this class preempt others.",
    ),
];
fn priority_class(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(i(o, "/value")),
        json!(
            o.get("globalDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        ),
        created(o, now),
        json!(s(o, "/preemptionPolicy")),
    ]
}

const HPA: &[Col] = &[
    NAME_COL,
    ("Reference", "string", "", 0, "The scaled object."),
    (
        "Targets",
        "string",
        "",
        0,
        "Current and target metric values.",
    ),
    ("MinPods", "string", "", 0, "The fewest replicas."),
    ("MaxPods", "string", "", 0, "The most replicas."),
    ("Replicas", "string", "", 0, "The current replicas."),
    AGE,
];
fn hpa(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let specs = arr(o, "/spec/metrics");
    let statuses = arr(o, "/status/currentMetrics");
    let targets = if specs.is_empty() {
        "<none>".to_string()
    } else {
        let mut list: Vec<String> = Vec::new();
        for (idx, spec) in specs.iter().enumerate() {
            let st = statuses.get(idx);
            let text = match s(spec, "/type") {
                "Resource" | "ContainerResource" => {
                    let key = if s(spec, "/type") == "Resource" {
                        "resource"
                    } else {
                        "containerResource"
                    };
                    let res = s(spec, &format!("/{key}/name"));
                    let target = spec.pointer(&format!("/{key}/target"));
                    if let Some(avg) = target
                        .and_then(|t| t.get("averageValue"))
                        .and_then(Value::as_str)
                    {
                        let cur = st
                            .and_then(|s| s.pointer(&format!("/{key}/current/averageValue")))
                            .and_then(Value::as_str)
                            .unwrap_or("<unknown>");
                        format!("{res}: {cur}/{avg}")
                    } else {
                        let cur = st
                            .and_then(|s| s.pointer(&format!("/{key}/current/averageUtilization")))
                            .and_then(Value::as_i64)
                            .map_or("<unknown>".to_string(), |u| format!("{u}%"));
                        let tgt = target
                            .and_then(|t| t.get("averageUtilization"))
                            .and_then(Value::as_i64)
                            .map_or("<auto>".to_string(), |u| format!("{u}%"));
                        format!("{res}: {cur}/{tgt}")
                    }
                }
                _ => "<unknown type>".to_string(),
            };
            list.push(text);
        }
        let count = list.len();
        if count > 2 {
            list.truncate(2);
            format!("{} + {} more...", list.join(", "), count - 2)
        } else {
            list.join(", ")
        }
    };
    let min = match o.pointer("/spec/minReplicas").and_then(Value::as_i64) {
        Some(m) => m.to_string(),
        None => "<unset>".into(),
    };
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            s(o, "/spec/scaleTargetRef/kind"),
            s(o, "/spec/scaleTargetRef/name")
        )),
        json!(targets),
        json!(min),
        json!(i(o, "/spec/maxReplicas")),
        json!(i(o, "/status/currentReplicas")),
        created(o, now),
    ]
}

const VAP: &[Col] = &[
    NAME_COL,
    (
        "Validations",
        "integer",
        "",
        0,
        "How many validations the policy has.",
    ),
    (
        "ParamKind",
        "string",
        "",
        0,
        "The kind of the policy's parameters.",
    ),
    AGE,
];
fn vap(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param = match o.pointer("/spec/paramKind").filter(|v| !v.is_null()) {
        Some(p) => format!("{}/{}", s(p, "/apiVersion"), s(p, "/kind")),
        None => "<unset>".into(),
    };
    vec![
        name(o),
        json!(arr(o, "/spec/validations").len()),
        json!(param),
        created(o, now),
    ]
}

const VAPB: &[Col] = &[
    NAME_COL,
    (
        "PolicyName",
        "string",
        "",
        0,
        "The policy the binding applies.",
    ),
    (
        "ParamRef",
        "string",
        "",
        0,
        "The binding's parameter object.",
    ),
    AGE,
];
fn vapb(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param = match o.pointer("/spec/paramRef").filter(|v| !v.is_null()) {
        Some(p) if !s(p, "/name").is_empty() => {
            if s(p, "/namespace").is_empty() {
                format!("*/{}", s(p, "/name"))
            } else {
                format!("{}/{}", s(p, "/namespace"), s(p, "/name"))
            }
        }
        Some(p) => match p.get("selector") {
            Some(sel) => selector_string(Some(sel)).unwrap_or_default(),
            None => "<unset>".into(),
        },
        None => "<unset>".into(),
    };
    vec![
        name(o),
        json!(s(o, "/spec/policyName")),
        json!(param),
        created(o, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        super::super::parse_time("2026-01-01T00:10:00Z").expect("time")
    }

    #[test]
    fn a_running_pod_with_a_restart_says_how_long_ago() {
        let p = json!({
            "kind": "Pod",
            "metadata": {"name": "web-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                     "lastState": {"terminated": {"finishedAt": "2026-01-01T00:05:00Z"}}},
                    {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ]}
        });
        let cells = pod(&p, now());
        assert_eq!(cells[1], json!("1/2"));
        assert_eq!(cells[2], json!("CrashLoopBackOff"));
        assert_eq!(cells[3], json!("2 (5m ago)"));
        assert_eq!(cells[4], json!("10m"));
        assert_eq!(cells[5], json!("10.0.0.5"));
        assert_eq!(cells[6], json!("n1"));
    }

    #[test]
    fn service_ports_show_node_ports_and_protocols() {
        let svc = json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"app": "web"}}});
        let cells = service(&svc, now());
        assert_eq!(cells[2], json!("10.96.0.10"));
        assert_eq!(cells[3], json!("<none>"));
        assert_eq!(cells[4], json!("80:30080/TCP,53/UDP"));
        assert_eq!(cells[6], json!("app=web"));
    }

    #[test]
    fn selectors_print_sorted_by_key_with_set_operators() {
        let sel = json!({"matchLabels": {"tier": "web"}, "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "zz", "operator": "DoesNotExist"}]});
        assert_eq!(
            format_selector(Some(&sel)),
            "env in (dev,prod),tier=web,!zz"
        );
    }

    #[test]
    fn node_roles_come_from_role_labels() {
        let n = json!({"metadata": {"name": "cp", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.37.2"}}});
        let cells = node(&n, now());
        assert_eq!(cells[1], json!("Ready"));
        assert_eq!(cells[2], json!("control-plane"));
        assert_eq!(cells[4], json!("v1.37.2"));
    }

    #[test]
    fn a_job_without_completions_counts_against_one() {
        let j = json!({"metadata": {"name": "j"}, "spec": {"parallelism": 1},
            "status": {"succeeded": 1, "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:07Z",
                "conditions": [{"type": "Complete", "status": "True"}]}});
        let cells = job(&j, now());
        assert_eq!(cells[1], json!("Complete"));
        assert_eq!(cells[2], json!("1/1"));
        assert_eq!(cells[3], json!("7s"));
    }
}

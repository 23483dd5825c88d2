//! The EndpointSlice controller: for every Service with a selector, the
//! pods it selects (those with an IP) as `discovery.k8s.io/v1` EndpointSlices
//! labelled `kubernetes.io/service-name`, with `ready`/`serving`/
//! `terminating` conditions, ports resolved from `targetPort` (numbers or
//! container port names, per pod) and at most 100 endpoints per slice.
//!
//! Slices are named `SERVICE-N` (Kubernetes uses generated names; clients
//! find slices by label) and replaced whole on change; the legacy
//! `Endpoints` object is written from the same endpoints. Not simulated:
//! topology hints, `trafficDistribution`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::workload::{
    Ctx, api_err, build, controller_ref, delete_quietly, describe, drain, error_policy,
    is_deleting, is_ready, map_matches,
};
use crate::error::Result;

/// Label naming the Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label naming the controller that manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's name, as Kubernetes' own.
pub const MANAGER: &str = "endpointslice-controller.k8s.io";
/// Label Kubernetes' endpoints controller puts on the Endpoints it manages.
pub const ENDPOINTS_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
/// Kubernetes' default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS: usize = 100;

/// Runs the EndpointSlice controller until aborted.
pub(crate) async fn run(client: kube::Client) {
    let services: Api<Service> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let controller = Controller::new(services, watcher::Config::default());
    let store = controller.store();
    // A pod change wakes every Service in its namespace whose selector matches it.
    let pods_to_services = move |pod: Pod| {
        let ns = pod.namespace().unwrap_or_default();
        let labels = pod.labels().clone();
        store
            .state()
            .into_iter()
            .filter(|svc| svc.namespace().as_deref() == Some(ns.as_str()))
            .filter(|svc| {
                svc.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| !sel.is_empty() && map_matches(sel, &labels))
            })
            .map(|svc| ObjectRef::from_obj(svc.as_ref()))
            .collect::<Vec<_>>()
    };
    drain(
        controller
            .owns(
                Api::<EndpointSlice>::all(client.clone()),
                watcher::Config::default(),
            )
            .watches(
                Api::<Pod>::all(client.clone()),
                watcher::Config::default(),
                pods_to_services,
            )
            .run(reconcile, error_policy, ctx),
    )
    .await;
}

/// One endpoint before slicing, with the ports it resolves to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Endpoint {
    pub ports: Vec<Value>,
    pub endpoint: Value,
}

/// The slice ports of `service_ports` for one pod: a numeric `targetPort`
/// as is, a named one from the pod's container ports (a pod without that
/// port name gets no entry for it, as in Kubernetes).
pub(crate) fn resolve_ports(service_ports: &[ServicePort], pod: &Pod) -> Vec<Value> {
    let container_ports: Vec<(String, i32, String)> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.container_port,
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            )
        })
        .collect();
    service_ports
        .iter()
        .filter_map(|sp| {
            let protocol = sp.protocol.clone().unwrap_or_else(|| "TCP".into());
            let port = match &sp.target_port {
                None => sp.port,
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(name)) => match name.parse::<i32>() {
                    Ok(n) => n,
                    Err(_) => {
                        container_ports
                            .iter()
                            .find(|(n, _, proto)| n == name && *proto == protocol)?
                            .1
                    }
                },
            };
            let mut v = json!({"port": port, "protocol": protocol});
            v["name"] = json!(sp.name.clone().unwrap_or_default());
            if let Some(app) = &sp.app_protocol {
                v["appProtocol"] = json!(app);
            }
            Some(v)
        })
        .collect()
}

/// Groups endpoints by their port list and cuts each group into slices of
/// at most `max` endpoints; returns `(ports, endpoints)` per slice.
pub(crate) fn slice(endpoints: Vec<Endpoint>, max: usize) -> Vec<(Vec<Value>, Vec<Value>)> {
    let mut groups: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for e in endpoints {
        let key = serde_json::to_string(&e.ports).unwrap_or_default();
        groups
            .entry(key)
            .or_insert_with(|| (e.ports.clone(), Vec::new()))
            .1
            .push(e.endpoint);
    }
    let mut out = Vec::new();
    for (_, (ports, eps)) in groups {
        for chunk in eps.chunks(max.max(1)) {
            out.push((ports.clone(), chunk.to_vec()));
        }
    }
    out
}

fn endpoint_of(pod: &Pod, ports: Vec<Value>) -> Option<Endpoint> {
    let status = pod.status.as_ref()?;
    let ip = status.pod_ip.clone().filter(|ip| !ip.is_empty())?;
    let ready = is_ready(pod);
    let terminating = is_deleting(pod);
    let mut endpoint = json!({
        "addresses": [ip],
        "conditions": {
            "ready": ready && !terminating,
            "serving": ready,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": pod.namespace(),
            "name": pod.name_any(),
            "uid": pod.metadata.uid,
        },
    });
    if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
        endpoint["nodeName"] = json!(node);
    }
    if let Some(host) = pod.spec.as_ref().and_then(|s| s.hostname.clone()) {
        endpoint["hostname"] = json!(host);
    }
    Some(Endpoint { ports, endpoint })
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(svc.as_ref());
    let span = tracing::info_span!("reconcile", kind = "Service", object = %what);
    let _enter = span.enter();
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let slices_api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = slices_api
        .list(&ListParams::default().labels(&format!(
            "{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGER}"
        )))
        .await
        .map_err(api_err(format!("listing endpointslices of {what}")))?
        .items;
    let spec = svc.spec.clone().unwrap_or_default();
    let selector = spec.selector.clone().unwrap_or_default();
    let managed = !is_deleting(svc.as_ref())
        && !selector.is_empty()
        && spec.type_.as_deref() != Some("ExternalName");
    let mut desired: Vec<(String, EndpointSlice)> = Vec::new();
    if managed {
        let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        let pods = pods_api
            .list(&ListParams::default())
            .await
            .map_err(api_err(format!("listing pods for {what}")))?
            .items;
        let service_ports = spec.ports.clone().unwrap_or_default();
        let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
        let mut endpoints = Vec::new();
        let mut pods: Vec<&Pod> = pods
            .iter()
            .filter(|p| map_matches(&selector, p.labels()))
            .filter(|p| !matches!(super::workload::phase(p), "Succeeded" | "Failed"))
            .collect();
        pods.sort_by_key(|p| p.name_any());
        for pod in pods {
            let ports = resolve_ports(&service_ports, pod);
            if let Some(mut e) = endpoint_of(pod, ports) {
                if publish_not_ready {
                    e.endpoint["conditions"]["ready"] = json!(true);
                }
                endpoints.push(e);
            }
        }
        for (i, (ports, eps)) in slice(endpoints, MAX_ENDPOINTS).into_iter().enumerate() {
            let slice_name = format!("{name}-{i}");
            let mut labels = svc.labels().clone();
            labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
            labels.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
            let obj: EndpointSlice = build(
                &format!("endpointslice {ns}/{slice_name}"),
                json!({
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": slice_name,
                        "namespace": ns,
                        "labels": labels,
                        "ownerReferences": [controller_ref(svc.as_ref())],
                    },
                    "addressType": "IPv4",
                    "endpoints": eps,
                    "ports": ports,
                }),
            )?;
            desired.push((slice_name, obj));
        }
        // A selecting Service with no endpoints still gets one empty slice.
        if desired.is_empty() {
            let slice_name = format!("{name}-0");
            let obj: EndpointSlice = build(
                &format!("endpointslice {ns}/{slice_name}"),
                json!({
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": slice_name,
                        "namespace": ns,
                        "labels": {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGER},
                        "ownerReferences": [controller_ref(svc.as_ref())],
                    },
                    "addressType": "IPv4",
                    "endpoints": [],
                    "ports": [],
                }),
            )?;
            desired.push((slice_name, obj));
        }
    }
    write_endpoints(&ctx.client, svc.as_ref(), &desired, managed).await?;
    for (slice_name, obj) in &desired {
        let current = existing.iter().find(|s| s.name_any() == *slice_name);
        let unchanged = current.is_some_and(|c| {
            c.endpoints == obj.endpoints
                && c.ports.clone().unwrap_or_default() == obj.ports.clone().unwrap_or_default()
                && c.labels() == obj.labels()
        });
        if unchanged {
            continue;
        }
        let mut body = serde_json::to_value(obj).unwrap_or(Value::Null);
        // Replace the lists whole: a merge would keep stale endpoints.
        body["endpoints"] = json!(obj.endpoints);
        slices_api
            .patch(
                slice_name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
            .map_err(api_err(format!("applying endpointslice {ns}/{slice_name}")))?;
    }
    for s in &existing {
        if !desired.iter().any(|(n, _)| *n == s.name_any()) {
            delete_quietly(
                &slices_api,
                &s.name_any(),
                false,
                &format!("endpointslice {ns}/{}", s.name_any()),
            )
            .await?;
        }
    }
    Ok(if managed {
        Action::requeue(Duration::from_secs(300))
    } else {
        Action::await_change()
    })
}

/// The legacy `Endpoints` object (named like the Service) that older
/// clients and `kubectl get endpoints` read: one subset per port set, ready
/// addresses and not-ready ones apart, from the same endpoints as the slices.
async fn write_endpoints(
    client: &kube::Client,
    svc: &Service,
    slices: &[(String, EndpointSlice)],
    managed: bool,
) -> Result<()> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let api: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    let what = format!("endpoints {ns}/{name}");
    if !managed {
        // Only ours go: a selector-less Service's Endpoints belong to the user.
        let current = match api.get_opt(&name).await {
            Ok(c) => c,
            Err(e) => return Err(api_err(format!("reading {what}"))(e)),
        };
        if current.is_some_and(|e| {
            e.labels().get(ENDPOINTS_MANAGED_BY).map(String::as_str) == Some(MANAGER)
        }) {
            delete_quietly(&api, &name, false, &what).await?;
        }
        return Ok(());
    }
    let mut subsets: BTreeMap<String, (Value, Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for (_, slice) in slices {
        let ports: Vec<Value> = slice
            .ports
            .iter()
            .flatten()
            .map(|p| json!({"name": p.name, "port": p.port, "protocol": p.protocol}))
            .collect();
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let entry = subsets
            .entry(key)
            .or_insert_with(|| (json!(ports), Vec::new(), Vec::new()));
        for e in &slice.endpoints {
            let Some(ip) = e.addresses.first() else {
                continue;
            };
            let mut address = json!({"ip": ip, "targetRef": e.target_ref});
            if let Some(node) = &e.node_name {
                address["nodeName"] = json!(node);
            }
            if let Some(host) = &e.hostname {
                address["hostname"] = json!(host);
            }
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(true) {
                entry.1.push(address);
            } else {
                entry.2.push(address);
            }
        }
    }
    let subsets: Vec<Value> = subsets
        .into_values()
        .filter(|(_, ready, not_ready)| !ready.is_empty() || !not_ready.is_empty())
        .map(|(ports, ready, not_ready)| {
            let mut subset = json!({"ports": ports});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            subset
        })
        .collect();
    let mut labels = svc.labels().clone();
    labels.insert(ENDPOINTS_MANAGED_BY.into(), MANAGER.into());
    let body = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "subsets": subsets,
    });
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(api_err(format!("applying {what}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_with_port(name: &str, port: i32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [{"name": name, "containerPort": port}]}]}
        }))
        .unwrap_or_default()
    }

    fn service_port(target: IntOrString) -> ServicePort {
        ServicePort {
            name: Some("http".into()),
            port: 80,
            target_port: Some(target),
            ..ServicePort::default()
        }
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let ports = resolve_ports(
            &[service_port(IntOrString::String("web".into()))],
            &pod_with_port("web", 8080),
        );
        assert_eq!(
            ports,
            vec![json!({"name": "http", "port": 8080, "protocol": "TCP"})]
        );
        let none = resolve_ports(
            &[service_port(IntOrString::String("web".into()))],
            &pod_with_port("other", 8080),
        );
        assert!(none.is_empty());
    }

    #[test]
    fn slices_hold_at_most_the_maximum() {
        let eps = (0..250)
            .map(|i| Endpoint {
                ports: vec![json!({"port": 80})],
                endpoint: json!({"addresses": [format!("10.0.0.{i}")]}),
            })
            .collect();
        let sizes: Vec<usize> = slice(eps, MAX_ENDPOINTS)
            .iter()
            .map(|s| s.1.len())
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    }
}

//! Service address allocation at write time, as Kubernetes' service REST
//! storage does it: a ClusterIP from the service CIDR (10.96.0.0/12) and a
//! node port from 30000–32767 for `NodePort` and `LoadBalancer` services.
//!
//! Allocations live in the Service objects themselves (no separate bitmap):
//! the write lock is global, so scanning stored services under it sees every
//! address in use. Updates keep what was allocated when the new object leaves
//! it out, which is what keeps `kubectl apply` of a Service without
//! `clusterIP` idempotent.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::error::{Cause, Error, Target};
use crate::objects;
use crate::state::State;

/// First address of the service CIDR 10.96.0.0/12.
const CIDR_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
/// Number of addresses in a /12.
const CIDR_SIZE: u32 = 1 << 20;
/// 10.96.0.1 is the `kubernetes` service's by convention; dynamic picks start above it.
const FIRST_DYNAMIC: u32 = 2;
/// Kubernetes' default `--service-node-port-range`.
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

fn invalid(target: &Target, field: &str, message: String) -> Error {
    Error::Invalid {
        target: target.clone(),
        causes: vec![Cause::new("FieldValueInvalid", field, message)],
    }
}

fn in_cidr(ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    (CIDR_BASE..CIDR_BASE + CIDR_SIZE).contains(&n)
}

/// What other services hold: cluster IPs and node ports (protocol, port).
struct InUse {
    ips: HashSet<String>,
    ports: HashSet<(String, i64)>,
}

fn in_use(state: &State, namespace: &str, name: &str) -> Result<InUse, Error> {
    let mut used = InUse {
        ips: HashSet::new(),
        ports: HashSet::new(),
    };
    for svc in state.store.list("/services", None, None, None)?.items {
        if objects::namespace(&svc) == namespace && objects::name(&svc) == name {
            continue;
        }
        if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
            used.ips.insert(ip.to_string());
        }
        for port in svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(np) = port.get("nodePort").and_then(Value::as_i64) {
                used.ports.insert((protocol(port), np));
            }
        }
    }
    Ok(used)
}

fn protocol(port: &Value) -> String {
    port.get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP")
        .to_string()
}

/// Fills in `spec.clusterIP`/`clusterIPs` and node ports of a Service being
/// created (`old` is `None`) or updated, and the defaults that go with them.
pub fn allocate_service(
    state: &State,
    old: Option<&Value>,
    svc: &mut Value,
    target: &Target,
) -> Result<(), Error> {
    let namespace = objects::namespace(svc).to_string();
    let name = objects::name(svc).to_string();
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let used = in_use(state, &namespace, &name)?;

    // Ports: protocol and targetPort defaults, as Kubernetes' defaulting does.
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut() {
            if let Some(p) = port.as_object_mut() {
                p.entry("protocol").or_insert_with(|| json!("TCP"));
                if !p.contains_key("targetPort")
                    && let Some(number) = p.get("port").cloned()
                {
                    p.insert("targetPort".into(), number);
                }
            }
        }
    }

    if kind == "ExternalName" {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        strip_node_ports(spec);
        return Ok(());
    }
    spec.entry("sessionAffinity")
        .or_insert_with(|| json!("None"));
    spec.entry("internalTrafficPolicy")
        .or_insert_with(|| json!("Cluster"));
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));

    // Cluster IP: kept from the stored object when left out, validated when given.
    let old_ip = old
        .and_then(|o| o.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let given = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            spec.get("clusterIPs")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let ip = match (given, old_ip) {
        (Some(ip), Some(old_ip)) if ip != old_ip => {
            return Err(invalid(
                target,
                "spec.clusterIPs[0]",
                format!("Invalid value: {ip:?}: may not change once set"),
            ));
        }
        (Some(ip), _) if ip == "None" => ip,
        (Some(ip), Some(_)) => ip,
        (Some(ip), None) => {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                invalid(
                    target,
                    "spec.clusterIPs[0]",
                    format!("Invalid value: {ip:?}: must be a valid IP address"),
                )
            })?;
            if !in_cidr(parsed) {
                return Err(invalid(
                    target,
                    "spec.clusterIPs[0]",
                    format!(
                        "Invalid value: {ip:?}: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
                    ),
                ));
            }
            if used.ips.contains(&ip) {
                return Err(invalid(
                    target,
                    "spec.clusterIPs[0]",
                    format!(
                        "Invalid value: {ip:?}: failed to allocate IP {ip}: provided IP is already allocated"
                    ),
                ));
            }
            ip
        }
        (None, Some(old_ip)) => old_ip,
        (None, None) => free_ip(&used.ips).ok_or_else(|| {
            invalid(
                target,
                "spec.clusterIPs",
                "failed to allocate a serviceIP: range is full".into(),
            )
        })?,
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));

    if kind == "NodePort" || kind == "LoadBalancer" {
        assign_node_ports(spec, old, &used, target)?;
    } else {
        strip_node_ports(spec);
    }
    Ok(())
}

fn strip_node_ports(spec: &mut serde_json::Map<String, Value>) {
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.remove("nodePort");
        }
    }
}

/// The lowest free address above 10.96.0.1: deterministic, which keeps test
/// output stable (Kubernetes picks at random; nothing relies on which).
fn free_ip(used: &HashSet<String>) -> Option<String> {
    (FIRST_DYNAMIC..CIDR_SIZE - 1)
        .map(|offset| Ipv4Addr::from(CIDR_BASE + offset).to_string())
        .find(|ip| !used.contains(ip))
}

fn assign_node_ports(
    spec: &mut serde_json::Map<String, Value>,
    old: Option<&Value>,
    used: &InUse,
    target: &Target,
) -> Result<(), Error> {
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let mut taken: HashSet<(String, i64)> = HashSet::new();
    for (i, port) in ports.iter_mut().enumerate() {
        let proto = protocol(port);
        let Some(p) = port.as_object_mut() else {
            continue;
        };
        let field = format!("spec.ports[{i}].nodePort");
        let given = p.get("nodePort").and_then(Value::as_i64);
        // The stored port of the same number and protocol keeps its node port.
        let kept = old_ports
            .iter()
            .find(|o| o.get("port") == p.get("port") && protocol(o) == proto)
            .and_then(|o| o.get("nodePort"))
            .and_then(Value::as_i64);
        let chosen = match given {
            Some(np) => {
                if Some(np) != kept {
                    if !NODE_PORTS.contains(&np) {
                        return Err(invalid(
                            target,
                            &field,
                            format!(
                                "Invalid value: {np}: provided port is not in the valid range. The range of valid ports is 30000-32767"
                            ),
                        ));
                    }
                    if used.ports.contains(&(proto.clone(), np)) {
                        return Err(invalid(
                            target,
                            &field,
                            format!("Invalid value: {np}: provided port is already allocated"),
                        ));
                    }
                }
                np
            }
            None => match kept {
                Some(np) => np,
                None => NODE_PORTS
                    .clone()
                    .find(|np| {
                        !used.ports.contains(&(proto.clone(), *np))
                            && !taken.contains(&(proto.clone(), *np))
                            && !old_ports
                                .iter()
                                .any(|o| o.get("nodePort").and_then(Value::as_i64) == Some(*np))
                    })
                    .ok_or_else(|| {
                        invalid(
                            target,
                            &field,
                            "failed to allocate a nodePort: range is full".into(),
                        )
                    })?,
            },
        };
        taken.insert((proto, chosen));
        p.insert("nodePort".into(), json!(chosen));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_dynamic_address_is_above_the_kubernetes_service() {
        assert_eq!(free_ip(&HashSet::new()).as_deref(), Some("10.96.0.2"));
        let used: HashSet<String> = ["10.96.0.2".to_string()].into();
        assert_eq!(free_ip(&used).as_deref(), Some("10.96.0.3"));
    }

    #[test]
    fn the_service_cidr_is_a_slash_12() {
        assert!(in_cidr("10.111.255.254".parse().expect("ip")));
        assert!(!in_cidr("10.112.0.1".parse().expect("ip")));
    }
}

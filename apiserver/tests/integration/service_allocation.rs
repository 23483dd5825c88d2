//! Services get their addresses at create, as from a real API server:
//! a ClusterIP from 10.96.0.0/12, node ports from 30000–32767, and both
//! survive a re-apply that leaves them out.

use crate::common;

use common::Cluster;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn service(name: &str, kind: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": kind, "selector": {"app": name}, "ports": [{"port": 80}]}
    })
}

fn cluster_ip(svc: &Service) -> String {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_service_gets_a_distinct_cluster_ip_from_the_service_cidr() {
    let c = Cluster::start();
    let api: Api<Service> = Api::namespaced(c.client().await, "default");
    let pp = PostParams::default();
    let a = api
        .create(
            &pp,
            &serde_json::from_value(service("a", "ClusterIP")).expect("svc"),
        )
        .await
        .expect("create a");
    let b = api
        .create(
            &pp,
            &serde_json::from_value(service("b", "ClusterIP")).expect("svc"),
        )
        .await
        .expect("create b");
    let (ip_a, ip_b) = (cluster_ip(&a), cluster_ip(&b));
    assert!(ip_a.starts_with("10.96."), "{ip_a}");
    assert_ne!(ip_a, ip_b);
    let spec = a.spec.expect("spec");
    assert_eq!(spec.cluster_ips, Some(vec![ip_a.clone()]));
    let port = &spec.ports.expect("ports")[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert!(port.node_port.is_none());
}

#[tokio::test]
async fn a_headless_service_keeps_none() {
    let c = Cluster::start();
    let api: Api<Service> = Api::namespaced(c.client().await, "default");
    let mut svc = service("db", "ClusterIP");
    svc["spec"]["clusterIP"] = json!("None");
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(svc).expect("svc"),
        )
        .await
        .expect("create");
    assert_eq!(cluster_ip(&created), "None");
}

#[tokio::test]
async fn reapplying_without_cluster_ip_or_node_port_keeps_them() {
    let c = Cluster::start();
    let api: Api<Service> = Api::namespaced(c.client().await, "default");
    let pp = PatchParams::apply("tester");
    let first = api
        .patch("web", &pp, &Patch::Apply(service("web", "NodePort")))
        .await
        .expect("apply");
    let node_port = first
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .expect("ports")[0]
        .node_port
        .expect("node port");
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    let mut changed = service("web", "NodePort");
    changed["metadata"]["labels"] = json!({"tier": "front"});
    let second = api
        .patch("web", &pp, &Patch::Apply(changed))
        .await
        .expect("re-apply");
    assert_eq!(cluster_ip(&second), cluster_ip(&first));
    assert_eq!(
        second.spec.and_then(|s| s.ports).expect("ports")[0].node_port,
        Some(node_port)
    );
}

#[tokio::test]
async fn a_taken_cluster_ip_is_refused() {
    let c = Cluster::start();
    let api: Api<Service> = Api::namespaced(c.client().await, "default");
    let first = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(service("a", "ClusterIP")).expect("svc"),
        )
        .await
        .expect("create");
    let mut clash = service("b", "ClusterIP");
    clash["spec"]["clusterIP"] = json!(cluster_ip(&first));
    let err = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(clash).expect("svc"),
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("already allocated"), "{err}");
}

#[test]
fn kubectl_apply_of_a_service_without_cluster_ip_is_idempotent() {
    if common::kubectl_path("kubectl_apply_of_a_service_without_cluster_ip_is_idempotent").is_none()
    {
        return;
    }
    let c = Cluster::start();
    let manifest = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  selector:\n    app: web\n  ports:\n  - port: 80\n";
    let first = c.kubectl_ok(&["apply", "-f", "-"], Some(manifest));
    assert!(first.contains("service/web created"), "{first}");
    let ip = c.kubectl_ok(
        &["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"],
        None,
    );
    assert!(ip.starts_with("10.96."), "{ip}");
    let second = c.kubectl_ok(&["apply", "-f", "-"], Some(manifest));
    assert!(second.contains("service/web unchanged"), "{second}");
    let server_side = c.kubectl_ok(&["apply", "--server-side", "-f", "-"], Some(manifest));
    assert!(server_side.contains("serverside-applied"), "{server_side}");
    let after = c.kubectl_ok(
        &["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"],
        None,
    );
    assert_eq!(after, ip);
}

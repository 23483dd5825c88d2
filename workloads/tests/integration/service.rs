//! Services: addresses at create, EndpointSlices that follow pod
//! readiness, named target ports, and load-balancer status.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

const TIMEOUT: Duration = Duration::from_secs(30);

fn pod(name: &str, behavior: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web}}
  annotations: {{sim.flotilla.dev/behavior: "{behavior}"}}
spec:
  containers:
  - name: web
    image: nginx:1.27
    ports:
    - name: http
      containerPort: 8080
"#
    )
}

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: http
"#;

/// `(pod name, ready)` of every endpoint in the Service's slices, sorted.
async fn endpoints(c: &SimCluster, service: &str) -> Vec<(String, bool)> {
    let slices: Api<EndpointSlice> = c.api("default");
    let mut out: Vec<(String, bool)> = slices
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .flat_map(|s| s.endpoints)
                .map(|e| {
                    (
                        e.target_ref.and_then(|r| r.name).unwrap_or_default(),
                        e.conditions.and_then(|c| c.ready).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn a_service_gets_a_cluster_ip_and_an_endpointslice_with_only_ready_pods_ready() {
    let c = SimCluster::start().await;
    c.apply(&pod("web-a", "run")).await;
    c.apply(&pod("web-b", "never-ready")).await;
    c.apply(SERVICE).await;
    let services: Api<Service> = c.api("default");
    let svc = services.get("web").await.expect("service");
    let ip = svc.spec.and_then(|s| s.cluster_ip).unwrap_or_default();
    assert!(ip.starts_with("10.96."), "{ip}");

    let eps = wait_for("web-a ready, web-b not", TIMEOUT, || async {
        let eps = endpoints(&c, "web").await;
        (eps == [("web-a".to_string(), true), ("web-b".to_string(), false)]).then_some(eps)
    })
    .await;
    assert_eq!(eps.len(), 2);

    let slices: Api<EndpointSlice> = c.api("default");
    let slice = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .expect("slices")
        .items
        .remove(0);
    assert_eq!(slice.address_type, "IPv4");
    let port = &slice.ports.expect("ports")[0];
    assert_eq!(
        port.port,
        Some(8080),
        "named targetPort resolved from the pod"
    );
    assert_eq!(port.name.as_deref(), Some("http"));
    assert_eq!(
        slice.metadata.labels.expect("labels")["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );

    // The legacy Endpoints object says the same.
    let legacy: Api<k8s_openapi::api::core::v1::Endpoints> = c.api("default");
    let subset = wait_for("Endpoints web", TIMEOUT, || async {
        legacy.get("web").await.ok()?.subsets?.into_iter().next()
    })
    .await;
    let names = |list: Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>| -> Vec<String> {
        list.unwrap_or_default()
            .into_iter()
            .filter_map(|a| a.target_ref?.name)
            .collect()
    };
    assert_eq!(names(subset.addresses), ["web-a"]);
    assert_eq!(names(subset.not_ready_addresses), ["web-b"]);
    assert_eq!(subset.ports.expect("ports")[0].port, 8080);

    // A deleted pod leaves the slice.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = c.api("default");
    pods.delete("web-a", &Default::default())
        .await
        .expect("delete");
    wait_for("web-a gone from the slice", TIMEOUT, || async {
        (endpoints(&c, "web").await == [("web-b".to_string(), false)]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_nodeport_service_gets_a_port_in_range() {
    let c = SimCluster::start().await;
    c.apply(&SERVICE.replace("spec:\n", "spec:\n  type: NodePort\n"))
        .await;
    let services: Api<Service> = c.api("default");
    let svc = services.get("web").await.expect("service");
    let node_port = svc.spec.and_then(|s| s.ports).expect("ports")[0]
        .node_port
        .expect("nodePort");
    assert!((30000..=32767).contains(&node_port), "{node_port}");
}

#[tokio::test]
async fn a_loadbalancer_service_reports_an_address() {
    let c = SimCluster::start().await;
    c.apply(&SERVICE.replace("spec:\n", "spec:\n  type: LoadBalancer\n"))
        .await;
    let services: Api<Service> = c.api("default");
    let svc = wait_for("load-balancer address", TIMEOUT, || async {
        let svc = services.get("web").await.ok()?;
        let ingress = svc
            .status
            .as_ref()?
            .load_balancer
            .as_ref()?
            .ingress
            .clone()?;
        (!ingress.is_empty()).then_some(svc)
    })
    .await;
    let spec = svc.spec.clone().expect("spec");
    assert!(spec.ports.expect("ports")[0].node_port.is_some());
    let ingress = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .expect("ingress");
    assert_eq!(ingress[0].ip.as_deref(), Some("127.0.0.1"));
}

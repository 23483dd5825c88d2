//! Ingresses of the simulated class report a load-balancer address.

use crate::common;

use std::time::Duration;

use common::{SimCluster, wait_for};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::Api;

const TIMEOUT: Duration = Duration::from_secs(30);

const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: web.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port: {number: 80}
"#;

fn address(ing: &Ingress) -> Option<String> {
    ing.status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .first()?
        .ip
        .clone()
}

#[tokio::test]
async fn an_ingress_gets_a_load_balancer_address() {
    let c = SimCluster::start().await;
    c.apply(INGRESS).await;
    let ingresses: Api<Ingress> = c.api("default");
    let ip = wait_for("ingress address", TIMEOUT, || async {
        address(&ingresses.get("web").await.ok()?)
    })
    .await;
    assert_eq!(ip, "127.0.0.1");
}

#[tokio::test]
async fn an_ingress_of_another_class_is_left_alone() {
    let c = SimCluster::start().await;
    c.apply(
        r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: other
spec:
  controller: example.com/other
"#,
    )
    .await;
    c.apply(&INGRESS.replace(
        "spec:\n  rules:",
        "spec:\n  ingressClassName: other\n  rules:",
    ))
    .await;
    // A served Ingress created after it gets its address; by then this one would have too.
    c.apply(&INGRESS.replace("name: web\n", "name: served\n"))
        .await;
    let ingresses: Api<Ingress> = c.api("default");
    wait_for("the default-class ingress served", TIMEOUT, || async {
        address(&ingresses.get("served").await.ok()?)
    })
    .await;
    assert_eq!(address(&ingresses.get("web").await.expect("web")), None);
}

//! Load-balancer addresses: Ingresses of the simulated class (no class, the
//! default IngressClass, or an IngressClass whose controller is
//! [`CONTROLLER`]) and Services of type `LoadBalancer` get
//! `status.loadBalancer.ingress[0].ip = 127.0.0.1`, as a cloud or ingress
//! controller would report. Nothing listens there: it is simulated.
//!
//! Not simulated: routing, TLS, IngressClass parameters.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::workload::{Ctx, api_err, describe, drain, error_policy, is_deleting, patch_status};
use crate::error::Result;

/// The address every simulated load balancer reports.
pub const ADDRESS: &str = "127.0.0.1";
/// The `spec.controller` of IngressClasses this controller serves.
pub const CONTROLLER: &str = "flotilla.dev/ingress";
/// Annotation marking the default IngressClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// Runs the Ingress and LoadBalancer Service controllers until aborted.
pub(crate) async fn run(client: kube::Client) {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let ingresses = Controller::new(
        Api::<Ingress>::all(client.clone()),
        watcher::Config::default(),
    )
    .run(reconcile_ingress, error_policy, ctx.clone());
    let services = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .run(reconcile_service, error_policy, ctx);
    tokio::join!(drain(ingresses), drain(services));
}

fn lb_status() -> Value {
    json!({"loadBalancer": {"ingress": [{"ip": ADDRESS}]}})
}

/// Whether the Ingress's class is one this controller serves.
async fn served(ingress: &Ingress, client: &kube::Client) -> Result<bool> {
    let class = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.clone())
        .or_else(|| {
            ingress
                .annotations()
                .get("kubernetes.io/ingress.class")
                .cloned()
        });
    let Some(class) = class else {
        return Ok(true);
    };
    let classes = Api::<IngressClass>::all(client.clone())
        .list(&Default::default())
        .await
        .map_err(api_err("listing ingressclasses"))?;
    Ok(classes.items.iter().any(|c| {
        c.name_any() == class
            && (c
                .annotations()
                .get(DEFAULT_CLASS_ANNOTATION)
                .map(String::as_str)
                == Some("true")
                || c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER))
    }))
}

async fn reconcile_ingress(ingress: Arc<Ingress>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(ingress.as_ref());
    let span = tracing::info_span!("reconcile", kind = "Ingress", object = %what);
    let _enter = span.enter();
    if is_deleting(ingress.as_ref()) || !served(&ingress, &ctx.client).await? {
        return Ok(Action::await_change());
    }
    let current = serde_json::to_value(&ingress.status).unwrap_or(Value::Null);
    if current == lb_status() {
        return Ok(Action::await_change());
    }
    let api: Api<Ingress> =
        Api::namespaced(ctx.client.clone(), &ingress.namespace().unwrap_or_default());
    patch_status(&api, &ingress.name_any(), lb_status(), &what).await?;
    Ok(Action::await_change())
}

async fn reconcile_service(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action> {
    let what = describe(svc.as_ref());
    let span = tracing::info_span!("reconcile", kind = "Service", object = %what);
    let _enter = span.enter();
    if is_deleting(svc.as_ref()) {
        return Ok(Action::await_change());
    }
    let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    let current = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .is_some_and(|i| !i.is_empty());
    let api: Api<Service> =
        Api::namespaced(ctx.client.clone(), &svc.namespace().unwrap_or_default());
    if is_lb && !current {
        patch_status(&api, &svc.name_any(), lb_status(), &what).await?;
    } else if !is_lb && current {
        // No longer a load balancer: the address goes, as the cloud controller removes it.
        patch_status(
            &api,
            &svc.name_any(),
            json!({"loadBalancer": {"ingress": null}}),
            &what,
        )
        .await?;
    }
    Ok(Action::await_change())
}

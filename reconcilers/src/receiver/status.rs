//! The Receiver controller: reads each Receiver's token Secret and publishes
//! `status.webhookPath` and `Ready`. It runs beside the webhook server; the server finds a
//! Receiver by the path in its status.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crds::conditions::{ConditionStatus, ConditionUpdate, ConditionsExt, Time, reasons, types};
use crds::receiver::webhook_path;
use crds::{Receiver, ReceiverStatus};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use super::{Error, Result, read_token};

struct Context {
    client: kube::Client,
}

/// Runs the Receiver controller until `shutdown` resolves. `namespace`: only Receivers (and
/// Secrets) of this namespace; `None`: all.
pub async fn run_status_controller(
    client: kube::Client,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (receivers, secrets): (Api<Receiver>, Api<Secret>) = match &namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let controller = Controller::new(receivers, watcher::Config::default());
    let store = controller.store();
    controller
        // A new or rotated token changes the path: re-reconcile the Receivers naming the Secret.
        .watches(
            secrets,
            watcher::Config::default(),
            move |secret: Secret| {
                let namespace = secret.metadata.namespace.clone();
                let name = secret.metadata.name.clone();
                store
                    .state()
                    .into_iter()
                    .filter(|r| {
                        r.metadata.namespace == namespace
                            && Some(&r.spec.secret_ref.name) == name.as_ref()
                    })
                    .map(|r| ObjectRef::from_obj(&*r))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, Arc::new(Context { client }))
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "Receiver reconcile");
            }
        })
        .await;
}

#[tracing::instrument(skip_all, fields(receiver = %format!("{}/{}", receiver.metadata.namespace.as_deref().unwrap_or_default(), receiver.metadata.name.as_deref().unwrap_or_default())))]
async fn reconcile(receiver: Arc<Receiver>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = receiver.metadata.namespace.clone().unwrap_or_default();
    let name = receiver.metadata.name.clone().unwrap_or_default();
    let generation = receiver.metadata.generation;
    let old = receiver.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.observed_generation = generation;
    let now = Time(Timestamp::now());
    let requeue = match read_token(&ctx.client, &receiver).await {
        Ok(token) => {
            let path = webhook_path(&String::from_utf8_lossy(&token), &name, &namespace);
            status.conditions.set_condition(
                ConditionUpdate::new(
                    types::READY,
                    ConditionStatus::True,
                    reasons::RECONCILIATION_SUCCEEDED,
                    format!("Receiver initialized for path: {path}"),
                ),
                generation,
                now,
            );
            status.webhook_path = Some(path);
            Action::await_change()
        }
        Err(Error::Secret { reason, .. }) => {
            status.conditions.set_condition(
                ConditionUpdate::new(
                    types::READY,
                    ConditionStatus::False,
                    reasons::REFERENCE_NOT_FOUND,
                    format!(
                        "Secret {namespace}/{}: {reason}",
                        receiver.spec.secret_ref.name
                    ),
                ),
                generation,
                now,
            );
            status.webhook_path = None;
            // The Secret watch wakes us when it appears; no polling needed.
            Action::await_change()
        }
        Err(e) => return Err(e),
    };
    write_status(&ctx.client, &namespace, &name, &old, status).await?;
    Ok(requeue)
}

/// Writes the status only when it changed: a no-change reconcile writes nothing.
async fn write_status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    old: &ReceiverStatus,
    new: ReceiverStatus,
) -> Result<()> {
    if *old == new {
        return Ok(());
    }
    let api: Api<Receiver> = Api::namespaced(client.clone(), namespace);
    // A merge patch replaces lists whole and `null` removes the path.
    let patch = serde_json::json!({"status": {
        "observedGeneration": new.observed_generation,
        "conditions": new.conditions,
        "webhookPath": new.webhook_path,
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::Kube {
            kind: "Receiver",
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })?;
    Ok(())
}

fn error_policy(_receiver: Arc<Receiver>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "Receiver reconcile failed");
    Action::requeue(Duration::from_secs(10))
}

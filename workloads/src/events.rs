//! Kubernetes Events (core/v1) about the objects the simulation acts on, as
//! `kubectl describe` and `kubectl get events` show them.
//!
//! kube's `events::Recorder` writes `events.k8s.io/v1` Events, which the
//! local API server does not serve; core/v1 is what kubectl reads anyway, so
//! this writes those directly.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Resource, ResourceExt};

/// Normal or Warning, as Kubernetes types events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something happened as intended.
    Normal,
    /// Something is not working as expected.
    Warning,
}

/// Records an event about `obj`, reported by `component` (e.g.
/// `deployment-controller`), in the background: the write does not hold up
/// the reconcile, and failures are logged, never returned — an event that
/// cannot be written must not stop a controller.
pub(crate) fn record<K>(
    client: &kube::Client,
    component: &str,
    obj: &K,
    type_: EventType,
    reason: &str,
    message: String,
) where
    K: Resource<DynamicType = ()>,
{
    let namespace = obj.namespace().unwrap_or_else(|| "default".into());
    let now = Timestamp::now();
    let event = Event {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{}.{:x}", obj.name_any(), now.as_nanosecond())),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        involved_object: reference(obj),
        reason: Some(reason.into()),
        message: Some(message),
        type_: Some(
            match type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        source: Some(EventSource {
            component: Some(component.into()),
            host: None,
        }),
        reporting_component: Some(component.into()),
        reporting_instance: Some(component.into()),
        action: Some(reason.into()),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    tokio::spawn(async move {
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::debug!(reason = ?event.reason, object = ?event.involved_object.name, error = %e, "recording event failed");
        }
    });
}

/// The ObjectReference of `obj` (kind, apiVersion, namespace, name, uid).
pub(crate) fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

//! Kubernetes Events about Flotilla objects (`kubectl describe` and `kubectl get events` show
//! them): what was applied, pruned, denied or failed. Events go out on actions and failures
//! only, never on a no-change reconcile, so a quiet cluster stays quiet. Publishing is best
//! effort: a refused Event is logged and never fails a reconcile.
//!
//! Written as core `v1` Events, as Flux's controllers (client-go's recorder) do, rather than
//! with `kube::runtime::events::Recorder`, which writes `events.k8s.io/v1` only: every API
//! server serves core Events, and `kubectl describe` reads them.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

/// The `source.component` and `reportingComponent` of Flotilla's Events.
pub const REPORTER: &str = "flotilla";

/// Kubernetes caps an Event's message at 1 kB in `events.k8s.io`; the same cap keeps core
/// Events readable.
const MAX_NOTE_BYTES: usize = 1024;

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Something happened as intended (objects applied, pruned).
    Normal,
    /// Something failed or was refused.
    Warning,
}

/// Publishes Events for the reconcilers.
#[derive(Clone)]
pub struct Events {
    client: kube::Client,
    instance: Option<String>,
}

impl Events {
    /// A publisher using `client`; `instance` tells replicas apart (e.g. the pod name).
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        Self { client, instance }
    }

    /// A `Normal` Event on `regarding`.
    pub async fn normal(
        &self,
        regarding: &ObjectReference,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        self.publish(regarding, EventType::Normal, reason, action, note)
            .await;
    }

    /// A `Warning` Event on `regarding`.
    pub async fn warning(
        &self,
        regarding: &ObjectReference,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        self.publish(regarding, EventType::Warning, reason, action, note)
            .await;
    }

    /// Publishes one Event about `regarding` (which must have a namespace and name).
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        message: &str,
    ) {
        let Some(namespace) = regarding.namespace.clone() else {
            return;
        };
        let now = Timestamp::now();
        let object = regarding.name.clone().unwrap_or_default();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: regarding.clone(),
            reason: Some(reason.to_owned()),
            message: Some(truncate(message, MAX_NOTE_BYTES)),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            action: Some(action.to_owned()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            source: Some(EventSource {
                component: Some(REPORTER.to_owned()),
                host: None,
            }),
            reporting_component: Some(REPORTER.to_owned()),
            reporting_instance: Some(self.instance.clone().unwrap_or_else(|| REPORTER.to_owned())),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(error) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(%error, reason, object, "publishing an Event failed");
        }
    }
}

/// Cuts `text` to at most `max` bytes at a char boundary, marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max.saturating_sub(3);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn long_messages_are_cut_at_a_char_boundary_and_marked() {
        let cut = truncate(&"é".repeat(1000), 1024);
        assert!(cut.len() <= 1024);
        assert!(cut.ends_with("..."));
    }
}

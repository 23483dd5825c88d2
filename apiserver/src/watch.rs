//! The event log behind `watch`.
//!
//! Every committed change is published here, in revision order, while the
//! writer still holds the write lock. A bounded ring keeps recent events so a
//! watch can resume from a resourceVersion; older requests get `410 Gone`
//! (`Expired`), which tells clients to re-list. Live delivery is a tokio
//! broadcast channel; a watcher that falls too far behind is closed and
//! resumes from its last resourceVersion like any interrupted watch.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::Error;

/// `ADDED`, `MODIFIED` or `DELETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Event {
    pub revision: u64,
    pub kind: EventType,
    /// `group/plural`, as in the store key.
    pub resource: String,
    pub namespace: String,
    /// The object as stored (for deletes: its last state, at the delete's revision).
    pub object: Arc<Value>,
}

struct Log {
    events: VecDeque<Arc<Event>>,
    /// Every event with a revision above this is in `events`.
    complete_after: u64,
    /// The newest published revision.
    latest: u64,
}

/// The hub: ring buffer plus broadcast channel.
pub struct Hub {
    log: Mutex<Log>,
    capacity: usize,
    tx: broadcast::Sender<Arc<Event>>,
}

/// A registered watcher: events it must replay, then the live channel.
pub struct Subscription {
    pub backlog: Vec<Arc<Event>>,
    pub live: broadcast::Receiver<Arc<Event>>,
}

impl Hub {
    /// A hub whose history starts at `revision` (the store's revision at start-up).
    pub fn new(revision: u64, capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1024));
        Self {
            log: Mutex::new(Log {
                events: VecDeque::with_capacity(capacity),
                complete_after: revision,
                latest: revision,
            }),
            capacity,
            tx,
        }
    }

    /// Publishes one event. Callers publish in revision order.
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.events.len() >= self.capacity
            && let Some(old) = log.events.pop_front()
        {
            log.complete_after = old.revision;
        }
        log.latest = log.latest.max(event.revision);
        log.events.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    /// The newest published revision.
    pub fn latest(&self) -> u64 {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).latest
    }

    /// Subscribes to events after `revision`, or fails with 410 when the log no
    /// longer reaches back that far.
    pub fn subscribe(&self, revision: u64) -> Result<Subscription, Error> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if revision < log.complete_after {
            return Err(Error::Gone(format!(
                "too old resource version: {revision} ({})",
                log.complete_after
            )));
        }
        let backlog = log
            .events
            .iter()
            .filter(|e| e.revision > revision)
            .cloned()
            .collect();
        // Subscribing under the lock: nothing published in between is lost or doubled.
        let live = self.tx.subscribe();
        Ok(Subscription { backlog, live })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(revision: u64) -> Event {
        Event {
            revision,
            kind: EventType::Added,
            resource: "/configmaps".into(),
            namespace: "default".into(),
            object: Arc::new(json!({})),
        }
    }

    #[test]
    fn a_watch_replays_events_after_its_revision_then_follows_live() {
        let hub = Hub::new(0, 10);
        hub.publish(event(1));
        hub.publish(event(2));
        let mut sub = hub.subscribe(1).expect("in range");
        assert_eq!(
            sub.backlog.iter().map(|e| e.revision).collect::<Vec<_>>(),
            [2]
        );
        hub.publish(event(3));
        assert_eq!(sub.live.try_recv().expect("live event").revision, 3);
    }

    #[test]
    fn a_watch_older_than_the_ring_is_gone() {
        let hub = Hub::new(0, 2);
        for r in 1..=4 {
            hub.publish(event(r));
        }
        let err = hub.subscribe(1).err().expect("too old");
        assert_eq!(err.code(), 410);
        assert!(hub.subscribe(2).is_ok());
    }
}

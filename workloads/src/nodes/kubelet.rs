//! The simulated kubelet: one controller over the pods bound to simulated
//! nodes. It plays each pod's containers on the simulated runtime
//! ([`super::containers`]) and writes what a kubelet writes: phase, the
//! PodScheduled/Initialized/ContainersReady/Ready conditions, container
//! statuses, pod and host IPs, start time. Pods being deleted gracefully are
//! finished here with a zero-grace delete, as a kubelet does once its
//! containers have stopped.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::behavior::{self, Behavior};
use super::containers::{Container, RestartPolicy, State, Warning};
use super::node::{node_ip, pod_cidr_prefix};
use crate::error::{Error, Result};
use crate::events::{self, EventType};

/// Field manager and event source of the kubelet's writes.
const MANAGER: &str = "kubelet";

/// Runs the kubelet of nodes `sim-node-0..nodes-1` until aborted.
pub(crate) async fn run(client: kube::Client, nodes: usize) {
    let pods: Api<Pod> = Api::all(client.clone());
    let ctx = Arc::new(Kubelet {
        client,
        nodes,
        pods: Mutex::default(),
        ips: Mutex::new(vec![BTreeSet::new(); nodes]),
    });
    let controller = Controller::new(pods, watcher::Config::default().any_semantic());
    let store = controller.store();
    let sweeper_ctx = ctx.clone();
    // Pods deleted without passing through the kubelet (zero-grace deletes,
    // garbage collection) leave their runtime behind; drop those.
    let sweeper = async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let live: BTreeSet<String> = store
                .state()
                .iter()
                .filter_map(|p| p.metadata.uid.clone())
                .collect();
            let gone: Vec<String> = sweeper_ctx
                .lock_pods()
                .keys()
                .filter(|uid| !live.contains(*uid))
                .cloned()
                .collect();
            for uid in gone {
                sweeper_ctx.forget(&uid);
            }
        }
    };
    let controller = controller
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()));
    tokio::join!(controller, sweeper);
}

struct Kubelet {
    client: kube::Client,
    nodes: usize,
    /// The runtime of every pod this kubelet is running, by pod uid.
    pods: Mutex<HashMap<String, PodRuntime>>,
    /// Pod IPs in use on each node: the last octet within the node's /24.
    ips: Mutex<Vec<BTreeSet<u8>>>,
}

/// One pod on the simulated runtime.
struct PodRuntime {
    node: usize,
    ip: Option<u8>,
    started: Timestamp,
    policy: RestartPolicy,
    containers: Vec<Container>,
    init_containers: Vec<(String, String)>,
}

impl Kubelet {
    fn lock_pods(&self) -> std::sync::MutexGuard<'_, HashMap<String, PodRuntime>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_ips(&self) -> std::sync::MutexGuard<'_, Vec<BTreeSet<u8>>> {
        self.ips.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn node_index(&self, pod: &Pod) -> Option<usize> {
        let name = pod.spec.as_ref()?.node_name.as_deref()?;
        let i: usize = name.strip_prefix("sim-node-")?.parse().ok()?;
        (i < self.nodes).then_some(i)
    }

    /// Allocates a pod IP on `node`, keeping `wanted` when it is free (a pod
    /// that already had one before the kubelet restarted).
    fn allocate_ip(&self, node: usize, wanted: Option<u8>) -> Option<u8> {
        let mut ips = self.lock_ips();
        let used = ips.get_mut(node)?;
        let pick = wanted
            .filter(|w| !used.contains(w))
            .or_else(|| (2..=254).find(|o| !used.contains(o)))?;
        used.insert(pick);
        Some(pick)
    }

    fn forget(&self, uid: &str) {
        let removed = self.lock_pods().remove(uid);
        if let Some(PodRuntime {
            node, ip: Some(ip), ..
        }) = removed
            && let Some(used) = self.lock_ips().get_mut(node)
        {
            used.remove(&ip);
        }
    }

    fn start(&self, pod: &Pod, node: usize, now: Timestamp) -> PodRuntime {
        let spec = pod.spec.clone().unwrap_or_default();
        let host_network = spec.host_network == Some(true);
        let previous_ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.rsplit('.').next()?.parse().ok());
        let ip = if host_network {
            None
        } else {
            self.allocate_ip(node, previous_ip)
        };
        let previous_restarts: HashMap<String, i32> = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| (c.name.clone(), c.restart_count))
                    .collect()
            })
            .unwrap_or_default();
        let annotations = pod.metadata.annotations.as_ref();
        let run_time = behavior::run_time(annotations);
        let pod_ref = format!(
            "{}_{}({})",
            pod.name_any(),
            pod.namespace().unwrap_or_default(),
            pod.uid().unwrap_or_default()
        );
        let containers = spec
            .containers
            .iter()
            .map(|c| {
                let image = c.image.clone().unwrap_or_default();
                let ready_after = c
                    .readiness_probe
                    .as_ref()
                    .and_then(|p| p.initial_delay_seconds)
                    .and_then(|s| u64::try_from(s).ok())
                    .map(Duration::from_secs)
                    .unwrap_or_default();
                let mut sim = Container::new(
                    c.name.clone(),
                    image.clone(),
                    Behavior::for_container(annotations, &image),
                    ready_after,
                    run_time,
                    pod_ref.clone(),
                    now,
                );
                sim.restart_count = previous_restarts.get(&c.name).copied().unwrap_or(0);
                sim
            })
            .collect();
        let started = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
            .unwrap_or(now);
        PodRuntime {
            node,
            ip,
            started,
            policy: RestartPolicy::parse(spec.restart_policy.as_deref()),
            containers,
            init_containers: spec
                .init_containers
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.name, c.image.unwrap_or_default()))
                .collect(),
        }
    }
}

#[tracing::instrument(skip_all, fields(pod = %format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())))]
async fn reconcile(pod: Arc<Pod>, ctx: Arc<Kubelet>) -> Result<Action> {
    let Some(node) = ctx.node_index(&pod) else {
        return Ok(Action::await_change());
    };
    let uid = pod.uid().unwrap_or_default();
    let namespace = pod.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    if pod.metadata.deletion_timestamp.is_some() {
        return finish_deletion(&ctx, &api, &pod, &uid).await;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let now = Timestamp::now();
    let (status, next, warnings, finished) = {
        let mut pods = ctx.lock_pods();
        if !pods.contains_key(&uid) {
            if matches!(phase, Some("Succeeded" | "Failed")) {
                return Ok(Action::await_change());
            }
            drop(pods);
            let runtime = ctx.start(&pod, node, now);
            pods = ctx.lock_pods();
            pods.entry(uid.clone()).or_insert(runtime);
        }
        let Some(runtime) = pods.get_mut(&uid) else {
            return Ok(Action::await_change());
        };
        let mut warnings = Vec::new();
        for c in &mut runtime.containers {
            warnings.extend(c.advance(runtime.policy, now));
        }
        let status = runtime.status(&pod, now);
        let next = runtime
            .containers
            .iter()
            .filter_map(|c| c.next_change(runtime.policy, now))
            .min();
        let finished = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
        (status, next, warnings, finished)
    };
    if crate::status::differs(pod.status.as_ref(), &status) {
        api.patch_status(
            &pod.name_any(),
            &PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(|source| Error::Api {
            action: format!("updating status of pod {namespace}/{}", pod.name_any()),
            source,
        })?;
    }
    for w in warnings {
        let (reason, message) = match w {
            Warning::ImagePull(image) => (
                "Failed",
                format!("Failed to pull image \"{image}\": simulated pull failure"),
            ),
            Warning::BackOff(container) => (
                "BackOff",
                format!(
                    "Back-off restarting failed container {container} in pod {}_{namespace}({uid})",
                    pod.name_any()
                ),
            ),
        };
        events::record(
            &ctx.client,
            MANAGER,
            pod.as_ref(),
            EventType::Warning,
            reason,
            message,
        );
    }
    if finished {
        ctx.forget(&uid);
        return Ok(Action::await_change());
    }
    Ok(match next {
        Some(at) => {
            let wait = now.duration_until(at).unsigned_abs();
            Action::requeue(wait.max(Duration::from_millis(5)))
        }
        None => Action::await_change(),
    })
}

/// The containers of a pod being deleted stop at once; the kubelet then
/// removes the pod for good (grace 0, only this very pod by uid).
async fn finish_deletion(ctx: &Kubelet, api: &Api<Pod>, pod: &Pod, uid: &str) -> Result<Action> {
    ctx.forget(uid);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&pod.name_any(), &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(Action::await_change()),
        Err(source) => Err(Error::Api {
            action: format!(
                "deleting pod {}/{}",
                pod.namespace().unwrap_or_default(),
                pod.name_any()
            ),
            source,
        }),
    }
}

fn error_policy(_pod: Arc<Pod>, error: &Error, _ctx: Arc<Kubelet>) -> Action {
    tracing::warn!(%error, "kubelet sync failed");
    Action::requeue(Duration::from_secs(1))
}

impl PodRuntime {
    fn status(&self, pod: &Pod, now: Timestamp) -> PodStatus {
        let existing = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let statuses: Vec<ContainerStatus> = self
            .containers
            .iter()
            .map(|c| container_status(c, pod, now))
            .collect();
        let all_terminated = self
            .containers
            .iter()
            .all(|c| matches!(c.state, State::Terminated(_)));
        let phase = if all_terminated && !self.containers.is_empty() {
            let failed = self
                .containers
                .iter()
                .any(|c| matches!(&c.state, State::Terminated(e) if e.code != 0));
            if failed { "Failed" } else { "Succeeded" }
        } else if self.containers.iter().any(|c| {
            matches!(c.state, State::Running { .. } | State::Terminated(_)) || c.restart_count > 0
        }) {
            "Running"
        } else {
            "Pending"
        };
        let unready: Vec<&str> = statuses
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.name.as_str())
            .collect();
        let (ready, reason, message) = if matches!(phase, "Succeeded" | "Failed") {
            (false, Some("PodCompleted"), None)
        } else if unready.is_empty() {
            (true, None, None)
        } else {
            (
                false,
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            )
        };
        let cond = |type_: &str, status: bool, reason: Option<&str>, message: Option<String>| {
            condition(&existing, type_, status, reason, message, self.started)
        };
        let conditions = vec![
            cond("PodReadyToStartContainers", true, None, None),
            cond("Initialized", true, None, None),
            cond("Ready", ready, reason, message.clone()),
            cond("ContainersReady", ready, reason, message),
            cond("PodScheduled", true, None, None),
        ];
        let host_ip = node_ip(self.node);
        let pod_ip = match self.ip {
            Some(o) => format!("{}.{o}", pod_cidr_prefix(self.node)),
            None => host_ip.clone(),
        };
        PodStatus {
            phase: Some(phase.into()),
            conditions: Some(conditions),
            container_statuses: Some(statuses),
            init_container_statuses: (!self.init_containers.is_empty()).then(|| {
                self.init_containers
                    .iter()
                    .map(|(name, image)| ContainerStatus {
                        name: name.clone(),
                        image: image.clone(),
                        image_id: format!("sim://{image}"),
                        container_id: Some(format!("sim://{name}-init")),
                        ready: true,
                        restart_count: 0,
                        started: Some(false),
                        state: Some(ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                exit_code: 0,
                                reason: Some("Completed".into()),
                                started_at: Some(Time(self.started)),
                                finished_at: Some(Time(self.started)),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect()
            }),
            host_ip: Some(host_ip.clone()),
            host_ips: Some(vec![HostIP { ip: host_ip }]),
            pod_ip: Some(pod_ip.clone()),
            pod_ips: Some(vec![PodIP { ip: pod_ip }]),
            start_time: Some(Time(self.started)),
            ..Default::default()
        }
    }
}

/// A condition, keeping its last transition time when its status is unchanged.
fn condition(
    existing: &[PodCondition],
    type_: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<String>,
    default_time: Timestamp,
) -> PodCondition {
    let status = if status { "True" } else { "False" };
    let since = existing
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(Timestamp::now().max(default_time)));
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(str::to_string),
        message,
        last_transition_time: Some(since),
        last_probe_time: None,
        observed_generation: None,
    }
}

fn container_status(c: &Container, pod: &Pod, now: Timestamp) -> ContainerStatus {
    let uid = pod.uid().unwrap_or_default();
    let short = uid.get(..8).unwrap_or(&uid);
    let terminated = |e: &super::containers::Exit| ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: e.code,
            reason: Some(e.reason.into()),
            started_at: Some(Time(e.started)),
            finished_at: Some(Time(e.finished)),
            container_id: Some(format!("sim://{short}-{}-{}", c.name, c.restart_count)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (state, started) = match &c.state {
        State::Waiting {
            reason, message, ..
        } => (
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some((*reason).into()),
                    message: Some(message.clone()),
                }),
                ..Default::default()
            },
            false,
        ),
        State::Running { started } => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started)),
                }),
                ..Default::default()
            },
            true,
        ),
        State::Terminated(e) => (terminated(e), false),
    };
    let pulled = !matches!(&c.state, State::Waiting { reason, .. } if reason.contains("ImagePull"));
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: if pulled {
            format!("sim://{}", c.image)
        } else {
            String::new()
        },
        container_id: pulled.then(|| format!("sim://{short}-{}-{}", c.name, c.restart_count)),
        ready: c.ready(now),
        restart_count: c.restart_count,
        started: Some(started),
        state: Some(state),
        last_state: c.last.as_ref().map(terminated),
        ..Default::default()
    }
}

//! The simulated container runtime: each container's state (waiting,
//! running, terminated), restarts with back-off and readiness, advanced on a
//! clock. Pure logic; the kubelet turns it into pod status.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::behavior::{self, Behavior};

/// A container's state, as in `containerStatuses[].state`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum State {
    /// Not running: `reason` is `ErrImagePull`, `ImagePullBackOff` or
    /// `CrashLoopBackOff`; `until` is when it moves on (never when `None`).
    Waiting {
        reason: &'static str,
        message: String,
        until: Option<Timestamp>,
    },
    /// Running since `started`.
    Running { started: Timestamp },
    /// Exited and will not be restarted.
    Terminated(Exit),
}

/// One run of a container that ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exit {
    pub code: i32,
    pub reason: &'static str,
    pub started: Timestamp,
    pub finished: Timestamp,
}

/// What the pod asks of its containers' restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub(crate) fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Never") => Self::Never,
            Some("OnFailure") => Self::OnFailure,
            _ => Self::Always,
        }
    }

    fn restarts(self, code: i32) -> bool {
        match self {
            Self::Always => true,
            Self::OnFailure => code != 0,
            Self::Never => false,
        }
    }
}

/// One simulated container.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub name: String,
    pub image: String,
    pub behavior: Behavior,
    /// How long after starting it passes readiness (probe `initialDelaySeconds`).
    pub ready_after: Duration,
    /// How long it runs before exiting, when it exits.
    pub run_time: Duration,
    pub restart_count: i32,
    pub state: State,
    pub last: Option<Exit>,
    /// The pod reference used in back-off messages: `name_namespace(uid)`.
    pub pod_ref: String,
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
        .unwrap_or(t)
}

impl Container {
    /// A container created at `now`: pulling (or failing to pull) its image.
    pub(crate) fn new(
        name: String,
        image: String,
        behavior: Behavior,
        ready_after: Duration,
        run_time: Duration,
        pod_ref: String,
        now: Timestamp,
    ) -> Self {
        let state = if behavior == Behavior::ImagePullError {
            State::Waiting {
                reason: "ErrImagePull",
                message: pull_error(&image),
                until: Some(plus(now, behavior::image_pull_failure())),
            }
        } else {
            State::Running { started: now }
        };
        Self {
            name,
            image,
            behavior,
            ready_after,
            run_time,
            restart_count: 0,
            state,
            last: None,
            pod_ref,
        }
    }

    /// When a running container exits by itself under `policy`, if ever.
    fn exit_at(&self, policy: RestartPolicy, started: Timestamp) -> Option<(Timestamp, i32)> {
        let code = match (self.behavior.exit_code(), policy, self.behavior) {
            (Some(code), _, _) => code,
            (None, RestartPolicy::Always, _) | (None, _, Behavior::NeverReady) => return None,
            (None, _, _) => 0,
        };
        Some((plus(started, self.run_time), code))
    }

    /// Plays every transition due by `now`. Returns the reasons of the
    /// transitions that Kubernetes reports as Warning events.
    pub(crate) fn advance(&mut self, policy: RestartPolicy, now: Timestamp) -> Vec<Warning> {
        let mut warnings = Vec::new();
        // Bounded: each pass moves the clock of the container forward.
        for _ in 0..64 {
            match &self.state {
                State::Waiting {
                    reason: "ErrImagePull",
                    until: Some(t),
                    ..
                } if *t <= now => {
                    warnings.push(Warning::ImagePull(self.image.clone()));
                    self.state = State::Waiting {
                        reason: "ImagePullBackOff",
                        message: format!("Back-off pulling image \"{}\"", self.image),
                        until: None,
                    };
                }
                State::Waiting {
                    reason: "CrashLoopBackOff",
                    until: Some(t),
                    ..
                } if *t <= now => {
                    self.state = State::Running { started: *t };
                }
                State::Running { started } => {
                    let started = *started;
                    let Some((at, code)) = self.exit_at(policy, started) else {
                        break;
                    };
                    if at > now {
                        break;
                    }
                    let exit = Exit {
                        code,
                        reason: if code == 0 { "Completed" } else { "Error" },
                        started,
                        finished: at,
                    };
                    if policy.restarts(code) {
                        self.restart_count += 1;
                        let backoff = behavior::restart_backoff(self.restart_count);
                        self.state = State::Waiting {
                            reason: "CrashLoopBackOff",
                            message: format!(
                                "back-off {} restarting failed container={} pod={}",
                                behavior::restart_backoff_label(self.restart_count),
                                self.name,
                                self.pod_ref
                            ),
                            until: Some(plus(at, backoff)),
                        };
                        self.last = Some(exit);
                        warnings.push(Warning::BackOff(self.name.clone()));
                    } else {
                        self.state = State::Terminated(exit);
                    }
                }
                _ => break,
            }
        }
        warnings
    }

    /// Whether the container passes readiness at `now`.
    pub(crate) fn ready(&self, now: Timestamp) -> bool {
        match &self.state {
            State::Running { started } => {
                !matches!(self.behavior, Behavior::NeverReady | Behavior::CrashLoop)
                    && plus(*started, self.ready_after) <= now
            }
            _ => false,
        }
    }

    /// When this container next changes by itself, if ever.
    pub(crate) fn next_change(&self, policy: RestartPolicy, now: Timestamp) -> Option<Timestamp> {
        match &self.state {
            State::Waiting { until, .. } => *until,
            State::Running { started } => {
                let exit = self.exit_at(policy, *started).map(|(t, _)| t);
                let ready = plus(*started, self.ready_after);
                let ready = (!self.ready(now)
                    && !matches!(self.behavior, Behavior::NeverReady | Behavior::CrashLoop)
                    && ready > now)
                    .then_some(ready);
                match (exit, ready) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::Terminated(_) => None,
        }
    }
}

/// A transition the kubelet reports as a Warning event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Warning {
    /// Pulling this image failed.
    ImagePull(String),
    /// This container crashed and waits to be restarted.
    BackOff(String),
}

fn pull_error(image: &str) -> String {
    format!(
        "failed to pull and unpack image \"{image}\": simulated pull failure (sim.flotilla.dev/behavior=image-pull-error)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(behavior: Behavior, now: Timestamp) -> Container {
        Container::new(
            "app".into(),
            "busybox".into(),
            behavior,
            Duration::from_secs(2),
            Duration::ZERO,
            "p_default(u)".into(),
            now,
        )
    }

    #[test]
    fn a_running_container_becomes_ready_after_its_probe_delay() {
        let t0 = Timestamp::from_second(1_000).expect("time");
        let c = container(Behavior::Run, t0);
        assert!(!c.ready(t0));
        assert_eq!(
            c.next_change(RestartPolicy::Always, t0),
            Some(plus(t0, Duration::from_secs(2)))
        );
        assert!(c.ready(plus(t0, Duration::from_secs(2))));
    }

    #[test]
    fn a_crash_loop_restarts_with_growing_backoff() {
        let t0 = Timestamp::from_second(1_000).expect("time");
        let mut c = container(Behavior::CrashLoop, t0);
        c.advance(RestartPolicy::Always, t0);
        assert_eq!(c.restart_count, 1);
        assert!(matches!(
            c.state,
            State::Waiting {
                reason: "CrashLoopBackOff",
                ..
            }
        ));
        // 1 s back-off, restart, exit again, 2 s back-off.
        c.advance(RestartPolicy::Always, plus(t0, Duration::from_millis(1500)));
        assert_eq!(c.restart_count, 2);
        assert_eq!(c.last.as_ref().map(|e| e.code), Some(1));
        assert!(!c.ready(plus(t0, Duration::from_secs(100))));
    }

    #[test]
    fn a_job_container_completes_under_never() {
        let t0 = Timestamp::from_second(1_000).expect("time");
        let mut c = container(Behavior::Run, t0);
        c.advance(RestartPolicy::Never, t0);
        assert!(matches!(c.state, State::Terminated(Exit { code: 0, .. })));
        let mut c = container(Behavior::ExitCode(3), t0);
        c.advance(RestartPolicy::Never, t0);
        assert!(matches!(c.state, State::Terminated(Exit { code: 3, .. })));
    }
}

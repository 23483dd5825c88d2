//! The container behaviours a pod can ask the simulated kubelet for, and the
//! compressed clock the kubelet plays them on.
//!
//! A pod chooses with the annotation `sim.flotilla.dev/behavior` (copied from
//! a workload's pod template like any annotation) or, for users who cannot
//! add annotations, with the image tag (`busybox:crash-loop`):
//! - absent: containers start and become ready after their readiness probe's
//!   `initialDelaySeconds`; with `restartPolicy: Always` they run forever,
//!   otherwise they exit 0 after `sim.flotilla.dev/run-seconds` (default 0);
//! - `crash-loop`: containers exit 1 after run-seconds, again and again;
//! - `never-ready`: containers run but never pass readiness;
//! - `exit-code=N`: containers exit N after run-seconds;
//! - `image-pull-error`: the image never pulls (`ErrImagePull`, then
//!   `ImagePullBackOff`).

use std::collections::BTreeMap;
use std::time::Duration;

/// Pod annotation choosing a behaviour for all of the pod's containers.
pub const BEHAVIOR_ANNOTATION: &str = "sim.flotilla.dev/behavior";
/// Pod annotation: how long containers run before they exit (seconds,
/// fractions allowed; real time, not compressed).
pub const RUN_SECONDS_ANNOTATION: &str = "sim.flotilla.dev/run-seconds";

/// How much faster than Kubernetes the simulated kubelet's back-offs run:
/// the crash-loop back-off (10 s doubling to 5 min in the kubelet) is 1 s
/// doubling to 30 s here, and an image pull fails after 0.5 s. Probe delays
/// and `run-seconds` are real time, since users set them.
pub const TIME_COMPRESSION: u32 = 10;

/// What a simulated container does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Starts, becomes ready, runs (or completes, outside `Always` pods).
    Run,
    /// Exits 1 after run-seconds, every time it is started.
    CrashLoop,
    /// Runs but never becomes ready.
    NeverReady,
    /// Exits with this code after run-seconds.
    ExitCode(i32),
    /// Its image cannot be pulled; it never starts.
    ImagePullError,
}

impl Behavior {
    /// Parses an annotation value or image tag; `None` when it names no
    /// behaviour.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "crash-loop" => Some(Self::CrashLoop),
            "never-ready" => Some(Self::NeverReady),
            "image-pull-error" => Some(Self::ImagePullError),
            "run" | "" => Some(Self::Run),
            other => other
                .strip_prefix("exit-code=")
                .and_then(|n| n.parse().ok())
                .map(Self::ExitCode),
        }
    }

    /// The behaviour of a container with `image` in a pod with
    /// `annotations`: the annotation wins, then the image tag, else [`Run`](Self::Run).
    pub fn for_container(annotations: Option<&BTreeMap<String, String>>, image: &str) -> Self {
        if let Some(b) = annotations
            .and_then(|a| a.get(BEHAVIOR_ANNOTATION))
            .and_then(|v| Self::parse(v))
        {
            return b;
        }
        match image_tag(image) {
            Some(tag @ ("crash-loop" | "never-ready" | "image-pull-error")) => {
                Self::parse(tag).unwrap_or(Self::Run)
            }
            _ => Self::Run,
        }
    }

    /// The code the container exits with, if it ever exits by itself in a
    /// pod whose containers restart `Always`.
    pub fn exit_code(self) -> Option<i32> {
        match self {
            Self::CrashLoop => Some(1),
            Self::ExitCode(n) => Some(n),
            Self::Run | Self::NeverReady | Self::ImagePullError => None,
        }
    }
}

/// How long containers of a pod with `annotations` run before exiting.
pub fn run_time(annotations: Option<&BTreeMap<String, String>>) -> Duration {
    annotations
        .and_then(|a| a.get(RUN_SECONDS_ANNOTATION))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or_default()
}

/// The back-off before restart number `restarts` (1-based): the kubelet's
/// 10 s × 2^(n-1) capped at 300 s, compressed by [`TIME_COMPRESSION`].
pub fn restart_backoff(restarts: i32) -> Duration {
    let exp = u32::try_from(restarts.saturating_sub(1))
        .unwrap_or(0)
        .min(10);
    let secs = (10u64 << exp).min(300);
    Duration::from_secs(secs) / TIME_COMPRESSION
}

/// The uncompressed back-off, as the kubelet's messages name it.
pub fn restart_backoff_label(restarts: i32) -> String {
    let d = restart_backoff(restarts) * TIME_COMPRESSION;
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// How long an image pull takes to fail.
pub fn image_pull_failure() -> Duration {
    Duration::from_secs(5) / TIME_COMPRESSION
}

/// The tag of an image reference (`busybox:crash-loop` → `crash-loop`),
/// ignoring registry ports and digests.
fn image_tag(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_wins_over_the_image_tag() {
        let a = BTreeMap::from([(BEHAVIOR_ANNOTATION.to_string(), "exit-code=3".to_string())]);
        assert_eq!(
            Behavior::for_container(Some(&a), "busybox:crash-loop"),
            Behavior::ExitCode(3)
        );
        assert_eq!(
            Behavior::for_container(None, "busybox:crash-loop"),
            Behavior::CrashLoop
        );
    }

    #[test]
    fn registry_ports_are_not_tags() {
        assert_eq!(
            Behavior::for_container(None, "localhost:5000/never-ready"),
            Behavior::Run
        );
        assert_eq!(
            Behavior::for_container(None, "localhost:5000/app:never-ready"),
            Behavior::NeverReady
        );
    }

    #[test]
    fn backoff_doubles_and_caps_compressed() {
        assert_eq!(restart_backoff(1), Duration::from_secs(1));
        assert_eq!(restart_backoff(2), Duration::from_secs(2));
        assert_eq!(restart_backoff(9), Duration::from_secs(30));
        assert_eq!(restart_backoff_label(6), "5m0s");
    }
}

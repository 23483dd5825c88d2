//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several operator replicas
//! exactly one applies at a time.
//!
//! The protocol is client-go's `leaderelection` with a `LeaseLock`: a candidate takes the Lease
//! when it has no holder or when its record has not changed for `leaseDurationSeconds`; the
//! holder renews `renewTime` every `retry_period` and steps down when it could not renew for
//! `renew_deadline`. Every write is an update carrying the `resourceVersion` that was read, so
//! two candidates racing for an expired Lease cannot both win: the second write gets
//! `409 Conflict`.
//!
//! Expiry is judged by the *local* time at which a candidate last saw the record change, not by
//! the `renewTime` written by another machine, so clock skew between replicas cannot make a
//! Lease look expired early.
//!
//! Why not a crate: `kube-lease-manager` 0.13 builds with kube 5, but it renews and releases
//! with strategic-merge patches that carry no `resourceVersion` precondition and leans on
//! server-side-apply field ownership to detect races; a replica that was paused past its
//! Lease's expiry can then still renew and believe it leads while another replica does.
//! `kube-leader-election` needs kube 4. The resourceVersion-checked loop below is short.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Lease could not be read or written for a reason other than a lost race.
    #[error("Lease {namespace}/{name}: {source}")]
    Kube {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The timings cannot work: the holder must give up (renew deadline) before others may take
    /// over (lease duration), and retry more often than it gives up.
    #[error(
        "leader election timings: need retry period ({retry_period:?}) < renew deadline ({renew_deadline:?}) < lease duration ({lease_duration:?})"
    )]
    Timings {
        /// [`LeaseConfig::lease_duration`].
        lease_duration: Duration,
        /// [`LeaseConfig::renew_deadline`].
        renew_deadline: Duration,
        /// [`LeaseConfig::retry_period`].
        retry_period: Duration,
    },
}

/// Result of leader election operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which Lease to contend for, as whom, and how fast.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease, e.g. `flotilla-system`.
    pub namespace: String,
    /// Name of the Lease, e.g. `flotilla-leader`.
    pub name: String,
    /// This candidate's identity, unique among replicas (pod name plus a random suffix).
    pub identity: String,
    /// How long the Lease stays valid after its last renewal; others wait this long before
    /// taking over from a holder that stopped renewing.
    pub lease_duration: Duration,
    /// The holder steps down when it could not renew for this long.
    pub renew_deadline: Duration,
    /// How often the holder renews and candidates retry.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    fn check(&self) -> Result<()> {
        if self.retry_period < self.renew_deadline && self.renew_deadline < self.lease_duration {
            Ok(())
        } else {
            Err(Error::Timings {
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
            })
        }
    }
}

/// What a candidate last saw of the Lease, and when (by its own clock).
#[derive(Clone, Debug)]
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    duration: Duration,
    at: Instant,
}

/// One candidate for a Lease. [`LeaderElector::run`] contends until shutdown and reports
/// leadership on a watch channel; [`LeaderElector::try_acquire_or_renew`] is one step of it.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

impl LeaderElector {
    /// A candidate for `config.namespace/config.name`.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Result<Self> {
        config.check()?;
        Ok(Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        })
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    fn kube_error(&self, source: kube::Error) -> Error {
        Error::Kube {
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            source,
        }
    }

    fn lease_duration_seconds(&self) -> i32 {
        i32::try_from(self.config.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One round: take the Lease if it is free or expired, renew it if we hold it. Returns
    /// whether we hold it afterwards. A lost race (409 Conflict, or 409 AlreadyExists on
    /// create) is not an error: it returns `false`.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let now = MicroTime(Timestamp::now());
        let me = self.config.identity.clone();
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.kube_error(e))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(self.lease_duration_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(self.kube_error(e)),
            };
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let we_hold = holder.as_deref() == Some(me.as_str());
        if !we_hold && holder.is_some() && !self.observed_expired() {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(me),
            lease_duration_seconds: Some(self.lease_duration_seconds()),
            acquire_time: if we_hold {
                spec.acquire_time
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if we_hold {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            ..spec
        });
        // `replace` sends the resourceVersion we read: a write by anyone since then makes this
        // one fail with 409 instead of silently winning.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.kube_error(e)),
        }
    }

    /// Gives the Lease up if we hold it, so another replica takes over at once instead of after
    /// the lease duration (client-go's `ReleaseOnCancel`).
    pub async fn release(&mut self) -> Result<()> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.kube_error(e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(self.kube_error(e)),
        }
    }

    /// Remembers the record and, when holder or renewTime changed, the local time of the change.
    fn observe(&mut self, lease: &Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.filter(|h| !h.is_empty());
        let duration = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        );
        let changed = match &self.observed {
            Some(o) => o.holder != holder || o.renew_time != spec.renew_time,
            None => true,
        };
        if changed {
            self.observed = Some(Observed {
                holder,
                renew_time: spec.renew_time,
                duration,
                at: Instant::now(),
            });
        }
    }

    fn observed_expired(&self) -> bool {
        self.observed
            .as_ref()
            .is_none_or(|o| o.at + o.duration <= Instant::now())
    }

    /// Contends for the Lease until `shutdown` resolves, then releases it if held. Returns at
    /// once with a channel that is `true` while this candidate leads. Leadership is reported
    /// lost when a renewal was refused, or failed for `renew_deadline`.
    pub fn spawn(
        mut self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(async move {
            tokio::pin!(shutdown);
            let mut last_renewed: Option<Instant> = None;
            loop {
                let leading = match self.try_acquire_or_renew().await {
                    Ok(held) => {
                        if held {
                            last_renewed = Some(Instant::now());
                        }
                        held
                    }
                    Err(e) => {
                        tracing::warn!(identity = %self.config.identity, error = %e, "leader election round failed");
                        // A holder keeps leading through transient errors until its deadline.
                        last_renewed.is_some_and(|t| t.elapsed() < self.config.renew_deadline)
                    }
                };
                if !leading {
                    last_renewed = None;
                }
                if *tx.borrow() != leading {
                    tracing::info!(identity = %self.config.identity, leading, "leadership changed");
                    tx.send_replace(leading);
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(self.config.retry_period) => {}
                }
            }
            tx.send_replace(false);
            if let Err(e) = self.release().await {
                tracing::warn!(identity = %self.config.identity, error = %e, "releasing the Lease failed");
            }
        });
        (rx, handle)
    }
}

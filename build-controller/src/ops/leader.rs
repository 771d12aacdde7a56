//! Leader election over a `coordination.k8s.io/v1` Lease, so that of several replicas exactly
//! one reconciles.
//!
//! The Lease API is used directly, with the API server's optimistic concurrency deciding every
//! race: create (`409 AlreadyExists`: someone else was first), or get then replace carrying the
//! `resourceVersion` that was read (`409 Conflict`: someone else wrote in between). A Lease held
//! by another replica is taken over only when it has not changed for its `leaseDurationSeconds`,
//! measured on this replica's own monotonic clock from when it first saw the current version
//! (as client-go does), so clock skew between nodes does not matter.
//!
//! The leader renews every `retry_period`; when it has not renewed for `renew_deadline`
//! (shorter than the lease duration), or finds the Lease held by someone else, it stops its
//! work at once: no two replicas reconcile at the same time.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::error::is_api_reason;

/// The default name of the Lease.
pub const DEFAULT_LEASE_NAME: &str = "build-controller";

/// Which Lease, who this replica is, and the timings (client-go's defaults: 15 s, 10 s, 2 s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The Lease's namespace: the controller's own.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity, unique among the replicas (its pod name).
    pub identity: String,
    /// How long a Lease that is not renewed stays with its holder.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal; shorter than
    /// `lease_duration`.
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby tries to acquire.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// The Lease [`DEFAULT_LEASE_NAME`] in `namespace`, held as `identity`, with a 15 s lease,
    /// a 10 s renew deadline and a 2 s retry period.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        LeaseSettings {
            namespace: namespace.into(),
            name: DEFAULT_LEASE_NAME.to_owned(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// How [`LeaderElector::run`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Leadership<T> {
    /// `shutdown` completed while standing by; the work never started.
    Stopped,
    /// The work finished while leading (on its own shutdown, say); the Lease was released.
    Finished(T),
    /// The Lease was lost while leading; the work was dropped at once, mid-way.
    Lost,
}

/// The version of the Lease this replica saw last, and when it first saw it.
#[derive(Debug)]
struct Observed {
    resource_version: Option<String>,
    at: Instant,
}

/// Acquires, renews and releases one Lease.
#[derive(Debug)]
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    observed: Option<Observed>,
}

impl LeaderElector {
    /// An elector for `settings.name` in `settings.namespace`.
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Stands by until this replica holds the Lease, then runs `work` while renewing it.
    ///
    /// Returns [`Leadership::Stopped`] when `shutdown` completes first (`work` never starts),
    /// [`Leadership::Finished`] when `work` completes (the Lease is then released so a standby
    /// takes over at once), and [`Leadership::Lost`] when a renewal has not succeeded for
    /// `renew_deadline` or someone else holds the Lease (`work` is dropped at once). API errors
    /// are logged and retried every `retry_period`.
    ///
    /// ```no_run
    /// # async fn example(client: kube::Client) {
    /// use build_controller::ops::leader::{LeaderElector, LeaseSettings, Leadership};
    /// let elector = LeaderElector::new(client, LeaseSettings::new("knative-build", "pod-a"));
    /// let work = async { /* reconcile until shut down */ };
    /// match elector.run(std::future::pending(), work).await {
    ///     Leadership::Lost => std::process::exit(1),
    ///     Leadership::Stopped | Leadership::Finished(()) => {}
    /// }
    /// # }
    /// ```
    pub async fn run<W: Future>(
        mut self,
        shutdown: impl Future<Output = ()>,
        work: W,
    ) -> Leadership<W::Output> {
        let mut shutdown = pin!(shutdown);
        let acquired = loop {
            let started = Instant::now();
            let attempt = tokio::select! {
                () = &mut shutdown => return Leadership::Stopped,
                attempt = self.try_acquire_or_renew() => attempt,
            };
            match attempt {
                Ok(true) => break started,
                Ok(false) => debug!(lease = %self.settings.name, "standing by"),
                Err(error) => warn!(lease = %self.settings.name, "acquiring the lease: {error}"),
            }
            tokio::select! {
                () = &mut shutdown => return Leadership::Stopped,
                () = tokio::time::sleep(self.settings.retry_period) => {}
            }
        };
        info!(
            lease = %self.settings.name,
            identity = %self.settings.identity,
            "became leader"
        );
        let finished = {
            let renewing = self.keep_renewing(acquired);
            tokio::select! {
                output = work => Some(output),
                () = renewing => None,
            }
        };
        match finished {
            Some(output) => {
                if let Err(error) = self.release().await {
                    warn!(lease = %self.settings.name, "releasing the lease: {error}");
                }
                Leadership::Finished(output)
            }
            None => {
                warn!(lease = %self.settings.name, "lost the lease; stopped reconciling");
                Leadership::Lost
            }
        }
    }

    /// Renews every `retry_period`; returns when the Lease is lost.
    async fn keep_renewing(&mut self, mut renewed: Instant) {
        loop {
            tokio::time::sleep(self.settings.retry_period).await;
            let deadline = renewed + self.settings.renew_deadline;
            let started = Instant::now();
            match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => renewed = started,
                Ok(Ok(false)) => {
                    warn!(lease = %self.settings.name, "the lease is held by another replica");
                    return;
                }
                Ok(Err(error)) if Instant::now() < deadline => {
                    warn!(lease = %self.settings.name, "renewing the lease: {error}");
                }
                Ok(Err(error)) => {
                    warn!(lease = %self.settings.name, "renewing the lease: {error}; deadline passed");
                    return;
                }
                Err(_) => {
                    warn!(lease = %self.settings.name, "renewing the lease: deadline passed");
                    return;
                }
            }
        }
    }

    /// One attempt: creates the Lease, renews it if this replica holds it, or takes it over if
    /// it is free or expired. `Ok(true)` when this replica holds it afterwards; `Ok(false)`
    /// when another does (including losing a race, a 409).
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.settings.identity.clone()),
                    lease_duration_seconds: Some(self.duration_seconds()),
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
                Err(error) if is_api_reason(&error, "AlreadyExists") => Ok(false),
                Err(error) => Err(error),
            };
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let ours = holder == Some(self.settings.identity.as_str());
        if !ours && holder.is_some() && !self.expired(&spec) {
            return Ok(false);
        }
        let mut next = lease;
        let next_spec = next.spec.get_or_insert_with(LeaseSpec::default);
        if !ours {
            next_spec.acquire_time = Some(now.clone());
            if holder.is_some() {
                next_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        next_spec.holder_identity = Some(self.settings.identity.clone());
        next_spec.lease_duration_seconds = Some(self.duration_seconds());
        next_spec.renew_time = Some(now);
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &next)
            .await
        {
            Ok(replaced) => {
                if !ours {
                    info!(
                        lease = %self.settings.name,
                        previous = holder.unwrap_or("<none>"),
                        "took over the lease"
                    );
                }
                self.observe(&replaced);
                Ok(true)
            }
            Err(error) if is_api_reason(&error, "Conflict") => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Gives the Lease up if this replica holds it, so a standby takes over at its next try
    /// instead of after the lease duration.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                info!(lease = %self.settings.name, "released the lease");
                Ok(())
            }
            // Someone else wrote it meanwhile: it is not ours to release any more.
            Err(error) if is_api_reason(&error, "Conflict") => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Notes when this version of the Lease was first seen.
    fn observe(&mut self, lease: &Lease) {
        let version = lease.metadata.resource_version.clone();
        if self
            .observed
            .as_ref()
            .is_none_or(|seen| seen.resource_version != version)
        {
            self.observed = Some(Observed {
                resource_version: version,
                at: Instant::now(),
            });
        }
    }

    /// Whether the Lease's holder has let it lapse: it has not changed for its own lease
    /// duration since this replica first saw it.
    fn expired(&self, spec: &LeaseSpec) -> bool {
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.settings.lease_duration, Duration::from_secs);
        self.observed
            .as_ref()
            .is_some_and(|seen| seen.at.elapsed() >= duration)
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.settings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

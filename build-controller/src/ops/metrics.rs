//! The controller's Prometheus metrics: what `/metrics` shows, and the calls that record it.
//!
//! Labels are bounded by construction: no Build names or namespaces, outcome is `succeeded` or
//! `failed`, a reason is a terminal [`Reason`] or `Other`, an error kind is one of
//! [`Error::kind`]'s fixed strings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use build_types::{Build, BuildStatus, ConditionStatus, Reason};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::error::Error;

/// How many first sightings [`Telemetry::build_seen`] keeps before dropping old ones.
const MAX_FIRST_SEEN: usize = 10_000;
/// How long a first sighting is kept once there are [`MAX_FIRST_SEEN`] of them.
const FIRST_SEEN_KEPT: SignedDuration = SignedDuration::from_mins(10);

/// The `Content-Type` of [`Telemetry::encode`]'s output: the OpenMetrics text format, which
/// Prometheus scrapes natively.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The prefix of every metric name.
pub const METRICS_PREFIX: &str = "build_controller";

/// The label value for anything outside a fixed set.
pub const OTHER: &str = "Other";

/// The `reason` label for a finished Build's reason: itself when a Build can finish with it
/// ([`Reason::is_terminal`]), else [`OTHER`].
///
/// ```
/// use build_controller::ops::metrics::reason_label;
///
/// assert_eq!(reason_label("StepFailed"), "StepFailed");
/// assert_eq!(reason_label("ImagePullBackOff"), "ImagePullBackOff");
/// assert_eq!(reason_label("build-1234 exploded"), "Other");
/// ```
pub fn reason_label(reason: &str) -> &'static str {
    match reason.parse::<Reason>() {
        Ok(reason) if reason.is_terminal() => reason.as_str(),
        _ => OTHER,
    }
}

/// What the reconciles recorded into one [`Telemetry`] did: a snapshot of its counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Reconciles started (that got a worker).
    pub reconciles: u64,
    /// Reconciles that returned an error.
    pub failures: u64,
    /// Of those, 409 Conflicts.
    pub conflicts: u64,
    /// Build pods created (`builds_started_total`).
    pub pods_created: u64,
    /// Build pods stopped (timeout, cancel, image errors).
    pub pods_stopped: u64,
    /// Status patches written.
    pub status_patches: u64,
    /// Events published.
    pub events_published: u64,
}

#[derive(Debug, Default)]
struct Counters {
    reconciles: AtomicU64,
    failures: AtomicU64,
    conflicts: AtomicU64,
    pods_stopped: AtomicU64,
    status_patches: AtomicU64,
    events_published: AtomicU64,
}

impl Counters {
    fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FinishedLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Build durations: 1 s to about 4.5 h.
fn build_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

/// The controller's metrics, and the worker slots whose queue it measures. Cheap to clone:
/// clones share everything.
///
/// ```
/// let telemetry = build_controller::ops::metrics::Telemetry::new(4);
/// let text = telemetry.encode();
/// assert!(text.contains("# TYPE build_controller_builds_started counter"));
/// assert!(text.ends_with("# EOF\n"));
/// ```
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    concurrency: u16,
    registry: Registry,
    builds_started: Counter,
    builds_finished: Family<FinishedLabels, Counter>,
    build_duration: HistogramFamily<OutcomeLabels>,
    pod_creation_delay: Histogram,
    reconcile_duration: Histogram,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconciles_running: Gauge,
    builds_running: Gauge,
    work_queue_depth: Gauge,
    leader: Gauge,
    workers: Semaphore,
    builds: Mutex<Option<Store<Build>>>,
    /// What reconciles did, for tests and logs: see [`Counts`].
    counts: Counters,
    /// When this replica's Build watch first delivered each Build that has no pod yet, by UID:
    /// a finer start for `pod_creation_delay` than the whole-second `creationTimestamp`.
    first_seen: Mutex<HashMap<String, Timestamp>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("builds_started", &self.inner.builds_started.get())
            .field("work_queue_depth", &self.inner.work_queue_depth.get())
            .field("reconciles_running", &self.inner.reconciles_running.get())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Fresh metrics, with `concurrency` reconciles allowed at once by
    /// [`reconcile_started`](Telemetry::reconcile_started) (0 for no limit).
    pub fn new(concurrency: u16) -> Self {
        let mut registry = Registry::with_prefix(METRICS_PREFIX);
        let builds_started = Counter::default();
        registry.register(
            "builds_started",
            "Builds whose pod the controller created",
            builds_started.clone(),
        );
        let builds_finished = Family::<FinishedLabels, Counter>::default();
        registry.register(
            "builds_finished",
            "Builds the controller saw finish, by outcome (succeeded, failed) and reason \
             (the Succeeded condition's, or Other)",
            builds_finished.clone(),
        );
        let build_duration: HistogramFamily<OutcomeLabels> =
            Family::new_with_constructor(build_buckets);
        registry.register_with_unit(
            "build_duration",
            "From a Build's start time to its completion time, by outcome",
            Unit::Seconds,
            build_duration.clone(),
        );
        // 10 ms to about 11 min.
        let pod_creation_delay = Histogram::new(exponential_buckets(0.01, 4.0, 11));
        registry.register_with_unit(
            "pod_creation_delay",
            "From a Build's creation to the creation of its pod",
            Unit::Seconds,
            pod_creation_delay.clone(),
        );
        // 1 ms to about 16 s.
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register_with_unit(
            "reconcile_duration",
            "How long one reconcile of a Build took, failed ones included",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by kind of error",
            reconcile_errors.clone(),
        );
        let reconciles_running = Gauge::default();
        registry.register(
            "reconciles_running",
            "Reconciles running now",
            reconciles_running.clone(),
        );
        let builds_running = Gauge::default();
        registry.register(
            "builds_running",
            "Builds with a pod that have not finished, in this replica's cache (0 on a standby)",
            builds_running.clone(),
        );
        let work_queue_depth = Gauge::default();
        registry.register(
            "work_queue_depth",
            "Reconciles due that wait for a free worker",
            work_queue_depth.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without leader election)",
            leader.clone(),
        );
        for outcome in ["succeeded", "failed"] {
            let _ = build_duration.get_or_create(&OutcomeLabels { outcome });
        }
        let permits = match concurrency {
            0 => Semaphore::MAX_PERMITS,
            n => usize::from(n),
        };
        Telemetry {
            inner: Arc::new(Inner {
                concurrency,
                registry,
                builds_started,
                builds_finished,
                build_duration,
                pod_creation_delay,
                reconcile_duration,
                reconcile_errors,
                reconciles_running,
                builds_running,
                work_queue_depth,
                leader,
                workers: Semaphore::new(permits),
                builds: Mutex::new(None),
                counts: Counters::default(),
                first_seen: Mutex::default(),
            }),
        }
    }

    /// How many reconciles [`reconcile_started`](Telemetry::reconcile_started) lets run at
    /// once (0: no limit).
    pub fn concurrency(&self) -> u16 {
        self.inner.concurrency
    }

    /// Waits for a free worker (counted in `work_queue_depth` meanwhile), then counts a running
    /// reconcile until the returned guard is dropped, which records its duration.
    ///
    /// Call it first thing in a reconcile, and let kube-runtime's own concurrency limit be
    /// unlimited, so that reconciles due but waiting for a worker are visible here.
    pub async fn reconcile_started(&self) -> ReconcileGuard<'_> {
        let inner = &*self.inner;
        inner.work_queue_depth.inc();
        let waiting = QueueGuard(&inner.work_queue_depth);
        // The semaphore is never closed.
        let permit = inner.workers.acquire().await.ok();
        drop(waiting);
        inner.reconciles_running.inc();
        Counters::inc(&inner.counts.reconciles);
        ReconcileGuard {
            inner,
            _permit: permit,
            started: Instant::now(),
        }
    }

    /// Counts a failed reconcile under its [`Error::kind`].
    pub fn reconcile_failed(&self, error: &Error) {
        Counters::inc(&self.inner.counts.failures);
        if error.is_conflict() {
            Counters::inc(&self.inner.counts.conflicts);
        }
        self.inner
            .reconcile_errors
            .get_or_create(&ErrorLabels { kind: error.kind() })
            .inc();
    }

    /// Counts a build pod stopped (timeout, cancel, image error).
    pub fn pod_stopped(&self) {
        Counters::inc(&self.inner.counts.pods_stopped);
    }

    /// Counts a status patch written.
    pub fn status_written(&self) {
        Counters::inc(&self.inner.counts.status_patches);
    }

    /// Counts an Event published.
    pub fn event_published(&self) {
        Counters::inc(&self.inner.counts.events_published);
    }

    /// What the reconciles recorded here did, so far.
    pub fn counts(&self) -> Counts {
        let counts = &self.inner.counts;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            reconciles: get(&counts.reconciles),
            failures: get(&counts.failures),
            conflicts: get(&counts.conflicts),
            pods_created: self.inner.builds_started.get(),
            pods_stopped: get(&counts.pods_stopped),
            status_patches: get(&counts.status_patches),
            events_published: get(&counts.events_published),
        }
    }

    /// Notes that the Build watch delivered `build` at `now`: the first sighting of a Build
    /// that has not started is where its `pod_creation_delay` is measured from.
    pub fn build_seen(&self, build: &Build, now: Timestamp) {
        let started = build
            .status
            .as_ref()
            .is_some_and(|s| s.cluster.is_some() || s.is_done());
        let Some(uid) = build.metadata.uid.as_ref().filter(|_| !started) else {
            return;
        };
        let mut seen = self
            .inner
            .first_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_FIRST_SEEN && !seen.contains_key(uid) {
            // Builds deleted before they started leave entries behind: drop the old ones.
            seen.retain(|_, at| *at + FIRST_SEEN_KEPT > now);
        }
        seen.entry(uid.clone()).or_insert(now);
    }

    /// Counts a started Build and records how long after its creation its pod was created
    /// (`created_at`).
    ///
    /// The delay runs from when this replica's watch first delivered the Build
    /// ([`build_seen`](Telemetry::build_seen)) when that was within a second of the Build's
    /// `creationTimestamp`, which the API server keeps in whole seconds only; otherwise (a Build
    /// created while the controller was down or far behind) from the `creationTimestamp`.
    pub fn pod_created(&self, build: &Build, created_at: Timestamp) {
        self.inner.builds_started.inc();
        let seen = build.metadata.uid.as_ref().and_then(|uid| {
            let mut seen = self
                .inner
                .first_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            seen.remove(uid)
        });
        let created = build.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let from = match (created, seen) {
            (Some(created), Some(seen)) if seen < created + SignedDuration::from_secs(1) => {
                Some(seen)
            }
            (Some(created), _) => Some(created),
            (None, seen) => seen,
        };
        if let Some(from) = from {
            let delay = created_at.duration_since(from).as_secs_f64();
            self.inner.pod_creation_delay.observe(delay.max(0.0));
        }
    }

    /// Forgets the first sighting of a Build that finished without a pod (invalid, timed out
    /// waiting for a template).
    pub fn build_forgotten(&self, uid: &str) {
        let mut seen = self
            .inner
            .first_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        seen.remove(uid);
    }

    /// Counts a Build that has just finished with `status` by outcome and reason, and records
    /// its duration (start to completion). Does nothing for a status that is not finished.
    pub fn build_finished(&self, status: &BuildStatus) {
        let Some(condition) = status.succeeded() else {
            return;
        };
        let outcome = match condition.status {
            ConditionStatus::True => "succeeded",
            ConditionStatus::False => "failed",
            ConditionStatus::Unknown => return,
        };
        let reason = reason_label(condition.reason.as_deref().unwrap_or_default());
        self.inner
            .builds_finished
            .get_or_create(&FinishedLabels { outcome, reason })
            .inc();
        if let (Some(start), Some(end)) = (&status.start_time, &status.completion_time) {
            let seconds = end.0.duration_since(start.0).as_secs_f64();
            self.inner
                .build_duration
                .get_or_create(&OutcomeLabels { outcome })
                .observe(seconds.max(0.0));
        }
    }

    /// Samples `builds_running` from this cache at every [`encode`](Telemetry::encode).
    pub fn observe_builds(&self, builds: Store<Build>) {
        let mut slot = self.inner.builds.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(builds);
    }

    /// Sets the `leader` gauge.
    pub fn set_leader(&self, leading: Leading) {
        self.inner.leader.set(match leading {
            Leading::Yes => 1,
            Leading::No => 0,
        });
    }

    /// The metrics in the OpenMetrics text format ([`METRICS_CONTENT_TYPE`]), ending with
    /// `# EOF`.
    pub fn encode(&self) -> String {
        let running = {
            let slot = self.inner.builds.lock().unwrap_or_else(|e| e.into_inner());
            slot.as_ref().map(|store| {
                store
                    .state()
                    .iter()
                    .filter(|build| build.status.as_ref().is_some_and(is_running))
                    .count()
            })
        };
        if let Some(running) = running {
            self.inner
                .builds_running
                .set(i64::try_from(running).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}

/// Whether this replica leads, for [`Telemetry::set_leader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leading {
    /// It reconciles.
    Yes,
    /// It stands by.
    No,
}

/// A Build is running when it has a pod and has not finished.
fn is_running(status: &BuildStatus) -> bool {
    status.cluster.is_some() && !status.is_done()
}

/// Decrements the queue depth when a waiting reconcile gets its worker or is cancelled.
struct QueueGuard<'a>(&'a Gauge);

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A running reconcile: holds its worker slot; records its duration when dropped.
#[must_use = "the reconcile counts as running until this guard is dropped"]
pub struct ReconcileGuard<'a> {
    inner: &'a Inner,
    _permit: Option<SemaphorePermit<'a>>,
    started: Instant,
}

impl std::fmt::Debug for ReconcileGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconcileGuard")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl ReconcileGuard<'_> {
    /// How long this reconcile has been running.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for ReconcileGuard<'_> {
    fn drop(&mut self) {
        self.inner.reconciles_running.dec();
        self.inner
            .reconcile_duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_terminal_reason_has_its_own_label() {
        for reason in Reason::ALL.iter().filter(|r| r.is_terminal()) {
            assert_eq!(reason_label(reason.as_str()), reason.as_str());
        }
        assert_eq!(reason_label("Building"), OTHER);
        assert_eq!(reason_label("SecretNotFound"), OTHER);
        assert_eq!(reason_label(""), OTHER);
        assert_eq!(reason_label("stepfailed"), OTHER);
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_counts_reconciles_waiting_for_a_worker() {
        let telemetry = Telemetry::new(1);
        let first = telemetry.reconcile_started().await;
        let waiting = {
            let telemetry = telemetry.clone();
            tokio::spawn(async move {
                let _guard = telemetry.reconcile_started().await;
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(telemetry.inner.work_queue_depth.get(), 1);
        assert_eq!(telemetry.inner.reconciles_running.get(), 1);
        tokio::time::advance(Duration::from_millis(20)).await;
        drop(first);
        waiting.await.unwrap();
        assert_eq!(telemetry.inner.work_queue_depth.get(), 0);
        assert_eq!(telemetry.inner.reconciles_running.get(), 0);
        let text = telemetry.encode();
        assert!(
            text.contains("\nbuild_controller_reconcile_duration_seconds_count 2\n"),
            "{text}"
        );
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("build_controller_reconcile_duration_seconds_sum "))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(sum >= 0.02, "{sum}");
    }
}

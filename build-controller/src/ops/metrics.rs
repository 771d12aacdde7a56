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
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::time::Instant;

use crate::error::Error;
use crate::stores::CachedBuild;

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

/// The controller's metrics. Cheap to clone: clones share everything.
///
/// ```
/// let telemetry = build_controller::ops::metrics::Telemetry::new();
/// let text = telemetry.encode();
/// assert!(text.contains("# TYPE build_controller_builds_started counter"));
/// assert!(text.ends_with("# EOF\n"));
/// ```
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
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
    /// When each Build whose reconcile has not started is due: see
    /// [`Telemetry::reconcile_due`].
    due: Mutex<HashMap<ObjectRef<CachedBuild>, Instant>>,
    builds: Mutex<Option<Store<CachedBuild>>>,
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
            .field("work_queue_depth", &self.work_queue_depth())
            .field("reconciles_running", &self.inner.reconciles_running.get())
            .finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl Telemetry {
    /// Fresh metrics.
    pub fn new() -> Self {
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
            "Builds whose reconcile is due and has not started: waiting for a free worker, \
             or for their running reconcile to end",
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
        Telemetry {
            inner: Arc::new(Inner {
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
                due: Mutex::default(),
                builds: Mutex::new(None),
                counts: Counters::default(),
                first_seen: Mutex::default(),
            }),
        }
    }

    /// Notes that `build`'s reconcile is due now: a watch event woke it. Call it for every
    /// Build that a watch hands to kube-runtime's scheduler, so that `work_queue_depth`
    /// counts what the scheduler holds.
    ///
    /// kube-runtime's `Controller` runs at most `concurrency` reconciles and keeps the rest in
    /// its scheduler, which it does not expose; these calls mirror what goes in and out of it:
    /// a Build is due at the earliest time it was woken for since its last reconcile started,
    /// as in the scheduler.
    pub fn reconcile_due(&self, build: ObjectRef<CachedBuild>) {
        self.reconcile_due_at(build, Instant::now());
    }

    /// [`reconcile_due`](Telemetry::reconcile_due) for each of `builds`, handed back: for the
    /// mappers that wake the Builds a template, ServiceAccount or Secret unblocks.
    pub fn reconciles_due(
        &self,
        builds: Vec<ObjectRef<CachedBuild>>,
    ) -> Vec<ObjectRef<CachedBuild>> {
        for build in &builds {
            self.reconcile_due(build.clone());
        }
        builds
    }

    /// Notes that `build`'s reconcile is due after `after`: the requeue its last reconcile (or
    /// the error policy) asked for.
    pub fn reconcile_due_after(&self, build: ObjectRef<CachedBuild>, after: Duration) {
        self.reconcile_due_at(build, Instant::now() + after);
    }

    fn reconcile_due_at(&self, build: ObjectRef<CachedBuild>, at: Instant) {
        let mut due = self.inner.due.lock().unwrap_or_else(|e| e.into_inner());
        due.entry(build)
            .and_modify(|due| *due = (*due).min(at))
            .or_insert(at);
    }

    /// Forgets `build`'s due reconcile: the Build was gone when its turn came.
    pub fn reconcile_dropped(&self, build: &ObjectRef<CachedBuild>) {
        let mut due = self.inner.due.lock().unwrap_or_else(|e| e.into_inner());
        crate::sparse::remove(&mut due, build);
    }

    /// How many Builds are due for a reconcile that has not started (`work_queue_depth`).
    pub fn work_queue_depth(&self) -> usize {
        let now = Instant::now();
        let due = self.inner.due.lock().unwrap_or_else(|e| e.into_inner());
        due.values().filter(|at| **at <= now).count()
    }

    /// Counts a running reconcile of `build` until the returned guard is dropped, which
    /// records its duration; `build` is no longer due.
    pub fn reconcile_started(&self, build: &ObjectRef<CachedBuild>) -> ReconcileGuard<'_> {
        let inner = &*self.inner;
        crate::sparse::remove(
            &mut inner.due.lock().unwrap_or_else(|e| e.into_inner()),
            build,
        );
        inner.reconciles_running.inc();
        Counters::inc(&inner.counts.reconciles);
        ReconcileGuard {
            inner,
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
    pub fn build_seen(&self, build: &CachedBuild, now: Timestamp) {
        let started = build.is_finished()
            || build
                .unfinished()
                .and_then(|b| b.status.as_ref())
                .is_some_and(|s| s.cluster.is_some());
        let Some(uid) = build.meta().uid.as_ref().filter(|_| !started) else {
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
            crate::sparse::remove(&mut seen, uid)
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
        crate::sparse::remove(&mut seen, uid);
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
    pub fn observe_builds(&self, builds: Store<CachedBuild>) {
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
                    .filter(|build| {
                        let unfinished = build.unfinished().and_then(|b| b.status.as_ref());
                        unfinished.is_some_and(is_running)
                    })
                    .count()
            })
        };
        if let Some(running) = running {
            self.inner
                .builds_running
                .set(i64::try_from(running).unwrap_or(i64::MAX));
        }
        self.inner
            .work_queue_depth
            .set(i64::try_from(self.work_queue_depth()).unwrap_or(i64::MAX));
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

/// A running reconcile: records its duration when dropped.
#[must_use = "the reconcile counts as running until this guard is dropped"]
pub struct ReconcileGuard<'a> {
    inner: &'a Inner,
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

    fn key(name: &str) -> ObjectRef<CachedBuild> {
        ObjectRef::new(name).within("ns")
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_counts_builds_due_until_their_reconcile_starts() {
        let telemetry = Telemetry::new();
        // Woken by a watch: due now, once however often it is woken.
        telemetry.reconcile_due(key("a"));
        telemetry.reconcile_due(key("a"));
        // A requeue is due only when its time comes.
        telemetry.reconcile_due_after(key("b"), Duration::from_secs(5));
        assert_eq!(telemetry.work_queue_depth(), 1);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(telemetry.work_queue_depth(), 2);
        assert!(
            telemetry
                .encode()
                .contains("\nbuild_controller_work_queue_depth 2\n")
        );

        let first = telemetry.reconcile_started(&key("a"));
        assert_eq!(telemetry.work_queue_depth(), 1);
        assert_eq!(telemetry.inner.reconciles_running.get(), 1);
        // Woken again while it runs: due again (the scheduler holds it until the run ends).
        telemetry.reconcile_due(key("a"));
        assert_eq!(telemetry.work_queue_depth(), 2);
        // Its run ends asking for a later requeue: the earlier wake stands, as in the scheduler.
        telemetry.reconcile_due_after(key("a"), Duration::from_secs(60));
        assert_eq!(telemetry.work_queue_depth(), 2);
        tokio::time::advance(Duration::from_millis(20)).await;
        drop(first);
        assert_eq!(telemetry.inner.reconciles_running.get(), 0);

        let _second = telemetry.reconcile_started(&key("a"));
        // "b" was deleted before its turn.
        telemetry.reconcile_dropped(&key("b"));
        assert_eq!(telemetry.work_queue_depth(), 0);
        let text = telemetry.encode();
        assert!(
            text.contains("\nbuild_controller_work_queue_depth 0\n"),
            "{text}"
        );
        assert!(
            text.contains("\nbuild_controller_reconcile_duration_seconds_count 1\n"),
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

//! What every reconcile shares: the client, the event recorder, the counters, the settings and
//! the watch caches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use build_pod::Images;
use build_types::Build;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::runtime::reflector::ObjectRef;

use crate::ops::events::Recorder;
use crate::ops::metrics::Telemetry;
use crate::reconcile::due_key;
use crate::stores::{CachedBuild, Stores};

/// The controller's settings, filled by the command line (or by a program embedding the
/// controller).
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch and reconcile only this namespace; `None` for all namespaces.
    pub namespace: Option<String>,
    /// The images of the helper containers put into every build pod.
    pub images: Images,
    /// How many Builds are reconciled at once (0: no limit). The others due wait in
    /// kube-runtime's scheduler, counted by `work_queue_depth`.
    pub concurrency: u16,
    /// How long an image pull or container configuration error may persist before the Build
    /// fails with it instead of waiting for its timeout.
    pub image_pull_grace: Duration,
    /// The first retry delay after a failed reconcile; doubled on every further failure.
    pub retry_initial: Duration,
    /// The longest retry delay after failed reconciles.
    pub retry_max: Duration,
    /// The retry delay after a 409 Conflict (a stale cached object): short, not backed off.
    pub conflict_retry: Duration,
    /// How long a reconcile waits for the watch caches' initial lists before failing.
    pub cache_sync_timeout: Duration,
    /// The name this controller writes as the field manager and the Events' reporter.
    pub controller_name: String,
    /// This replica's name (typically its pod name) for the Events' `reportingInstance`.
    pub instance: Option<String>,
}

/// The default for [`Config::concurrency`].
pub const DEFAULT_CONCURRENCY: u16 = 64;
/// The default for [`Config::image_pull_grace`].
pub const DEFAULT_IMAGE_PULL_GRACE: Duration = Duration::from_secs(5 * 60);
/// The default for [`Config::controller_name`].
pub const DEFAULT_CONTROLLER_NAME: &str = "build-controller";

impl Config {
    /// The settings with the given helper images and every other field at its default: all
    /// namespaces, concurrency 64, a 5 minute image pull grace, retries from 1 s doubling up
    /// to 5 min, conflicts retried after 200 ms.
    pub fn new(images: Images) -> Self {
        Config {
            namespace: None,
            images,
            concurrency: DEFAULT_CONCURRENCY,
            image_pull_grace: DEFAULT_IMAGE_PULL_GRACE,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(5 * 60),
            conflict_retry: Duration::from_millis(200),
            cache_sync_timeout: Duration::from_secs(30),
            controller_name: DEFAULT_CONTROLLER_NAME.to_owned(),
            instance: None,
        }
    }

    /// The retry delay after the `attempt`th failure in a row (1-based): `retry_initial`,
    /// doubled per attempt, at most `retry_max`.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.retry_initial
            .checked_mul(factor)
            .map_or(self.retry_max, |d| d.min(self.retry_max))
    }
}

/// The clock reconciles read "now" from; a plain function so tests can fix it.
pub type Clock = fn() -> Timestamp;

/// Everything [`reconcile`](crate::reconcile::reconcile) and [`error_policy`](crate::reconcile::error_policy) share.
pub struct Context {
    /// The API client; the only writes are pod creates and stops, status patches and Events.
    pub client: Client,
    /// Publishes Events on Builds: those that may repeat (waiting for a template,
    /// ServiceAccount or Secret) remembered so that a repeat within six minutes counts on the
    /// first one, the others without being remembered.
    pub recorder: Recorder,
    /// The Prometheus metrics, including the work queue's depth.
    pub telemetry: Telemetry,
    /// The settings.
    pub config: Config,
    /// The watch caches every read comes from.
    pub stores: Stores,
    /// Where "now" comes from.
    pub clock: Clock,
    /// Failures in a row per Build, for the exponential backoff; reset by a successful
    /// reconcile.
    backoff: Mutex<HashMap<ObjectRef<CachedBuild>, u32>>,
    /// Per Build, the `resourceVersion` its last status patch was made against, until the
    /// cache shows a newer one: see [`Context::cache_lags_own_write`].
    written: Mutex<HashMap<ObjectRef<CachedBuild>, String>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("telemetry", &self.telemetry)
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context over the given client, settings and caches, with fresh counters and metrics,
    /// the system clock, and an Event recorder that
    /// reports as `config.controller_name`.
    pub fn new(client: Client, config: Config, stores: Stores) -> Self {
        Context {
            recorder: Recorder::new(
                client.clone(),
                config.controller_name.clone(),
                config.instance.clone(),
            ),
            client,
            telemetry: Telemetry::new(),
            config,
            stores,
            clock: Timestamp::now,
            backoff: Mutex::default(),
            written: Mutex::default(),
        }
    }

    /// The same context reading "now" from `clock` (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same context recording into `telemetry` (shared with `/metrics`).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Notes that a status patch against `build` (as cached) succeeded.
    pub(crate) fn wrote_status(&self, build: &Build) {
        let Some(version) = build.metadata.resource_version.clone() else {
            return;
        };
        let mut map = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if self.worth_pruning(map.len()) {
            // Builds deleted before their cache caught up leave entries behind; drop those.
            map.retain(|key, _| self.stores.builds.get(key).is_some());
        }
        map.insert(due_key(build), version);
    }

    /// Whether a per-Build map of `entries` may hold many entries of deleted Builds: more than
    /// 4096, and more than twice the Builds cached. A map of live Builds is never scanned,
    /// however many there are; after a scan it holds at most one entry per cached Build, so
    /// the next scan comes only after as many inserts again (amortised constant time).
    fn worth_pruning(&self, entries: usize) -> bool {
        entries > 4096 && entries > 2 * self.stores.builds.len()
    }

    /// Whether `build`, as cached, is still the version this controller last patched the
    /// status of: the patch succeeded, but its watch event has not reached the cache yet.
    ///
    /// A reconcile of such a Build (woken by its pod's watch event, which often comes first)
    /// would compute a status from a stale one and be refused with a 409 Conflict, as the
    /// patch carries the cached `resourceVersion`; the reconcile after the Build's own watch
    /// event does the work instead. Once the cache shows another version, the note is dropped.
    pub(crate) fn cache_lags_own_write(&self, build: &Build) -> bool {
        let mut map = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let key = due_key(build);
        match map.get(&key) {
            None => false,
            Some(version) if Some(version) == build.metadata.resource_version.as_ref() => true,
            Some(_) => {
                crate::sparse::remove(&mut map, &key);
                false
            }
        }
    }

    /// Records one more failure for `build`; returns how many in a row.
    pub(crate) fn record_failure(&self, build: ObjectRef<CachedBuild>) -> u32 {
        let mut map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        if self.worth_pruning(map.len()) {
            // Builds deleted while failing leave entries behind; drop those.
            map.retain(|key, _| self.stores.builds.get(key).is_some());
        }
        let attempts = map.entry(build).or_insert(0);
        *attempts = attempts.saturating_add(1);
        *attempts
    }

    /// Forgets the failures of `build` after a successful reconcile.
    pub(crate) fn reset_backoff(&self, build: &ObjectRef<CachedBuild>) {
        let mut map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        crate::sparse::remove(&mut map, build);
    }

    /// Failures in a row recorded for `build`.
    pub fn failures_in_a_row(&self, build: &ObjectRef<CachedBuild>) -> u32 {
        let map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        map.get(build).copied().unwrap_or(0)
    }
}

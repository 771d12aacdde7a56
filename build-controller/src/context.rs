//! What every reconcile shares: the client, the event recorder, the counters, the settings and
//! the watch caches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use build_pod::Images;
use build_types::Build;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource};

use crate::ops::events::Recorder;
use crate::ops::metrics::Telemetry;
use crate::reconcile::due_key;
use crate::stores::{CachedBuild, CachedPod, Stores};

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
    /// Per Build, its last status patch, until the cache shows a newer version: see
    /// [`Context::cache_lags_own_write`] and [`Context::is_own_status_echo`].
    written: Mutex<HashMap<ObjectRef<CachedBuild>, Written>>,
    /// Per pod UID, the `resourceVersion` this controller created the pod at, and when, until
    /// the pod's first `Apply` watch event (a pod whose first event is a deletion or a relist's
    /// keeps its note until pruned): see [`Context::is_own_pod_echo`].
    created: Mutex<HashMap<String, (String, Instant)>>,
}

/// A status patch of one Build that the cache has not moved past yet.
#[derive(Debug)]
struct Written {
    /// The cached `resourceVersion` the patch was made against.
    against: String,
    /// The `resourceVersion` the patch made, as the API server answered.
    made: Option<String>,
    /// Whether a reconcile found the cache still at `against` and left the work to the
    /// Build's next watch event.
    waited: bool,
}

/// Above this many pods created and not yet seen, the oldest notes are dropped.
const CREATED_PRUNE_AT: usize = 1024;
/// How long a note of a created pod waits for the pod's watch event.
const CREATED_KEPT: Duration = Duration::from_secs(60);

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
            created: Mutex::default(),
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

    /// Notes that a status patch against `build` (as cached) succeeded, and made version
    /// `made` when the API server said which.
    pub(crate) fn wrote_status(&self, build: &Build, made: Option<String>) {
        let Some(against) = build.metadata.resource_version.clone() else {
            return;
        };
        let mut map = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if self.worth_pruning(map.len()) {
            // Builds deleted before their cache caught up leave entries behind; drop those.
            map.retain(|key, _| self.stores.builds.get(key).is_some());
        }
        let written = Written {
            against,
            made,
            waited: false,
        };
        map.insert(due_key(build), written);
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
    /// event does the work instead (and that event is therefore not taken for a mere echo, see
    /// [`Context::is_own_status_echo`]). Once the cache shows another version, the note is
    /// dropped.
    pub(crate) fn cache_lags_own_write(&self, build: &Build) -> bool {
        let mut map = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let key = due_key(build);
        match map.get_mut(&key) {
            None => false,
            Some(written) if Some(&written.against) == build.metadata.resource_version.as_ref() => {
                written.waited = true;
                true
            }
            Some(_) => {
                crate::sparse::remove(&mut map, &key);
                false
            }
        }
    }

    /// Whether `build`, just arrived in the cache from the watch, is only the echo of this
    /// controller's last status patch: the version that patch made, with no reconcile waiting
    /// for it. Such an event wakes no reconcile. The patch carried the version it was made
    /// against, so the Build it made is the one its reconcile decided on, plus the status
    /// written; reconciling it again would find nothing to do. Any other version drops the
    /// note.
    pub(crate) fn is_own_status_echo(&self, build: &CachedBuild) -> bool {
        let mut map = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let key = due_key(build);
        let Some(written) = map.get(&key) else {
            return false;
        };
        let version = build.meta().resource_version.as_ref();
        if version == Some(&written.against) {
            // A relist's copy of the version patched: the echo is still to come.
            return false;
        }
        let echo = !written.waited && written.made.is_some() && written.made.as_ref() == version;
        crate::sparse::remove(&mut map, &key);
        echo
    }

    /// Notes that this controller created `pod` (the API server's answer).
    pub(crate) fn created_pod(&self, pod: &CachedPod) {
        let (Some(uid), Some(version)) = (&pod.meta().uid, &pod.meta().resource_version) else {
            return;
        };
        let mut map = self.created.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CREATED_PRUNE_AT {
            // Pods whose watch event never came (deleted and relisted away): drop the old notes.
            let now = Instant::now();
            map.retain(|_, (_, at)| now.duration_since(*at) < CREATED_KEPT);
            let kept = map.len();
            map.shrink_to(kept * 2);
        }
        map.insert(uid.clone(), (version.clone(), Instant::now()));
    }

    /// Whether `pod`, a watch event, is only the echo of this controller's create: the version
    /// the create made. The reconcile that created the pod went on with that same version, so
    /// the event wakes no reconcile. Asked about any version, it drops the note.
    pub(crate) fn is_own_pod_echo(&self, pod: &CachedPod) -> bool {
        let Some(uid) = &pod.meta().uid else {
            return false;
        };
        let mut map = self.created.lock().unwrap_or_else(|e| e.into_inner());
        match crate::sparse::remove(&mut map, uid.as_str()) {
            Some((version, _)) => pod.meta().resource_version.as_ref() == Some(&version),
            None => false,
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

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;
    use crate::stores::ready_store;

    /// A context whose client is never called, over empty caches.
    pub(crate) fn context() -> Context {
        let (service, _handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let client = Client::new(service, "default");
        let images = Images {
            creds_init: "creds-init".into(),
            git_init: "git-init".into(),
            gcs_fetcher: "gcs-fetcher".into(),
            nop: "nop".into(),
        };
        let stores = Stores {
            builds: ready_store([]),
            pods: crate::stores::PodCache::default(),
            templates: ready_store([]),
            cluster_templates: ready_store([]),
            service_accounts: ready_store([]),
            secrets: ready_store([]),
            synced: crate::stores::CachesSynced::already(),
        };
        Context::new(client, Config::new(images), stores)
    }

    /// Build `ns/b` at `version`.
    pub(crate) fn build(version: &str) -> Build {
        serde_json::from_value(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
            "metadata": {"name": "b", "namespace": "ns", "uid": "u", "resourceVersion": version},
            "spec": {},
        }))
        .unwrap()
    }

    fn cached(version: &str) -> CachedBuild {
        CachedBuild::from(build(version))
    }

    /// Pod `ns/p` at `version`.
    pub(crate) fn pod(version: &str) -> CachedPod {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "pod-u", "resourceVersion": version}
        }))
        .unwrap();
        CachedPod::from(pod)
    }

    #[tokio::test]
    async fn the_echo_of_a_status_patch_is_told_once_unless_a_reconcile_waited_for_it() {
        let ctx = context();
        ctx.wrote_status(&build("1"), Some("2".into()));
        assert!(
            !ctx.is_own_status_echo(&cached("1")),
            "a relist's copy of 1"
        );
        assert!(ctx.is_own_status_echo(&cached("2")));
        assert!(!ctx.is_own_status_echo(&cached("2")), "told once");

        // A reconcile found the cache at the patched version: the echo must wake it again.
        ctx.wrote_status(&build("2"), Some("3".into()));
        assert!(ctx.cache_lags_own_write(&build("2")));
        assert!(!ctx.is_own_status_echo(&cached("3")));
        assert!(!ctx.cache_lags_own_write(&build("3")), "note dropped");

        // Another version than the patch made: someone else wrote; the note goes.
        ctx.wrote_status(&build("3"), Some("4".into()));
        assert!(!ctx.is_own_status_echo(&cached("5")));
        assert!(!ctx.is_own_status_echo(&cached("4")), "note dropped with 5");

        // An answer without a version: never taken for an echo.
        ctx.wrote_status(&build("5"), None);
        assert!(!ctx.is_own_status_echo(&cached("6")));
    }

    #[tokio::test]
    async fn the_echo_of_a_pod_create_is_told_once() {
        let ctx = context();
        assert!(!ctx.is_own_pod_echo(&pod("7")), "not created here");
        ctx.created_pod(&pod("7"));
        assert!(ctx.is_own_pod_echo(&pod("7")));
        assert!(!ctx.is_own_pod_echo(&pod("7")), "told once");

        // The pod changed before its first event: that event is news.
        ctx.created_pod(&pod("7"));
        assert!(!ctx.is_own_pod_echo(&pod("8")));
        assert!(!ctx.is_own_pod_echo(&pod("7")), "note dropped with 8");
    }
}

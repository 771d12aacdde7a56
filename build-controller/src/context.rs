//! What every reconcile shares: the client, the event recorder, the counters, the settings and
//! the watch caches, plus the two records kept across reconciles (the controller's own writes,
//! the retry backoff), each in a module of its own.

use std::time::Duration;

use build_pod::Images;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::runtime::reflector::ObjectRef;

use crate::backoff::Backoff;
use crate::ops::events::Recorder;
use crate::ops::metrics::Telemetry;
use crate::own_writes::OwnWrites;
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
    /// The versions this controller's own pod creates and status patches made, so that their
    /// watch events wake no reconcile.
    pub(crate) own_writes: OwnWrites,
    /// Failures in a row per Build, for the exponential backoff; reset by a successful
    /// reconcile.
    pub(crate) backoff: Backoff,
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
            clock: Timestamp::now,
            own_writes: OwnWrites::new(stores.builds.clone()),
            backoff: Backoff::new(stores.builds.clone()),
            stores,
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

    /// Failures in a row recorded for `build`.
    pub fn failures_in_a_row(&self, build: &ObjectRef<CachedBuild>) -> u32 {
        self.backoff.failures_in_a_row(build)
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
}

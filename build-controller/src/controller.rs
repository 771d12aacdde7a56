//! The kube-runtime `Controller` over Builds: its watches, its caches and its run loop.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use build_pod::BUILD_NAME_LABEL;
use build_types::{Build, BuildTemplate, ClusterBuildTemplate};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, info, warn};

use crate::context::{Config, Context};
use crate::error::{Error, is_not_found};
use crate::ops::http::{Endpoints, Health};
use crate::ops::metrics::Telemetry;
use crate::per_build::due_key;
use crate::reconcile::{error_policy, reconcile};
use crate::sparse::Compacting;
use crate::stores::{
    CachedBuild, CachedPod, CachesSynced, PodCache, PodCacheWriter, Stores, strip_for_cache,
    strip_secret_for_cache,
};

/// Runs the controller until `shutdown` completes, then lets running reconciles finish.
///
/// Watches the Builds not settled (in `config.namespace`, or all namespaces; every Build where
/// the API server cannot select on `status.settled`), the pods labelled
/// `build.knative.dev/buildName` that have not ended, BuildTemplates, ClusterBuildTemplates,
/// ServiceAccounts and Secrets, each through one cache that the reconciles read from. A change of a template,
/// ServiceAccount or Secret wakes the unfinished Builds that need it.
///
/// Fails at start-up if the Build CRD is not served; watch errors later are retried with
/// backoff and logged.
///
/// ```no_run
/// # async fn example(images: build_pod::Images) -> Result<(), build_controller::Error> {
/// let client = kube::Client::try_default().await.expect("kubeconfig");
/// let config = build_controller::Config::new(images);
/// let shutdown = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// build_controller::run(client, config, shutdown).await
/// # }
/// ```
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let endpoints = fresh_endpoints();
    run_inner(client, config, endpoints, shutdown).await
}

/// [`run`](crate::run), recording into `endpoints`, which [`serve`](crate::ops::http::serve) shows meanwhile: the
/// Prometheus metrics (including `builds_running`, sampled from the Build cache), and
/// readiness (not ready from the start until every watch cache has its initial list).
///
/// `work_queue_depth` counts the Builds whose reconcile is due but waits for one of the
/// `config.concurrency` workers.
///
/// ```no_run
/// # async fn example(images: build_pod::Images) -> anyhow::Result<()> {
/// use build_controller::Config;
/// use build_controller::ops::http::{Endpoints, Health, serve};
/// use build_controller::ops::metrics::Telemetry;
/// use build_controller::ops::run_observed;
/// let client = kube::Client::try_default().await?;
/// let config = Config::new(images);
/// let endpoints = Endpoints {
///     telemetry: Telemetry::new(),
///     health: Health::default(),
/// };
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:9090").await?;
/// tokio::spawn(serve(listener, endpoints.clone(), std::future::pending()));
/// run_observed(client, config, endpoints, std::future::pending()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run_observed(
    client: Client,
    config: Config,
    endpoints: Endpoints,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    run_inner(client, config, endpoints, shutdown).await
}

fn fresh_endpoints() -> Endpoints {
    Endpoints {
        telemetry: Telemetry::new(),
        health: Health::default(),
    }
}

async fn run_inner(
    client: Client,
    config: Config,
    endpoints: Endpoints,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    endpoints.health.leading();
    let namespace = config.namespace.clone();
    let builds_api: Api<Build> = scoped(&client, namespace.as_deref());
    let unsettled = preflight(&builds_api).await?;

    let (stores, writers, synced) = caches();
    let concurrency = config.concurrency;
    let ctx = Arc::new(
        Context::new(client.clone(), config, stores.clone())
            .with_telemetry(endpoints.telemetry.clone()),
    );
    let watches = Watches {
        client: &client,
        namespace: namespace.as_deref(),
        // Ready once every cache has its initial list.
        synced: Synced::new(CACHES, endpoints.health.clone(), synced),
        telemetry: &endpoints.telemetry,
        unsettled,
    };
    let controller = watches.controller(writers, &stores, &ctx, concurrency);

    endpoints.telemetry.observe_builds(stores.builds.clone());
    info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        concurrency, "starting build controller"
    );
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            log_outcome(&endpoints.telemetry, result);
            std::future::ready(())
        })
        .await;
    info!("build controller stopped");
    Ok(())
}

/// The watch caches [`run`] fills, empty: their read handles, their writers for the watches,
/// and what tells the reconciles that every cache has its initial list.
fn caches() -> (Stores, Writers, tokio::sync::watch::Sender<bool>) {
    let (builds, builds_writer) = reflector::store::<CachedBuild>();
    let pods = PodCache::default();
    let pods_writer = pods.writer();
    let (templates, templates_writer) = reflector::store::<BuildTemplate>();
    let (cluster_templates, cluster_templates_writer) = reflector::store::<ClusterBuildTemplate>();
    let (service_accounts, service_accounts_writer) = reflector::store::<ServiceAccount>();
    let (secrets, secrets_writer) = reflector::store::<Secret>();
    let (synced_sender, caches_synced) = CachesSynced::pending();
    let stores = Stores {
        builds,
        pods,
        templates,
        cluster_templates,
        service_accounts,
        secrets,
        synced: caches_synced,
    };
    let writers = Writers {
        builds: builds_writer,
        pods: pods_writer,
        templates: templates_writer,
        cluster_templates: cluster_templates_writer,
        service_accounts: service_accounts_writer,
        secrets: secrets_writer,
    };
    (stores, writers, synced_sender)
}

/// The writing halves of the caches [`caches`] makes, one for each watch.
struct Writers {
    builds: reflector::store::Writer<CachedBuild>,
    pods: PodCacheWriter,
    templates: reflector::store::Writer<BuildTemplate>,
    cluster_templates: reflector::store::Writer<ClusterBuildTemplate>,
    service_accounts: reflector::store::Writer<ServiceAccount>,
    secrets: reflector::store::Writer<Secret>,
}

/// What the watches of [`run`] share: the client and the namespace they watch, the count of
/// caches synced, and the metrics.
struct Watches<'a> {
    client: &'a Client,
    namespace: Option<&'a str>,
    synced: Synced,
    telemetry: &'a Telemetry,
    /// Whether the API server selects Builds by `status.settled` ([`preflight`]): the Build
    /// watch then leaves settled ones out.
    unsettled: Unsettled,
}

impl Watches<'_> {
    /// kube-runtime's `Controller` over the Builds, filling `writers`' caches: woken by a
    /// Build, by its pod, and by the template, ServiceAccount or Secret it waits for.
    fn controller(
        &self,
        writers: Writers,
        stores: &Stores,
        ctx: &Arc<Context>,
        concurrency: u16,
    ) -> Controller<CachedBuild> {
        let (client, namespace, telemetry) = (self.client, self.namespace, self.telemetry);
        let templates = self.objects(
            scoped(client, namespace),
            writers.templates,
            strip_for_cache,
        );
        let cluster_templates = self.objects(
            Api::all(client.clone()),
            writers.cluster_templates,
            strip_for_cache,
        );
        let accounts = self.objects(
            scoped(client, namespace),
            writers.service_accounts,
            strip_for_cache,
        );
        let secrets = self.objects(
            scoped(client, namespace),
            writers.secrets,
            strip_secret_for_cache,
        );
        Controller::for_stream(self.builds(writers.builds, ctx), stores.builds.clone())
            .trigger_backoff(EachWatchBacksOffAlone)
            .with_config(controller::Config::default().concurrency(concurrency))
            .owns_stream(self.pods(writers.pods, ctx))
            .watches_stream(
                templates,
                waking(stores, telemetry, Stores::builds_waiting_for_template),
            )
            .watches_stream(
                cluster_templates,
                waking(
                    stores,
                    telemetry,
                    Stores::builds_waiting_for_cluster_template,
                ),
            )
            .watches_stream(
                accounts,
                waking(
                    stores,
                    telemetry,
                    Stores::builds_waiting_for_service_account,
                ),
            )
            .watches_stream(
                secrets,
                waking(stores, telemetry, Stores::builds_waiting_for_secret),
            )
    }

    /// The Builds not settled ([`BuildStatus::settled`]), into `writer`'s cache, but the echoes
    /// of the controller's own status patches and the finished Builds that need no reconcile
    /// ([`reconcile::wakes`]). Each Build the watch brings is noted as due in the work queue; a
    /// new one starts its `pod_creation_delay`.
    ///
    /// A Build that settles leaves the watch as a deletion, so the cache holds no settled Build
    /// and a restart lists none; where the API server cannot select on `status.settled`
    /// ([`Unsettled::Unselectable`]) the watch has every Build, as Knative Build's did.
    ///
    /// [`BuildStatus::settled`]: build_types::BuildStatus::settled
    /// [`reconcile::wakes`]: crate::reconcile::wakes
    fn builds(
        &self,
        writer: reflector::store::Writer<CachedBuild>,
        ctx: &Arc<Context>,
    ) -> impl futures::Stream<Item = Result<CachedBuild, watcher::Error>> + Send + 'static {
        let telemetry = self.telemetry.clone();
        let wakes = ctx.clone();
        let selecting = self.unsettled == Unsettled::Selectable;
        let config = match self.unsettled {
            Unsettled::Selectable => watcher::Config::default().fields(UNSETTLED_BUILDS),
            Unsettled::Unselectable => watcher::Config::default(),
        };
        cached(
            scoped::<CachedBuild>(self.client, self.namespace),
            config,
            Cache {
                writer: Compacting::new(writer),
                synced: &self.synced,
                // Decoding keeps only what is read (`CachedBuild`).
                strip: |_| {},
            },
        )
        .inspect({
            let ctx = ctx.clone();
            move |event| {
                // Settled (or deleted): no echo of a status patch will come for it.
                if let Ok(watcher::Event::Delete(build)) = event {
                    ctx.own_writes.build_gone(build);
                }
            }
        })
        .applied_objects()
        .try_filter(not_own_status_echo(ctx.clone()))
        .try_filter(move |build| {
            std::future::ready(crate::reconcile::wakes(&wakes, build, selecting))
        })
        // When the watch delivers a new Build: the start of its pod_creation_delay.
        .inspect(move |build| {
            if let Ok(build) = build {
                telemetry.build_seen(build, Timestamp::now());
                telemetry.reconcile_due(due_key(build));
            }
        })
    }

    /// The build pods (labelled [`BUILD_NAME_LABEL`]) that have not ended ([`RUNNING_PODS`]),
    /// into `writer`'s cache, but the echoes of the controller's own creates; deletions too,
    /// since a pod deleted under a running Build fails it. A pod that ends leaves the watch as
    /// a deletion (carrying its state before it ended), which wakes its Build to read the pod
    /// as it ended. The Build owning each is noted as due in the work queue.
    fn pods(
        &self,
        writer: PodCacheWriter,
        ctx: &Arc<Context>,
    ) -> impl futures::Stream<Item = Result<CachedPod, watcher::Error>> + Send + 'static {
        let woken = self.telemetry.clone();
        let api = scoped::<CachedPod>(self.client, self.namespace);
        let config = watcher::Config::default()
            .labels(BUILD_NAME_LABEL)
            .fields(RUNNING_PODS);
        let cache = Cache {
            writer,
            synced: &self.synced,
            // Decoding keeps only what is read (`CachedPod`).
            strip: |_| {},
        };
        cached(api, config, cache)
            .try_filter(not_own_create_echo(ctx.clone()))
            // Deletions too: a pod deleted under a running Build fails it.
            .touched_objects()
            .inspect(move |pod| {
                if let Ok(pod) = pod {
                    for build in owning_builds(pod) {
                        woken.reconcile_due(build);
                    }
                }
            })
    }

    /// The objects of `api`, into `writer`'s cache as `strip` leaves them.
    fn objects<K>(
        &self,
        api: Api<K>,
        writer: reflector::store::Writer<K>,
        strip: fn(&mut K),
    ) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
    where
        K: Watched,
    {
        let cache = Cache {
            writer: Compacting::new(writer),
            synced: &self.synced,
            strip,
        };
        cached(api, watcher::Config::default(), cache).applied_objects()
    }
}

/// Logs how one reconcile ended (a failed one was logged by the error policy); a Build
/// deleted before its reconcile leaves the work queue.
fn log_outcome(
    telemetry: &Telemetry,
    result: Result<(ObjectRef<CachedBuild>, Action), controller::Error<Error, watcher::Error>>,
) {
    match result {
        Ok((build, action)) => debug!(build = %build, ?action, "reconciled"),
        // Already logged by the error policy.
        Err(controller::Error::ReconcilerFailed(..)) => {}
        Err(controller::Error::ObjectNotFound(build)) => {
            debug!(build = %build, "build deleted before its reconcile");
            let key = ObjectRef::new(&build.name);
            telemetry.reconcile_dropped(&match &build.namespace {
                Some(namespace) => key.within(namespace),
                None => key,
            });
        }
        Err(error) => warn!("controller: {error}"),
    }
}

/// A mapper for `watches_stream`: the unfinished Builds that a change of a `T` may unblock, as
/// `builds_for` finds them in `stores`, each noted as due in `telemetry`'s work queue (as the
/// Build and pod streams note theirs).
fn waking<T: 'static>(
    stores: &Stores,
    telemetry: &Telemetry,
    builds_for: fn(&Stores, &T) -> Vec<ObjectRef<CachedBuild>>,
) -> impl Fn(T) -> Vec<ObjectRef<CachedBuild>> + Send + Sync + 'static {
    let (stores, telemetry) = (stores.clone(), telemetry.clone());
    move |object| telemetry.reconciles_due(builds_for(&stores, &object))
}

/// A filter for the Build watch: passes every Build but the echo of this controller's own
/// status patch, which wakes no reconcile ([`OwnWrites::is_own_status_echo`]).
fn not_own_status_echo(
    ctx: Arc<Context>,
) -> impl FnMut(&CachedBuild) -> std::future::Ready<bool> + Send + 'static {
    move |build| std::future::ready(!ctx.own_writes.is_own_status_echo(build))
}

/// A filter for the pod watch: passes every event but the echo of this controller's own pod
/// create, which wakes no reconcile ([`OwnWrites::is_own_pod_echo`]). Deletions and a relist's
/// pods always pass.
fn not_own_create_echo(
    ctx: Arc<Context>,
) -> impl FnMut(&watcher::Event<CachedPod>) -> std::future::Ready<bool> + Send + 'static {
    move |event| {
        let echo =
            matches!(event, watcher::Event::Apply(pod) if ctx.own_writes.is_own_pod_echo(pod));
        std::future::ready(!echo)
    }
}

/// The Builds that own `pod`, as kube-runtime's `owns_stream` finds them.
fn owning_builds(pod: &CachedPod) -> impl Iterator<Item = ObjectRef<CachedBuild>> + '_ {
    pod.owner_references()
        .iter()
        .filter_map(|owner| ObjectRef::from_owner_ref(pod.namespace().as_deref(), owner, ()))
}

/// How many watch caches [`run`] fills.
const CACHES: usize = 6;

/// Counts the watch caches whose first initial list is complete, and marks `health` ready
/// when all are. (Watching the streams rather than awaiting [`Store::wait_until_ready`]: a
/// store wakes only one of several waiters, and the reconciles wait on it too.)
///
/// [`Store::wait_until_ready`]: kube::runtime::reflector::Store::wait_until_ready
#[derive(Clone)]
struct Synced {
    remaining: Arc<AtomicUsize>,
    health: Health,
    reconciles: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Synced {
    fn new(caches: usize, health: Health, reconciles: tokio::sync::watch::Sender<bool>) -> Self {
        Synced {
            remaining: Arc::new(AtomicUsize::new(caches)),
            health,
            reconciles: Arc::new(reconciles),
        }
    }

    /// One more cache has its initial list (called once per cache).
    fn one_done(&self) {
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            info!("watch caches synced; ready");
            self.health.caches_synced();
            self.reconciles.send_replace(true);
        }
    }
}

/// The field selector of the Build watch: the Builds not settled.
pub const UNSETTLED_BUILDS: &str = "status.settled!=true";

/// The field selector of the pod watch: the pods that have not ended.
pub const RUNNING_PODS: &str = "status.phase!=Succeeded,status.phase!=Failed";

/// Whether the API server selects Builds by `status.settled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unsettled {
    /// It does: the Build CRD declares the selectable field (Kubernetes 1.32 or later).
    Selectable,
    /// It answers `400 field label not supported`: a Build CRD from before the field, or a
    /// Kubernetes without selectable fields. Every Build is watched.
    Unselectable,
}

/// Fails early, with a clear message, when the Build CRD is missing; finds out whether the API
/// server selects Builds by `status.settled`: one LIST of at most one Build, selecting the
/// settled ones. (Selecting the unsettled ones, as the watch does, costs more here: where etcd
/// lacks `RequestWatchProgress` the API server reads a consistent LIST from etcd, and reads
/// every Build to find that none of a cluster's thousands of settled ones matches: 2.2 s over
/// 10,000 on etcd 3.5.1, where the first settled Build ends this one.)
async fn preflight(builds: &Api<Build>) -> Result<Unsettled, Error> {
    let params = ListParams::default().limit(1).fields("status.settled=true");
    match builds.list(&params).await {
        Ok(_) => Ok(Unsettled::Selectable),
        Err(error) if is_not_found(&error) => Err(Error::CrdNotInstalled(error)),
        Err(error) if is_unselectable(&error) => {
            warn!(
                "the API server does not select Builds by status.settled ({error}): every \
                 Build is watched and held, settled or not; apply this release's Build CRD \
                 (config/release.yaml; Kubernetes 1.32 or later) to hold only the Builds that \
                 can still change"
            );
            Ok(Unsettled::Unselectable)
        }
        Err(error) => Err(Error::Preflight(error)),
    }
}

/// Whether `error` is the API server's `400 BadRequest` for a field selector it does not
/// support.
fn is_unselectable(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == 400 && status.message.contains("field label not supported"))
}

/// An `Api` over one namespace, or over all of them.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// The controller's backoff over all its watches together: none, because each watch backs off
/// on its own ([`cached`]). kube's default here pauses every watch whenever any one of them
/// yields an error, and grows with the errors of all of them: after an API server restart
/// (each watch fails to reconnect, then finds its resource version expired) it reached 30-60 s
/// pauses for every watch at once, so Builds waited minutes for a template or Secret created
/// meanwhile (found by `cargo xtask chaos`, scenario `apiserver`).
struct EachWatchBacksOffAlone;

impl Iterator for EachWatchBacksOffAlone {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<std::time::Duration> {
        Some(std::time::Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for EachWatchBacksOffAlone {
    fn reset(&mut self) {}
}

/// What the controller watches: an API object of a type known at compile time.
trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// What a watch fills: a kube-runtime store (through [`Compacting`]), or the pod cache.
trait WatchCache<K>: Send + 'static {
    fn apply(&mut self, event: &watcher::Event<K>);
}

impl<K> WatchCache<K> for Compacting<K>
where
    K: reflector::Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    fn apply(&mut self, event: &watcher::Event<K>) {
        self.apply_watcher_event(event);
    }
}

impl WatchCache<CachedPod> for PodCacheWriter {
    fn apply(&mut self, event: &watcher::Event<CachedPod>) {
        self.apply_watcher_event(event);
    }
}

/// What a watch ([`cached`]) fills and how.
struct Cache<'a, K, W> {
    /// The cache.
    writer: W,
    /// Told when the cache first has its initial list.
    synced: &'a Synced,
    /// What is dropped of each object before it is cached.
    strip: fn(&mut K),
}

/// A watch of `api` that keeps a copy of every object, as `cache.strip` leaves it, in
/// `cache.writer`'s cache, and tells `cache.synced` when the cache first has its initial list.
fn cached<K, W>(
    api: Api<K>,
    config: watcher::Config,
    cache: Cache<'_, K, W>,
) -> impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Watched,
    W: WatchCache<K>,
{
    let Cache {
        mut writer,
        synced,
        strip,
    } = cache;
    let synced = synced.clone();
    let listed = AtomicBool::new(false);
    watcher(api, config)
        .default_backoff()
        .modify(strip)
        .inspect(move |event| {
            if let Ok(event) = event {
                writer.apply(event);
            }
            // Later InitDones come from re-lists: the cache was already filled once.
            if matches!(event, Ok(watcher::Event::InitDone)) && !listed.swap(true, Ordering::SeqCst)
            {
                synced.one_done();
            }
        })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;
    use crate::own_writes::tests::{build, pod};

    fn versions<K: Resource>(objects: impl IntoIterator<Item = K>) -> Vec<String> {
        objects
            .into_iter()
            .map(|o| o.meta().resource_version.clone().unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn the_build_watch_wakes_nothing_for_the_echo_of_a_status_patch() {
        let ctx = Arc::new(crate::context::tests::context());
        ctx.own_writes.wrote_status(&build("1"), Some("2".into()));
        let watched = ["1", "2", "3"].map(|v| Ok::<_, watcher::Error>(CachedBuild::from(build(v))));
        let passed: Vec<CachedBuild> = futures::stream::iter(watched)
            .try_filter(not_own_status_echo(ctx))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(versions(passed), ["1", "3"]);
    }

    #[tokio::test]
    async fn the_pod_watch_wakes_nothing_for_the_echo_of_a_create_but_for_its_deletion() {
        let ctx = Arc::new(crate::context::tests::context());
        ctx.own_writes.created_pod(&pod("5"));
        let watched = [
            watcher::Event::Apply(pod("5")),
            watcher::Event::Apply(pod("6")),
        ];
        let passed = pods_passed(&ctx, watched).await;
        assert_eq!(passed, ["apply 6"]);

        // A deletion, and a relist's copy, of a pod just created still pass.
        ctx.own_writes.created_pod(&pod("7"));
        let passed = pods_passed(&ctx, [watcher::Event::Delete(pod("7"))]).await;
        assert_eq!(passed, ["delete 7"]);
        ctx.own_writes.created_pod(&pod("8"));
        let passed = pods_passed(&ctx, [watcher::Event::InitApply(pod("8"))]).await;
        assert_eq!(passed, ["init 8"]);
    }

    async fn pods_passed(
        ctx: &Arc<Context>,
        events: impl IntoIterator<Item = watcher::Event<CachedPod>>,
    ) -> Vec<String> {
        let events: Vec<_> = futures::stream::iter(events.into_iter().map(Ok::<_, watcher::Error>))
            .try_filter(not_own_create_echo(ctx.clone()))
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        events
            .into_iter()
            .map(|event| match event {
                watcher::Event::Apply(pod) => format!("apply {}", versions([pod])[0]),
                watcher::Event::Delete(pod) => format!("delete {}", versions([pod])[0]),
                watcher::Event::InitApply(pod) => format!("init {}", versions([pod])[0]),
                _ => "other".to_owned(),
            })
            .collect()
    }

    #[test]
    fn a_pod_wakes_the_build_that_owns_it_and_nothing_else() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "b-pod-1", "namespace": "ns", "ownerReferences": [
                {"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build", "name": "b",
                 "uid": "u1", "controller": true},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "u2"},
                {"apiVersion": "build.knative.dev/v1beta1", "kind": "Build", "name": "other",
                 "uid": "u3"},
            ]},
        }))
        .unwrap();
        let woken: Vec<ObjectRef<CachedBuild>> = owning_builds(&CachedPod::from(pod)).collect();
        // The same key the reconcile removes when it starts.
        let mut build = Build::new("b", Default::default());
        build.metadata.namespace = Some("ns".into());
        assert_eq!(woken, [due_key(&build)]);
    }
}

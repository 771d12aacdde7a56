//! `--writes-floor`: how soon *any* controller making this one's writes could be done, on this
//! API server.
//!
//! The same Builds as the measured run are made in a namespace of their own before the
//! controller starts, but with no controller: the benchmark itself calls the controller's own
//! reconcile ([`build_controller::reconcile::reconcile`]) for each Build the moment that
//! Build's create is answered, at most the controller's default concurrency at once, over the
//! controller's own HTTP/2 client. So each Build gets the same writes as in the measured run
//! (its pod, the `Started` Event, the status patch), made by the same code, but with no watch,
//! cache, scheduler or queue between the Build's creation and its reconcile. The server
//! meanwhile serves the same watches: the benchmark's own, and a Build and a pod watch with the
//! controller's selectors, drained unread in place of the controller's.
//!
//! - After a burst ([`writes_floor`]), its tails are the floor the server sets for the
//!   controller's.
//! - In a sustained run ([`sustained_floor`]) the stand-in kubelet ends each pod a second after
//!   it appears, as in the measured run, and the benchmark reconciles the Build again to record
//!   that (a GET of the ended pod, the status patch, the `Succeeded` Event), as the pod's end
//!   wakes the controller. Its Build→Pod latencies are the floor for the controller's.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use build_controller::stores::{CachedBuild, CachesSynced, PodCache, Stores};
use build_controller::{Config, Context, RUNNING_PODS, UNSETTLED_BUILDS};
use build_types::{Build, BuildTemplate};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchParams};
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};

use super::report::{SustainedFloor, Tails};
use super::{
    BUILD_NAME_LABEL, BenchArgs, Events, Pace, Timeline, bench_template, creating, sustained,
};
use crate::harness::process::Target;

/// Runs the writes-only burst of `count` Builds in namespace `{namespace}-floor`, cleans up,
/// and returns its tails.
pub(super) async fn writes_floor(
    client: &Client,
    namespace: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<Tails> {
    let floor = Floor::open(client, namespace).await?;
    let tails = run(
        client,
        &floor.namespace,
        count,
        timeout,
        Reconciles::new(floor.ctx.clone()),
    )
    .await;
    floor.close(client).await?;
    tails
}

/// Runs the sustained run of `pace` in namespace `{namespace}-floor` with the benchmark making
/// the controller's writes ([`Reconciles`]), cleans up, and returns its latencies.
pub(super) async fn sustained_floor(
    client: &Client,
    args: &BenchArgs,
    namespace: &str,
    pace: Pace,
) -> anyhow::Result<SustainedFloor> {
    let floor = Floor::open(client, namespace).await?;
    let events = Events::watch(client, &floor.namespace);
    let run = sustained(
        client,
        args,
        &floor.namespace,
        &mut Target::Unmeasured,
        events,
        pace,
        Some(Reconciles::new(floor.ctx.clone())),
    )
    .await;
    floor.close(client).await?;
    let run = run?;
    Ok(SustainedFloor {
        to_pod: run.to_pod,
        to_status: run.to_status,
        build_create: run.build_create,
        last: false,
        at_server: run.at_server,
    })
}

/// A namespace of the floor's own with the benchmark's BuildTemplate, a context like the
/// controller's for it, and the watches drained in place of the controller's.
struct Floor {
    namespace: String,
    ctx: Arc<Context>,
    drains: [tokio::task::JoinHandle<anyhow::Result<()>>; 2],
    drained: Arc<AtomicU64>,
}

impl Floor {
    /// Makes namespace `{namespace}-floor` and starts draining its watches.
    async fn open(client: &Client, namespace: &str) -> anyhow::Result<Self> {
        let namespace = format!("{namespace}-floor");
        throwaway_cluster::create_namespace(client, &namespace).await?;
        let templates: Api<BuildTemplate> = Api::namespaced(client.clone(), &namespace);
        let template = templates
            .create(&PostParams::default(), &bench_template())
            .await?;
        let ctx = Arc::new(context(&namespace, template).await?);
        let drained = Arc::new(AtomicU64::new(0));
        let drains = [
            drain(
                &ctx.client,
                Build::url_path(&(), Some(&namespace)),
                None,
                UNSETTLED_BUILDS,
                drained.clone(),
            ),
            drain(
                &ctx.client,
                Pod::url_path(&(), Some(&namespace)),
                Some(BUILD_NAME_LABEL),
                RUNNING_PODS,
                drained.clone(),
            ),
        ];
        Ok(Floor {
            namespace,
            ctx,
            drains,
            drained,
        })
    }

    /// Stops the drains, deletes what the floor made and its namespace; fails if a drain had
    /// failed: that took load off the server that the controller's watch would have put on
    /// it, so the floor would be too low.
    async fn close(self, client: &Client) -> anyhow::Result<()> {
        let mut failed = None;
        for drain in self.drains {
            if drain.is_finished() && failed.is_none() {
                failed = match drain.await {
                    Ok(result) => result.err(),
                    Err(error) => Some(error.into()),
                };
            } else {
                drain.abort();
            }
        }
        clean_up(client, &self.namespace).await?;
        eprintln!(
            "writes floor: {} KiB of watch events drained in place of the controller's watches",
            self.drained.load(Ordering::Relaxed) / 1024
        );
        match failed {
            Some(error) => {
                Err(error.context("a watch drained in place of the controller's failed"))
            }
            None => Ok(()),
        }
    }
}

/// The controller's reconciles, made by the benchmark with the controller's code
/// ([`build_controller::reconcile::reconcile`]), at most the controller's default concurrency
/// at once: each Build's the moment its create is answered ([`Reconciles::created`]), and
/// again once its pod has ended and its status naming that pod has been seen ([`Awaiting`]),
/// as the pod's end wakes the controller to record it.
pub(super) struct Reconciles {
    ctx: Arc<Context>,
    slots: Arc<tokio::sync::Semaphore>,
    running: tokio::task::JoinSet<anyhow::Result<()>>,
    awaiting: Awaiting,
    /// How many reconciles were made at a create, and how many on a pod's end.
    made: (usize, usize),
}

impl Reconciles {
    fn new(ctx: Arc<Context>) -> Self {
        let slots = Arc::new(tokio::sync::Semaphore::new(usize::from(
            ctx.config.concurrency,
        )));
        Reconciles {
            ctx,
            slots,
            running: tokio::task::JoinSet::new(),
            awaiting: Awaiting::default(),
            made: (0, 0),
        }
    }

    /// A Build's create was answered: reconcile it.
    pub(super) fn created(&mut self, build: Build) {
        self.made.0 += 1;
        self.reconcile(build);
    }

    /// A Build's status naming its pod was seen.
    pub(super) fn status_seen(&mut self, build: Build) {
        if let Some(build) = self.awaiting.status_seen(build) {
            self.made.1 += 1;
            self.reconcile(build);
        }
    }

    /// The stand-in kubelet has ended Build `name`'s pod.
    pub(super) fn pod_ended(&mut self, name: String) {
        if let Some(build) = self.awaiting.pod_ended(name) {
            self.made.1 += 1;
            self.reconcile(build);
        }
    }

    /// The next reconcile to end, `None` when none runs.
    pub(super) async fn join_next(&mut self) -> Option<anyhow::Result<()>> {
        let done = self.running.join_next().await?;
        Some(done.map_err(anyhow::Error::from).and_then(|r| r))
    }

    /// Waits for the reconciles still running.
    pub(super) async fn finish(mut self) -> anyhow::Result<()> {
        while let Some(done) = self.join_next().await {
            done?;
        }
        eprintln!(
            "writes floor: {} reconciles as Builds were created, {} as their pods ended",
            self.made.0, self.made.1
        );
        Ok(())
    }

    fn reconcile(&mut self, build: Build) {
        let (ctx, slots) = (self.ctx.clone(), self.slots.clone());
        self.running.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let name = build.name_any();
            build_controller::reconcile::reconcile(Arc::new(CachedBuild::from(build)), ctx)
                .await
                .with_context(|| format!("reconciling Build {name}"))?;
            anyhow::Ok(())
        });
    }
}

/// Which Builds wait for the second reconcile, the one that records their pod's end: it needs
/// both the pod ended and the Build as its first reconcile left it (the status naming the pod,
/// at the `resourceVersion` that write gave it), whichever comes last.
#[derive(Default)]
struct Awaiting {
    /// The last status seen of each unfinished Build whose pod has not ended yet.
    started: HashMap<String, Build>,
    /// Builds whose pod ended before their status was seen.
    ended: HashSet<String>,
}

impl Awaiting {
    /// A Build's status was seen; returns it when it is to be reconciled now.
    fn status_seen(&mut self, build: Build) -> Option<Build> {
        let name = build.name_any();
        if build.status.as_ref().is_some_and(|s| s.is_done()) {
            self.started.remove(&name);
            self.ended.remove(&name);
            return None;
        }
        if self.ended.remove(&name) {
            return Some(build);
        }
        self.started.insert(name, build);
        None
    }

    /// Build `name`'s pod ended; returns the Build when it is to be reconciled now.
    fn pod_ended(&mut self, name: String) -> Option<Build> {
        let build = self.started.remove(&name);
        if build.is_none() {
            self.ended.insert(name);
        }
        build
    }
}

/// A context like the controller's, over caches filled by hand: the one BuildTemplate, no
/// ServiceAccount or Secret (the controller's caches hold none either, on envtest).
async fn context(namespace: &str, template: BuildTemplate) -> anyhow::Result<Context> {
    let (templates, mut templates_writer) = reflector::store::<BuildTemplate>();
    templates_writer.apply_watcher_event(&watcher::Event::Apply(template));
    let stores = Stores {
        builds: reflector::store::<CachedBuild>().0,
        pods: PodCache::default(),
        templates,
        cluster_templates: reflector::store().0,
        service_accounts: reflector::store().0,
        secrets: reflector::store().0,
        synced: CachesSynced::already(),
    };
    let kubeconfig = kube::Config::infer()
        .await
        .context("reading the kubeconfig")?;
    let client = build_controller::client(kubeconfig)?;
    let mut config = Config::new(build_controller::release::manifests::release_images());
    config.namespace = Some(namespace.to_owned());
    Ok(Context::new(client, config, stores))
}

/// A watch of `url_path` with the controller's selectors (`label`, `fields`) whose events are
/// read and dropped, made as kube's watcher makes the controller's: a list paged by 500, then
/// watches (bookmarks on, 290 s each) each from the last `resourceVersion` seen, and a list
/// again only when the server says that version is gone (410). Only a failed request or an
/// error event of another kind ends the task.
fn drain(
    client: &Client,
    url_path: String,
    label: Option<&str>,
    fields: &str,
    drained: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let client = client.clone();
    let (mut list, mut watch) = (ListParams::default(), WatchParams::default());
    if let Some(label) = label {
        list = list.labels(label);
        watch = watch.labels(label);
    }
    let (list, watch) = (list.fields(fields), watch.fields(fields));
    tokio::spawn(async move {
        let request = kube::core::Request::new(&url_path);
        loop {
            let mut version = super::apiserver::list_pages(&client, &request, list.clone()).await?;
            while let Some(next) =
                drain_watch(&client, &request, &watch, &version, &drained).await?
            {
                version = next;
            }
            eprintln!(
                "writes floor: the drained watch of {url_path} was told its version is gone; listing again"
            );
        }
    })
}

/// One watch of `request` from `version`, its events counted into `drained` and dropped; the
/// last `resourceVersion` it brought once the server ends it, `None` on a 410.
async fn drain_watch(
    client: &Client,
    request: &kube::core::Request,
    params: &WatchParams,
    version: &str,
    drained: &AtomicU64,
) -> anyhow::Result<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(rename = "type")]
        kind: String,
        object: Object,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        #[serde(default)]
        metadata: Meta,
        code: Option<u16>,
        message: Option<String>,
    }
    #[derive(Default, serde::Deserialize)]
    struct Meta {
        #[serde(rename = "resourceVersion")]
        version: Option<String>,
    }
    let path = &request.url_path;
    let http = request.watch(params, version)?;
    let mut lines = client.request_stream(http).await?.lines();
    let mut version = version.to_owned();
    while let Some(line) = lines.try_next().await? {
        drained.fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
        let line: Line = serde_json::from_str(&line)
            .with_context(|| format!("an event of the watch of {path}"))?;
        match (line.kind.as_str(), line.object.code) {
            ("ERROR", Some(410)) => return Ok(None),
            ("ERROR", code) => anyhow::bail!(
                "the watch of {path} failed: {code:?} {}",
                line.object.message.unwrap_or_default()
            ),
            _ => version = line.object.metadata.version.unwrap_or(version),
        }
    }
    Ok(Some(version))
}

async fn run(
    client: &Client,
    namespace: &str,
    count: usize,
    timeout: Duration,
    mut reconciles: Reconciles,
) -> anyhow::Result<Tails> {
    let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
    let mut events = Events::watch(client, namespace);
    let mut timeline = Timeline::default();
    let mut unmeasured = Target::Unmeasured;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut creating = std::pin::pin!(creating(&builds, 0..count));
    let mut created_all = false;
    while !created_all || timeline.pod.len() < count || timeline.status.len() < count {
        tokio::select! {
            created = creating.next(), if !created_all => match created {
                Some(created) => {
                    let (build, at) = created?;
                    timeline.created.insert(build.name_any(), at);
                    reconciles.created(build);
                }
                None => created_all = true,
            },
            Some(done) = reconciles.join_next() => done?,
            seen = events.next(&mut unmeasured, deadline, || timeline.waiting(count)) => {
                timeline.record(seen?);
            }
        }
    }
    reconciles.finish().await?;
    Ok(timeline.tails(started))
}

/// Deletes what the writes-only burst made, and its namespace.
async fn clean_up(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let params = DeleteParams::default();
    let all = ListParams::default();
    Api::<Build>::namespaced(client.clone(), namespace)
        .delete_collection(&params, &all)
        .await?;
    Api::<Pod>::namespaced(client.clone(), namespace)
        .delete_collection(&params, &all)
        .await?;
    Api::<Event>::namespaced(client.clone(), namespace)
        .delete_collection(&params, &all)
        .await?;
    Api::<Namespace>::all(client.clone())
        .delete(namespace, &params)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build `name` as the watch shows it after a reconcile: its status names its pod, with
    /// `Succeeded` at `succeeded` and `resourceVersion` at `version`.
    fn build(name: &str, succeeded: &str, version: &str) -> Build {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "build.knative.dev/v1alpha1",
            "kind": "Build",
            "metadata": {"name": name, "resourceVersion": version},
            "spec": {},
            "status": {
                "cluster": {"namespace": "bench-floor", "podName": format!("{name}-pod")},
                "conditions": [{"type": "Succeeded", "status": succeeded}],
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_build_is_reconciled_again_once_its_pod_has_ended_and_its_status_is_seen() {
        let mut awaiting = Awaiting::default();
        // Status first, then the pod's end.
        assert!(awaiting.status_seen(build("a", "Unknown", "1")).is_none());
        assert!(awaiting.status_seen(build("a", "Unknown", "2")).is_none());
        let again = awaiting
            .pod_ended("a".into())
            .expect("reconciled on the pod's end");
        assert_eq!(again.metadata.resource_version.as_deref(), Some("2"));
        // The pod's end first, then the status.
        assert!(awaiting.pod_ended("b".into()).is_none());
        let again = awaiting
            .status_seen(build("b", "Unknown", "3"))
            .expect("reconciled on the status");
        assert_eq!(again.metadata.resource_version.as_deref(), Some("3"));
        // Each once: nothing is left waiting.
        assert!(awaiting.pod_ended("a".into()).is_none());
        assert!(awaiting.status_seen(build("b", "Unknown", "4")).is_none());
    }

    #[test]
    fn a_finished_build_is_not_reconciled_again() {
        let mut awaiting = Awaiting::default();
        assert!(awaiting.status_seen(build("a", "Unknown", "1")).is_none());
        assert!(awaiting.status_seen(build("a", "True", "2")).is_none());
        assert!(awaiting.pod_ended("a".into()).is_none());
        assert!(awaiting.started.is_empty());
    }
}

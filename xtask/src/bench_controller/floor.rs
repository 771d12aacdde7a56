//! `--writes-floor`: how soon after the last Build exists *any* controller making this one's
//! writes could be done, on this API server.
//!
//! A burst like the measured one runs in a namespace of its own before the controller starts,
//! but with no controller: the benchmark itself calls the controller's own reconcile
//! ([`build_controller::reconcile::reconcile`]) for each Build the moment that Build's create is
//! answered, at most the controller's default concurrency at once, over the controller's own
//! HTTP/2 client. So each Build gets the same writes as in the measured burst (its pod, the
//! `Started` Event, the status patch), made by the same code, but with no watch, cache,
//! scheduler or queue between the Build's creation and its reconcile. The server meanwhile
//! serves the same watches: the benchmark's own, and a Build and a pod watch drained unread in
//! place of the controller's. Its tails are the floor the server sets for the controller's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use build_controller::stores::{CachedBuild, CachesSynced, PodCache, Stores};
use build_controller::{Config, Context};
use build_types::{Build, BuildTemplate};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchParams};
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};

use super::report::Tails;
use super::{BUILD_NAME_LABEL, Events, Timeline, bench_template, creating};
use crate::harness::process::Target;

/// Runs the writes-only burst of `count` Builds in namespace `{namespace}-floor`, cleans up,
/// and returns its tails.
pub(super) async fn writes_floor(
    client: &Client,
    namespace: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<Tails> {
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
            drained.clone(),
        ),
        drain(
            &ctx.client,
            Pod::url_path(&(), Some(&namespace)),
            Some(BUILD_NAME_LABEL),
            drained.clone(),
        ),
    ];
    let tails = run(client, &namespace, count, timeout, ctx).await;
    // A drain that failed took load off the server that the controller's watch would have
    // put on it: the floor would be too low.
    let mut failed = None;
    for drain in drains {
        if drain.is_finished() && failed.is_none() {
            failed = match drain.await {
                Ok(result) => result.err(),
                Err(error) => Some(error.into()),
            };
        } else {
            drain.abort();
        }
    }
    clean_up(client, &namespace).await?;
    eprintln!(
        "writes floor: {} KiB of watch events drained in place of the controller's watches",
        drained.load(Ordering::Relaxed) / 1024
    );
    if let Some(error) = failed {
        return Err(error.context("a watch drained in place of the controller's failed"));
    }
    tails
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

/// A watch of `url_path` whose events are read and dropped, started as kube's watcher starts
/// one: a list, then a watch from the list's `resourceVersion`. When the server ends the watch
/// (a 410 once its window has moved on), it lists and watches again, as the controller's
/// watcher would. Only a failed request or an answer that is not a list ends the task.
fn drain(
    client: &Client,
    url_path: String,
    label: Option<&str>,
    drained: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let client = client.clone();
    let (mut list, mut watch) = (ListParams::default(), WatchParams::default());
    if let Some(label) = label {
        list = list.labels(label);
        watch = watch.labels(label);
    }
    tokio::spawn(async move {
        loop {
            let request = kube::core::Request::new(&url_path).list(&list)?;
            let listed: serde_json::Value = client.request(request).await?;
            let Some(version) = listed["metadata"]["resourceVersion"].as_str() else {
                anyhow::bail!("listing {url_path} gave no resourceVersion: {listed}");
            };
            let request = kube::core::Request::new(&url_path).watch(&watch, version)?;
            let body = client.request_stream(request).await?;
            futures::io::copy_buf(body, &mut Counted(drained.clone())).await?;
            eprintln!("writes floor: the server ended the drained watch of {url_path}; again");
        }
    })
}

/// A sink that counts the bytes written to it.
struct Counted(Arc<AtomicU64>);

impl futures::io::AsyncWrite for Counted {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        std::task::Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

async fn run(
    client: &Client,
    namespace: &str,
    count: usize,
    timeout: Duration,
    ctx: Arc<Context>,
) -> anyhow::Result<Tails> {
    let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
    let mut events = Events::watch(client, namespace);
    let slots = Arc::new(tokio::sync::Semaphore::new(usize::from(
        ctx.config.concurrency,
    )));
    let mut reconciles = tokio::task::JoinSet::new();
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
                    let (ctx, slots) = (ctx.clone(), slots.clone());
                    reconciles.spawn(async move {
                        let _slot = slots.acquire_owned().await?;
                        let name = build.name_any();
                        build_controller::reconcile::reconcile(Arc::new(CachedBuild::from(build)), ctx)
                            .await
                            .with_context(|| format!("reconciling Build {name}"))?;
                        anyhow::Ok(())
                    });
                }
                None => created_all = true,
            },
            Some(done) = reconciles.join_next() => done??,
            seen = events.next(&mut unmeasured, deadline, || timeline.waiting(count)) => {
                timeline.record(seen?);
            }
        }
    }
    while let Some(done) = reconciles.join_next().await {
        done??;
    }
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

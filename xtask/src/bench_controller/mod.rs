//! `cargo xtask bench-controller`: how fast and how small the controller is on a real API
//! server, next to the floor the server itself sets.
//!
//! Against whatever `KUBECONFIG` names (an envtest control plane is enough: no kubelet is
//! needed; where a Build must finish, the benchmark patches its pod's status the way a kubelet
//! would, see [`crate::harness::kubelet`]), it applies the generated CRDs, makes a fresh namespace with a
//! BuildTemplate, starts the release `build-controller` on it (or measures one it did not
//! start: `--attach-pid PID`, or `--attach` to measure nothing), waits until the controller is
//! ready, and runs one of four modes:
//!
//! - **burst** (default, `--builds N`): the baseline of N raw pod creates (8 in flight), then N
//!   Builds created at once (64 in flight, half with steps, half from the template). Reports
//!   the floor (Build creates, raw pod creates), time to all pods and statuses, the
//!   controller's tail (last Build created → last pod, → last status), p50/p99 Build→Pod, and
//!   the controller's CPU over the burst and RSS after it.
//! - **sustained** (`--rate R --duration D`): Builds created at R per second for D, each pod
//!   finished by the stand-in kubelet a second after it appears. Reports p50/p99/max
//!   Build→Pod and Build→status, and the controller's RSS sampled every second (first, min,
//!   max, last).
//! - **hold** (`--hold N`): N Builds created and run to success (their pods patched to
//!   `Succeeded` in batches), then the controller's RSS and CPU holding them, and again after
//!   `--idle` (60 s) of nothing.
//! - **restart** (`--restart-at N`, [`restart`]): the hold of N, then the controller killed
//!   (SIGKILL) and started again over them. Reports its start → `/readyz` and → the pod of a
//!   Build created once it is ready, its reconciles, the relist's LIST and WATCH requests and
//!   LIST bytes as the API server counted them (its `/metrics`), its CPU and RSS once the
//!   reconciles stop, and its RSS over `--idle` with the slope.
//!
//! Burst and sustained runs can first measure the floor the API server sets for the
//! controller's writes (`--writes-floor`, [`floor`]); a sustained run also reads the API
//! server's own timing of its creates ([`apiserver::creates`]).
//!
//! A started controller that exits (say, because its metrics port is taken) fails the run at
//! once with its last output. Results go to stdout as a table and, with `--json FILE`, as
//! JSON.

mod apiserver;
mod floor;
mod report;
mod restart;
mod stats;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use build_types::{Build, BuildSpec, BuildTemplate, BuildTemplateSpec, ParameterSpec};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use crate::harness::process::{self, Launch, RssSampler, Target};
use report::Cost;
use stats::{Latencies, RssSamples};

/// The options of `cargo xtask bench-controller`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Burst mode: how many Builds (and baseline pods) to create at once.
    #[arg(long, default_value_t = 500)]
    builds: usize,
    /// Sustained mode: create Builds at this many per second (with --duration).
    #[arg(long, requires = "duration", conflicts_with = "hold")]
    rate: Option<f64>,
    /// Sustained mode: for this long (300, 300s, 5m).
    #[arg(long, requires = "rate", value_parser = stats::parse_duration)]
    duration: Option<Duration>,
    /// Burst and sustained modes: first measure the floor the API server sets for the
    /// controller's writes: the same Builds in a namespace of their own, which the benchmark
    /// reconciles itself, with the controller's code, the moment each is created (and, in
    /// sustained mode, again once its pod has ended).
    #[arg(long, conflicts_with = "hold")]
    writes_floor: bool,
    /// Sustained mode: measure the writes floor after the controller's run (the controller
    /// stopped), on the server as that run leaves it, instead of before it.
    #[arg(long, requires_all = ["writes_floor", "rate"])]
    writes_floor_last: bool,
    /// Hold mode: create this many Builds, run them to success, then measure the controller
    /// holding them, and again after --idle.
    #[arg(long)]
    hold: Option<usize>,
    /// Restart mode: hold this many Builds, then kill the controller (SIGKILL) and start it
    /// again over them; measures its start to /readyz and to a new Build's pod, the relist's
    /// requests and bytes at the API server, and its RSS after and over --idle.
    #[arg(long, value_name = "N", conflicts_with_all = ["rate", "hold", "writes_floor", "attach", "attach_pid"])]
    restart_at: Option<usize>,
    /// Hold and restart modes: how long to sit idle before the last measurement.
    #[arg(long, default_value = "60s", value_parser = stats::parse_duration)]
    idle: Duration,
    /// Use a controller that is already running, and measure nothing of it.
    #[arg(long, conflicts_with = "attach_pid")]
    attach: bool,
    /// Use a controller that is already running (any controller) and measure this process's
    /// CPU and RSS.
    #[arg(long, value_name = "PID")]
    attach_pid: Option<u32>,
    /// Start this controller binary instead of building target/release/build-controller.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["attach", "attach_pid"])]
    controller: Option<PathBuf>,
    /// Extra arguments for the started controller's `run` (repeatable).
    #[arg(
        long = "controller-arg",
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    controller_args: Vec<String>,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep the benchmark namespace afterwards.
    #[arg(long)]
    keep: bool,
    /// Give up after this many seconds of waiting for pods and statuses.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
}

const BASELINE_IN_FLIGHT: usize = 8;
const BUILDS_IN_FLIGHT: usize = 64;
const KUBELET_IN_FLIGHT: usize = 16;
const KUBELET_BATCH: usize = 500;
const FIELD_MANAGER: &str = "xtask-bench-controller";
const BUILD_NAME_LABEL: &str = "build.knative.dev/buildName";

/// Runs the benchmark and prints its report.
pub(crate) fn run(root: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    if args.builds == 0 || args.hold == Some(0) || args.restart_at == Some(0) {
        bail!("--builds, --hold and --restart-at must be at least 1");
    }
    if args.writes_floor && cfg!(debug_assertions) {
        bail!(
            "--writes-floor reconciles in this process, and this is a debug build, which would \
             make the floor its own slowness: run `cargo run --profile bench-harness -p xtask -- \
             bench-controller --writes-floor`"
        );
    }
    if let Some(rate) = args.rate
        && !(rate > 0.0 && rate.is_finite())
    {
        bail!("--rate must be a positive number of Builds per second");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(bench(root, args))
}

async fn bench(root: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to the cluster KUBECONFIG names")?;
    install_crds(&client).await?;
    let namespace = format!(
        "bench-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    throwaway_cluster::create_namespace(&client, &namespace).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    eprintln!("namespace {namespace}");

    let result = measure(root, args, &client, &namespace).await;
    // The report first: a clean-up that hangs (an API server gone bad) must not lose it.
    let written = result.and_then(|(text, json)| {
        println!("{text}");
        if let Some(path) = &args.json {
            let mut body = serde_json::to_string_pretty(&json)?;
            body.push('\n');
            std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    });
    if !args.keep {
        let params = DeleteParams::default();
        let delete = namespaces.delete(&namespace, &params);
        if tokio::time::timeout(Duration::from_secs(10), delete)
            .await
            .is_err()
        {
            eprintln!("namespace {namespace} not deleted: the API server did not answer in 10 s");
        }
    }
    written
}

async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in build_types::crds() {
        let name = crd.name_any();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
    }
    for crd in build_types::crds() {
        throwaway_cluster::wait_established(&api, &crd.name_any()).await?;
    }
    Ok(())
}

fn plain_pod(name: String) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(BTreeMap::from([(
                "bench".to_owned(),
                "baseline".to_owned(),
            )])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "nop".into(),
                image: Some("busybox".into()),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// N plain pod creates, 8 in flight: what the server alone needs.
async fn baseline(client: &Client, namespace: &str, count: usize) -> anyhow::Result<Duration> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let pods = pods.clone();
            async move {
                pods.create(&PostParams::default(), &plain_pod(format!("baseline-{i}")))
                    .await
            }
        })
        .buffer_unordered(BASELINE_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await
        .context("baseline pod create")?;
    let elapsed = started.elapsed();
    pods.delete_collection(
        &DeleteParams::default(),
        &kube::api::ListParams::default().labels("bench=baseline"),
    )
    .await?;
    Ok(elapsed)
}

fn step(image: &str, args: &[&str]) -> Container {
    Container {
        name: "build".into(),
        image: Some(image.into()),
        args: Some(args.iter().map(|a| (*a).to_owned()).collect()),
        ..Default::default()
    }
}

fn bench_build(index: usize) -> Build {
    let mut spec = BuildSpec::default();
    if index.is_multiple_of(2) {
        spec.steps = vec![step("busybox", &["echo", "plain"])];
    } else {
        spec.template = Some(build_types::TemplateInstantiationSpec {
            name: "bench".into(),
            arguments: vec![build_types::ArgumentSpec {
                name: "MESSAGE".into(),
                value: format!("templated {index}"),
            }],
            ..Default::default()
        });
    }
    Build::new(&format!("bench-{index}"), spec)
}

fn bench_template() -> BuildTemplate {
    BuildTemplate::new(
        "bench",
        BuildTemplateSpec {
            parameters: vec![ParameterSpec {
                name: "MESSAGE".into(),
                description: Some("what to echo".into()),
                default: None,
            }],
            steps: vec![step("busybox", &["echo", "${MESSAGE}"])],
            volumes: Vec::new(),
        },
    )
}

/// Starts (or attaches to) the controller for `namespace` and waits until it is ready.
async fn controller(root: &Path, args: &BenchArgs, namespace: &str) -> anyhow::Result<Target> {
    let mut target = if args.attach {
        Target::Unmeasured
    } else if let Some(pid) = args.attach_pid {
        Target::Attached { pid }
    } else {
        start_controller(root, args, namespace, "")?
    };
    target.wait_ready(Duration::from_secs(60)).await?;
    Ok(target)
}

/// Starts the controller for `namespace` (`--controller`, or the workspace's release build),
/// its output in `target/bench-controller-<namespace><suffix>.log`.
fn start_controller(
    root: &Path,
    args: &BenchArgs,
    namespace: &str,
    suffix: &str,
) -> anyhow::Result<Target> {
    let binary = match &args.controller {
        Some(path) => path.clone(),
        None => crate::harness::build_release_binary("build-controller", "build-controller")?,
    };
    let log = root.join(format!("target/bench-controller-{namespace}{suffix}.log"));
    eprintln!("controller output: {}", log.display());
    Target::start(&Launch {
        binary: &binary,
        namespace,
        log,
        extra_args: &args.controller_args,
        kubeconfig: None,
        rust_log: None,
    })
}

async fn measure(
    root: &Path,
    args: &BenchArgs,
    client: &Client,
    namespace: &str,
) -> anyhow::Result<(String, serde_json::Value)> {
    let baseline = match (args.rate, args.hold.or(args.restart_at)) {
        (None, None) => {
            let baseline = baseline(client, namespace, args.builds).await?;
            eprintln!("baseline: {} pod creates in {baseline:?}", args.builds);
            Some(baseline)
        }
        _ => None,
    };
    let pace = args
        .rate
        .zip(args.duration)
        .map(|(rate, duration)| Pace { rate, duration });
    let floor_first = match pace {
        Some(pace) if args.writes_floor && !args.writes_floor_last => {
            Some(sustained_floor(client, args, namespace, pace).await?)
        }
        _ => None,
    };
    let writes_floor = if args.writes_floor && pace.is_none() {
        let timeout = Duration::from_secs(args.timeout_seconds);
        let tails = floor::writes_floor(client, namespace, args.builds, timeout).await?;
        eprintln!(
            "writes floor: last pod {:.3} s and last status {:.3} s after the last Build",
            tails.tail_to_last_pod(),
            tails.tail_to_last_status()
        );
        Some(tails)
    } else {
        None
    };
    let templates: Api<BuildTemplate> = Api::namespaced(client.clone(), namespace);
    templates
        .create(&PostParams::default(), &bench_template())
        .await?;
    let mut target = controller(root, args, namespace).await?;
    let mut events = Events::watch(client, namespace);
    let result = match (pace, args.hold) {
        (Some(pace), _) => {
            let mut report =
                sustained(client, args, namespace, &mut target, events, pace, None).await?;
            report.writes_floor = floor_first;
            if args.writes_floor_last {
                if let Some(counters) = target.counters().await {
                    eprintln!("controller counters:\n{counters}");
                }
                target.stop();
                let floor = sustained_floor(client, args, namespace, pace).await?;
                report.writes_floor = Some(report::SustainedFloor {
                    last: true,
                    ..floor
                });
            }
            (report.to_string(), report.to_json())
        }
        _ if args.restart_at.is_some() => {
            let restart = restart::Restart {
                root,
                args,
                client,
                namespace,
            };
            let report = restart.run(&mut target, &mut events).await?;
            (report.to_string(), report.to_json())
        }
        (_, Some(count)) => {
            let held = Held {
                client,
                args,
                namespace,
            };
            let report = held
                .hold(&mut target, &mut events, count, args.idle)
                .await?;
            (report.to_string(), report.to_json())
        }
        _ => {
            let baseline = baseline.unwrap_or_default();
            let mut report = burst(client, args, namespace, &mut target, events, baseline).await?;
            report.writes_floor = writes_floor;
            (report.to_string(), report.to_json())
        }
    };
    if let Some(counters) = target.counters().await {
        eprintln!("controller counters:\n{counters}");
    }
    target.stop();
    Ok(result)
}

/// Measures the writes floor of a sustained run at `pace` ([`floor::sustained_floor`]).
async fn sustained_floor(
    client: &Client,
    args: &BenchArgs,
    namespace: &str,
    pace: Pace,
) -> anyhow::Result<report::SustainedFloor> {
    let floor = floor::sustained_floor(client, args, namespace, pace).await?;
    eprintln!(
        "writes floor: Build -> Pod p50 {:.1} ms, p99 {:.1} ms",
        floor.to_pod.p50.as_secs_f64() * 1e3,
        floor.to_pod.p99.as_secs_f64() * 1e3
    );
    Ok(floor)
}

/// What the benchmark's watches see.
enum Seen {
    /// A Build's pod exists.
    Pod { build: String, pod: Box<Pod> },
    /// A Build whose status names its pod and has a `Succeeded` condition.
    Status(Box<Build>),
    /// Anything else.
    Other,
}

/// The benchmark's own watches of the namespace's build pods and Builds, merged.
struct Events {
    stream: std::pin::Pin<Box<dyn Stream<Item = Result<Seen, watcher::Error>> + Send>>,
}

impl Events {
    fn watch(client: &Client, namespace: &str) -> Self {
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
        let pod_events = watcher(pods, watcher::Config::default().labels(BUILD_NAME_LABEL))
            .applied_objects()
            .map_ok(|pod| match pod.labels().get(BUILD_NAME_LABEL).cloned() {
                Some(build) => Seen::Pod {
                    build,
                    pod: Box::new(pod),
                },
                None => Seen::Other,
            });
        let build_events = watcher(builds, watcher::Config::default())
            .applied_objects()
            .map_ok(|build: Build| {
                let named = build.status.as_ref().filter(|s| s.cluster.is_some());
                match named.and_then(|status| status.succeeded()) {
                    Some(_) => Seen::Status(Box::new(build)),
                    None => Seen::Other,
                }
            });
        Events {
            stream: stream::select(pod_events.boxed(), build_events.boxed()).boxed(),
        }
    }

    /// The next thing seen, checking every 200 ms that the controller still runs; fails at
    /// `deadline`, saying what `waiting` is still missing.
    async fn next(
        &mut self,
        target: &mut Target,
        deadline: Instant,
        waiting: impl Fn() -> String,
    ) -> anyhow::Result<Seen> {
        loop {
            target.check_alive()?;
            let wait_until = (Instant::now() + Duration::from_millis(200)).min(deadline);
            match tokio::time::timeout_at(wait_until.into(), self.stream.next()).await {
                Err(_) if Instant::now() >= deadline => bail!("timed out: {}", waiting()),
                Err(_) => continue,
                Ok(None) => bail!("watch ended"),
                Ok(Some(Err(error))) => eprintln!("watch error (retrying): {error}"),
                Ok(Some(Ok(seen))) => return Ok(seen),
            }
        }
    }
}

/// When each Build was created, its pod seen, its status seen, and it finished.
#[derive(Default)]
struct Timeline {
    created: HashMap<String, Instant>,
    pod: HashMap<String, Instant>,
    status: HashMap<String, Instant>,
    done: HashMap<String, Instant>,
}

impl Timeline {
    /// Records what was seen; returns a pod seen for the first time.
    fn record(&mut self, seen: Seen) -> Option<Box<Pod>> {
        let now = Instant::now();
        match seen {
            Seen::Pod { build, pod } => {
                let first = !self.pod.contains_key(&build);
                self.pod.entry(build).or_insert(now);
                first.then_some(pod)
            }
            Seen::Status(build) => {
                let name = build.name_any();
                if build.status.as_ref().is_some_and(|s| s.is_done()) {
                    self.done.entry(name.clone()).or_insert(now);
                }
                self.status.entry(name).or_insert(now);
                None
            }
            Seen::Other => None,
        }
    }

    fn waiting(&self, builds: usize) -> String {
        format!(
            "{} of {builds} pods, {} statuses, {} finished",
            self.pod.len(),
            self.status.len(),
            self.done.len()
        )
    }

    /// From `started` to the last Build created, the last pod seen and the last status seen.
    fn tails(&self, started: Instant) -> report::Tails {
        let last = |seen: &HashMap<String, Instant>| {
            seen.values().max().map_or(Duration::ZERO, |t| *t - started)
        };
        report::Tails {
            build_creates: last(&self.created),
            to_all_pods: last(&self.pod),
            to_all_statuses: last(&self.status),
        }
    }

    /// From each Build's creation to the time in `seen`.
    fn latencies(&self, seen: &HashMap<String, Instant>) -> Vec<Duration> {
        seen.iter()
            .filter_map(|(build, at)| Some(at.saturating_duration_since(*self.created.get(build)?)))
            .collect()
    }
}

/// The benchmark's Builds `indexes` created, 64 in flight: each as created, and when its
/// create was answered.
fn creating(
    builds: &Api<Build>,
    indexes: std::ops::Range<usize>,
) -> impl Stream<Item = anyhow::Result<(Build, Instant)>> + '_ {
    stream::iter(indexes)
        .map(move |i| async move {
            let build = builds
                .create(&PostParams::default(), &bench_build(i))
                .await
                .context("creating a Build")?;
            anyhow::Ok((build, Instant::now()))
        })
        .buffer_unordered(BUILDS_IN_FLIGHT)
}

/// Creates `count` Builds, 64 in flight; returns when each was created.
async fn create_builds(
    builds: &Api<Build>,
    indexes: std::ops::Range<usize>,
) -> anyhow::Result<Vec<(String, Instant)>> {
    creating(builds, indexes)
        .map_ok(|(build, at)| (build.name_any(), at))
        .try_collect()
        .await
}

async fn burst(
    client: &Client,
    args: &BenchArgs,
    namespace: &str,
    target: &mut Target,
    mut events: Events,
    baseline: Duration,
) -> anyhow::Result<report::Burst> {
    let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
    let before = target.usage()?;
    let started = Instant::now();
    let creating = create_builds(&builds, 0..args.builds);
    let mut timeline = Timeline::default();
    // Watch while creating, so that nothing seen meanwhile waits in a buffer.
    let mut creating = std::pin::pin!(creating);
    let created = loop {
        tokio::select! {
            created = &mut creating => break created?,
            seen = events.next(target, started + Duration::from_secs(args.timeout_seconds), String::new) => {
                timeline.record(seen?);
            }
        }
    };
    let last_created = created.iter().map(|(_, at)| *at).max().unwrap_or(started);
    timeline.created = created.into_iter().collect();
    eprintln!(
        "created {} Builds in {:?}",
        timeline.created.len(),
        last_created - started
    );
    let deadline = started + Duration::from_secs(args.timeout_seconds);
    while timeline.pod.len() < args.builds || timeline.status.len() < args.builds {
        let seen = events
            .next(target, deadline, || timeline.waiting(args.builds))
            .await?;
        timeline.record(seen);
    }
    let after = target.usage()?;
    Ok(report::Burst {
        builds: args.builds,
        baseline,
        tails: timeline.tails(started),
        writes_floor: None,
        latencies: Latencies::of(timeline.latencies(&timeline.pod)),
        cost: cost(before, after),
    })
}

fn cost(before: Option<process::Usage>, after: Option<process::Usage>) -> Option<Cost> {
    let (before, after) = (before?, after?);
    Some(Cost {
        cpu: after.cpu.saturating_sub(before.cpu),
        rss_kib: after.rss_kib,
    })
}

/// The stand-in kubelet: finishes the pods it is given, `KUBELET_BATCH` at a time.
#[derive(Clone)]
struct Kubelet {
    pods: Api<Pod>,
}

impl Kubelet {
    /// Ends the pods of `batch` with success; returns the names of their Builds.
    async fn finish(&self, batch: Vec<Pod>) -> anyhow::Result<Vec<String>> {
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let builds = batch
            .iter()
            .filter_map(|pod| pod.labels().get(BUILD_NAME_LABEL).cloned())
            .collect();
        stream::iter(batch)
            .map(|pod| {
                let pods = self.pods.clone();
                let patch = crate::harness::kubelet::succeeded_patch(&pod, &now);
                async move {
                    pods.patch_status(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .with_context(|| format!("finishing pod {}", pod.name_any()))
                }
            })
            .buffer_unordered(KUBELET_IN_FLIGHT)
            .try_for_each(|_| async { Ok(()) })
            .await?;
        Ok(builds)
    }
}

/// A sustained run's pace: Builds created at `rate` a second for `duration`.
#[derive(Clone, Copy, Debug)]
struct Pace {
    rate: f64,
    duration: Duration,
}

impl Pace {
    /// How many Builds the run creates.
    fn builds(self) -> usize {
        (self.rate * self.duration.as_secs_f64()).round().max(1.0) as usize
    }
}

/// Runs Builds at `pace`, the stand-in kubelet ending each pod a second after it is seen.
/// With `reconciles` (the writes floor, [`floor::sustained_floor`]) the benchmark makes the
/// controller's writes itself; otherwise the controller makes them.
async fn sustained(
    client: &Client,
    args: &BenchArgs,
    namespace: &str,
    target: &mut Target,
    mut events: Events,
    pace: Pace,
    mut reconciles: Option<floor::Reconciles>,
) -> anyhow::Result<report::Sustained> {
    let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
    let kubelet = Kubelet {
        pods: Api::namespaced(client.clone(), namespace),
    };
    let count = pace.builds();
    let sampler = target.pid().map(RssSampler::start);
    let before = target.usage()?;
    let at_server_before = creates_at_server(client).await;
    let (created_tx, mut created_rx) = tokio::sync::mpsc::unbounded_channel();
    let creator = create_at_rate(builds.clone(), pace.rate, count, created_tx);
    let mut creator = Some(creator);
    let mut timeline = Timeline::default();
    let mut create_latencies = Vec::new();
    let mut to_finish: Vec<Pod> = Vec::new();
    let mut finishing = tokio::task::JoinSet::new();
    let mut kubelet_tick = tokio::time::interval(Duration::from_secs(1));
    let deadline = Instant::now() + pace.duration + Duration::from_secs(args.timeout_seconds);
    let started = Instant::now();
    let mut last_progress = Instant::now();
    while timeline.created.len() < count
        || timeline.pod.len() < count
        || timeline.status.len() < count
    {
        tokio::select! {
            Some((build, sent, created)) = created_rx.recv() => {
                create_latencies.push(created - sent);
                timeline.created.insert(build.name_any(), created);
                if let Some(reconciles) = &mut reconciles {
                    reconciles.created(build);
                }
            }
            seen = events.next(target, deadline, || timeline.waiting(count)) => {
                let seen = seen?;
                if let (Some(reconciles), Seen::Status(build)) = (&mut reconciles, &seen) {
                    reconciles.status_seen((**build).clone());
                }
                if let Some(pod) = timeline.record(seen) {
                    to_finish.push(*pod);
                }
            }
            Some(done) = async { reconciles.as_mut()?.join_next().await } => done?,
            _ = kubelet_tick.tick() => {
                if !to_finish.is_empty() {
                    let kubelet = kubelet.clone();
                    let batch = std::mem::take(&mut to_finish);
                    finishing.spawn(async move { kubelet.finish(batch).await });
                }
                while let Some(done) = finishing.try_join_next() {
                    let ended = done??;
                    if let Some(reconciles) = &mut reconciles {
                        ended.into_iter().for_each(|build| reconciles.pod_ended(build));
                    }
                }
                if let Some(handle) = creator.take_if(|c| c.is_finished()) {
                    handle.await??;
                }
                if last_progress.elapsed() >= Duration::from_secs(30) {
                    last_progress = Instant::now();
                    eprintln!("{:.0}s: {} created, {}", started.elapsed().as_secs_f64(), timeline.created.len(), timeline.waiting(count));
                }
            }
        }
    }
    if let Some(reconciles) = reconciles {
        reconciles.finish().await?;
    }
    let after = target.usage()?;
    let at_server = at_server_before.zip(creates_at_server(client).await);
    let rss = sampler.as_ref().and_then(|s| RssSamples::of(&s.samples()));
    Ok(report::Sustained {
        rate: pace.rate,
        duration: pace.duration,
        builds: count,
        to_pod: Latencies::of(timeline.latencies(&timeline.pod)),
        to_status: Latencies::of(timeline.latencies(&timeline.status)),
        build_create: Latencies::of(create_latencies),
        rss,
        cpu: cost(before, after).map(|c| c.cpu),
        at_server: at_server.map(|(before, after)| after.since(before)),
        writes_floor: None,
    })
}

/// The API server's timing of Build and pod creates so far; `None`, with a warning, where its
/// `/metrics` cannot be read.
async fn creates_at_server(client: &Client) -> Option<apiserver::Creates> {
    apiserver::creates(client)
        .await
        .inspect_err(|error| {
            eprintln!("the API server's create timings are not measured: {error:#}")
        })
        .ok()
}

/// Creates `count` Builds at `rate` a second, each create in a task of its own so a slow
/// answer does not hold the next one back; sends each Build as created, when its create was
/// sent and when it was answered.
fn create_at_rate(
    builds: Api<Build>,
    rate: f64,
    count: usize,
    created_tx: tokio::sync::mpsc::UnboundedSender<(Build, Instant, Instant)>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let mut creates = tokio::task::JoinSet::new();
        for i in 0..count {
            tick.tick().await;
            let builds = builds.clone();
            let created_tx = created_tx.clone();
            creates.spawn(async move {
                let sent = Instant::now();
                let build = builds
                    .create(&PostParams::default(), &bench_build(i))
                    .await?;
                let _ = created_tx.send((build, sent, Instant::now()));
                anyhow::Ok(())
            });
        }
        while let Some(done) = creates.join_next().await {
            done??;
        }
        anyhow::Ok(())
    })
}

/// The hold mode's inputs (also the first half of `--restart-at`).
struct Held<'a> {
    client: &'a Client,
    args: &'a BenchArgs,
    namespace: &'a str,
}

impl Held<'_> {
    /// Creates `count` Builds, runs them to success, measures the controller holding them,
    /// sits `idle`, and measures again.
    async fn hold(
        &self,
        target: &mut Target,
        events: &mut Events,
        count: usize,
        idle: Duration,
    ) -> anyhow::Result<report::Hold> {
        let (client, args, namespace) = (self.client, self.args, self.namespace);
        let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
        let kubelet = Kubelet {
            pods: Api::namespaced(client.clone(), namespace),
        };
        let before = target.usage()?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.timeout_seconds);
        let mut timeline = Timeline::default();
        let mut to_finish: Vec<Pod> = Vec::new();
        let mut finishing = tokio::task::JoinSet::new();
        let mut creating = std::pin::pin!(create_builds(&builds, 0..count));
        let mut created = false;
        while !created || timeline.done.len() < count {
            tokio::select! {
                result = &mut creating, if !created => {
                    timeline.created = result?.into_iter().collect();
                    created = true;
                    eprintln!("created {count} Builds in {:.1}s", started.elapsed().as_secs_f64());
                }
                seen = events.next(target, deadline, || timeline.waiting(count)) => {
                    if let Some(pod) = timeline.record(seen?) {
                        to_finish.push(*pod);
                        if to_finish.len() >= KUBELET_BATCH || timeline.pod.len() == count {
                            let kubelet = kubelet.clone();
                            let batch = std::mem::take(&mut to_finish);
                            finishing.spawn(async move { kubelet.finish(batch).await });
                        }
                    }
                }
                Some(done) = finishing.join_next() => {
                    done??;
                }
            }
        }
        while let Some(done) = finishing.join_next().await {
            done??;
        }
        let to_all_finished = started.elapsed();
        eprintln!(
            "{count} Builds finished in {:.1}s; idle for {:?}",
            to_all_finished.as_secs_f64(),
            idle
        );
        // Let the last status writes and events settle before measuring.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let holding = target.usage()?;
        let idle_until = Instant::now() + idle;
        while Instant::now() < idle_until {
            target.check_alive()?;
            tokio::time::sleep(Duration::from_millis(500).min(idle_until - Instant::now())).await;
        }
        let after_idle = target.usage()?;
        Ok(report::Hold {
            builds: count,
            to_all_finished,
            holding: cost(before, holding),
            idle,
            after_idle: cost(holding, after_idle),
        })
    }
}

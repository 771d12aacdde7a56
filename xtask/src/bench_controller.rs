//! `cargo xtask bench-controller`: how fast the controller turns Builds into Pods and statuses
//! on a real API server, against a baseline of the same server accepting plain pod creates.
//!
//! Against whatever `KUBECONFIG` names (an envtest control plane is enough: no kubelet is
//! needed, the pods stay Pending), it:
//! 1. applies the generated CRDs and waits until they are established;
//! 2. measures the baseline: N pod creates sent 8 at a time, then deletes those pods;
//! 3. starts the release `build-controller` binary on a fresh namespace (or, with `--attach`,
//!    uses a controller that is already running);
//! 4. creates N Builds at once, half with steps and half from a BuildTemplate, and watches until
//!    every Build has its pod and a status naming it;
//! 5. reports time to all pods, time to all statuses, p50/p99 Build-to-Pod latency, the
//!    baseline, and the controller's CPU time and resident memory (from `/proc`), each against
//!    the targets of the design: pods within 2x and statuses within 4x the baseline, at most
//!    1 ms of controller CPU per Build, at most 20 MiB resident.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use build_types::{Build, BuildSpec, BuildTemplate, BuildTemplateSpec, ParameterSpec};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

/// The options of `cargo xtask bench-controller`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// How many Builds (and baseline pods) to create.
    #[arg(long, default_value_t = 500)]
    builds: usize,
    /// Use a controller that is already running instead of starting target/release/build-controller.
    #[arg(long)]
    attach: bool,
    /// Keep the benchmark namespace afterwards.
    #[arg(long)]
    keep: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
}

const BASELINE_IN_FLIGHT: usize = 8;
const BUILDS_IN_FLIGHT: usize = 64;
const FIELD_MANAGER: &str = "xtask-bench-controller";

/// Runs the benchmark and prints its report.
pub(crate) fn run(root: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    if args.builds == 0 {
        bail!("--builds must be at least 1");
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
            .as_secs()
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(namespace.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("creating namespace {namespace}"))?;
    eprintln!("namespace {namespace}");

    let result = measure(root, args, &client, &namespace).await;
    if !args.keep {
        let _ = namespaces
            .delete(&namespace, &DeleteParams::default())
            .await;
    }
    let report = result?;
    println!("{report}");
    Ok(())
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
        wait_established(&api, &crd.name_any()).await?;
    }
    Ok(())
}

/// Waits (at most 30 s) until the CRD is established.
pub(crate) async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    name: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current = api.get(name).await?;
        let established = current
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("CRD {name} not established after 30s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

struct Report {
    builds: usize,
    baseline: Duration,
    to_all_pods: Duration,
    to_all_statuses: Duration,
    latencies: Vec<Duration>,
    controller: Option<Usage>,
}

struct Usage {
    cpu: Duration,
    rss_kib: u64,
}

fn start_controller(root: &Path, namespace: &str) -> anyhow::Result<Child> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "build-controller"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("building the release controller failed");
    }
    Command::new(root.join("target/release/build-controller"))
        .args(["run", "--namespace", namespace])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting target/release/build-controller")
}

/// The CPU time and resident memory of a running process, from `/proc`.
fn usage(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()?
        + fields.get(12).context("stime")?.parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmRSS")?
        .parse()?;
    // USER_HZ is 100 on every Linux this runs on.
    Ok(Usage {
        cpu: Duration::from_millis(ticks * 10),
        rss_kib,
    })
}

async fn measure(
    root: &Path,
    args: &BenchArgs,
    client: &Client,
    namespace: &str,
) -> anyhow::Result<Report> {
    let baseline = baseline(client, namespace, args.builds).await?;
    eprintln!("baseline: {} pod creates in {baseline:?}", args.builds);

    let templates: Api<BuildTemplate> = Api::namespaced(client.clone(), namespace);
    templates
        .create(&PostParams::default(), &bench_template())
        .await?;
    let mut controller = if args.attach {
        None
    } else {
        Some(start_controller(root, namespace)?)
    };
    // Let the controller's caches sync before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
    let pod_events = watcher(
        pods,
        watcher::Config::default().labels("build.knative.dev/buildName"),
    )
    .applied_objects()
    .map_ok(|pod| {
        let build = pod
            .labels()
            .get("build.knative.dev/buildName")
            .cloned()
            .unwrap_or_default();
        Seen::Pod(build)
    });
    let build_events = watcher(builds.clone(), watcher::Config::default())
        .applied_objects()
        .map_ok(|build: Build| {
            let has_status = build
                .status
                .as_ref()
                .is_some_and(|s| s.cluster.is_some() && s.succeeded().is_some());
            if has_status {
                Seen::Status(build.name_any())
            } else {
                Seen::Other
            }
        });
    let mut events = stream::select(pod_events.boxed(), build_events.boxed());

    let started = Instant::now();
    let created: BTreeMap<String, Instant> = stream::iter(0..args.builds)
        .map(|i| {
            let builds = builds.clone();
            async move {
                let build = builds
                    .create(&PostParams::default(), &bench_build(i))
                    .await?;
                anyhow::Ok((build.name_any(), Instant::now()))
            }
        })
        .buffer_unordered(BUILDS_IN_FLIGHT)
        .try_collect()
        .await?;
    eprintln!(
        "created {} Builds in {:?}",
        created.len(),
        started.elapsed()
    );

    let mut pod_seen: BTreeMap<String, Instant> = BTreeMap::new();
    let mut status_seen: BTreeMap<String, Instant> = BTreeMap::new();
    let deadline = started + Duration::from_secs(args.timeout_seconds);
    while pod_seen.len() < args.builds || status_seen.len() < args.builds {
        let next = tokio::time::timeout_at(deadline.into(), events.next()).await;
        match next {
            Err(_) => bail!(
                "timed out: {} of {} pods, {} of {} statuses",
                pod_seen.len(),
                args.builds,
                status_seen.len(),
                args.builds
            ),
            Ok(None) => bail!("watch ended"),
            Ok(Some(Err(error))) => eprintln!("watch error (retrying): {error}"),
            Ok(Some(Ok(Seen::Pod(build)))) => {
                pod_seen.entry(build).or_insert_with(Instant::now);
            }
            Ok(Some(Ok(Seen::Status(build)))) => {
                status_seen.entry(build).or_insert_with(Instant::now);
            }
            Ok(Some(Ok(Seen::Other))) => {}
        }
    }
    let to_all_pods = pod_seen
        .values()
        .max()
        .map_or(Duration::ZERO, |t| *t - started);
    let to_all_statuses = status_seen
        .values()
        .max()
        .map_or(Duration::ZERO, |t| *t - started);
    let mut latencies: Vec<Duration> = pod_seen
        .iter()
        .filter_map(|(build, seen)| Some(seen.saturating_duration_since(*created.get(build)?)))
        .collect();
    latencies.sort();

    let controller_usage = match &mut controller {
        Some(child) => {
            let measured = usage(child.id());
            let _ = child.kill();
            let _ = child.wait();
            Some(measured?)
        }
        None => None,
    };
    Ok(Report {
        builds: args.builds,
        baseline,
        to_all_pods,
        to_all_statuses,
        latencies,
        controller: controller_usage,
    })
}

enum Seen {
    Pod(String),
    Status(String),
    Other,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ratio = |d: Duration| d.as_secs_f64() / self.baseline.as_secs_f64().max(1e-9);
        let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
        writeln!(f, "builds                    {}", self.builds)?;
        writeln!(
            f,
            "baseline pod creates      {:.2}s ({BASELINE_IN_FLIGHT} in flight)",
            self.baseline.as_secs_f64()
        )?;
        writeln!(
            f,
            "time to all pods          {:.2}s = {:.2}x baseline (target <= 2x: {})",
            self.to_all_pods.as_secs_f64(),
            ratio(self.to_all_pods),
            verdict(ratio(self.to_all_pods) <= 2.0)
        )?;
        writeln!(
            f,
            "time to all statuses      {:.2}s = {:.2}x baseline (target <= 4x: {})",
            self.to_all_statuses.as_secs_f64(),
            ratio(self.to_all_statuses),
            verdict(ratio(self.to_all_statuses) <= 4.0)
        )?;
        writeln!(
            f,
            "Build-to-Pod latency      p50 {:.0} ms, p99 {:.0} ms",
            percentile(&self.latencies, 50.0).as_secs_f64() * 1e3,
            percentile(&self.latencies, 99.0).as_secs_f64() * 1e3
        )?;
        match &self.controller {
            Some(usage) => {
                let per_build = usage.cpu.as_secs_f64() * 1e3 / self.builds as f64;
                writeln!(
                    f,
                    "controller CPU            {:.2}s = {per_build:.3} ms/Build (target <= 1 ms: {})",
                    usage.cpu.as_secs_f64(),
                    verdict(per_build <= 1.0)
                )?;
                write!(
                    f,
                    "controller RSS            {:.1} MiB (target <= 20 MiB: {})",
                    usage.rss_kib as f64 / 1024.0,
                    verdict(usage.rss_kib <= 20 * 1024)
                )
            }
            None => write!(f, "controller CPU/RSS        not measured (--attach)"),
        }
    }
}

//! The fault scenarios: the Build mix ([`super::mix`]) run to the end while the controller
//! is killed, the API server restarted, or the leader killed; then the end-state checks
//! ([`super::checker`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use build_types::{Build, BuildTemplate};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::checker::{Expected, History, Observation, check_end};
use super::leader::{LeaseSeen, check_handovers, check_logs, leader_log};
use super::mix::{self, Kind};
use super::{Env, Outcome, say};
use crate::harness::inputs::Rng;
use crate::harness::kubelet::{self, Outcome as PodOutcome};
use crate::harness::process::{Launch, Target};

/// The fault a scenario injects.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    /// The controller is killed with SIGKILL this many times, at random moments, and
    /// restarted each time.
    Kills(usize),
    /// kube-apiserver is stopped and started again this many times (etcd keeps running); the
    /// controller is left alone.
    ApiServerRestarts(usize),
    /// Two replicas with `--leader-election`; the leader is killed once.
    Failover,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kills(_) => "kill",
            Fault::ApiServerRestarts(_) => "apiserver",
            Fault::Failover => "failover",
        }
    }
}

/// The documented bound on a failover (README, "Leader election"): the Lease's 15 s plus up to
/// two 2 s renew periods.
pub(crate) const FAILOVER_BOUND: Duration = Duration::from_secs(19);

const BUILD_NAME_LABEL: &str = "build.knative.dev/buildName";
/// How long the late template and Secret wait before they appear.
const LATE_AFTER: Duration = Duration::from_secs(8);
/// How long after the fault the Builds have to finish.
const FINISH_WITHIN: Duration = Duration::from_secs(240);

/// One controller process of a scenario.
struct Replica {
    name: String,
    incarnation: usize,
    target: Target,
    logs: Vec<std::path::PathBuf>,
}

/// How the replicas of a scenario run.
struct ReplicaSettings<'a> {
    scenario: &'static str,
    namespace: &'a str,
    /// The Lease name, with `--leader-election`.
    lease: Option<&'a str>,
}

impl Replica {
    /// Starts replica `name` (its first incarnation).
    fn start(env: &Env, settings: &ReplicaSettings<'_>, name: &str) -> anyhow::Result<Replica> {
        let mut replica = Replica {
            name: name.to_owned(),
            incarnation: 0,
            target: Target::Unmeasured,
            logs: Vec::new(),
        };
        replica.spawn(env, settings)?;
        Ok(replica)
    }

    /// Starts the next incarnation; text and JSON logs alternate.
    fn spawn(&mut self, env: &Env, settings: &ReplicaSettings<'_>) -> anyhow::Result<()> {
        self.incarnation += 1;
        let format = if (self.incarnation + usize::from(self.name.ends_with('b'))).is_multiple_of(2)
        {
            "json"
        } else {
            "text"
        };
        let mut args = vec![
            format!("--log-format={format}"),
            // no real node: nothing ever waits for an image
            "--image-pull-grace=10m".to_owned(),
        ];
        if let Some(lease) = settings.lease {
            args.extend([
                "--leader-election".to_owned(),
                "--leader-election-namespace=knative-build".to_owned(),
                format!("--leader-election-lease={lease}"),
                format!("--instance={}", self.name),
            ]);
        }
        let log = env.log_path(&format!(
            "{}-{}-{}",
            settings.scenario, self.name, self.incarnation
        ));
        let level = std::env::var("CHAOS_CONTROLLER_LOG").unwrap_or_else(|_| "info".to_owned());
        self.target = Target::start(&Launch {
            binary: &env.controller,
            namespace: settings.namespace,
            log: log.clone(),
            extra_args: &args,
            kubeconfig: Some(&env.controller_kubeconfig),
            rust_log: Some(&level),
        })?;
        self.logs.push(log);
        Ok(())
    }

    /// SIGKILL, then reaped.
    fn kill(&mut self) {
        self.target.stop();
    }
}

/// What the stand-in kubelet did, and what failed.
#[derive(Default)]
struct KubeletStats {
    running: AtomicUsize,
    ended: AtomicUsize,
    stopped: AtomicUsize,
    cancelled: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

/// What the stand-in kubelet has done to one pod.
#[derive(Default)]
struct PodStage {
    running: bool,
    ended: bool,
}

/// Retries a request (up to 2 minutes, backing off to 2 s) through API server outages.
async fn retry<T, F, Fut>(what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut delay = Duration::from_millis(200);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() < deadline && !is_status(&error, 422) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                let _ = error;
            }
            Err(error) => return Err(anyhow::anyhow!("{what}: {error}")),
        }
    }
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

/// Sends one of the kubelet's status patches.
async fn patch_pod(pods: &Api<Pod>, pod: &Pod, outcome: PodOutcome) -> anyhow::Result<()> {
    let name = pod.name_any();
    let patch = Patch::Merge(kubelet::patch(pod, &Timestamp::now().to_string(), outcome));
    let params = PatchParams::default();
    retry(&format!("patching pod {name} to {outcome:?}"), || {
        pods.patch_status(&name, &params, &patch)
    })
    .await
    .map(|_| ())
}

/// Moves one pod along, serialized per pod by its stage's lock.
async fn advance(
    pods: Api<Pod>,
    builds: Api<Build>,
    pod: Pod,
    kind: Kind,
    stage: Arc<tokio::sync::Mutex<PodStage>>,
    stats: Arc<KubeletStats>,
) -> anyhow::Result<()> {
    let mut stage = stage.lock().await;
    if stage.ended {
        return Ok(());
    }
    let stopped = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d <= 1);
    if stopped {
        // the kubelet notices the deadline, kills the running step and fails the pod
        tokio::time::sleep(Duration::from_millis(300)).await;
        patch_pod(&pods, &pod, PodOutcome::DeadlineExceeded).await?;
        stage.ended = true;
        stats.stopped.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    if stage.running {
        return Ok(());
    }
    patch_pod(&pods, &pod, PodOutcome::Running).await?;
    stage.running = true;
    stats.running.fetch_add(1, Ordering::Relaxed);
    let build = pod
        .labels()
        .get(BUILD_NAME_LABEL)
        .cloned()
        .unwrap_or_default();
    if kind == Kind::Cancelled {
        let patch = Patch::Merge(json!({"spec": {"status": "BuildCancelled"}}));
        let params = PatchParams::default();
        retry(&format!("cancelling {build}"), || {
            builds.patch(&build, &params, &patch)
        })
        .await?;
        stats.cancelled.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(end) = kind.pod_ends() {
        let spread = build.bytes().map(u64::from).sum::<u64>() % 1500;
        tokio::time::sleep(Duration::from_millis(500 + spread)).await;
        patch_pod(&pods, &pod, end).await?;
        stage.ended = true;
        stats.ended.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Plays the kubelet for the namespace's build pods until aborted.
async fn play_kubelet(
    client: Client,
    namespace: String,
    planned: Arc<HashSet<String>>,
    stats: Arc<KubeletStats>,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let builds: Api<Build> = Api::namespaced(client, &namespace);
    let mut stream = watcher(
        pods.clone(),
        watcher::Config::default().labels(BUILD_NAME_LABEL),
    )
    .default_backoff()
    .applied_objects()
    .boxed();
    let mut stages: HashMap<String, Arc<tokio::sync::Mutex<PodStage>>> = HashMap::new();
    while let Some(item) = stream.next().await {
        let Ok(pod) = item else { continue };
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or_default();
        if matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        let Some(kind) = pod
            .labels()
            .get(BUILD_NAME_LABEL)
            .filter(|b| planned.contains(b.as_str()))
            .and_then(|b| Kind::of(b))
        else {
            continue;
        };
        let stage = stages.entry(pod.name_any()).or_default().clone();
        let (pods, builds, stats) = (pods.clone(), builds.clone(), stats.clone());
        tokio::spawn(async move {
            if let Err(error) = advance(pods, builds, pod, kind, stage, stats.clone()).await {
                stats
                    .errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{error:#}"));
            }
        });
    }
}

/// Records every Build update into `history` and, as JSON lines, into `recording`.
async fn watch_builds(api: Api<Build>, history: Arc<Mutex<History>>, recording: std::fs::File) {
    use std::io::Write as _;
    let mut recording = std::io::BufWriter::new(recording);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(item) = stream.next().await {
        let Ok(build) = item else { continue };
        let observation = Observation::of(&build);
        if let Ok(line) = serde_json::to_string(&observation) {
            let _ = writeln!(recording, "{line}");
            let _ = recording.flush();
        }
        history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(&observation);
    }
}

/// Polls the Lease every 100 ms, recording each distinct state.
async fn watch_lease(api: Api<Lease>, name: String, seen: Arc<Mutex<Vec<LeaseSeen>>>) {
    loop {
        if let Ok(Some(lease)) = api.get_opt(&name).await {
            let now = LeaseSeen::of(&lease);
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates the namespace and the objects the mix needs from the start.
async fn prepare(env: &Env, namespace: &str) -> anyhow::Result<()> {
    let client = &env.admin;
    throwaway_cluster::create_namespace(client, namespace).await?;
    let post = PostParams::default();
    Api::<BuildTemplate>::namespaced(client.clone(), namespace)
        .create(&post, &mix::template(mix::TEMPLATE)?)
        .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    secrets
        .create(&post, &mix::secret(mix::SECRET, &env.sentinel)?)
        .await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    accounts
        .create(&post, &mix::account(mix::ACCOUNT, mix::SECRET)?)
        .await?;
    accounts
        .create(&post, &mix::account(mix::LATE_ACCOUNT, mix::LATE_SECRET)?)
        .await?;
    Ok(())
}

/// Creates the mix's Builds, one per `interval`, and the late template and Secret after
/// [`LATE_AFTER`]. AlreadyExists counts as created (a create the API server committed before
/// it went down, retried).
async fn create_mix(
    env: &Env,
    namespace: &str,
    plan: &[(String, Kind)],
    interval: Duration,
) -> anyhow::Result<()> {
    let builds: Api<Build> = Api::namespaced(env.admin.clone(), namespace);
    let late = async {
        tokio::time::sleep(LATE_AFTER).await;
        let templates: Api<BuildTemplate> = Api::namespaced(env.admin.clone(), namespace);
        let template = mix::template(mix::LATE_TEMPLATE)?;
        create_once(&templates, &template).await?;
        let secrets: Api<Secret> = Api::namespaced(env.admin.clone(), namespace);
        let secret = mix::secret(mix::LATE_SECRET, &env.sentinel)?;
        create_once(&secrets, &secret).await?;
        say(format!(
            "[{namespace}] created the late BuildTemplate and Secret"
        ));
        anyhow::Ok(())
    };
    let all = async {
        let mut tick = tokio::time::interval(interval);
        for (name, kind) in plan {
            tick.tick().await;
            create_once(&builds, &mix::build(name, *kind)?).await?;
        }
        anyhow::Ok(())
    };
    let (late, all) = tokio::join!(late, all);
    late.and(all)
}

/// Creates `object`, retrying through outages; AlreadyExists is success.
async fn create_once<K>(api: &Api<K>, object: &K) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    retry(&format!("creating {name}"), || async {
        match api.create(&PostParams::default(), object).await {
            Err(error) if is_status(&error, 409) => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
}

/// Runs the mix under `fault`.
pub(crate) async fn run(env: &Env, fault: Fault, count: usize) -> anyhow::Result<Outcome> {
    let scenario = fault.name();
    let namespace = format!("chaos-{scenario}");
    prepare(env, &namespace).await?;
    let mut rng = Rng::new(env.seed ^ scenario.bytes().map(u64::from).sum::<u64>());
    let plan = mix::plan(count, &mut rng);
    let planned: Arc<HashSet<String>> = Arc::new(plan.iter().map(|(n, _)| n.clone()).collect());

    let history = Arc::new(Mutex::new(History::default()));
    let recording = env.dir.join(format!("builds-{scenario}.jsonl"));
    let watching = tokio::spawn(watch_builds(
        Api::namespaced(env.admin.clone(), &namespace),
        history.clone(),
        std::fs::File::create(&recording)?,
    ));
    let stats = Arc::new(KubeletStats::default());
    let kubelet = tokio::spawn(play_kubelet(
        env.admin.clone(),
        namespace.clone(),
        planned,
        stats.clone(),
    ));
    let lease_name = format!("chaos-{scenario}");
    let settings = ReplicaSettings {
        scenario,
        namespace: &namespace,
        lease: matches!(fault, Fault::Failover).then_some(lease_name.as_str()),
    };
    let mut replicas = vec![Replica::start(env, &settings, "a")?];
    if matches!(fault, Fault::Failover) {
        replicas.push(Replica::start(env, &settings, "b")?);
    }
    for replica in &mut replicas {
        replica.target.wait_ready(Duration::from_secs(60)).await?;
    }
    let first_pid = replicas[0].target.pid();
    let leases: Api<Lease> = Api::namespaced(env.admin.clone(), "knative-build");
    let lease_seen = Arc::new(Mutex::new(Vec::new()));
    let lease_watch = matches!(fault, Fault::Failover).then(|| {
        tokio::spawn(watch_lease(
            leases.clone(),
            lease_name.clone(),
            lease_seen.clone(),
        ))
    });
    // The kills come over about a minute: the Builds come over about as long, so that kills
    // land on every stage of a Build's life.
    let interval = match fault {
        Fault::Kills(_) => Duration::from_millis(300),
        Fault::ApiServerRestarts(_) | Fault::Failover => Duration::from_millis(100),
    };
    let started = Instant::now();
    say(format!(
        "[{scenario}] {count} Builds ({}), one every {}ms; the late template and Secret after {}s",
        Kind::ALL
            .iter()
            .map(|k| format!(
                "{} {}",
                plan.iter().filter(|(_, p)| p == k).count(),
                k.label()
            ))
            .collect::<Vec<_>>()
            .join(", "),
        interval.as_millis(),
        LATE_AFTER.as_secs()
    ));

    let mut problems = Vec::new();
    let mut facts = Vec::new();
    let creating = create_mix(env, &namespace, &plan, interval);
    let injecting = inject(
        env,
        fault,
        &mut replicas,
        &settings,
        &mut rng,
        &leases,
        &lease_name,
        &history,
    );
    let (created, injected) = tokio::join!(creating, injecting);
    created?;
    let injected = injected?;
    facts.push(injected.fact);
    problems.extend(injected.problems);
    let killed = injected.killed;
    say(format!(
        "[{scenario}] {:.0}s: all created, fault done; waiting for every Build to finish",
        started.elapsed().as_secs_f64()
    ));

    // every Build final, or the time is up
    let deadline = Instant::now() + FINISH_WITHIN;
    let mut last_say = Instant::now();
    loop {
        let finished = history.lock().unwrap_or_else(|e| e.into_inner()).finished();
        if finished >= count || Instant::now() > deadline {
            break;
        }
        if last_say.elapsed() > Duration::from_secs(15) {
            last_say = Instant::now();
            say(format!("[{scenario}] {finished} of {count} finished"));
        }
        for replica in &mut replicas {
            if killed.as_ref().map(|(name, _)| name) != Some(&replica.name)
                && let Err(error) = replica.target.check_alive()
            {
                problems.push(format!("replica {}: {error:#}", replica.name));
                replica.target = Target::Unmeasured;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let to_finish = started.elapsed();
    // settle: the last step states, and anything that would wrongly change
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let Fault::ApiServerRestarts(_) = fault {
        let pid = replicas[0].target.pid();
        if pid != first_pid || pid.is_none() {
            problems.push(format!(
                "the controller did not survive the API server restarts (pid {first_pid:?} → {pid:?})"
            ));
        } else {
            facts.push(format!(
                "the controller (pid {}) ran throughout, never restarted",
                first_pid.unwrap_or_default()
            ));
        }
    }

    let builds: Vec<Build> = Api::<Build>::namespaced(env.admin.clone(), &namespace)
        .list(&ListParams::default())
        .await?
        .items;
    let pods: Vec<Pod> = Api::<Pod>::namespaced(env.admin.clone(), &namespace)
        .list(&ListParams::default())
        .await?
        .items;
    let expected: BTreeMap<String, Expected> = plan
        .iter()
        .map(|(name, kind)| {
            let (status, reason) = kind.expected();
            (
                name.clone(),
                Expected {
                    status,
                    reason,
                    pods: kind.pods(),
                },
            )
        })
        .collect();
    let report = check_end(&expected, &builds, &pods);
    watching.abort();
    kubelet.abort();
    if let Some(task) = lease_watch {
        task.abort();
    }
    let (updates, live_violations) = {
        let history = history.lock().unwrap_or_else(|e| e.into_inner());
        (history.updates, history.violations.len())
    };
    // the checker again, on the recorded stream: what the report says is what the file shows
    let replayed = History::replay(&std::fs::read_to_string(&recording)?)?;
    if replayed.updates != updates || replayed.violations.len() != live_violations {
        problems.push(format!(
            "the recording {} disagrees with the live check: {} updates and {} violations, live {updates} and {live_violations}",
            recording.display(),
            replayed.updates,
            replayed.violations.len()
        ));
    }
    let violations = replayed.violations;
    problems.extend(report.problems.iter().cloned());
    problems.extend(violations.iter().cloned());
    let kubelet_errors = stats
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    problems.extend(kubelet_errors.iter().map(|e| format!("kubelet: {e}")));

    if let Fault::Failover = fault {
        let seen = lease_seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (handovers, lease_problems) = check_handovers(&seen);
        problems.extend(lease_problems);
        let mut logs = Vec::new();
        for replica in &replicas {
            let mut text = String::new();
            for path in &replica.logs {
                text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
            }
            let ended = killed
                .as_ref()
                .filter(|(name, _)| *name == replica.name)
                .map(|(_, at)| *at);
            logs.push((replica.name.clone(), leader_log(&text), ended));
        }
        problems.extend(check_logs(&logs));
        let actions: Vec<String> = logs
            .iter()
            .map(|(name, log, _)| format!("{name}: {} pod creates/stops", log.actions))
            .collect();
        facts.push(format!(
            "Lease states seen {}, handovers: {}; from the logs: {}",
            seen.len(),
            if handovers.is_empty() {
                "none".to_owned()
            } else {
                handovers.join("; ")
            },
            actions.join(", ")
        ));
    }
    for replica in &mut replicas {
        replica.kill();
    }
    let reasons: Vec<String> = report
        .reasons
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let summary = format!(
        "{} Builds, {} as expected ({}); {} pods ({} Builds timed out before their pod could be created); {updates} Build updates watched, {} changes of a final verdict; all finished {:.0}s after the first create; kubelet: {} running, {} ended, {} stopped, {} cancels; {}",
        report.builds,
        report.as_expected,
        reasons.join(", "),
        report.pods,
        report.timed_out_without_pod,
        violations.len(),
        to_finish.as_secs_f64(),
        stats.running.load(Ordering::Relaxed),
        stats.ended.load(Ordering::Relaxed),
        stats.stopped.load(Ordering::Relaxed),
        stats.cancelled.load(Ordering::Relaxed),
        facts.join("; ")
    );
    Ok(Outcome {
        name: scenario,
        summary,
        problems,
        took: Duration::ZERO,
    })
}

/// What injecting a fault did.
struct Injected {
    /// What was done, with counts.
    fact: String,
    /// The replica killed for good (a failover) and when.
    killed: Option<(String, Timestamp)>,
    /// What went wrong meanwhile.
    problems: Vec<String>,
}

/// Injects the fault while the Builds are being created; returns what was done and, for a
/// failover, the killed replica's name.
#[allow(clippy::too_many_arguments)]
async fn inject(
    env: &Env,
    fault: Fault,
    replicas: &mut [Replica],
    settings: &ReplicaSettings<'_>,
    rng: &mut Rng,
    leases: &Api<Lease>,
    lease_name: &str,
    history: &Arc<Mutex<History>>,
) -> anyhow::Result<Injected> {
    let scenario = settings.scenario;
    let finished = || history.lock().unwrap_or_else(|e| e.into_inner()).finished();
    match fault {
        Fault::Kills(kills) => {
            let started = Instant::now();
            let mut before_ready = 0;
            let mut problems = Vec::new();
            for k in 1..=kills {
                let wait = Duration::from_millis(rng.below(2500) as u64);
                tokio::time::sleep(wait).await;
                let replica = &mut replicas[0];
                if let Err(error) = replica.target.check_alive() {
                    problems.push(format!("the controller died on its own: {error:#}"));
                }
                let ready = replica.target.wait_ready(Duration::ZERO).await.is_ok();
                if !ready {
                    before_ready += 1;
                }
                replica.kill();
                replica.spawn(env, settings)?;
                if k % 10 == 0 || k == kills {
                    say(format!(
                        "[{scenario}] {:.0}s: kill -9 {k}/{kills} ({before_ready} before the controller was ready); {} Builds finished",
                        started.elapsed().as_secs_f64(),
                        finished()
                    ));
                }
            }
            replicas[0]
                .target
                .wait_ready(Duration::from_secs(60))
                .await?;
            Ok(Injected {
                fact: format!(
                    "{kills} SIGKILLs over {:.0}s ({before_ready} of them before the controller was ready), {} processes",
                    started.elapsed().as_secs_f64(),
                    replicas[0].incarnation
                ),
                killed: None,
                problems,
            })
        }
        Fault::ApiServerRestarts(restarts) => {
            let mut facts = Vec::new();
            for r in 1..=restarts {
                tokio::time::sleep(Duration::from_secs(if r == 1 { 6 } else { 10 })).await;
                let signal = if r % 2 == 1 { "KILL" } else { "TERM" };
                let t0 = Instant::now();
                let stopped_at = Timestamp::now();
                let argv =
                    tokio::task::block_in_place(|| env.control_plane.stop_apiserver(signal))?;
                say(format!(
                    "[{scenario}] kube-apiserver stopped (SIG{signal}), {} Builds finished; down for 5s",
                    finished()
                ));
                tokio::time::sleep(Duration::from_secs(5)).await;
                let ready = env.control_plane.start_apiserver(&argv).await?;
                env.starting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((stopped_at, Timestamp::now()));
                let down = t0.elapsed();
                say(format!(
                    "[{scenario}] kube-apiserver restart {r}/{restarts}: ready again after {:.1}s down ({:.1}s to start)",
                    down.as_secs_f64(),
                    ready.as_secs_f64()
                ));
                facts.push(format!("{:.1}s (SIG{signal})", down.as_secs_f64()));
            }
            Ok(Injected {
                fact: format!(
                    "kube-apiserver restarted {restarts} times, down {}",
                    facts.join(" and ")
                ),
                killed: None,
                problems: Vec::new(),
            })
        }
        Fault::Failover => {
            let holder = loop {
                if let Some(holder) = leases
                    .get_opt(lease_name)
                    .await?
                    .and_then(|l| l.spec?.holder_identity)
                {
                    break holder;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            tokio::time::sleep(Duration::from_secs(10)).await;
            let holder = leases
                .get(lease_name)
                .await?
                .spec
                .and_then(|s| s.holder_identity)
                .unwrap_or(holder);
            let index = replicas
                .iter()
                .position(|r| r.name == holder)
                .with_context(|| format!("the Lease holder {holder} is none of ours"))?;
            let killed_at = Timestamp::now();
            let t0 = Instant::now();
            replicas[index].kill();
            say(format!(
                "[{scenario}] killed the leader {holder} (SIGKILL) at {killed_at}; {} Builds finished",
                finished()
            ));
            let other = replicas[1 - index].name.clone();
            let taken = loop {
                let lease = leases.get(lease_name).await?;
                let seen = LeaseSeen::of(&lease);
                if seen.holder.as_deref() == Some(other.as_str())
                    && seen.acquired.is_some_and(|a| a >= killed_at)
                {
                    break seen.acquired;
                }
                if t0.elapsed() > Duration::from_secs(60) {
                    anyhow::bail!("{other} did not take the Lease over within 60s of the kill");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let failover = taken
                .map(|t| t.duration_since(killed_at).as_secs_f64())
                .unwrap_or(f64::NAN);
            say(format!(
                "[{scenario}] {other} took the Lease over {failover:.1}s after the kill (bound {}s); {} Builds finished",
                FAILOVER_BOUND.as_secs(),
                finished()
            ));
            let mut problems = Vec::new();
            // NaN (no acquire time) fails too
            if failover.is_nan() || failover > FAILOVER_BOUND.as_secs_f64() {
                problems.push(format!(
                    "failover took {failover:.1}s, over the documented {}s",
                    FAILOVER_BOUND.as_secs()
                ));
            }
            Ok(Injected {
                fact: format!(
                    "leader {holder} killed, {other} took over after {failover:.1}s (bound {}s)",
                    FAILOVER_BOUND.as_secs()
                ),
                killed: Some((holder, killed_at)),
                problems,
            })
        }
    }
}

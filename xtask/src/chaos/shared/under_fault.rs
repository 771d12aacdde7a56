//! The Build mix ([`super::mix`]) run to the end under a fault: what the `kill`, `apiserver`
//! and `failover` scenarios share. A scenario goes through the stages in order, adding its
//! own checks between them:
//!
//! 1. [`UnderFault::start`]: the namespace and the objects the mix needs, the Build and
//!    Lease watches, the stand-in kubelet, and the controller replicas, ready;
//! 2. [`UnderFault::create_while`]: the Builds created one per interval while the scenario
//!    injects its fault;
//! 3. [`UnderFault::wait_for_the_end`]: every Build final (or the time up), the replicas not
//!    killed on purpose checked alive, then a settle;
//! 4. [`UnderFault::check_the_end`]: the end state ([`super::checker::check_end`]) and the
//!    recorded stream of updates, replayed;
//! 5. [`UnderFault::outcome`]: the replicas stopped, the summary with the scenario's facts.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use build_types::{Build, BuildTemplate};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, PostParams};
use tokio::task::JoinHandle;

use super::api::create_once;
use super::checker::{EndReport, Expected, History, check_end};
use super::leader::LeaseSeen;
use super::mix::{self, Kind};
use super::replica::{Replica, ReplicaSettings};
use super::stand_in_kubelet::{KubeletStats, play_kubelet};
use super::watch::{watch_builds, watch_lease};
use crate::chaos::{Env, Outcome, say};
use crate::harness::inputs::Rng;
use crate::harness::process::Target;

/// How long the late template and Secret wait before they appear.
const LATE_AFTER: Duration = Duration::from_secs(8);
/// How long after the fault the Builds have to finish.
const FINISH_WITHIN: Duration = Duration::from_secs(240);

/// Which controller replicas a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replicas {
    /// One controller, `a`.
    One,
    /// `a` and `b` under `--leader-election` on the scenario's Lease, which the harness
    /// watches.
    Elected,
}

/// What a scenario's fault gets to work with while the Builds are being created.
pub(crate) struct Injecting<'a> {
    /// What every scenario shares.
    pub(crate) env: &'a Env,
    /// The scenario's name, for its output.
    pub(crate) scenario: &'static str,
    /// The controller replicas.
    pub(crate) replicas: &'a mut [Replica],
    /// How a replica is (re)started.
    pub(crate) settings: &'a ReplicaSettings,
    /// The scenario's random numbers (after the plan's).
    pub(crate) rng: &'a mut Rng,
    /// The Leases of the release's namespace.
    pub(crate) leases: &'a Api<Lease>,
    /// The scenario's Lease name.
    pub(crate) lease: &'a str,
    history: &'a Mutex<History>,
}

impl Injecting<'_> {
    /// How many Builds have finished so far.
    pub(crate) fn finished(&self) -> usize {
        finished(self.history)
    }
}

/// What injecting a fault did.
pub(crate) struct Injected {
    /// What was done, with counts.
    pub(crate) fact: String,
    /// The replica killed for good (a failover) and when.
    pub(crate) killed: Option<(String, Timestamp)>,
    /// What went wrong meanwhile.
    pub(crate) problems: Vec<String>,
}

/// What the end-state check found.
pub(crate) struct Ended {
    report: EndReport,
    updates: usize,
    violations: usize,
}

/// One run of the mix under a fault, from [`UnderFault::start`] to [`UnderFault::outcome`].
pub(crate) struct UnderFault<'e> {
    env: &'e Env,
    scenario: &'static str,
    plan: Vec<(String, Kind)>,
    rng: Rng,
    history: Arc<Mutex<History>>,
    recording: PathBuf,
    /// The Build watch, the stand-in kubelet and the Lease watch: aborted at the end.
    tasks: Vec<JoinHandle<()>>,
    stats: Arc<KubeletStats>,
    settings: ReplicaSettings,
    lease_name: String,
    leases: Api<Lease>,
    lease_seen: Arc<Mutex<Vec<LeaseSeen>>>,
    replicas: Vec<Replica>,
    first_pid: Option<u32>,
    killed: Option<(String, Timestamp)>,
    started: Instant,
    to_finish: Duration,
    problems: Vec<String>,
    facts: Vec<String>,
}

fn finished(history: &Mutex<History>) -> usize {
    history.lock().unwrap_or_else(|e| e.into_inner()).finished()
}

impl<'e> UnderFault<'e> {
    /// Prepares scenario `scenario`'s namespace and plan of `count` Builds, starts the
    /// watches, the stand-in kubelet and the replicas, and waits for the replicas to be ready.
    pub(crate) async fn start(
        env: &'e Env,
        scenario: &'static str,
        count: usize,
        replicas: Replicas,
    ) -> anyhow::Result<UnderFault<'e>> {
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
        let elected = replicas == Replicas::Elected;
        let settings = ReplicaSettings {
            scenario,
            namespace,
            lease: elected.then(|| lease_name.clone()),
        };
        let mut replicas = vec![Replica::start(env, &settings, "a")?];
        if elected {
            replicas.push(Replica::start(env, &settings, "b")?);
        }
        for replica in &mut replicas {
            replica.target.wait_ready(Duration::from_secs(60)).await?;
        }
        let first_pid = replicas[0].target.pid();
        let leases: Api<Lease> = Api::namespaced(env.admin.clone(), "knative-build");
        let lease_seen = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = vec![watching, kubelet];
        if elected {
            tasks.push(tokio::spawn(watch_lease(
                leases.clone(),
                lease_name.clone(),
                lease_seen.clone(),
            )));
        }
        Ok(UnderFault {
            env,
            scenario,
            plan,
            rng,
            history,
            recording,
            tasks,
            stats,
            settings,
            lease_name,
            leases,
            lease_seen,
            replicas,
            first_pid,
            killed: None,
            started: Instant::now(),
            to_finish: Duration::ZERO,
            problems: Vec::new(),
            facts: Vec::new(),
        })
    }

    /// Says what the mix is, then creates its Builds, one per `interval`, while `inject`
    /// injects the fault; keeps what the injection did.
    pub(crate) async fn create_while(
        &mut self,
        interval: Duration,
        inject: impl AsyncFnOnce(Injecting<'_>) -> anyhow::Result<Injected>,
    ) -> anyhow::Result<()> {
        let scenario = self.scenario;
        self.started = Instant::now();
        say(format!(
            "[{scenario}] {} Builds ({}), one every {}ms; the late template and Secret after {}s",
            self.plan.len(),
            Kind::ALL
                .iter()
                .map(|k| format!(
                    "{} {}",
                    self.plan.iter().filter(|(_, p)| p == k).count(),
                    k.label()
                ))
                .collect::<Vec<_>>()
                .join(", "),
            interval.as_millis(),
            LATE_AFTER.as_secs()
        ));
        let creating = create_mix(self.env, &self.settings.namespace, &self.plan, interval);
        let injecting = inject(Injecting {
            env: self.env,
            scenario,
            replicas: &mut self.replicas,
            settings: &self.settings,
            rng: &mut self.rng,
            leases: &self.leases,
            lease: &self.lease_name,
            history: &self.history,
        });
        let (created, injected) = tokio::join!(creating, injecting);
        created?;
        let injected = injected?;
        self.facts.push(injected.fact);
        self.problems.extend(injected.problems);
        self.killed = injected.killed;
        say(format!(
            "[{scenario}] {:.0}s: all created, fault done; waiting for every Build to finish",
            self.started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// Waits until every Build is final or the time is up, checking that the replicas not
    /// killed on purpose are alive; then lets the last updates settle.
    pub(crate) async fn wait_for_the_end(&mut self) {
        let count = self.plan.len();
        let deadline = Instant::now() + FINISH_WITHIN;
        let mut last_say = Instant::now();
        loop {
            let finished = finished(&self.history);
            if finished >= count || Instant::now() > deadline {
                break;
            }
            if last_say.elapsed() > Duration::from_secs(15) {
                last_say = Instant::now();
                say(format!(
                    "[{}] {finished} of {count} finished",
                    self.scenario
                ));
            }
            for replica in &mut self.replicas {
                if self.killed.as_ref().map(|(name, _)| name) != Some(&replica.name)
                    && let Err(error) = replica.target.check_alive()
                {
                    self.problems
                        .push(format!("replica {}: {error:#}", replica.name));
                    replica.target = Target::Unmeasured;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.to_finish = self.started.elapsed();
        // settle: the last step states, and anything that would wrongly change
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    /// Checks the end state against the plan, stops the watches and the stand-in kubelet, and
    /// replays the recorded stream of Build updates: what the report says is what the file
    /// shows.
    pub(crate) async fn check_the_end(&mut self) -> anyhow::Result<Ended> {
        let namespace = &self.settings.namespace;
        let builds: Vec<Build> = Api::<Build>::namespaced(self.env.admin.clone(), namespace)
            .list(&ListParams::default())
            .await?
            .items;
        let pods: Vec<Pod> = Api::<Pod>::namespaced(self.env.admin.clone(), namespace)
            .list(&ListParams::default())
            .await?
            .items;
        let report = check_end(&expected(&self.plan), &builds, &pods);
        for task in &self.tasks {
            task.abort();
        }
        let (updates, live_violations) = {
            let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            (history.updates, history.violations.len())
        };
        let replayed = History::replay(&std::fs::read_to_string(&self.recording)?)?;
        if replayed.updates != updates || replayed.violations.len() != live_violations {
            self.problems.push(format!(
                "the recording {} disagrees with the live check: {} updates and {} violations, live {updates} and {live_violations}",
                self.recording.display(),
                replayed.updates,
                replayed.violations.len()
            ));
        }
        self.problems.extend(report.problems.iter().cloned());
        self.problems.extend(replayed.violations.iter().cloned());
        self.problems.extend(self.stats.problems());
        Ok(Ended {
            report,
            updates,
            violations: replayed.violations.len(),
        })
    }

    /// The controller replicas.
    pub(crate) fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// The first replica's pid when it was first ready.
    pub(crate) fn first_pid(&self) -> Option<u32> {
        self.first_pid
    }

    /// The replica the fault killed for good, and when.
    pub(crate) fn killed(&self) -> Option<&(String, Timestamp)> {
        self.killed.as_ref()
    }

    /// Every distinct state of the scenario's Lease the harness saw ([`Replicas::Elected`]).
    pub(crate) fn lease_seen(&self) -> Vec<LeaseSeen> {
        self.lease_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds a fact of the scenario's own to the summary.
    pub(crate) fn fact(&mut self, fact: String) {
        self.facts.push(fact);
    }

    /// Adds problems of the scenario's own.
    pub(crate) fn problems(&mut self, problems: impl IntoIterator<Item = String>) {
        self.problems.extend(problems);
    }

    /// Stops the replicas; the scenario's outcome: the end state, the watch, the stand-in
    /// kubelet and the scenario's facts, with every problem found.
    pub(crate) fn outcome(mut self, end: Ended) -> Outcome {
        for replica in &mut self.replicas {
            replica.kill();
        }
        let report = &end.report;
        let reasons: Vec<String> = report
            .reasons
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let summary = format!(
            "{} Builds, {} as expected ({}); {} pods ({} Builds timed out before their pod could be created); {} Build updates watched, {} changes of a final verdict; all finished {:.0}s after the first create; kubelet: {}; {}",
            report.builds,
            report.as_expected,
            reasons.join(", "),
            report.pods,
            report.timed_out_without_pod,
            end.updates,
            end.violations,
            self.to_finish.as_secs_f64(),
            self.stats.counts(),
            self.facts.join("; ")
        );
        Outcome {
            name: self.scenario,
            summary,
            problems: self.problems,
            took: Duration::ZERO,
        }
    }
}

/// How each planned Build must end.
fn expected(plan: &[(String, Kind)]) -> BTreeMap<String, Expected> {
    plan.iter()
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
        .collect()
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

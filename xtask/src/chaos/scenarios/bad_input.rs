//! `bad-input`: bad input at scale. `--objects` Builds, BuildTemplates,
//! ClusterBuildTemplates, ServiceAccounts and Secrets, generated and mutated ([`generator`]),
//! all sent to the real API server, 32 at a time, while one controller watches the namespace.
//!
//! Verdict: the controller never panics or restarts, every Build the server accepted gets a
//! `Succeeded` condition with a reason (terminal, or waiting), and its memory stays under the
//! release's limit ([`MEMORY_BOUND_MIB`]). Evidence: what was sent, accepted and refused per
//! kind (refusals by HTTP code), the Builds' reasons, the controller's pid, panics in its log,
//! and its RSS first, at most and last.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use build_types::Build;
use futures::{StreamExt, stream};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::chaos::{Env, Outcome, say};
use crate::harness::process::{Launch, RssSampler, Target};

mod generator;

use generator::{Generated, Generator, NAMESPACE, path, seed_documents};

/// The scenario's name.
const NAME: &str = "bad-input";
/// The release's memory limit for the controller: the bound its RSS must stay under.
pub(crate) const MEMORY_BOUND_MIB: u64 = 512;
const IN_FLIGHT: usize = 32;
/// How long the controller has, after the last object, to give every Build a status.
const SETTLE_WITHIN: Duration = Duration::from_secs(900);

/// Runs the scenario: `count` objects sent, then every accepted Build awaited.
pub(crate) async fn run(env: &Env, count: usize) -> anyhow::Result<Outcome> {
    throwaway_cluster::create_namespace(&env.admin, NAMESPACE).await?;
    let mut controller = Controller::start(env).await?;
    let root = crate::harness::workspace_root();
    let mut generator = Generator::new(env.seed, seed_documents(&root)?, &env.sentinel, count);
    let started = Instant::now();
    let generated: Vec<Generated> = (0..count).map(|i| generator.next(i)).collect();
    let sent = send(env, generated, &controller, started).await;
    let sent_in = started.elapsed();
    let accepted_builds = sent.accepted.get("Build").copied().unwrap_or_default();
    say(format!(
        "[{NAME}] {count} objects sent in {:.0}s ({} MiB): accepted {:?}, refused {:?} (by code {:?}); waiting for {accepted_builds} Builds to get a status",
        sent_in.as_secs_f64(),
        sent.bytes / (1024 * 1024),
        sent.accepted,
        sent.refused,
        sent.codes
    ));
    let statuses = wait_for_statuses(env, &mut controller.target, started).await?;
    let settled = started.elapsed();
    let mut problems = statuses.problems(accepted_builds, settled);
    problems.extend(sent.errors.iter().take(10).map(|e| format!("sending: {e}")));
    let (panics, memory) = controller.judge(&mut problems);
    let reasons: Vec<String> = statuses
        .reasons
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    Ok(Outcome {
        name: NAME,
        summary: format!(
            "{count} objects ({} mutated from the corpus, {} MiB) sent in {:.0}s: accepted {:?}, refused {:?}; {} of {accepted_builds} accepted Builds with a status reason after {:.0}s ({}); controller pid {} never restarted, {panics} panics, {memory}",
            sent.mutated,
            sent.bytes / (1024 * 1024),
            sent_in.as_secs_f64(),
            sent.accepted,
            sent.refused,
            statuses.with_reason,
            settled.as_secs_f64(),
            reasons.join(", "),
            controller.pid.unwrap_or_default()
        ),
        problems,
        took: Duration::ZERO,
    })
}

/// The controller under test: its process, its log and its memory.
struct Controller {
    target: Target,
    log: PathBuf,
    /// Its pid once ready.
    pid: Option<u32>,
    sampler: Option<RssSampler>,
}

impl Controller {
    /// Starts one controller (JSON logs) on the namespace and waits for it to be ready.
    async fn start(env: &Env) -> anyhow::Result<Controller> {
        let log = env.log_path("bad-input-a-1");
        let mut target = Target::start(&Launch {
            binary: &env.controller,
            namespace: NAMESPACE,
            log: log.clone(),
            extra_args: &["--log-format=json".to_owned()],
            kubeconfig: Some(&env.controller_kubeconfig),
            rust_log: Some("info"),
        })?;
        target.wait_ready(Duration::from_secs(60)).await?;
        let pid = target.pid();
        let sampler = pid.map(RssSampler::start);
        Ok(Controller {
            target,
            log,
            pid,
            sampler,
        })
    }

    /// Its RSS at the last sample, in KiB.
    fn last_rss(&self) -> u64 {
        self.sampler
            .as_ref()
            .and_then(|s| s.samples().last().copied())
            .unwrap_or_default()
    }

    /// Adds the problems of the controller itself (a restart, panics in its log, memory over
    /// the bound) and stops it; returns the panics counted and its RSS, first, at most and
    /// last.
    fn judge(&mut self, problems: &mut Vec<String>) -> (usize, String) {
        if self.target.pid() != self.pid {
            problems.push("the controller was restarted".to_owned());
        }
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let panics = text.matches("panicked").count();
        if panics > 0 {
            problems.push(format!("{panics} panics in the controller's log"));
        }
        let samples = self
            .sampler
            .as_ref()
            .map(RssSampler::samples)
            .unwrap_or_default();
        let first = samples.first().copied().unwrap_or_default() / 1024;
        let max = samples.iter().max().copied().unwrap_or_default() / 1024;
        let last = samples.last().copied().unwrap_or_default() / 1024;
        if samples.is_empty() {
            problems.push("no RSS sample of the controller".to_owned());
        } else if max > MEMORY_BOUND_MIB {
            problems.push(format!(
                "the controller's RSS reached {max} MiB, over the release's limit of {MEMORY_BOUND_MIB} MiB"
            ));
        }
        self.target.stop();
        (
            panics,
            format!("RSS {first} → max {max} → {last} MiB (bound {MEMORY_BOUND_MIB})"),
        )
    }
}

/// What sending did, per kind.
#[derive(Debug, Default)]
struct Sent {
    accepted: BTreeMap<&'static str, usize>,
    refused: BTreeMap<&'static str, usize>,
    /// Refusals by HTTP status code.
    codes: BTreeMap<u16, usize>,
    mutated: usize,
    bytes: usize,
    /// Errors other than a refusal (the connection, a 5xx).
    errors: Vec<String>,
}

impl Sent {
    /// Counts one object sent: `result` is the refusal's HTTP code, or another error.
    fn record(&mut self, object: &Generated, size: usize, result: Result<(), String>) {
        self.bytes += size;
        if object.origin == "mutated" {
            self.mutated += 1;
        }
        match result {
            Ok(()) => *self.accepted.entry(object.kind).or_default() += 1,
            Err(code) => match code.parse::<u16>() {
                Ok(code) => {
                    *self.refused.entry(object.kind).or_default() += 1;
                    *self.codes.entry(code).or_default() += 1;
                }
                Err(_) => self.errors.push(code),
            },
        }
    }
}

/// Sends every object, [`IN_FLIGHT`] at a time, saying every 2000 how far it got and the
/// controller's RSS.
async fn send(
    env: &Env,
    generated: Vec<Generated>,
    controller: &Controller,
    started: Instant,
) -> Sent {
    let count = generated.len();
    let client = env.admin.clone();
    let mut results = stream::iter(generated)
        .map(|object| post(client.clone(), object))
        .buffer_unordered(IN_FLIGHT);
    let mut sent = Sent::default();
    let mut done = 0;
    while let Some((object, size, result)) = results.next().await {
        done += 1;
        sent.record(&object, size, result);
        if done % 2000 == 0 {
            say(format!(
                "[{NAME}] {done}/{count} sent in {:.0}s, controller RSS {} MiB",
                started.elapsed().as_secs_f64(),
                controller.last_rss() / 1024
            ));
        }
    }
    sent
}

/// Sends one object as it is (no client-side check); its size and the result: a refusal
/// (4xx) as its code, anything else as an error.
async fn post(client: kube::Client, object: Generated) -> (Generated, usize, Result<(), String>) {
    let bytes = serde_json::to_vec(&object.body).unwrap_or_default();
    let size = bytes.len();
    let path = path(object.kind).unwrap_or_default();
    let request = http::Request::post(path)
        .header("Content-Type", "application/json")
        .body(bytes);
    let result = match request {
        Ok(request) => client.request::<Value>(request).await,
        Err(error) => {
            return (object, size, Err(format!("building the request: {error}")));
        }
    };
    (
        object,
        size,
        result.map(|_| ()).map_err(|e| match e {
            kube::Error::Api(status) if status.code < 500 => format!("{}", status.code),
            other => format!("error: {other}"),
        }),
    )
}

/// The Builds' statuses once every one has a reason, or the time is up, or the controller
/// exited.
struct Statuses {
    /// Builds with a `Succeeded` reason.
    with_reason: usize,
    /// Those by reason.
    reasons: BTreeMap<String, usize>,
    /// The names of those without.
    without: Vec<String>,
    /// The controller's exit, if it exited.
    exited: Option<String>,
}

impl Statuses {
    /// The problems: the controller's exit, Builds without a reason, Builds missing.
    fn problems(&self, accepted_builds: usize, settled: Duration) -> Vec<String> {
        let mut problems: Vec<String> = self.exited.iter().cloned().collect();
        if !self.without.is_empty() {
            problems.push(format!(
                "{} accepted Builds have no status with a reason after {:.0}s, such as {}",
                self.without.len(),
                settled.as_secs_f64(),
                self.without
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.with_reason != accepted_builds {
            problems.push(format!(
                "{accepted_builds} Builds were accepted, {} are in the namespace",
                self.with_reason + self.without.len()
            ));
        }
        problems
    }
}

/// Lists the Builds every 10 s until each has a `Succeeded` reason, [`SETTLE_WITHIN`] has
/// passed, or the controller has exited.
async fn wait_for_statuses(
    env: &Env,
    target: &mut Target,
    started: Instant,
) -> anyhow::Result<Statuses> {
    let builds: Api<Build> = Api::namespaced(env.admin.clone(), NAMESPACE);
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        let list = builds.list(&ListParams::default()).await?.items;
        let mut statuses = Statuses {
            with_reason: 0,
            reasons: BTreeMap::new(),
            without: Vec::new(),
            exited: None,
        };
        for build in &list {
            match build
                .status
                .as_ref()
                .and_then(|s| s.succeeded())
                .and_then(|c| c.reason.clone())
                .filter(|r| !r.is_empty())
            {
                Some(reason) => *statuses.reasons.entry(reason).or_default() += 1,
                None => statuses.without.push(build.name_any()),
            }
        }
        statuses.with_reason = list.len() - statuses.without.len();
        if let Err(error) = target.check_alive() {
            statuses.exited = Some(format!("the controller exited: {error:#}"));
            return Ok(statuses);
        }
        if statuses.without.is_empty() || Instant::now() > deadline {
            return Ok(statuses);
        }
        say(format!(
            "[{NAME}] {} of {} Builds have a status ({:.0}s)",
            statuses.with_reason,
            list.len(),
            started.elapsed().as_secs_f64()
        ));
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

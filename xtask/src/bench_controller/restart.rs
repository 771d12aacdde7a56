//! `--restart-at N`: the controller restarted over N finished Builds and their pods.
//!
//! The hold of N first (created one by one, run to success, the controller's RSS holding
//! them); then the controller is killed with SIGKILL, as a crash or an eviction would, and
//! started again over the same objects. Measured from the new process's start: its `/readyz`
//! (every cache has its initial list), the pod of a Build created the moment it is ready, and,
//! once its reconciles have stopped, its CPU and RSS; then its RSS over `--idle`, sampled
//! every second (the slope says whether it creeps). The API server's own counters give the
//! relist's load: its LIST and WATCH requests for Builds and pods and the bytes of the LISTs.
//! Last, the benchmark makes the relist's LISTs itself and times them: the floor no controller
//! lists under on this API server ([`apiserver::list_floor`]).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use build_types::Build;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};

use super::apiserver;
use super::report::{self, Cost};
use super::{BenchArgs, Events, Held, Seen, bench_build, cost, start_controller};
use crate::harness::process::{RssSampler, Target};

/// How long the restarted controller may take to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// The reconciles after a restart are over when their count has not moved for this long.
const QUIET: Duration = Duration::from_secs(3);

/// The inputs of one `--restart-at` run.
pub(super) struct Restart<'a> {
    pub(super) root: &'a Path,
    pub(super) args: &'a BenchArgs,
    pub(super) client: &'a Client,
    pub(super) namespace: &'a str,
}

impl Restart<'_> {
    /// Holds N, restarts the controller (`target`, which the benchmark must have started) and
    /// measures the restart.
    pub(super) async fn run(
        &self,
        target: &mut Target,
        events: &mut Events,
    ) -> anyhow::Result<report::Restart> {
        let count = self.args.restart_at.context("--restart-at")?;
        if !matches!(target, Target::Started { .. }) {
            bail!("--restart-at restarts the controller, so the benchmark must start it");
        }
        let held = Held {
            client: self.client,
            args: self.args,
            namespace: self.namespace,
        };
        let hold = held.hold(target, events, count, Duration::ZERO).await?;
        let served_before = apiserver::served(self.client).await?;
        if let Some(counters) = target.counters().await {
            eprintln!("controller counters before the restart:\n{counters}");
        }
        target.stop();

        let started = Instant::now();
        *target = start_controller(self.root, self.args, self.namespace, "-restarted")?;
        target.wait_ready(READY_TIMEOUT).await?;
        let to_ready = started.elapsed();
        eprintln!("restarted: ready after {:.2} s", to_ready.as_secs_f64());
        let to_pod = self.first_pod(target, events, count, started).await?;
        eprintln!(
            "restarted: a new Build's pod {:.2} s after the start",
            to_pod.as_secs_f64()
        );
        let reconciles = settle(target, events).await?;
        let settled = target.usage()?;
        let served = apiserver::served(self.client).await?.since(served_before);
        let sampler = target.pid().map(RssSampler::start);
        let idle_until = Instant::now() + self.args.idle;
        while Instant::now() < idle_until {
            drain(target, events, idle_until).await?;
        }
        let after_idle = target.usage()?;
        let samples = sampler.map(|s| s.samples()).unwrap_or_default();
        let list_floor = apiserver::list_floor(self.client, self.namespace).await?;
        Ok(report::Restart {
            hold,
            to_ready,
            to_pod,
            reconciles,
            served,
            settled: settled.map(|u| Cost {
                cpu: u.cpu,
                rss_kib: u.rss_kib,
            }),
            idle: self.args.idle,
            after_idle: cost(settled, after_idle),
            rss_slope_mib_per_hour: super::stats::slope_mib_per_hour(&samples),
            list_floor,
        })
    }

    /// Creates the Build after the N held, and waits for its pod: the time from `started`.
    async fn first_pod(
        &self,
        target: &mut Target,
        events: &mut Events,
        index: usize,
        started: Instant,
    ) -> anyhow::Result<Duration> {
        let builds: Api<Build> = Api::namespaced(self.client.clone(), self.namespace);
        let name = builds
            .create(&PostParams::default(), &bench_build(index))
            .await
            .context("creating a Build after the restart")?
            .name_any();
        let deadline = Instant::now() + Duration::from_secs(self.args.timeout_seconds);
        loop {
            let seen = events
                .next(target, deadline, || format!("the pod of {name}"))
                .await?;
            if matches!(&seen, Seen::Pod { build, .. } if *build == name) {
                return Ok(started.elapsed());
            }
        }
    }
}

/// Waits until the controller's reconcile count has not moved for [`QUIET`] (ten seconds for
/// a controller without this one's metrics), reading the benchmark's watches meanwhile;
/// returns the count, if the controller has one.
async fn settle(target: &mut Target, events: &mut Events) -> anyhow::Result<Option<u64>> {
    let mut last = target.reconciles().await;
    if last.is_none() {
        drain(target, events, Instant::now() + Duration::from_secs(10)).await?;
        return Ok(None);
    }
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < QUIET {
        drain(target, events, Instant::now() + Duration::from_millis(500)).await?;
        let now = target.reconciles().await;
        if now != last {
            (last, quiet_since) = (now, Instant::now());
        }
    }
    Ok(last)
}

/// Reads (and drops) what the benchmark's watches bring until `until`, so the server never
/// waits on them.
async fn drain(target: &mut Target, events: &mut Events, until: Instant) -> anyhow::Result<()> {
    loop {
        if Instant::now() >= until {
            return Ok(());
        }
        match events.next(target, until, String::new).await {
            Ok(_) => {}
            Err(_) if Instant::now() >= until => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}

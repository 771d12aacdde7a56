//! The benchmark's reports: a table for people (stdout) and JSON for programs (`--json`).
//!
//! Every report carries the floor the API server sets (how long the Builds themselves took to
//! create, and the raw pod-create baseline) next to what the controller added, and the issue's
//! targets with a verdict.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::apiserver::{Creates, ListFloor, Served};
use super::stats::{Latencies, RssSamples, mib};

/// The targets the reports judge against (issues 13 and 28, one 2-core machine).
pub(crate) mod target {
    /// P1 (issue 28): each tail at most this much over the `--writes-floor` tail of its run.
    pub(crate) const OVER_WRITES_FLOOR_S: f64 = 0.2;
    /// P1: the last pod at most this long after the last Build was created.
    pub(crate) const TAIL_TO_LAST_POD_S: f64 = 0.5;
    /// P1: the last status at most this long after the last Build was created.
    pub(crate) const TAIL_TO_LAST_STATUS_S: f64 = 1.0;
    /// P2: sustained p99 Build→Pod.
    pub(crate) const SUSTAINED_P99_MS: f64 = 100.0;
    /// P2: sustained p50 Build→Pod.
    pub(crate) const SUSTAINED_P50_MS: f64 = 30.0;
    /// P3: RSS after the burst.
    pub(crate) const BURST_RSS_MIB: f64 = 20.0;
    /// P4: controller CPU per Build over the burst.
    pub(crate) const CPU_MS_PER_BUILD: f64 = 0.4;

    /// RSS holding `builds` finished Builds and pods: 20 MiB up to 10,000, 48 MiB up to 50,000
    /// (issue 28, one by one and after a restart alike).
    pub(crate) fn hold_rss_mib(builds: usize) -> f64 {
        if builds <= 10_000 { 20.0 } else { 48.0 }
    }

    /// A new Build's pod after a restart over `builds` finished Builds: 2 s up to 10,000, 5 s
    /// up to 50,000.
    pub(crate) fn restart_to_pod_s(builds: usize) -> f64 {
        if builds <= 10_000 { 2.0 } else { 5.0 }
    }
}

/// What the controller's process used over a measured stretch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cost {
    /// CPU time spent in the stretch.
    pub(crate) cpu: Duration,
    /// RSS at its end, KiB.
    pub(crate) rss_kib: u64,
}

/// When a burst's Builds were all created, and all their pods and statuses seen, each from the
/// first Build create sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tails {
    /// To the last Build create answered.
    pub(crate) build_creates: Duration,
    /// To the last pod seen.
    pub(crate) to_all_pods: Duration,
    /// To the last status seen.
    pub(crate) to_all_statuses: Duration,
}

impl Tails {
    /// Last Build created → last pod seen (negative if the last pod came first).
    pub(crate) fn tail_to_last_pod(self) -> f64 {
        self.to_all_pods.as_secs_f64() - self.build_creates.as_secs_f64()
    }

    /// Last Build created → last status seen.
    pub(crate) fn tail_to_last_status(self) -> f64 {
        self.to_all_statuses.as_secs_f64() - self.build_creates.as_secs_f64()
    }
}

/// A burst: N Builds created at once.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Burst {
    /// How many Builds.
    pub(crate) builds: usize,
    /// N plain pod creates, 8 in flight: the server's own pace.
    pub(crate) baseline: Duration,
    /// With the controller.
    pub(crate) tails: Tails,
    /// With the controller's writes made by the benchmark the moment each Build exists
    /// (`--writes-floor`); `None` when not measured.
    pub(crate) writes_floor: Option<Tails>,
    /// Build created → its pod seen.
    pub(crate) latencies: Latencies,
    /// The controller's CPU over the burst and RSS after it; `None` when not measured.
    pub(crate) cost: Option<Cost>,
}

impl Burst {
    fn cpu_ms_per_build(&self) -> Option<f64> {
        self.cost
            .map(|c| c.cpu.as_secs_f64() * 1e3 / self.builds as f64)
    }

    /// The JSON report.
    pub(crate) fn to_json(&self) -> Value {
        let floor = self.writes_floor;
        json!({
            "mode": "burst",
            "builds": self.builds,
            "build_creates_s": self.tails.build_creates.as_secs_f64(),
            "baseline_s": self.baseline.as_secs_f64(),
            "to_all_pods_s": self.tails.to_all_pods.as_secs_f64(),
            "to_all_statuses_s": self.tails.to_all_statuses.as_secs_f64(),
            "tail_to_last_pod_s": self.tails.tail_to_last_pod(),
            "tail_to_last_status_s": self.tails.tail_to_last_status(),
            "writes_floor_build_creates_s": floor.map(|t| t.build_creates.as_secs_f64()),
            "writes_floor_tail_to_last_pod_s": floor.map(Tails::tail_to_last_pod),
            "writes_floor_tail_to_last_status_s": floor.map(Tails::tail_to_last_status),
            "p50_ms": ms(self.latencies.p50),
            "p99_ms": ms(self.latencies.p99),
            "max_ms": ms(self.latencies.max),
            "cpu_ms_per_build": self.cpu_ms_per_build(),
            "rss_mib": self.cost.map(|c| mib(c.rss_kib)),
        })
    }
}

impl std::fmt::Display for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = Table::default();
        t.row("builds", self.builds.to_string(), "");
        t.row("floor: Build creates", secs(self.tails.build_creates), "");
        t.row(
            "floor: raw pod creates",
            format!("{} (8 in flight)", secs(self.baseline)),
            "",
        );
        if let Some(floor) = &self.writes_floor {
            t.row(
                "floor: writes alone, tails",
                format!(
                    "{:.3} s to last pod, {:.3} s to last status (Build creates {})",
                    floor.tail_to_last_pod(),
                    floor.tail_to_last_status(),
                    secs(floor.build_creates)
                ),
                "",
            );
        }
        t.row("time to all pods", secs(self.tails.to_all_pods), "");
        t.row("time to all statuses", secs(self.tails.to_all_statuses), "");
        t.judged(
            "tail: last Build -> last pod",
            format!("{:.3} s", self.tails.tail_to_last_pod()),
            target::TAIL_TO_LAST_POD_S,
            self.tails.tail_to_last_pod(),
            "s",
        );
        t.judged(
            "tail: last Build -> last status",
            format!("{:.3} s", self.tails.tail_to_last_status()),
            target::TAIL_TO_LAST_STATUS_S,
            self.tails.tail_to_last_status(),
            "s",
        );
        if let Some(floor) = &self.writes_floor {
            let over = (self.tails.tail_to_last_pod() - floor.tail_to_last_pod())
                .max(self.tails.tail_to_last_status() - floor.tail_to_last_status());
            t.judged(
                "tails over the writes floor's",
                format!("{over:.3} s (the larger of the two)"),
                target::OVER_WRITES_FLOOR_S,
                over,
                "s",
            );
        }
        t.row("Build -> Pod", latencies(&self.latencies), "");
        match self.cost {
            Some(cost) => {
                let per_build = self.cpu_ms_per_build().unwrap_or_default();
                t.judged(
                    "controller CPU over the burst",
                    format!("{} = {per_build:.3} ms/Build", secs(cost.cpu)),
                    target::CPU_MS_PER_BUILD,
                    per_build,
                    "ms/Build",
                );
                t.judged(
                    "controller RSS after",
                    format!("{:.1} MiB", mib(cost.rss_kib)),
                    target::BURST_RSS_MIB,
                    mib(cost.rss_kib),
                    "MiB",
                );
            }
            None => t.row("controller CPU / RSS", "not measured (--attach)".into(), ""),
        }
        f.write_str(&t.render())
    }
}

/// A sustained run: Builds created at a steady rate.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sustained {
    /// The rate asked for, Builds per second.
    pub(crate) rate: f64,
    /// How long Builds were created.
    pub(crate) duration: Duration,
    /// How many Builds were created.
    pub(crate) builds: usize,
    /// Build created → its pod seen.
    pub(crate) to_pod: Latencies,
    /// Build created → a status naming its pod seen.
    pub(crate) to_status: Latencies,
    /// Build create request latency (the server's own pace).
    pub(crate) build_create: Latencies,
    /// The controller's RSS, sampled every second.
    pub(crate) rss: Option<RssSamples>,
    /// The controller's CPU over the run.
    pub(crate) cpu: Option<Duration>,
    /// The API server's own timing of the run's Build and pod creates; `None` where its
    /// `/metrics` could not be read.
    pub(crate) at_server: Option<Creates>,
    /// The same Builds at the same rate with the controller's writes made by the benchmark
    /// (`--writes-floor`); `None` when not measured.
    pub(crate) writes_floor: Option<SustainedFloor>,
}

/// A sustained run's writes floor: the same Builds at the same rate, in a namespace of their
/// own, each reconciled by the benchmark with the controller's code the moment its create is
/// answered, and again once its pod has ended. What the API server alone makes of the
/// controller's writes at that rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SustainedFloor {
    /// Build created → its pod seen.
    pub(crate) to_pod: Latencies,
    /// Build created → a status naming its pod seen.
    pub(crate) to_status: Latencies,
    /// Build create request latency in that run.
    pub(crate) build_create: Latencies,
    /// Measured after the controller's run (`--writes-floor-last`), not before it.
    pub(crate) last: bool,
    /// The API server's own timing of that run's Build and pod creates.
    pub(crate) at_server: Option<Creates>,
}

impl Sustained {
    fn cpu_ms_per_build(&self) -> Option<f64> {
        self.cpu
            .map(|c| c.as_secs_f64() * 1e3 / self.builds.max(1) as f64)
    }

    /// The JSON report.
    pub(crate) fn to_json(&self) -> Value {
        let floor = self.writes_floor;
        json!({
            "mode": "sustained",
            "rate": self.rate,
            "duration_s": self.duration.as_secs_f64(),
            "builds": self.builds,
            "p50_ms": ms(self.to_pod.p50),
            "p99_ms": ms(self.to_pod.p99),
            "max_ms": ms(self.to_pod.max),
            "status_p50_ms": ms(self.to_status.p50),
            "status_p99_ms": ms(self.to_status.p99),
            "status_max_ms": ms(self.to_status.max),
            "build_create_p50_ms": ms(self.build_create.p50),
            "build_create_p99_ms": ms(self.build_create.p99),
            "cpu_ms_per_build": self.cpu_ms_per_build(),
            "rss_samples": self.rss.map(|r| r.count),
            "rss_first_mib": self.rss.map(|r| mib(r.first_kib)),
            "rss_min_mib": self.rss.map(|r| mib(r.min_kib)),
            "rss_max_mib": self.rss.map(|r| mib(r.max_kib)),
            "rss_last_mib": self.rss.map(|r| mib(r.last_kib)),
            "writes_floor_p50_ms": floor.map(|f| ms(f.to_pod.p50)),
            "writes_floor_p99_ms": floor.map(|f| ms(f.to_pod.p99)),
            "writes_floor_max_ms": floor.map(|f| ms(f.to_pod.max)),
            "writes_floor_status_p50_ms": floor.map(|f| ms(f.to_status.p50)),
            "writes_floor_status_p99_ms": floor.map(|f| ms(f.to_status.p99)),
            "writes_floor_build_create_p50_ms": floor.map(|f| ms(f.build_create.p50)),
            "writes_floor_build_create_p99_ms": floor.map(|f| ms(f.build_create.p99)),
            "p99_over_writes_floor_ms": floor.map(|f| ms(self.to_pod.p99) - ms(f.to_pod.p99)),
            "writes_floor_last": floor.map(|f| f.last),
            "server_pod_creates_over_100ms": self.at_server.map(|c| c.pods.over_100ms),
            "server_pod_creates_over_100ms_share": self.at_server.map(|c| c.pods.share()),
            "server_build_creates_over_100ms_share": self.at_server.map(|c| c.builds.share()),
            "writes_floor_server_pod_creates_over_100ms_share":
                floor.and_then(|f| f.at_server).map(|c| c.pods.share()),
        })
    }
}

impl std::fmt::Display for Sustained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = Table::default();
        t.row(
            "builds",
            format!(
                "{} at {} /s for {}",
                self.builds,
                self.rate,
                secs(self.duration)
            ),
            "",
        );
        t.row("floor: Build create", latencies(&self.build_create), "");
        if let Some(floor) = &self.writes_floor {
            let when = if floor.last { "after" } else { "before" };
            t.row(
                "floor: writes alone, measured",
                format!("{when} the controller's run"),
                "",
            );
            t.row(
                "floor: writes alone, Build create",
                latencies(&floor.build_create),
                "",
            );
            t.row(
                "floor: writes alone, Build -> Pod",
                latencies(&floor.to_pod),
                "",
            );
            t.row(
                "floor: writes alone, Build -> status",
                latencies(&floor.to_status),
                "",
            );
            if let Some(creates) = floor.at_server {
                t.row(
                    "floor: writes alone, at the server",
                    over_100ms(creates),
                    "",
                );
            }
        }
        t.judged(
            "Build -> Pod p50",
            format!("{:.1} ms", ms(self.to_pod.p50)),
            target::SUSTAINED_P50_MS,
            ms(self.to_pod.p50),
            "ms",
        );
        t.judged(
            "Build -> Pod p99",
            format!("{:.1} ms", ms(self.to_pod.p99)),
            target::SUSTAINED_P99_MS,
            ms(self.to_pod.p99),
            "ms",
        );
        if let Some(floor) = &self.writes_floor {
            t.row(
                "Build -> Pod p99 over the writes floor's",
                format!("{:.1} ms", ms(self.to_pod.p99) - ms(floor.to_pod.p99)),
                "",
            );
        }
        t.row(
            "Build -> Pod max",
            format!("{:.1} ms", ms(self.to_pod.max)),
            "",
        );
        t.row("Build -> status", latencies(&self.to_status), "");
        if let Some(creates) = self.at_server {
            t.row("API server's own timing", over_100ms(creates), "");
        }
        match self.rss {
            Some(rss) => t.row(
                "controller RSS (1/s)",
                format!(
                    "first {:.1}, min {:.1}, max {:.1}, last {:.1} MiB ({} samples)",
                    mib(rss.first_kib),
                    mib(rss.min_kib),
                    mib(rss.max_kib),
                    mib(rss.last_kib),
                    rss.count
                ),
                "",
            ),
            None => t.row("controller RSS", "not measured (--attach)".into(), ""),
        }
        if let (Some(cpu), Some(per_build)) = (self.cpu, self.cpu_ms_per_build()) {
            t.row(
                "controller CPU",
                format!("{} = {per_build:.3} ms/Build", secs(cpu)),
                "",
            );
        }
        f.write_str(&t.render())
    }
}

/// A hold: N Builds created, run to success by a stand-in kubelet, then held.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hold {
    /// How many Builds (and pods) are held.
    pub(crate) builds: usize,
    /// From the first create to the last Build finished.
    pub(crate) to_all_finished: Duration,
    /// The controller's CPU from the first create to the last Build finished, and its RSS
    /// then.
    pub(crate) holding: Option<Cost>,
    /// How long it then sat idle.
    pub(crate) idle: Duration,
    /// The controller's CPU while idle, and its RSS at the end.
    pub(crate) after_idle: Option<Cost>,
}

impl Hold {
    /// The JSON report.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "mode": "hold",
            "builds": self.builds,
            "to_all_finished_s": self.to_all_finished.as_secs_f64(),
            "cpu_ms_per_build": self.holding.map(|c| c.cpu.as_secs_f64() * 1e3 / self.builds.max(1) as f64),
            "rss_mib": self.holding.map(|c| mib(c.rss_kib)),
            "idle_s": self.idle.as_secs_f64(),
            "idle_cpu_ms": self.after_idle.map(|c| c.cpu.as_secs_f64() * 1e3),
            "rss_after_idle_mib": self.after_idle.map(|c| mib(c.rss_kib)),
        })
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = Table::default();
        t.row("finished Builds held", self.builds.to_string(), "");
        t.row("created and finished in", secs(self.to_all_finished), "");
        match (self.holding, self.after_idle) {
            (Some(holding), Some(idle)) => {
                t.row(
                    "controller CPU to finish all",
                    format!(
                        "{} = {:.3} ms/Build",
                        secs(holding.cpu),
                        holding.cpu.as_secs_f64() * 1e3 / self.builds.max(1) as f64
                    ),
                    "",
                );
                t.judged(
                    "controller RSS holding them",
                    format!("{:.1} MiB", mib(holding.rss_kib)),
                    target::hold_rss_mib(self.builds),
                    mib(holding.rss_kib),
                    "MiB",
                );
                t.row(
                    &format!("controller CPU idle {}", secs(self.idle)),
                    format!("{:.0} ms", idle.cpu.as_secs_f64() * 1e3),
                    "",
                );
                t.judged(
                    "controller RSS after idle",
                    format!("{:.1} MiB", mib(idle.rss_kib)),
                    target::hold_rss_mib(self.builds),
                    mib(idle.rss_kib),
                    "MiB",
                );
            }
            _ => t.row("controller CPU / RSS", "not measured (--attach)".into(), ""),
        }
        f.write_str(&t.render())
    }
}

/// `--restart-at N`: the hold of N, then the controller killed and started again over them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Restart {
    /// The hold before the restart (its idle is zero).
    pub(crate) hold: Hold,
    /// From the new process's start to its `/readyz`.
    pub(crate) to_ready: Duration,
    /// From its start to the pod of a Build created once it was ready.
    pub(crate) to_pod: Duration,
    /// The new process's reconciles once they stopped; `None` without its metrics.
    pub(crate) reconciles: Option<u64>,
    /// What the API server served for Builds and pods from the kill until the reconciles
    /// stopped.
    pub(crate) served: Served,
    /// The new process's CPU from its start until its reconciles stopped, and its RSS then.
    pub(crate) settled: Option<Cost>,
    /// How long it then sat idle.
    pub(crate) idle: Duration,
    /// Its CPU while idle, and its RSS at the end.
    pub(crate) after_idle: Option<Cost>,
    /// The slope of its RSS over the idle, MiB per hour.
    pub(crate) rss_slope_mib_per_hour: Option<f64>,
    /// The relist's LISTs made by the benchmark, timed.
    pub(crate) list_floor: ListFloor,
}

impl Restart {
    /// The JSON report.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "mode": "restart",
            "builds": self.hold.builds,
            "hold": self.hold.to_json(),
            "to_ready_s": self.to_ready.as_secs_f64(),
            "to_pod_s": self.to_pod.as_secs_f64(),
            "ready_to_pod_s": (self.to_pod.saturating_sub(self.to_ready)).as_secs_f64(),
            "reconciles": self.reconciles,
            "relist_lists": self.served.lists,
            "relist_list_mib": self.served.list_bytes / (1024.0 * 1024.0),
            "relist_watches": self.served.watches,
            "restart_cpu_ms": self.settled.map(|c| ms(c.cpu)),
            "rss_after_restart_mib": self.settled.map(|c| mib(c.rss_kib)),
            "idle_s": self.idle.as_secs_f64(),
            "idle_cpu_ms": self.after_idle.map(|c| ms(c.cpu)),
            "rss_after_idle_mib": self.after_idle.map(|c| mib(c.rss_kib)),
            "rss_slope_mib_per_hour": self.rss_slope_mib_per_hour,
            "list_floor_builds_s": self.list_floor.builds.as_secs_f64(),
            "list_floor_pods_s": self.list_floor.pods.as_secs_f64(),
            "list_floor_s": (self.list_floor.builds + self.list_floor.pods).as_secs_f64(),
            "list_unselected_s": self.list_floor.unselected.as_secs_f64(),
        })
    }
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.hold)?;
        let builds = self.hold.builds;
        let rss_target = target::hold_rss_mib(builds);
        let mut t = Table::default();
        t.row("restart: start -> /readyz", secs(self.to_ready), "");
        t.judged(
            "restart: start -> a new Build's pod",
            secs(self.to_pod),
            target::restart_to_pod_s(builds),
            self.to_pod.as_secs_f64(),
            "s",
        );
        t.row(
            "restart: reconciles",
            self.reconciles
                .map_or("not counted".into(), |r| r.to_string()),
            "",
        );
        t.row(
            "restart: Build and pod LISTs served",
            format!(
                "{:.0} requests, {:.1} MiB; {:.0} WATCHes",
                self.served.lists,
                self.served.list_bytes / (1024.0 * 1024.0),
                self.served.watches
            ),
            "",
        );
        if let Some(settled) = self.settled {
            t.row(
                "restart: controller CPU until settled",
                secs(settled.cpu),
                "",
            );
            t.judged(
                "restart: controller RSS settled",
                format!("{:.1} MiB", mib(settled.rss_kib)),
                rss_target,
                mib(settled.rss_kib),
                "MiB",
            );
        }
        if let Some(idle) = self.after_idle {
            t.judged(
                &format!("restart: RSS after idle {}", secs(self.idle)),
                format!("{:.1} MiB", mib(idle.rss_kib)),
                rss_target,
                mib(idle.rss_kib),
                "MiB",
            );
            t.row(
                "restart: CPU idle, RSS slope",
                format!(
                    "{:.0} ms, {}",
                    ms(idle.cpu),
                    self.rss_slope_mib_per_hour
                        .map_or("-".into(), |s| format!("{s:+.2} MiB/h"))
                ),
                "",
            );
        }
        let floor = self.list_floor;
        t.row(
            "floor: the relist's LISTs, paged",
            format!(
                "{} (Builds {}, pods {})",
                secs(floor.builds + floor.pods),
                secs(floor.builds),
                secs(floor.pods)
            ),
            "",
        );
        t.row(
            "floor: the same, every Build and pod",
            format!("{} (without the field selectors)", secs(floor.unselected)),
            "",
        );
        f.write_str(&t.render())
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn latencies(l: &Latencies) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        ms(l.p50),
        ms(l.p99),
        ms(l.max),
        l.count
    )
}

/// How many of the Build and pod creates the API server itself took over 100 ms for.
fn over_100ms(creates: Creates) -> String {
    format!(
        "over 100 ms: {} of {} pod creates ({:.2}%), {} of {} Build creates ({:.2}%)",
        creates.pods.over_100ms,
        creates.pods.creates,
        creates.pods.share() * 100.0,
        creates.builds.over_100ms,
        creates.builds.creates,
        creates.builds.share() * 100.0
    )
}

/// Three aligned columns: what, value, verdict against a target.
#[derive(Default)]
struct Table {
    rows: Vec<(String, String, String)>,
}

impl Table {
    fn row(&mut self, name: &str, value: String, verdict: &str) {
        self.rows.push((name.to_owned(), value, verdict.to_owned()));
    }

    /// A row judged against an upper bound.
    fn judged(&mut self, name: &str, value: String, limit: f64, actual: f64, unit: &str) {
        let verdict = if actual <= limit { "ok" } else { "MISSED" };
        self.row(name, value, &format!("target <= {limit} {unit}: {verdict}"));
    }

    fn render(&self) -> String {
        let name_width = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let value_width = self.rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (name, value, verdict) in &self.rows {
            let line = format!("{name:<name_width$}  {value:<value_width$}  {verdict}");
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.pop();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::apiserver::Slow;
    use super::*;

    fn burst(cost: Option<Cost>) -> Burst {
        Burst {
            builds: 500,
            baseline: Duration::from_millis(330),
            tails: Tails {
                build_creates: Duration::from_millis(1100),
                to_all_pods: Duration::from_millis(1500),
                to_all_statuses: Duration::from_millis(2300),
            },
            writes_floor: None,
            latencies: Latencies {
                count: 500,
                p50: Duration::from_millis(120),
                p99: Duration::from_millis(400),
                max: Duration::from_millis(410),
            },
            cost,
        }
    }

    #[test]
    fn burst_json_has_the_required_keys() {
        let json = burst(Some(Cost {
            cpu: Duration::from_millis(200),
            rss_kib: 15 * 1024,
        }))
        .to_json();
        for key in [
            "builds",
            "build_creates_s",
            "baseline_s",
            "to_all_pods_s",
            "to_all_statuses_s",
            "tail_to_last_pod_s",
            "tail_to_last_status_s",
            "p50_ms",
            "p99_ms",
            "cpu_ms_per_build",
            "rss_mib",
        ] {
            assert!(json[key].is_number(), "{key}: {json}");
        }
        assert!((json["tail_to_last_pod_s"].as_f64().unwrap() - 0.4).abs() < 1e-9);
        assert!((json["tail_to_last_status_s"].as_f64().unwrap() - 1.2).abs() < 1e-9);
        assert_eq!(json["cpu_ms_per_build"], 0.4);
        assert_eq!(json["rss_mib"], 15.0);
    }

    #[test]
    fn unmeasured_cost_is_null() {
        let json = burst(None).to_json();
        assert!(json["cpu_ms_per_build"].is_null());
        assert!(json["rss_mib"].is_null());
        assert!(json["writes_floor_tail_to_last_pod_s"].is_null());
        assert!(json["p99_ms"].is_number());
    }

    #[test]
    fn the_writes_floor_is_reported_next_to_the_floor() {
        let mut burst = burst(None);
        burst.writes_floor = Some(Tails {
            build_creates: Duration::from_millis(1000),
            to_all_pods: Duration::from_millis(2250),
            to_all_statuses: Duration::from_millis(2500),
        });
        let json = burst.to_json();
        assert!((json["writes_floor_tail_to_last_pod_s"].as_f64().unwrap() - 1.25).abs() < 1e-9);
        assert!((json["writes_floor_tail_to_last_status_s"].as_f64().unwrap() - 1.5).abs() < 1e-9);
        assert_eq!(json["writes_floor_build_creates_s"], 1.0);
        let text = burst.to_string();
        assert!(text.contains("floor: writes alone, tails"), "{text}");
        assert!(
            text.contains("1.250 s to last pod, 1.500 s to last status (Build creates 1.00 s)"),
            "{text}"
        );
    }

    #[test]
    fn burst_table_judges_the_targets() {
        let text = burst(Some(Cost {
            cpu: Duration::from_millis(200),
            rss_kib: 25 * 1024,
        }))
        .to_string();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in\n{text}"))
                .to_owned()
        };
        assert!(
            line("tail: last Build -> last pod").ends_with("target <= 0.5 s: ok"),
            "{text}"
        );
        assert!(
            line("tail: last Build -> last status").ends_with("MISSED"),
            "{text}"
        );
        assert!(line("controller CPU").contains("0.400 ms/Build"), "{text}");
        assert!(line("controller RSS after").ends_with("MISSED"), "{text}");
        assert!(line("floor: Build creates").contains("1.10 s"), "{text}");
        // Aligned: every value starts in the same column.
        let column = |l: &str| {
            l.find("  ")
                .map(|at| l[at..].len() - l[at..].trim_start().len() + at)
        };
        let columns: Vec<_> = text.lines().map(column).collect();
        assert!(columns.windows(2).all(|w| w[0] == w[1]), "{text}");
    }

    #[test]
    fn sustained_report() {
        let report = Sustained {
            rate: 20.0,
            duration: Duration::from_secs(300),
            builds: 6000,
            to_pod: Latencies {
                count: 6000,
                p50: Duration::from_millis(12),
                p99: Duration::from_millis(150),
                max: Duration::from_millis(300),
            },
            to_status: Latencies::default(),
            build_create: Latencies::default(),
            rss: RssSamples::of(&[10 * 1024, 12 * 1024, 11 * 1024]),
            cpu: Some(Duration::from_secs(3)),
            at_server: None,
            writes_floor: None,
        };
        let json = report.to_json();
        assert_eq!(json["p99_ms"], 150.0);
        assert_eq!(json["rss_max_mib"], 12.0);
        assert_eq!(json["rss_last_mib"], 11.0);
        assert_eq!(json["cpu_ms_per_build"], 0.5);
        let text = report.to_string();
        assert!(
            text.lines()
                .any(|l| l.starts_with("Build -> Pod p50") && l.ends_with("ok")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("Build -> Pod p99") && l.ends_with("MISSED")),
            "{text}"
        );
        assert!(
            text.contains("first 10.0, min 10.0, max 12.0, last 11.0 MiB"),
            "{text}"
        );
    }

    #[test]
    fn a_sustained_runs_writes_floor_is_reported_next_to_it() {
        let p = |p50, p99| Latencies {
            count: 15_000,
            p50: Duration::from_millis(p50),
            p99: Duration::from_millis(p99),
            max: Duration::from_millis(400),
        };
        let report = Sustained {
            rate: 50.0,
            duration: Duration::from_secs(300),
            builds: 15_000,
            to_pod: p(6, 190),
            to_status: p(9, 200),
            build_create: p(4, 90),
            rss: None,
            cpu: None,
            at_server: Some(Creates {
                builds: Slow {
                    creates: 15_000.0,
                    over_100ms: 30.0,
                },
                pods: Slow {
                    creates: 15_000.0,
                    over_100ms: 300.0,
                },
            }),
            writes_floor: Some(SustainedFloor {
                to_pod: p(5, 150),
                to_status: p(8, 160),
                build_create: p(4, 95),
                last: true,
                at_server: None,
            }),
        };
        let json = report.to_json();
        assert_eq!(json["writes_floor_p99_ms"], 150.0);
        assert_eq!(json["writes_floor_status_p99_ms"], 160.0);
        assert_eq!(json["writes_floor_build_create_p99_ms"], 95.0);
        assert_eq!(json["p99_over_writes_floor_ms"], 40.0);
        assert_eq!(json["writes_floor_last"], true);
        assert_eq!(json["server_pod_creates_over_100ms_share"], 0.02);
        assert!(json["writes_floor_server_pod_creates_over_100ms_share"].is_null());
        let text = report.to_string();
        assert!(text.contains("floor: writes alone, Build -> Pod"), "{text}");
        assert!(text.contains("after the controller's run"), "{text}");
        assert!(
            text.contains(
                "over 100 ms: 300 of 15000 pod creates (2.00%), 30 of 15000 Build creates (0.20%)"
            ),
            "{text}"
        );
        assert!(
            text.lines().any(
                |l| l.starts_with("Build -> Pod p99 over the writes floor's")
                    && l.ends_with("40.0 ms")
            ),
            "{text}"
        );
        let without = Sustained {
            writes_floor: None,
            ..report
        };
        assert!(without.to_json()["writes_floor_p99_ms"].is_null());
        assert!(!without.to_string().contains("writes floor"));
    }

    #[test]
    fn hold_report() {
        let report = Hold {
            builds: 10_000,
            to_all_finished: Duration::from_secs(90),
            holding: Some(Cost {
                cpu: Duration::from_secs(5),
                rss_kib: 30 * 1024,
            }),
            idle: Duration::from_secs(60),
            after_idle: Some(Cost {
                cpu: Duration::from_millis(20),
                rss_kib: 29 * 1024,
            }),
        };
        let restart = Restart {
            hold: report.clone(),
            to_ready: Duration::from_millis(1500),
            to_pod: Duration::from_millis(1800),
            reconciles: Some(10_001),
            served: Served {
                lists: 42.0,
                list_bytes: 50.0 * 1024.0 * 1024.0,
                watches: 6.0,
            },
            settled: Some(Cost {
                cpu: Duration::from_secs(2),
                rss_kib: 25 * 1024,
            }),
            idle: Duration::from_secs(60),
            after_idle: Some(Cost {
                cpu: Duration::ZERO,
                rss_kib: 19 * 1024,
            }),
            rss_slope_mib_per_hour: Some(-0.5),
            list_floor: ListFloor {
                builds: Duration::from_millis(2600),
                pods: Duration::from_millis(2100),
                unselected: Duration::from_millis(1350),
            },
        };
        let json = restart.to_json();
        assert_eq!(json["relist_list_mib"], 50.0);
        assert!((json["ready_to_pod_s"].as_f64().unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(json["hold"]["rss_mib"], 30.0);
        let text = restart.to_string();
        let verdict = |row: &str| {
            text.lines()
                .find(|l| l.starts_with(row))
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
        };
        assert_eq!(
            verdict("restart: start -> a new Build's pod").as_deref(),
            Some("ok")
        );
        assert_eq!(
            verdict("restart: controller RSS settled").as_deref(),
            Some("MISSED")
        );
        assert_eq!(verdict("restart: RSS after idle").as_deref(), Some("ok"));
        assert!(text.contains("42 requests, 50.0 MiB; 6 WATCHes"), "{text}");
        assert!(
            text.contains("4.70 s (Builds 2.60 s, pods 2.10 s)"),
            "{text}"
        );
        assert!((json["list_floor_s"].as_f64().unwrap() - 4.7).abs() < 1e-9);

        let json = report.to_json();
        assert_eq!(json["rss_mib"], 30.0);
        assert_eq!(json["rss_after_idle_mib"], 29.0);
        assert_eq!(json["idle_cpu_ms"], 20.0);
        assert_eq!(json["cpu_ms_per_build"], 0.5);
        let text = report.to_string();
        assert!(text.contains("controller CPU idle 60.00 s"), "{text}");
        // 30 MiB misses the 20 MiB of 10,000 and meets the 48 MiB of 50,000.
        assert!(
            text.lines()
                .any(|l| l.starts_with("controller RSS holding them") && l.ends_with("MISSED")),
            "{text}"
        );
        let fifty = Hold {
            builds: 50_000,
            ..report
        }
        .to_string();
        assert!(
            fifty
                .lines()
                .any(|l| l.starts_with("controller RSS holding them") && l.ends_with("ok")),
            "{fifty}"
        );
    }
}

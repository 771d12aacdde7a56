//! Soak: Builds at a steady rate against the in-cluster controller for an hour
//! (`--soak-duration`), a mix of two-step Builds with sleeps and Builds whose second step
//! fails. Every Build must end as its kind expects (none lost); the leading controller's RSS
//! and CPU are sampled every 10 s, and its memory must be flat after the warm-up (the first
//! fifth); the node's disk use must be flat too. Finished Builds are deleted a minute after
//! they end, as a user's retention would (README: a Build's pod lives as long as its Build),
//! so their pods and logs go with them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use build_types::Build;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::builds::{succeeded, tools_step};
use super::verdict::Checked;
use super::world::{NS, World};
use crate::e2e::install::{RELEASE_NS, container_id, lease_holder};
use throwaway_cluster::{Cluster, ctr, run_quiet};

/// How often the controller is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// How long a finished Build is kept before the soak deletes it.
const RETENTION: Duration = Duration::from_secs(60);

/// One sample of the leading controller process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sample {
    /// Seconds since the soak started.
    pub(super) at: f64,
    /// Resident memory, MiB.
    pub(super) rss_mib: f64,
    /// CPU time used since the process started, seconds.
    pub(super) cpu_s: f64,
}

/// The soak's settings.
pub(crate) struct Soak {
    /// How long Builds are created.
    pub(crate) duration: Duration,
    /// Builds created per minute.
    pub(crate) per_minute: u32,
}

/// The verdict's name, with the soak's settings.
pub(super) fn title(soak: &Soak) -> String {
    format!(
        "soak: {} Builds a minute for {}s against the in-cluster controller",
        soak.per_minute,
        soak.duration.as_secs()
    )
}

/// Runs the scenario.
pub(super) async fn run(world: &World, cluster: &Cluster, soak: &Soak) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let started = Instant::now();
    let disk_before = disk_use(&cluster.dir);
    let every = Duration::from_secs(60) / soak.per_minute.max(1);
    let mut next_build = Instant::now();
    let mut next_sample = Instant::now();
    let mut created = 0_usize;
    let mut tally = Tally::default();
    let mut samples = Vec::new();
    while started.elapsed() < soak.duration {
        if Instant::now() >= next_build {
            create(world, created).await?;
            created += 1;
            next_build += every;
        }
        if Instant::now() >= next_sample {
            if let Some(sample) = sample(&world.client, &cluster.socket, started).await {
                samples.push(sample);
            }
            next_sample += SAMPLE_EVERY;
            tally.sweep(world, false).await?;
        }
        if throwaway_cluster::interrupted() {
            anyhow::bail!("interrupted");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = Instant::now();
    while tally.finished < created && drained.elapsed() < Duration::from_secs(180) {
        tally.sweep(world, false).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tally.sweep(world, true).await?;
    let disk_after = disk_use(&cluster.dir);
    report(&mut checked, &samples, created, &tally);
    checked.note(format!(
        "node disk use (containerd, kubelet, pod logs): {:.1} MiB before, {:.1} MiB after",
        disk_before as f64 / 1048576.0,
        disk_after as f64 / 1048576.0
    ));
    checked.check(
        disk_after.saturating_sub(disk_before) < 64 << 20,
        "the node's disk use grew by 64 MiB or more",
    );
    Ok(checked)
}

/// Creates the `i`th Build: one in five fails its second step.
async fn create(world: &World, i: usize) -> anyhow::Result<()> {
    let fails = i % 5 == 4;
    let two = if fails {
        tools_step("two", "echo failing on purpose; exit 3")
    } else {
        tools_step("two", "echo two; sleep 1")
    };
    let build: Build = serde_json::from_value(json!({
        "metadata": {"name": format!("soak-{i}"), "namespace": NS,
                     "labels": {"e2e-soak": if fails { "fails" } else { "succeeds" }}},
        "spec": {"steps": [tools_step("one", &format!("echo one; sleep {}", 1 + i % 3)), two]},
    }))?;
    world
        .builds()
        .create(&PostParams::default(), &build)
        .await?;
    Ok(())
}

/// The Builds seen finished, as expected or not.
#[derive(Debug, Default)]
struct Tally {
    finished: usize,
    endings: BTreeMap<String, usize>,
    wrong: Vec<String>,
    ended_at: BTreeMap<String, Instant>,
}

impl Tally {
    /// Counts newly finished soak Builds, and deletes those finished over [`RETENTION`] ago
    /// (all of them when `all`).
    async fn sweep(&mut self, world: &World, all: bool) -> anyhow::Result<()> {
        let builds = world
            .builds()
            .list(&ListParams::default().labels("e2e-soak"))
            .await?;
        for build in builds.items {
            let name = build.name_any();
            let condition = succeeded(&build).unwrap_or_default();
            let status = condition["status"].as_str().unwrap_or("").to_owned();
            if status != "True" && status != "False" {
                continue;
            }
            if !self.ended_at.contains_key(&name) {
                self.ended_at.insert(name.clone(), Instant::now());
                self.finished += 1;
                let reason = condition["reason"].as_str().unwrap_or("").to_owned();
                *self
                    .endings
                    .entry(format!("{status} {reason}"))
                    .or_default() += 1;
                let wanted = match build.labels().get("e2e-soak").map(String::as_str) {
                    Some("fails") => ("False", "StepFailed"),
                    _ => ("True", "Succeeded"),
                };
                if (status.as_str(), reason.as_str()) != wanted {
                    self.wrong.push(format!("{name}: {status} {reason}"));
                }
            }
            if all || self.ended_at[&name].elapsed() >= RETENTION {
                let _ = world
                    .builds()
                    .delete(&name, &DeleteParams::background())
                    .await;
            }
        }
        Ok(())
    }
}

/// The leading controller's RSS and CPU time, through its container's process.
async fn sample(client: &Client, socket: &Path, started: Instant) -> Option<Sample> {
    let leader = lease_holder(client).await.ok()??;
    let pod = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), RELEASE_NS)
        .get(&leader)
        .await
        .ok()?;
    let id = container_id(&pod)?;
    let tasks = run_quiet(ctr(socket).args(["-n", "k8s.io", "tasks", "ls"])).ok()?;
    let pid = tasks
        .lines()
        .find(|l| l.starts_with(&id))?
        .split_whitespace()
        .nth(1)?
        .to_owned();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(Sample {
        at: started.elapsed().as_secs_f64(),
        rss_mib: rss_kib(&status)? / 1024.0,
        cpu_s: cpu_ticks(&stat)? / 100.0,
    })
}

/// `VmRSS` from `/proc/PID/status`, KiB.
fn rss_kib(status: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User plus system CPU ticks from `/proc/PID/stat`.
fn cpu_ticks(stat: &str) -> Option<f64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Bytes used under the node's state: containerd's root, the kubelet's root, the pod logs.
fn disk_use(dir: &Path) -> u64 {
    ["containerd/root", "kubelet/root", "pod-logs"]
        .iter()
        .filter_map(|sub| {
            let out = std::process::Command::new("du")
                .args(["-sb"])
                .arg(dir.join(sub))
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// The least-squares slope of RSS over time, MiB per hour.
pub(super) fn slope_mib_per_hour(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.at).sum::<f64>() / n;
    let mean_m = samples.iter().map(|s| s.rss_mib).sum::<f64>() / n;
    let covariance: f64 = samples
        .iter()
        .map(|s| (s.at - mean_t) * (s.rss_mib - mean_m))
        .sum();
    let variance: f64 = samples.iter().map(|s| (s.at - mean_t).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance * 3600.0
    }
}

/// Notes the counts and the memory; checks none lost, every ending as expected, and memory
/// flat after the warm-up: the last sample within 4 MiB of the warm-up's maximum.
fn report(checked: &mut Checked, samples: &[Sample], created: usize, tally: &Tally) {
    checked.note(format!(
        "{created} Builds created, {} finished: {}; {} ended otherwise than their kind expects",
        tally.finished,
        tally
            .endings
            .iter()
            .map(|(ending, n)| format!("{n} {ending}"))
            .collect::<Vec<_>>()
            .join(", "),
        tally.wrong.len()
    ));
    checked.check(
        tally.finished == created,
        format!("{} Builds lost", created - tally.finished.min(created)),
    );
    checked.check(
        tally.wrong.is_empty(),
        format!("unexpected endings: {:?}", tally.wrong),
    );
    let Some(first) = samples.first() else {
        checked.check(false, "no sample of the controller");
        return;
    };
    let warm = samples.len() / 5;
    let after = &samples[warm..];
    let warm_max = samples[..warm.max(1)]
        .iter()
        .map(|s| s.rss_mib)
        .fold(0.0_f64, f64::max);
    let rss = |f: fn(f64, f64) -> f64, start: f64| after.iter().map(|s| s.rss_mib).fold(start, f);
    let last = samples.last().unwrap_or(first);
    checked.note(format!(
        "controller RSS over {} samples every 10 s: first {:.1}, min {:.1}, max {:.1}, last {:.1} MiB; after the warm-up slope {:+.2} MiB/h; CPU {:.2} s in all ({:.1} ms per Build)",
        samples.len(),
        first.rss_mib,
        rss(f64::min, f64::MAX),
        rss(f64::max, 0.0),
        last.rss_mib,
        slope_mib_per_hour(after),
        last.cpu_s - first.cpu_s,
        (last.cpu_s - first.cpu_s) * 1000.0 / created.max(1) as f64,
    ));
    checked.check(
        last.rss_mib <= warm_max + 4.0,
        format!(
            "memory grew after the warm-up: {:.1} MiB last against {warm_max:.1} MiB at most during it",
            last.rss_mib
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: f64, rss_mib: f64) -> Sample {
        Sample {
            at,
            rss_mib,
            cpu_s: 0.0,
        }
    }

    #[test]
    fn the_slope_is_in_mib_per_hour() {
        let rising = [at(0.0, 10.0), at(1800.0, 11.0), at(3600.0, 12.0)];
        assert!((slope_mib_per_hour(&rising) - 2.0).abs() < 1e-9);
        assert_eq!(slope_mib_per_hour(&[at(0.0, 10.0), at(10.0, 10.0)]), 0.0);
        assert_eq!(slope_mib_per_hour(&[at(0.0, 10.0)]), 0.0);
    }

    #[test]
    fn rss_and_cpu_are_read_from_proc() {
        assert_eq!(rss_kib("Name:\tx\nVmRSS:\t  20480 kB\n"), Some(20480.0));
        let stat = "42 (build controller) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0";
        assert_eq!(cpu_ticks(stat), Some(200.0));
    }
}

//! Load for the lifecycle scenarios (upgrade, leader lost): Builds in flight of two kinds,
//! each judged by the ending its kind expects and by its one pod; and the controller
//! replicas' logs, followed while they run, read for who led when.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::{AsyncBufReadExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, LogParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::builds::{create_build, succeeded, tools_step, wait_done};
use super::verdict::Checked;
use super::world::{NS, World};
use crate::e2e::install::{CONTROLLER_SELECTOR, RELEASE_NS};

/// What a Build of the load is expected to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Two steps with sleeps: `Succeeded=True`.
    Succeeds,
    /// A step that exits 3: `Succeeded=False`, reason `StepFailed`, the step named.
    FailsStep,
}

/// Builds in flight.
pub(super) struct Load {
    builds: Vec<(String, Kind)>,
    started: Instant,
}

/// Creates `count` Builds named `<prefix>-<i>`: one in five fails its second step, the others
/// run two steps of 3 to 12 s.
pub(super) async fn start(world: &World, prefix: &str, count: usize) -> anyhow::Result<Load> {
    let started = Instant::now();
    let specs: Vec<(String, Kind, serde_json::Value)> = (0..count)
        .map(|i| {
            let name = format!("{prefix}-{i}");
            let (kind, steps) = if i % 5 == 4 {
                (
                    Kind::FailsStep,
                    json!([
                        tools_step("one", "echo one; sleep 3"),
                        tools_step("two", "echo failing on purpose; exit 3"),
                    ]),
                )
            } else {
                (
                    Kind::Succeeds,
                    json!([
                        tools_step("one", &format!("echo one; sleep {}", 3 + i % 8)),
                        tools_step("two", "echo two; sleep 2"),
                    ]),
                )
            };
            let build = json!({
                "metadata": {"name": name, "namespace": NS, "labels": {"e2e-load": prefix}},
                "spec": {"steps": steps},
            });
            (name, kind, build)
        })
        .collect();
    let creates = specs
        .iter()
        .map(|(_, _, build)| create_build(world, build.clone()));
    for created in join_all(creates).await {
        created?;
    }
    Ok(Load {
        builds: specs
            .into_iter()
            .map(|(name, kind, _)| (name, kind))
            .collect(),
        started,
    })
}

impl Load {
    /// Waits for every Build and checks each ended as its kind expects with exactly one pod;
    /// notes the counts.
    pub(super) async fn finish(&self, world: &World, checked: &mut Checked) -> anyhow::Result<()> {
        let done = join_all(
            self.builds
                .iter()
                .map(|(name, _)| wait_done(world, name, Duration::from_secs(400))),
        )
        .await;
        let seconds = self.started.elapsed().as_secs_f64();
        let pods = world
            .pods()
            .list(&ListParams::default().labels("build.knative.dev/buildName"))
            .await?;
        let mut pods_of: BTreeMap<String, usize> = BTreeMap::new();
        for pod in &pods.items {
            if let Some(build) = pod.labels().get("build.knative.dev/buildName") {
                *pods_of.entry(build.clone()).or_default() += 1;
            }
        }
        let mut endings: BTreeMap<String, usize> = BTreeMap::new();
        for ((name, kind), build) in self.builds.iter().zip(done) {
            let build = build?;
            let condition = succeeded(&build).unwrap_or_default();
            let field = |k: &str| condition.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let (status, reason, message) = (field("status"), field("reason"), field("message"));
            *endings
                .entry(format!("Succeeded={status} reason={reason}"))
                .or_default() += 1;
            match kind {
                Kind::Succeeds => checked.check(
                    status == "True",
                    format!("{name}: Succeeded={status} reason={reason} {message:?}, wanted True"),
                ),
                Kind::FailsStep => checked.check(
                    status == "False" && reason == "StepFailed" && message.contains("two"),
                    format!(
                        "{name}: Succeeded={status} reason={reason} {message:?}, wanted False StepFailed naming step two"
                    ),
                ),
            }
            let count = pods_of.get(name).copied().unwrap_or(0);
            checked.check(count == 1, format!("{name} has {count} pods"));
        }
        let one_pod = self
            .builds
            .iter()
            .filter(|(name, _)| pods_of.get(name) == Some(&1))
            .count();
        checked.note(format!(
            "{} Builds ended in {seconds:.1}s after the first create: {}; {one_pod} of {} with exactly one pod",
            self.builds.len(),
            endings
                .iter()
                .map(|(ending, n)| format!("{n} {ending}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.builds.len(),
        ));
        Ok(())
    }
}

/// The controller replicas' log lines, as the kubelet timestamps them, by pod.
pub(super) struct ReplicaLogs {
    lines: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Follows the log of every controller pod that exists now or appears later, until
/// [`ReplicaLogs::stop`].
pub(super) fn follow_replicas(client: Client) -> ReplicaLogs {
    let lines: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    let shared = lines.clone();
    let task = tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, RELEASE_NS);
        let mut followed = BTreeSet::new();
        let mut followers = Vec::new();
        loop {
            if let Ok(list) = pods
                .list(&ListParams::default().labels(CONTROLLER_SELECTOR))
                .await
            {
                for pod in list.items {
                    let name = pod.name_any();
                    if followed.insert(name.clone()) {
                        followers.push(tokio::spawn(follow(pods.clone(), name, shared.clone())));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    ReplicaLogs { lines, task }
}

/// Follows one pod's log (again after each end, the lines kept once each) while it exists.
async fn follow(
    pods: Api<Pod>,
    name: String,
    into: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
) {
    let params = LogParams {
        container: Some("controller".to_owned()),
        follow: true,
        timestamps: true,
        ..Default::default()
    };
    loop {
        if let Ok(stream) = pods.log_stream(&name, &params).await {
            let mut lines = stream.lines();
            while let Ok(Some(line)) = lines.try_next().await {
                into.lock()
                    .expect("the log map")
                    .entry(name.clone())
                    .or_default()
                    .insert(line);
            }
        }
        if matches!(pods.get_opt(&name).await, Ok(None)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One replica's time as leader, from its log: from "became leader" to "released the lease"
/// or "lost the lease" (`None`: still leading when the log was read, or ended without a word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Leading {
    /// The pod.
    pub(super) pod: String,
    /// When it became leader.
    pub(super) from: Timestamp,
    /// When it said it stopped.
    pub(super) to: Option<Timestamp>,
}

impl ReplicaLogs {
    /// Stops following; returns every replica's times as leader, in order.
    pub(super) fn stop(self) -> Vec<Leading> {
        self.task.abort();
        let lines = self.lines.lock().expect("the log map").clone();
        leading_times(&lines)
    }
}

/// Every replica's times as leader from its timestamped log lines, ordered by start.
pub(super) fn leading_times(lines: &BTreeMap<String, BTreeSet<String>>) -> Vec<Leading> {
    let mut times = Vec::new();
    for (pod, lines) in lines {
        let mut events: Vec<(Timestamp, bool)> = lines
            .iter()
            .filter_map(|line| {
                let (stamp, text) = line.split_once(' ')?;
                let stamp: Timestamp = stamp.parse().ok()?;
                if text.contains("became leader") {
                    Some((stamp, true))
                } else if text.contains("released the lease") || text.contains("lost the lease") {
                    Some((stamp, false))
                } else {
                    None
                }
            })
            .collect();
        events.sort();
        let mut open: Option<Timestamp> = None;
        for (stamp, starts) in events {
            match (starts, open) {
                (true, None) => open = Some(stamp),
                (false, Some(from)) => {
                    times.push(Leading {
                        pod: pod.clone(),
                        from,
                        to: Some(stamp),
                    });
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(from) = open {
            times.push(Leading {
                pod: pod.clone(),
                from,
                to: None,
            });
        }
    }
    times.sort_by_key(|l| l.from);
    times
}

/// The pairs of times as leader that overlap, as lines (none: never two leaders at once).
pub(super) fn overlaps(times: &[Leading]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, a) in times.iter().enumerate() {
        for b in &times[i + 1..] {
            let a_ends_after_b_starts = a.to.is_none_or(|to| to > b.from);
            if a.pod != b.pod && a_ends_after_b_starts {
                found.push(format!(
                    "{} led from {} to {}, {} from {}",
                    a.pod,
                    a.from,
                    a.to.map_or("-".to_owned(), |t| t.to_string()),
                    b.pod,
                    b.from
                ));
            }
        }
    }
    found
}

/// The times as leader as one line each.
pub(super) fn describe(times: &[Leading]) -> String {
    times
        .iter()
        .map(|l| {
            format!(
                "{} led {} .. {}",
                l.pod,
                l.from,
                l.to.map_or("(still leading)".to_owned(), |t| t.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(pods: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        pods.iter()
            .map(|(pod, lines)| {
                (
                    (*pod).to_owned(),
                    lines.iter().map(|l| (*l).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_handover_after_a_release_does_not_overlap() {
        let times = leading_times(&logs(&[
            (
                "old",
                &[
                    r#"2026-12-06T10:00:00.5Z {"fields":{"message":"became leader"}}"#,
                    r#"2026-12-06T10:00:05Z {"fields":{"message":"reconciled"}}"#,
                    r#"2026-12-06T10:01:00.25Z {"fields":{"message":"released the lease"}}"#,
                ],
            ),
            (
                "new",
                &[r#"2026-12-06T10:01:00.75Z {"fields":{"message":"became leader"}}"#],
            ),
        ]));
        assert_eq!(times.len(), 2);
        assert_eq!(times[0].pod, "old");
        assert_eq!(times[1].to, None);
        assert!(overlaps(&times).is_empty(), "{:?}", overlaps(&times));
    }

    #[test]
    fn two_leaders_at_once_are_named() {
        let times = leading_times(&logs(&[
            (
                "a",
                &[
                    "2026-12-06T10:00:00Z became leader",
                    "2026-12-06T10:00:10Z lost the lease; stopped reconciling",
                ],
            ),
            ("b", &["2026-12-06T10:00:09Z became leader"]),
        ]));
        let found = overlaps(&times);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("a led from 2026-12-06T10:00:00Z"),
            "{found:?}"
        );
    }
}

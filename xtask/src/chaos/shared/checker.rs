//! The end-state checker: what every update of every Build the harness saw, and what the
//! cluster holds at the end, must satisfy. Pure: it runs on a recorded stream of observations
//! (the harness writes one JSON line per Build update, `builds.jsonl`), so the unit tests feed it
//! recorded and hand-made streams.
//!
//! - Once a Build's `Succeeded` condition is final (`True` or `False`), its status, reason,
//!   message and `completionTime` never change again (step states may).
//! - At the end, each Build that should have a pod has exactly one (owned by it), each is
//!   final with the expected status and reason, each finished one has a `completionTime`, and
//!   no finished Build's pod is left running (it has ended, or the controller stopped it).

use std::collections::{BTreeMap, HashMap};

use build_types::{Build, ConditionStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

/// What a Build's verdict is at one update: its `Succeeded` condition and `completionTime`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    /// `True`, `False` or `Unknown`.
    pub(crate) status: String,
    /// The condition's reason.
    pub(crate) reason: String,
    /// The condition's message.
    pub(crate) message: String,
    /// `completionTime`, RFC 3339.
    pub(crate) completion_time: Option<String>,
}

impl Verdict {
    /// Whether the verdict is given (`True` or `False`).
    pub(crate) fn is_final(&self) -> bool {
        self.status == "True" || self.status == "False"
    }
}

/// One update of one Build, as a watch delivered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Observation {
    /// The Build's name.
    pub(crate) build: String,
    /// Its `resourceVersion`.
    pub(crate) resource_version: String,
    /// Its verdict, if it has a `Succeeded` condition.
    pub(crate) verdict: Option<Verdict>,
}

impl Observation {
    /// The observation of `build` as it is now.
    pub(crate) fn of(build: &Build) -> Observation {
        let status = build.status.as_ref();
        let verdict = status.and_then(|s| s.succeeded()).map(|c| Verdict {
            status: match c.status {
                ConditionStatus::True => "True",
                ConditionStatus::False => "False",
                ConditionStatus::Unknown => "Unknown",
            }
            .to_owned(),
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
            completion_time: status
                .and_then(|s| s.completion_time.as_ref())
                .map(|t| t.0.to_string()),
        });
        Observation {
            build: build.name_any(),
            resource_version: build.resource_version().unwrap_or_default(),
            verdict,
        }
    }
}

/// Every update seen so far, reduced to what the invariant needs.
#[derive(Debug, Default)]
pub(crate) struct History {
    finals: HashMap<String, (Verdict, String)>,
    /// Updates observed.
    pub(crate) updates: usize,
    /// Every change of a verdict after it was final, one line each.
    pub(crate) violations: Vec<String>,
}

impl History {
    /// Takes one observation in.
    pub(crate) fn observe(&mut self, observation: &Observation) {
        self.updates += 1;
        let Some(verdict) = &observation.verdict else {
            if let Some((before, at)) = self.finals.get(&observation.build) {
                self.violations.push(format!(
                    "{}: final {} / {} at resourceVersion {at} lost its condition at {}",
                    observation.build, before.status, before.reason, observation.resource_version
                ));
            }
            return;
        };
        match self.finals.get(&observation.build) {
            Some((before, at)) if before != verdict => self.violations.push(format!(
                "{}: final verdict changed: {before:?} at resourceVersion {at} became {verdict:?} at {}",
                observation.build, observation.resource_version
            )),
            Some(_) => {}
            None if verdict.is_final() => {
                self.finals.insert(
                    observation.build.clone(),
                    (verdict.clone(), observation.resource_version.clone()),
                );
            }
            None => {}
        }
    }

    /// Replays a recorded stream: one JSON [`Observation`] per line.
    pub(crate) fn replay(lines: &str) -> anyhow::Result<History> {
        let mut history = History::default();
        for (number, line) in lines.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let observation: Observation = serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("line {}: {e}", number + 1))?;
            history.observe(&observation);
        }
        Ok(history)
    }

    /// How many Builds have reached a final verdict.
    pub(crate) fn finished(&self) -> usize {
        self.finals.len()
    }
}

/// How one Build must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    /// `True` or `False`.
    pub(crate) status: &'static str,
    /// The reason.
    pub(crate) reason: &'static str,
    /// How many pods it must have had.
    pub(crate) pods: Pods,
}

/// How many pods a Build must have had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pods {
    /// Exactly one.
    One,
    /// One, or none when its timeout passed before its pod could be created (the API server
    /// was down longer than the timeout): it then ends `BuildTimeout` with no pod.
    OneUnlessTimedOutFirst,
}

/// What the end state showed: counts, and every problem.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct EndReport {
    /// Builds checked.
    pub(crate) builds: usize,
    /// Builds that ended as expected.
    pub(crate) as_expected: usize,
    /// Pods owned by the checked Builds.
    pub(crate) pods: usize,
    /// Builds that timed out before their pod could be created.
    pub(crate) timed_out_without_pod: usize,
    /// Finished Builds by reason.
    pub(crate) reasons: BTreeMap<String, usize>,
    /// One line per problem.
    pub(crate) problems: Vec<String>,
}

/// Checks the end state: `expected` names every Build the run created.
pub(crate) fn check_end(
    expected: &BTreeMap<String, Expected>,
    builds: &[Build],
    pods: &[Pod],
) -> EndReport {
    let mut report = EndReport::default();
    let by_name: HashMap<String, &Build> = builds.iter().map(|b| (b.name_any(), b)).collect();
    let mut pods_of: HashMap<String, Vec<&Pod>> = HashMap::new();
    for pod in pods {
        for owner in pod.owner_references() {
            if owner.kind == "Build" && owner.controller == Some(true) {
                pods_of.entry(owner.uid.clone()).or_default().push(pod);
            }
        }
    }
    for (name, want) in expected {
        report.builds += 1;
        let Some(build) = by_name.get(name) else {
            report.problems.push(format!("{name}: missing"));
            continue;
        };
        let owned = pods_of
            .get(&build.uid().unwrap_or_default())
            .map_or(&[][..], Vec::as_slice);
        report.pods += owned.len();
        let pods_fine = check_pods(&mut report, name, want, build, owned);
        let verdict_fine = check_verdict(&mut report, name, want, build);
        if pods_fine && verdict_fine {
            report.as_expected += 1;
        }
    }
    report
}

/// Checks the pods `owned` by Build `name`: one (none only if it timed out first), and none
/// left running once the Build finished. Adds the problems; whether there was none.
fn check_pods(
    report: &mut EndReport,
    name: &str,
    want: &Expected,
    build: &Build,
    owned: &[&Pod],
) -> bool {
    let mut fine = true;
    let timed_out = build
        .status
        .as_ref()
        .and_then(|s| s.succeeded())
        .is_some_and(|c| c.reason.as_deref() == Some("BuildTimeout"));
    match (want.pods, owned.len()) {
        (_, 1) => {}
        (Pods::OneUnlessTimedOutFirst, 0) if timed_out => report.timed_out_without_pod += 1,
        (_, count) => {
            fine = false;
            let names: Vec<String> = owned.iter().map(|p| p.name_any()).collect();
            report.problems.push(format!(
                "{name}: {count} pods ({}), expected 1",
                names.join(", "),
            ));
        }
    }
    let done = build.status.as_ref().is_some_and(|s| s.is_done());
    for pod in owned.iter().filter(|p| done && still_running(p)) {
        fine = false;
        report.problems.push(format!(
            "{name}: finished, but its pod {} still runs and was never stopped",
            pod.name_any()
        ));
    }
    fine
}

/// Checks Build `name`'s verdict: final, with the expected status and reason, and a
/// `completionTime`. Counts its reason; adds the problems; whether there was none.
fn check_verdict(report: &mut EndReport, name: &str, want: &Expected, build: &Build) -> bool {
    let observation = Observation::of(build);
    match &observation.verdict {
        Some(verdict) if verdict.is_final() => {
            let mut fine = true;
            *report.reasons.entry(verdict.reason.clone()).or_default() += 1;
            if (verdict.status.as_str(), verdict.reason.as_str()) != (want.status, want.reason) {
                fine = false;
                report.problems.push(format!(
                    "{name}: ended {} / {} ({}), expected {} / {}",
                    verdict.status, verdict.reason, verdict.message, want.status, want.reason
                ));
            }
            if verdict.completion_time.is_none() {
                fine = false;
                report
                    .problems
                    .push(format!("{name}: finished without a completionTime"));
            }
            fine
        }
        Some(verdict) => {
            report.problems.push(format!(
                "{name}: not finished: {} / {} ({})",
                verdict.status, verdict.reason, verdict.message
            ));
            false
        }
        None => {
            report
                .problems
                .push(format!("{name}: no Succeeded condition"));
            false
        }
    }
}

/// Whether a pod neither ended (`Succeeded`, `Failed`) nor was stopped by the controller
/// (`activeDeadlineSeconds` lowered to 1).
fn still_running(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let stopped = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d <= 1);
    !matches!(phase, Some("Succeeded" | "Failed")) && !stopped
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn observed(build: &str, rv: u32, verdict: Option<(&str, &str, Option<&str>)>) -> String {
        let verdict = verdict.map(|(status, reason, completion)| Verdict {
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            completion_time: completion.map(Into::into),
        });
        serde_json::to_string(&Observation {
            build: build.into(),
            resource_version: rv.to_string(),
            verdict,
        })
        .unwrap()
    }

    #[test]
    fn a_stream_whose_verdicts_stay_put_is_clean() {
        let t = Some("2026-01-01T00:00:05Z");
        let stream = [
            observed("a", 1, None),
            observed("a", 2, Some(("Unknown", "Pending", None))),
            observed("a", 3, Some(("Unknown", "Building", None))),
            observed("a", 4, Some(("True", "Succeeded", t))),
            // step states settle: same verdict, new resourceVersion
            observed("a", 5, Some(("True", "Succeeded", t))),
            observed("b", 6, Some(("False", "BuildTimeout", t))),
        ]
        .join("\n");
        let history = History::replay(&stream).unwrap();
        assert_eq!(history.updates, 6);
        assert_eq!(history.finished(), 2);
        assert!(history.violations.is_empty(), "{:?}", history.violations);
    }

    #[test]
    fn a_final_verdict_that_changes_is_caught() {
        let stream = [
            observed("a", 4, Some(("False", "BuildCancelled", Some("T1")))),
            observed("a", 7, Some(("False", "BuildTimeout", Some("T1")))),
            observed("b", 8, Some(("True", "Succeeded", Some("T1")))),
            observed("b", 9, Some(("True", "Succeeded", Some("T2")))),
            observed("c", 10, Some(("False", "StepFailed", Some("T1")))),
            observed("c", 11, None),
        ]
        .join("\n");
        let history = History::replay(&stream).unwrap();
        assert_eq!(history.violations.len(), 3, "{:?}", history.violations);
        assert!(history.violations[0].starts_with("a: final verdict changed"));
        assert!(history.violations[1].contains("T2"));
        assert!(history.violations[2].contains("lost its condition"));
    }

    #[test]
    fn a_broken_recording_names_its_line() {
        let error = History::replay("\n{}\n").unwrap_err().to_string();
        assert!(error.starts_with("line 2:"), "{error}");
    }

    fn build(name: &str, uid: &str, condition: Option<(&str, &str)>, done: bool) -> Build {
        let mut status = json!({});
        if let Some((s, reason)) = condition {
            status["conditions"] = json!([{"type": "Succeeded", "status": s, "reason": reason}]);
        }
        if done {
            status["completionTime"] = json!("2026-01-01T00:00:05Z");
        }
        serde_json::from_value(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
            "metadata": {"name": name, "uid": uid, "resourceVersion": "1"},
            "spec": {"steps": [{"name": "s", "image": "busybox"}]},
            "status": status,
        }))
        .unwrap()
    }

    fn pod(name: &str, owner_uid: &str) -> Pod {
        pod_in(name, owner_uid, "Succeeded", None)
    }

    fn pod_in(name: &str, owner_uid: &str, phase: &str, deadline: Option<i64>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": [{
                "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build", "name": "x",
                "uid": owner_uid, "controller": true,
            }]},
            "spec": {"containers": [], "activeDeadlineSeconds": deadline},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn the_end_state_is_checked_build_by_build() {
        let want = |status, reason| Expected {
            status,
            reason,
            pods: Pods::One,
        };
        let expected = BTreeMap::from([
            ("ok".to_owned(), want("True", "Succeeded")),
            ("two-pods".to_owned(), want("True", "Succeeded")),
            ("wrong-reason".to_owned(), want("False", "BuildCancelled")),
            ("no-time".to_owned(), want("False", "StepFailed")),
            ("running".to_owned(), want("True", "Succeeded")),
            ("gone".to_owned(), want("True", "Succeeded")),
            ("left-running".to_owned(), want("False", "BuildTimeout")),
            ("stopping".to_owned(), want("False", "BuildTimeout")),
            (
                "timed-out-first".to_owned(),
                Expected {
                    pods: Pods::OneUnlessTimedOutFirst,
                    ..want("False", "BuildTimeout")
                },
            ),
            (
                "no-pod-no-timeout".to_owned(),
                Expected {
                    pods: Pods::OneUnlessTimedOutFirst,
                    ..want("False", "BuildTimeout")
                },
            ),
        ]);
        let builds = [
            build("ok", "u1", Some(("True", "Succeeded")), true),
            build("two-pods", "u2", Some(("True", "Succeeded")), true),
            build("wrong-reason", "u3", Some(("False", "BuildTimeout")), true),
            build("no-time", "u4", Some(("False", "StepFailed")), false),
            build("running", "u5", Some(("Unknown", "Building")), false),
            build("left-running", "u6", Some(("False", "BuildTimeout")), true),
            build("stopping", "u7", Some(("False", "BuildTimeout")), true),
            build(
                "timed-out-first",
                "u8",
                Some(("False", "BuildTimeout")),
                true,
            ),
            build(
                "no-pod-no-timeout",
                "u10",
                Some(("False", "StepFailed")),
                true,
            ),
        ];
        let pods = [
            pod("ok-pod", "u1"),
            pod("two-pods-pod", "u2"),
            pod("two-pods-pod-2", "u2"),
            pod("wrong-reason-pod", "u3"),
            pod("no-time-pod", "u4"),
            pod_in("running-pod", "u5", "Pending", None),
            pod_in("left-running-pod", "u6", "Pending", None),
            pod_in("stopping-pod", "u7", "Pending", Some(1)),
            pod("stranger", "u9"),
        ];
        let report = check_end(&expected, &builds, &pods);
        assert_eq!(report.builds, 10);
        assert_eq!(report.as_expected, 3);
        assert_eq!(report.pods, 8);
        assert_eq!(report.timed_out_without_pod, 1);
        assert_eq!(
            report.problems,
            [
                "gone: missing",
                "left-running: finished, but its pod left-running-pod still runs and was never stopped",
                "no-pod-no-timeout: 0 pods (), expected 1",
                "no-pod-no-timeout: ended False / StepFailed (), expected False / BuildTimeout",
                "no-time: finished without a completionTime",
                "running: not finished: Unknown / Building ()",
                "two-pods: 2 pods (two-pods-pod, two-pods-pod-2), expected 1",
                "wrong-reason: ended False / BuildTimeout (), expected False / BuildCancelled",
            ]
        );
        assert_eq!(report.reasons["Succeeded"], 2);
    }
}

//! What a Build was built from and what it produced, as its pod shows it: the status extension
//! (`sources`, `stepImages`, `results`, `controllerVersion`) and the `ResultsReported`
//! condition that says what was dropped. Pure: part of [`status_from_pod`](crate::status_from_pod).

use build_types::{
    Build, BuildStatus, Condition, ConditionSeverity, ConditionStatus, ContainerImage,
    RESULTS_DROPPED, RESULTS_REPORTED, SourceKind, SourceSpec, SourceStatus, StepImage, StepResult,
};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::git_init::redact;
use crate::results::{
    SOURCE_COMMIT, SOURCE_REVISION, SOURCE_URL, parse_results, termination_budget,
};

/// The version `status.controllerVersion` records: this workspace's, which the controller that
/// maps pod statuses with this crate shares.
pub const CONTROLLER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How many reasons a `ResultsReported` message lists before it only counts the rest.
const MAX_LISTED_DROPS: usize = 5;

/// Fills the status extension from the pod and sets (or clears) the `ResultsReported`
/// condition, stamped `now` when it changes.
///
/// The pod's init containers are, in order, the credential initializer, one per source
/// (`spec.source` then `spec.sources`), then the steps. For each source: what the spec asked
/// for (git URLs with credentials replaced by `***`), the fetcher's image as written and the
/// `imageID` the kubelet reports, and, once it exited 0, the `commit` and `revision` it
/// reported (a custom source may also report `url`; its other keys are results). For each step:
/// its image as written and its `imageID`, and, once it exited 0, its results. A container
/// that did not exit 0 reports nothing: its message is the tail of its log. Every value read
/// has URL credentials replaced by `***`. What breaks a rule of the results format
/// ([`parse_results`]), and a message that reached the kubelet's limit
/// ([`termination_budget`]), is dropped and named in the condition's message.
pub(crate) fn record(pod: &Pod, build: &Build, status: &mut BuildStatus, now: &Time) {
    let slots = slots(pod);
    let budget = termination_budget(container_count(pod));
    let mut reader = Reader {
        budget,
        results: Vec::new(),
        dropped: Vec::new(),
    };
    let sources = build.spec.all_sources();
    // After the credential initializer: the sources, then the steps.
    let fetchers_and_steps = slots.get(1..).unwrap_or_default();
    let (source_slots, step_slots) =
        fetchers_and_steps.split_at(sources.len().min(fetchers_and_steps.len()));
    status.sources = sources
        .iter()
        .zip(source_slots)
        .map(|(source, slot)| reader.source(source, slot))
        .collect();
    status.step_images = step_slots
        .iter()
        .map(|slot| {
            if let Some(message) = slot.succeeded_with() {
                let read = reader.read(slot.name, message);
                reader.keep(slot.name, read);
            }
            StepImage {
                step: slot.name.to_owned(),
                image: slot.image(),
            }
        })
        .collect();
    status.results = reader.results;
    status.controller_version = Some(CONTROLLER_VERSION.to_owned());
    report_dropped(status, &reader.dropped, now);
}

/// One init container: its name and image from the pod's spec, and its status.
struct Slot<'a> {
    name: &'a str,
    written: Option<&'a str>,
    status: Option<&'a ContainerStatus>,
}

impl Slot<'_> {
    /// The image as written (the spec's, else the kubelet's) and the `imageID` that ran.
    fn image(&self) -> ContainerImage {
        let reported = self.status.map(|s| s.image.as_str());
        let non_empty = |s: &&str| !s.is_empty();
        ContainerImage {
            image: self
                .written
                .or(reported)
                .filter(non_empty)
                .map(str::to_owned),
            image_id: self
                .status
                .map(|s| s.image_id.as_str())
                .filter(non_empty)
                .map(str::to_owned),
        }
    }

    /// The termination message of a container that exited 0 (`""` when it wrote none).
    fn succeeded_with(&self) -> Option<&str> {
        let terminated = self.status?.state.as_ref()?.terminated.as_ref()?;
        (terminated.exit_code == 0).then(|| terminated.message.as_deref().unwrap_or_default())
    }
}

/// The init containers in order: from the pod's spec, each with its status; without a spec, as
/// the kubelet reports them (in spec order).
fn slots(pod: &Pod) -> Vec<Slot<'_>> {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let spec = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    if spec.is_empty() {
        return statuses
            .iter()
            .map(|status| Slot {
                name: &status.name,
                written: None,
                status: Some(status),
            })
            .collect();
    }
    spec.iter()
        .map(|container| Slot {
            name: &container.name,
            written: container.image.as_deref(),
            status: statuses.iter().find(|s| s.name == container.name),
        })
        .collect()
}

/// How many containers the pod has, init containers included: how many share the kubelet's
/// 12 KiB of termination messages.
fn container_count(pod: &Pod) -> usize {
    let spec = pod
        .spec
        .as_ref()
        .map(|s| s.init_containers.as_ref().map_or(0, Vec::len) + s.containers.len());
    let status = pod.status.as_ref().map(|s| {
        s.init_container_statuses.as_ref().map_or(0, Vec::len)
            + s.container_statuses.as_ref().map_or(0, Vec::len)
    });
    spec.into_iter().chain(status).max().unwrap_or(1)
}

/// Reads termination messages into results, keeping the reasons for what it drops.
struct Reader {
    budget: usize,
    results: Vec<StepResult>,
    dropped: Vec<String>,
}

impl Reader {
    /// The `(key, value)`s of `step`'s message, values redacted; none when the message reached
    /// the kubelet's limit.
    fn read(&mut self, step: &str, message: &str) -> Vec<(String, String)> {
        if message.len() >= self.budget {
            self.dropped.push(format!(
                "build step {step:?}: its termination message reached the {} bytes the kubelet keeps of each container's in this pod (12 KiB shared by its containers, at most 4 KiB each) and may have been cut, so its results are dropped",
                self.budget
            ));
            return Vec::new();
        }
        let parsed = parse_results(message);
        self.dropped.extend(
            parsed
                .dropped
                .iter()
                .map(|d| format!("build step {step:?}: {d}")),
        );
        parsed
            .results
            .into_iter()
            .map(|(key, value)| (key, redact(&value)))
            .collect()
    }

    /// Keeps `read` as `step`'s results.
    fn keep(&mut self, step: &str, read: Vec<(String, String)>) {
        self.results
            .extend(read.into_iter().map(|(name, value)| StepResult {
                name,
                value,
                step: step.to_owned(),
            }));
    }

    /// A source as its spec asks and its container reports.
    fn source(&mut self, source: &SourceSpec, slot: &Slot<'_>) -> SourceStatus {
        let (kind, url, revision) = asked(source);
        let mut status = SourceStatus {
            name: source.name.clone().filter(|n| !n.is_empty()),
            step: slot.name.to_owned(),
            kind,
            url,
            revision,
            commit: None,
            image: slot.image(),
        };
        // The GCS fetcher is not ours: its message is not in the results format.
        let Some(message) = slot.succeeded_with().filter(|_| kind != SourceKind::Gcs) else {
            return status;
        };
        let mut others = Vec::new();
        for (key, value) in self.read(slot.name, message) {
            match key.as_str() {
                SOURCE_COMMIT => status.commit = Some(value),
                SOURCE_REVISION => status.revision = Some(value),
                SOURCE_URL if kind == SourceKind::Custom => status.url = Some(value),
                _ if kind == SourceKind::Custom => others.push((key, value)),
                _ => {}
            }
        }
        self.keep(slot.name, others);
        status
    }
}

/// A source's kind, and the URL (or location) and revision its spec asks for.
fn asked(source: &SourceSpec) -> (SourceKind, Option<String>, Option<String>) {
    let non_empty = |s: &String| !s.is_empty();
    if let Some(git) = &source.git {
        let revision = Some(git.revision.clone()).filter(non_empty);
        (SourceKind::Git, Some(redact(&git.url)), revision)
    } else if let Some(gcs) = &source.gcs {
        (
            SourceKind::Gcs,
            Some(gcs.location.clone()).filter(non_empty),
            None,
        )
    } else {
        (SourceKind::Custom, None, None)
    }
}

/// Sets the `ResultsReported` condition to `False` naming what was dropped, or removes it when
/// nothing was.
fn report_dropped(status: &mut BuildStatus, dropped: &[String], now: &Time) {
    if dropped.is_empty() {
        status.conditions.retain(|c| c.type_ != RESULTS_REPORTED);
        return;
    }
    let mut message = dropped
        .iter()
        .take(MAX_LISTED_DROPS)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if dropped.len() > MAX_LISTED_DROPS {
        message.push_str(&format!("; and {} more", dropped.len() - MAX_LISTED_DROPS));
    }
    let condition = Condition {
        type_: RESULTS_REPORTED.to_owned(),
        status: ConditionStatus::False,
        severity: Some(ConditionSeverity::Warning),
        last_transition_time: None,
        reason: Some(RESULTS_DROPPED.to_owned()),
        message: Some(message),
    };
    status.set_condition(condition, now.clone());
}

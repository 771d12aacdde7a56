//! Mapping a build pod's status back to its Build's status.

use build_types::{
    Build, BuildProvider, BuildStatus, ClusterSpec, Condition, ConditionStatus, Reason,
};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::layout::PodLayout;

/// The message of a Build that ran past its timeout: `Build "app" failed to finish within
/// "10m0s"`.
pub fn timeout_message(build: &Build) -> String {
    format!(
        "Build {:?} failed to finish within {:?}",
        build.metadata.name.as_deref().unwrap_or_default(),
        build.spec.timeout_or_default().to_string()
    )
}

/// The Build's status as its pod shows it. Pure: the pod and the Build in, a status out.
///
/// Starts from the Build's current status (so other conditions, `observedGeneration` and the
/// `Succeeded` condition's `lastTransitionTime`, while its value does not change, are kept), then
/// sets:
///
/// - `builder: Cluster` and `cluster` {namespace, podName};
/// - `startTime`: the pod's, or its creation time while it is not scheduled yet;
/// - `completionTime`: when the pod has finished, the latest timestamp it carries (see below);
/// - `stepStates` and `stepsCompleted`: the steps' init containers only, in order — the
///   credential initializer and one container per source (`spec.source` and `spec.sources`,
///   custom sources included) are skipped;
/// - the status extension: `sources` (what each asked for, the commit its fetcher reported),
///   `stepImages` (each step's image and the `imageID` that ran), `results` (the `KEY=VALUE`
///   lines of steps that exited 0, [`parse_results`](crate::parse_results)),
///   `controllerVersion`, and a `ResultsReported` condition (`False`, `Warning`) naming what
///   was dropped;
/// - the `Succeeded` condition, by pod phase:
///   - `Pending` → `Unknown` / `Pending`, with the most useful message: a waiting container's
///     reason and message, else a failing `PodScheduled` condition (`Unschedulable`), else the
///     pod's message. Once a step has started (the pod stays `Pending` while its init containers
///     run) → `Unknown` / `Building`.
///   - a container waiting for a fail-fast reason ([`Reason::is_fail_fast`]; any phase but the
///     final ones) → `Unknown` with that reason, so the controller can fail fast;
///   - `Running` → `Unknown` / `Building`; `Succeeded` → `True` / `Succeeded`;
///   - `Failed` → `False` with [`Reason::BuildTimeout`] (pod reason `DeadlineExceeded`),
///     [`Reason::PodEvicted`], [`Reason::StepOOMKilled`], [`Reason::StepFailed`] (the first
///     container that exited non-zero, with the `kubectl logs` command that shows why), or else
///     [`Reason::BuildFailed`].
///
/// The condition's transition time, when its value changes, is taken from the pod rather than
/// the clock, to keep this function pure: the latest timestamp the pod carries (creation, start,
/// condition transitions, container starts and finishes), or the Unix epoch for a pod with no
/// timestamp at all.
pub fn status_from_pod(pod: &Pod, build: &Build) -> BuildStatus {
    let empty = PodStatus::default();
    let pod_status = pod.status.as_ref().unwrap_or(&empty);
    let mut status = build.status.clone().unwrap_or_default();

    let namespace = pod
        .metadata
        .namespace
        .clone()
        .or_else(|| build.metadata.namespace.clone())
        .unwrap_or_else(|| "default".to_owned());
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    status.builder = Some(BuildProvider::Cluster);
    status.cluster = Some(ClusterSpec {
        namespace: namespace.clone(),
        pod_name: pod_name.clone(),
    });
    status.start_time = pod_status
        .start_time
        .clone()
        .or_else(|| pod.metadata.creation_timestamp.clone())
        .or(status.start_time);

    let steps = PodLayout::of(build).step_statuses(pod);
    status.step_states = steps
        .iter()
        .map(|s| s.state.clone().unwrap_or_default())
        .collect();
    status.steps_completed = steps
        .iter()
        .filter(|s| s.state.as_ref().is_some_and(|st| st.terminated.is_some()))
        .map(|s| s.name.clone())
        .collect();

    let now = latest_time(pod).unwrap_or(Time(Timestamp::UNIX_EPOCH));
    crate::record::record(pod, build, &mut status, &now);
    let phase = pod_status.phase.as_deref().unwrap_or_default();
    status.completion_time = has_ended(pod).then(|| now.clone());

    let logs = LogsHint {
        namespace: &namespace,
        pod: &pod_name,
    };
    let condition = match phase {
        "Succeeded" => Condition::succeeded(ConditionStatus::True, Reason::Succeeded, ""),
        "Failed" => failure(pod, pod_status, build, &logs),
        // A step whose process the kernel killed for memory fails its Build even when the
        // pod goes on: the step's shell may carry on and exit 0, and the kubelet may then
        // never start the next container (the pod stays Pending: tektoncd/pipeline#10170).
        _ => match all_statuses(pod_status).find(|c| oom_killed(c)) {
            Some(container) => oom_condition(pod, container, &logs),
            None => in_progress(pod_status, phase),
        },
    };
    status.set_condition(condition, now);
    status
}

/// Where `kubectl logs` finds a container's output.
struct LogsHint<'a> {
    namespace: &'a str,
    pod: &'a str,
}

impl LogsHint<'_> {
    fn command(&self, container: &str) -> String {
        format!(
            "kubectl -n {} logs {} -c {container}",
            self.namespace, self.pod
        )
    }
}

pub(crate) fn all_statuses(status: &PodStatus) -> impl Iterator<Item = &ContainerStatus> {
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
}

/// The first container waiting for a fail-fast reason ([`Reason::is_fail_fast`]): its
/// status, the reason and the kubelet's message.
pub(crate) fn stuck_container(status: &PodStatus) -> Option<(&ContainerStatus, Reason, &str)> {
    all_statuses(status).find_map(|container| {
        let waiting = container.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?.parse::<Reason>().ok()?;
        reason.is_fail_fast().then(|| {
            let message = waiting.message.as_deref().unwrap_or_default();
            (container, reason, message)
        })
    })
}

/// Whether `pod` has ended: its phase is `Succeeded` or `Failed`, so no container of it runs
/// again and its container states are final.
pub fn has_ended(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// Whether a Build whose status is `status` is settled ([`BuildStatus::settled`]) with `pod`,
/// its pod as just read (`None`: it never had one, or it is gone): it has finished, and its pod
/// has ended, so nothing about it changes any more.
///
/// ```
/// use build_types::{BuildStatus, Condition, ConditionStatus};
/// let mut status = BuildStatus::default();
/// assert!(!build_pod::is_settled(&status, None));
/// let failed = Condition::succeeded(ConditionStatus::False, "PodDeleted", "gone");
/// status.conditions.push(failed);
/// assert!(build_pod::is_settled(&status, None));
/// ```
pub fn is_settled(status: &BuildStatus, pod: Option<&Pod>) -> bool {
    status.is_done() && pod.is_none_or(has_ended)
}

fn in_progress(status: &PodStatus, phase: &str) -> Condition {
    if let Some((container, reason, message)) = stuck_container(status) {
        return Condition::succeeded(
            ConditionStatus::Unknown,
            reason,
            waiting_message(&container.name, reason.as_str(), Some(message)),
        );
    }

    let running =
        all_statuses(status).find(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()));
    let started = running.is_some()
        || all_statuses(status).any(|s| s.state.as_ref().is_some_and(|st| st.terminated.is_some()));
    if phase == "Running" || started {
        let message = running
            .filter(|s| s.name.starts_with(crate::layout::STEP_CONTAINER_PREFIX))
            .map(|s| format!("build step {:?} is running", s.name))
            .unwrap_or_default();
        return Condition::succeeded(ConditionStatus::Unknown, Reason::Building, message);
    }

    Condition::succeeded(
        ConditionStatus::Unknown,
        Reason::Pending,
        pending_message(status, phase),
    )
}

/// The most useful explanation of why a pod is still pending.
fn pending_message(status: &PodStatus, phase: &str) -> String {
    let waiting: Vec<_> = all_statuses(status)
        .filter_map(|s| Some((s, s.state.as_ref()?.waiting.as_ref()?)))
        .filter(|(_, w)| w.reason.as_deref() != Some("PodInitializing"))
        .collect();
    if let Some((container, w)) = waiting
        .iter()
        .find(|(_, w)| w.message.as_deref().is_some_and(|m| !m.is_empty()))
    {
        let reason = w.reason.as_deref().unwrap_or("Waiting");
        return waiting_message(&container.name, reason, w.message.as_deref());
    }
    let failing: Vec<_> = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.status != "True")
        .collect();
    let describe = |c: &k8s_openapi::api::core::v1::PodCondition| {
        let mut text = format!("pod condition {} is {}", c.type_, c.status);
        if let Some(reason) = c.reason.as_deref().filter(|r| !r.is_empty()) {
            text.push_str(&format!(" ({reason})"));
        }
        if let Some(message) = c.message.as_deref().filter(|m| !m.is_empty()) {
            text.push_str(&format!(": {message}"));
        }
        text
    };
    if let Some(scheduled) = failing.iter().find(|c| c.type_ == "PodScheduled") {
        return describe(scheduled);
    }
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        return message.to_owned();
    }
    if let Some((container, w)) = waiting
        .iter()
        .find(|(_, w)| w.reason.as_deref().is_some_and(|r| !r.is_empty()))
    {
        let reason = w.reason.as_deref().unwrap_or_default();
        return waiting_message(&container.name, reason, None);
    }
    if let Some(condition) = failing.first() {
        return describe(condition);
    }
    if phase.is_empty() || phase == "Pending" {
        "Pending".to_owned()
    } else {
        format!("pod phase is {phase}")
    }
}

pub(crate) fn waiting_message(container: &str, reason: &str, message: Option<&str>) -> String {
    match message.filter(|m| !m.is_empty()) {
        Some(message) => format!("build step {container:?} is waiting: {reason}: {message}"),
        None => format!("build step {container:?} is waiting: {reason}"),
    }
}

fn failure(pod: &Pod, status: &PodStatus, build: &Build, logs: &LogsHint<'_>) -> Condition {
    let pod_message = status.message.as_deref().filter(|m| !m.is_empty());
    let failed = |reason: Reason, message: String| {
        Condition::succeeded(ConditionStatus::False, reason, message)
    };
    match status.reason.as_deref() {
        Some("DeadlineExceeded") => return failed(Reason::BuildTimeout, timeout_message(build)),
        Some("Evicted") => {
            return failed(
                Reason::PodEvicted,
                match pod_message {
                    Some(message) => format!("build pod was evicted: {message}"),
                    None => "build pod was evicted".to_owned(),
                },
            );
        }
        _ => {}
    }
    // Before the containers: a pod deleted or evicted through the API fails because its steps
    // were killed (exit 137 or 143), which is not what the user should read first.
    if let Some((reason, message)) = removal(pod, build) {
        return failed(reason, message);
    }
    for container in all_statuses(status) {
        let Some(terminated) = container.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            continue;
        };
        let image = image_text(pod, container);
        let said = terminated
            .message
            .as_deref()
            .and_then(termination_line)
            .map(|line| format!(": {line}"))
            .unwrap_or_default();
        if oom_killed(container) {
            return oom_condition(pod, container, logs);
        }
        if terminated.exit_code != 0 {
            return failed(
                Reason::StepFailed,
                format!(
                    "build step {:?} exited with code {}{said} ({image}); for logs run: {}",
                    container.name,
                    terminated.exit_code,
                    logs.command(&container.name)
                ),
            );
        }
    }
    failed(
        Reason::BuildFailed,
        pod_message
            .unwrap_or("build failed for unspecified reasons")
            .to_owned(),
    )
}

/// Whether the container ended with the kernel's OOM kill (whatever its exit code).
fn oom_killed(container: &ContainerStatus) -> bool {
    container
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
}

/// The failure of a Build whose container was OOM-killed.
fn oom_condition(pod: &Pod, container: &ContainerStatus, logs: &LogsHint<'_>) -> Condition {
    Condition::succeeded(
        ConditionStatus::False,
        Reason::StepOOMKilled,
        format!(
            "build step {:?} was killed for using more memory than its limit (OOMKilled; {}); for logs run: {}",
            container.name,
            image_text(pod, container),
            logs.command(&container.name)
        ),
    )
}

/// Why a pod is going away when something other than its own end removes it: evicted (the
/// eviction API, `kubectl drain`, the taint manager, preemption: the API server or the
/// controller that did it sets a `DisruptionTarget` condition) or deleted (a
/// `deletionTimestamp`: the controller never deletes a pod, so someone else did). `None` for a
/// pod that is not being removed.
pub(crate) fn removal(pod: &Pod, build: &Build) -> Option<(Reason, String)> {
    let disruption = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| {
            c.iter()
                .find(|c| c.type_ == "DisruptionTarget" && c.status == "True")
        });
    if let Some(condition) = disruption {
        let reason = condition.reason.as_deref().unwrap_or("DisruptionTarget");
        let message = match condition.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => format!("build pod was evicted: {reason}: {message}"),
            None => format!("build pod was evicted: {reason}"),
        };
        return Some((Reason::PodEvicted, message));
    }
    pod.metadata.deletion_timestamp.as_ref()?;
    Some((
        Reason::PodDeleted,
        deleted_message(
            pod.metadata.name.as_deref().unwrap_or_default(),
            build.metadata.name.as_deref().unwrap_or_default(),
        ),
    ))
}

/// The message of a Build whose pod was deleted before it finished.
pub(crate) fn deleted_message(pod: &str, build: &str) -> String {
    format!("pod {pod:?} was deleted before build {build:?} finished")
}

/// The longest part of a container's termination message a failure message quotes.
const MAX_TERMINATION_LINE: usize = 300;

/// The last non-empty line of a container's termination message (what `git-init` and
/// `creds-init` write, or the tail of a step's log under `FallbackToLogsOnError`), shortened to
/// [`MAX_TERMINATION_LINE`] bytes.
fn termination_line(message: &str) -> Option<String> {
    let line = message.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    if line.len() <= MAX_TERMINATION_LINE {
        return Some(line.to_owned());
    }
    let mut end = MAX_TERMINATION_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}...", &line[..end]))
}

/// The image of a container as the user wrote it (from the pod's spec), followed by the digest
/// the kubelet ran when it reports one: `image: "busybox:1.36", digest sha256:…`.
fn image_text(pod: &Pod, container: &ContainerStatus) -> String {
    let spec = pod.spec.as_ref();
    let written = spec
        .into_iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        .find(|c| c.name == container.name)
        .and_then(|c| c.image.as_deref())
        .filter(|image| !image.is_empty())
        .unwrap_or(&container.image);
    let digest = [container.image_id.as_str(), container.image.as_str()]
        .into_iter()
        .find_map(|id| id.find("sha256:").map(|at| &id[at..]))
        .filter(|digest| !written.contains(digest));
    match digest {
        Some(digest) => format!("image: {written:?}, digest {digest}"),
        None => format!("image: {written:?}"),
    }
}

/// The latest timestamp the pod carries: when this status was, at the latest, observed.
fn latest_time(pod: &Pod) -> Option<Time> {
    let status = pod.status.as_ref();
    let state_times = |state: &ContainerState| {
        [
            state.running.as_ref().and_then(|r| r.started_at.clone()),
            state.terminated.as_ref().and_then(|t| t.started_at.clone()),
            state
                .terminated
                .as_ref()
                .and_then(|t| t.finished_at.clone()),
        ]
    };
    let containers = status.into_iter().flat_map(all_statuses).flat_map(|s| {
        s.state
            .iter()
            .chain(s.last_state.iter())
            .flat_map(state_times)
            .collect::<Vec<_>>()
    });
    let conditions = status
        .into_iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .map(|c| c.last_transition_time.clone());
    [
        pod.metadata.creation_timestamp.clone(),
        status.and_then(|s| s.start_time.clone()),
    ]
    .into_iter()
    .chain(conditions)
    .chain(containers)
    .flatten()
    .max()
}

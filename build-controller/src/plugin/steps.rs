//! Which container of a build pod is which, and what each one is doing.

use build_pod::PodLayout;
use build_types::{Build, Condition};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// One init container of a build pod, in the order the kubelet runs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StepContainer {
    /// The container's name, such as `build-step-build`.
    pub(crate) container: String,
    /// What the user calls it: the name without `build-step-` (`build`, `git-source-0`).
    pub(crate) name: String,
    /// Its image.
    pub(crate) image: String,
    /// The credential initializer or a source fetcher, rather than a step of the Build.
    pub(crate) helper: bool,
}

/// The pod's init containers, in order ([`PodLayout`]): the credential initializer, one per
/// source, then the steps. The final `nop` container is never listed.
pub(crate) fn step_containers(build: &Build, pod: &Pod) -> Vec<StepContainer> {
    let layout = PodLayout::of(build);
    pod.spec
        .iter()
        .flat_map(|spec| spec.init_containers.iter().flatten())
        .enumerate()
        .map(|(index, container)| StepContainer {
            container: container.name.clone(),
            name: display_name(&container.name).to_owned(),
            image: container.image.clone().unwrap_or_default(),
            helper: layout.is_helper(index),
        })
        .collect()
}

/// A container's name as shown: without the `build-step-` prefix.
pub(crate) fn display_name(container: &str) -> &str {
    PodLayout::display_name(container)
}

/// The status the kubelet reports for the init container `name`.
pub(crate) use build_pod::init_container_status as container_status;

/// What a container is doing, simplified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No status yet, or waiting for its turn (`PodInitializing`).
    NotStarted,
    /// Waiting for a reason worth telling (`ImagePullBackOff`, `CreateContainerConfigError`).
    Stuck {
        /// The waiting reason.
        reason: String,
        /// The kubelet's message.
        message: String,
    },
    /// Running.
    Running,
    /// Finished.
    Terminated {
        /// Its exit code.
        exit_code: i32,
        /// The kubelet's reason (`Completed`, `Error`, `OOMKilled`).
        reason: String,
    },
}

/// The waiting reasons that only mean "not yet".
const ORDINARY_WAITING: &[&str] = &["PodInitializing", "ContainerCreating", ""];

/// What the container with this status is doing.
pub(crate) fn phase(status: Option<&ContainerStatus>) -> Phase {
    let Some(state) = status.and_then(|s| s.state.as_ref()) else {
        return Phase::NotStarted;
    };
    phase_of_state(state)
}

fn phase_of_state(state: &ContainerState) -> Phase {
    if let Some(terminated) = &state.terminated {
        return Phase::Terminated {
            exit_code: terminated.exit_code,
            reason: terminated.reason.clone().unwrap_or_default(),
        };
    }
    if state.running.is_some() {
        return Phase::Running;
    }
    match &state.waiting {
        Some(waiting) => {
            let reason = waiting.reason.clone().unwrap_or_default();
            if ORDINARY_WAITING.contains(&reason.as_str()) {
                Phase::NotStarted
            } else {
                Phase::Stuck {
                    reason,
                    message: waiting.message.clone().unwrap_or_default(),
                }
            }
        }
        None => Phase::NotStarted,
    }
}

/// When the container started and finished, as far as it got.
pub(crate) fn times(status: Option<&ContainerStatus>) -> (Option<&Time>, Option<&Time>) {
    let Some(state) = status.and_then(|s| s.state.as_ref()) else {
        return (None, None);
    };
    if let Some(terminated) = &state.terminated {
        return (
            terminated.started_at.as_ref(),
            terminated.finished_at.as_ref(),
        );
    }
    if let Some(running) = &state.running {
        return (running.started_at.as_ref(), None);
    }
    (None, None)
}

/// The time from `start` to `end`, written as a Go duration (`1m2s`).
pub(crate) fn elapsed(start: &Time, end: &Time) -> String {
    let nanos = end.0.duration_since(start.0).as_nanos();
    let secs = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
    build_types::Duration::from_secs(secs.max(0)).to_string()
}

/// The name of the Build's pod: the one its status names, else the one the controller gives it.
pub(crate) fn pod_name_of(build: &Build) -> String {
    build
        .status
        .as_ref()
        .and_then(|s| s.cluster.as_ref())
        .map(|c| c.pod_name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| build_pod::pod_name(build))
}

/// Whether the Build's status says it has (had) a pod.
pub(crate) fn has_had_pod(build: &Build) -> bool {
    build
        .status
        .as_ref()
        .and_then(|s| s.cluster.as_ref())
        .is_some_and(|c| !c.pod_name.is_empty())
}

/// The Build's `Succeeded` condition.
pub(crate) fn succeeded(build: &Build) -> Option<&Condition> {
    build.status.as_ref()?.succeeded()
}

/// Whether the Build has finished, successfully or not.
pub(crate) fn is_done(build: &Build) -> bool {
    build.status.as_ref().is_some_and(|s| s.is_done())
}

/// The step that failed the Build: the first container that exited non-zero, else (a timeout, a
/// cancel) the one that was running or was the last to start.
pub(crate) fn failed_step(build: &Build, pod: Option<&Pod>) -> Option<String> {
    let pod = pod?;
    let containers = step_containers(build, pod);
    let mut last_started = None;
    for container in &containers {
        match phase(container_status(pod, &container.container)) {
            Phase::Terminated { exit_code, .. } if exit_code != 0 => {
                return Some(container.name.clone());
            }
            Phase::Terminated { .. } | Phase::Running | Phase::Stuck { .. } => {
                last_started = Some(container.name.clone());
            }
            Phase::NotStarted => {}
        }
    }
    last_started
}

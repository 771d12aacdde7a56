//! What a Build's pod means for the Build: the status to write, whether to stop the pod, when
//! to look again. Pure: the Build, its pod and the time in, a decision out; the controller
//! does the reading and the writing.

use std::time::Duration;

use build_types::{Build, BuildStatus, Condition, ConditionStatus, Reason};
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::name::pod_name;
use crate::status::{
    all_statuses, deleted_message, has_ended, removal, status_from_pod, stuck_container,
    timeout_message, waiting_message,
};

/// The `activeDeadlineSeconds` a stopped pod gets: the smallest the API server accepts. The
/// kubelet then stops the pod, and its logs stay readable (it is never deleted).
pub const STOPPED_DEADLINE_SECONDS: i64 = 1;

/// The settings [`assess`] applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a container may wait for a fail-fast reason ([`Reason::is_fail_fast`]: an
    /// image that cannot be pulled, a missing ConfigMap) before the Build fails with it.
    pub image_pull_grace: Duration,
}

/// What to do about a Build, as [`assess`] decides.
// One value per reconcile, moved once: boxing the status would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Assessment {
    /// The Build has no pod and never had one: compile it and create the pod.
    CreatePod,
    /// Nothing to write; wait for the Build or its pod to change.
    Unchanged,
    /// Write a status.
    Update(Update),
}

/// A status to write, and what comes with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The Build's status as it should be; unchanged fields may equal the current ones.
    pub status: BuildStatus,
    /// Whether the pod must be stopped before the status is written.
    pub stop: Stop,
    /// When a deadline (the timeout, an image pull grace) passes, if nothing changes first.
    pub recheck_at: Option<Timestamp>,
}

/// Whether an [`Update`] stops the pod: the Build fails on the controller's decision while
/// its pod may still run. Stopping lowers the pod's deadline to [`STOPPED_DEADLINE_SECONDS`]
/// (nothing to do for a pod that [`is_stopped`] already).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Leave the pod alone.
    No,
    /// Stop the pod: the Build is cancelled.
    Now,
    /// The Build fails on a deadline (its timeout, an image pull grace) as the pod was seen:
    /// a caller that read the pod from a cache reads it afresh and assesses again before
    /// stopping it, so that a success the cache has not seen yet wins (knative/build#599).
    Confirm,
}

impl Update {
    /// An update that writes `status` and nothing else.
    pub fn new(status: BuildStatus) -> Update {
        Update {
            status,
            stop: Stop::No,
            recheck_at: None,
        }
    }

    fn stopping(status: BuildStatus) -> Update {
        Update {
            stop: Stop::Confirm,
            ..Update::new(status)
        }
    }
}

/// Decides what a Build's pod (`None`: there is none) means for the Build at `now`, by the
/// controller's rules:
///
/// 1. A finished Build (`Succeeded` `True` or `False`) keeps its condition and
///    `completionTime`; only its `stepStates` and `stepsCompleted` follow its pod as it ends,
///    and a failed Build's pod that still runs unstopped is stopped.
/// 2. Cancelled (`spec.status: BuildCancelled`): the pod is stopped and the Build fails with
///    `BuildCancelled` — unless the pod has already succeeded.
/// 6. The pod is mirrored into the status ([`status_from_pod`]), keeping the start time first
///    recorded, from which the timeout runs.
/// 7. Past `startTime + timeout` the pod is stopped and the Build fails with `BuildTimeout`;
///    a pod that has succeeded wins over a timeout seen late.
/// 8. A container waiting for a fail-fast reason longer than [`Policy::image_pull_grace`]
///    (counted from the pod's start or the end of the container before it) stops the pod and
///    fails the Build with that reason.
/// 9. A pod gone under a Build whose status records it fails the Build with `PodDeleted`.
///
/// Rules 3–5 (validation, missing templates, ServiceAccounts and Secrets, creating the pod)
/// are the caller's, on [`Assessment::CreatePod`].
///
/// The caller passes only a pod the Build owns.
pub fn assess(build: &Build, pod: Option<&Pod>, now: Timestamp, policy: &Policy) -> Assessment {
    let old = build.status.clone().unwrap_or_default();
    if old.is_done() {
        return settle(build, &old, pod);
    }
    if build.spec.is_cancelled() && pod.is_none_or(|p| phase(p) != "Succeeded") {
        let mut status = match pod {
            Some(pod) => mirror(build, &old, pod, now),
            None => old,
        };
        let name = build.metadata.name.as_deref().unwrap_or_default();
        let message = format!("Build {name:?} was cancelled");
        status.fail(Reason::BuildCancelled, message, Time(now));
        let stop = if pod.is_some() { Stop::Now } else { Stop::No };
        return Assessment::Update(Update {
            stop,
            ..Update::new(status)
        });
    }
    match pod {
        Some(pod) => Assessment::Update(follow(build, &old, pod, now, policy)),
        None if old.cluster.is_some() => {
            let message = deleted_message(
                &pod_name(build),
                build.metadata.name.as_deref().unwrap_or_default(),
            );
            let mut status = old;
            status.fail(Reason::PodDeleted, message, Time(now));
            Assessment::Update(Update::new(status))
        }
        None => Assessment::CreatePod,
    }
}

/// Whether a pod needs no stopping: it has finished, or its deadline is already lowered.
pub fn is_stopped(pod: &Pod) -> bool {
    let stopping = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d <= STOPPED_DEADLINE_SECONDS);
    stopping || has_ended(pod)
}

/// The deadline of a Build that has no pod yet (it waits for a template, ServiceAccount or
/// Secret, or its pod cannot be created): its creation time plus its timeout.
pub fn creation_deadline(build: &Build, now: Timestamp) -> Timestamp {
    let created = build
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    add(created, timeout(build))
}

/// Rule 1: a finished Build's step states follow its pod until it has finished too: a pod
/// stopped for a timeout or a cancel goes on ending after the verdict (its killed step
/// terminates, exit 137 or 143, seconds later). A failed Build's pod that still runs unstopped
/// is stopped: it can appear only after the verdict, created by a request that seemed to fail
/// (the API server went down before answering) and retried until the Build timed out.
fn settle(build: &Build, old: &BuildStatus, pod: Option<&Pod>) -> Assessment {
    let Some(pod) = pod else {
        return Assessment::Unchanged;
    };
    let failed = old
        .succeeded()
        .is_some_and(|c| c.status == ConditionStatus::False);
    let stop = if failed && !is_stopped(pod) {
        Stop::Now
    } else {
        Stop::No
    };
    let mirrored = status_from_pod(pod, build);
    let same_steps =
        mirrored.step_states == old.step_states && mirrored.steps_completed == old.steps_completed;
    if same_steps && stop == Stop::No {
        return Assessment::Unchanged;
    }
    let mut status = old.clone();
    status.step_states = mirrored.step_states;
    status.steps_completed = mirrored.steps_completed;
    Assessment::Update(Update {
        stop,
        ..Update::new(status)
    })
}

/// Rules 6–8.
fn follow(build: &Build, old: &BuildStatus, pod: &Pod, now: Timestamp, policy: &Policy) -> Update {
    let empty = PodStatus::default();
    let pod_status = pod.status.as_ref().unwrap_or(&empty);
    let mut status = mirror(build, old, pod, now);
    if !status.is_done()
        && let Some((reason, message)) = removal(pod, build)
    {
        // Deleted or evicted while running: its steps are killed within seconds, and the pod
        // then vanishes; say why now rather than read the kill as a failed step.
        status.fail(reason, message, Time(now));
        return Update::new(status);
    }
    if status.is_done() {
        // The pod's own verdict wins over a timeout that passed since (knative/build#599).
        status.completion_time.get_or_insert(Time(now));
        if let Some(condition) = stopped_for_image_error(build, old, pod, &status, now) {
            status.set_condition(condition, Time(now));
        }
        // A verdict reached while the pod goes on (an OOM-killed step whose pod is stuck)
        // stops it.
        if !has_ended(pod) && !is_stopped(pod) {
            return Update::stopping(status);
        }
        return Update::new(status);
    }

    // 8. Image pull and container configuration errors past the grace period.
    let mut grace_deadline = None;
    if let Some((container, reason, message)) = stuck_container(pod_status) {
        let grace =
            SignedDuration::try_from(policy.image_pull_grace).unwrap_or(SignedDuration::MAX);
        let deadline = add(waiting_since(pod), grace);
        if now >= deadline {
            let text = waiting_message(&container.name, reason.as_str(), Some(message));
            status.fail(reason, text, Time(now));
            return Update::stopping(status);
        }
        grace_deadline = Some(deadline);
    }

    // 7. The timeout, from the start time.
    let deadline = build_deadline(build, &status, now);
    if now >= deadline {
        let message = match waited_for(&status) {
            // a pod never scheduled (or never started) times out with the reason it waited
            Some(waited) => format!("{}; it waited for: {waited}", timeout_message(build)),
            None => timeout_message(build),
        };
        status.fail(Reason::BuildTimeout, message, Time(now));
        return Update::stopping(status);
    }
    Update {
        recheck_at: Some(grace_deadline.map_or(deadline, |g| g.min(deadline))),
        ..Update::new(status)
    }
}

/// What a Build whose pod has not started any step waits for: the `Pending` condition's
/// message (the scheduler's reason, a volume that cannot be mounted, …).
fn waited_for(status: &BuildStatus) -> Option<String> {
    let condition = status.succeeded()?;
    let pending =
        condition.status == ConditionStatus::Unknown && status.reason() == Some(Reason::Pending);
    pending.then(|| condition.message.clone().unwrap_or_default())
}

/// The condition to report instead of `BuildTimeout` when the pod failed on a deadline that
/// the controller lowered for an image error (rule 8), not on the Build's own timeout: a
/// previous reconcile stopped the pod and was interrupted before it wrote why.
fn stopped_for_image_error(
    build: &Build,
    old: &BuildStatus,
    pod: &Pod,
    status: &BuildStatus,
    now: Timestamp,
) -> Option<Condition> {
    let timed_out = status.reason() == Some(Reason::BuildTimeout);
    let stopped_by_us =
        pod.spec.as_ref().and_then(|s| s.active_deadline_seconds) == Some(STOPPED_DEADLINE_SECONDS);
    if !timed_out || !stopped_by_us || now >= build_deadline(build, status, now) {
        return None;
    }
    if let Some((container, reason, message)) = pod.status.as_ref().and_then(stuck_container) {
        return Some(Condition::succeeded(
            ConditionStatus::False,
            reason,
            waiting_message(&container.name, reason.as_str(), Some(message)),
        ));
    }
    let reason = old.reason().filter(|r| r.is_fail_fast())?;
    let message = old.succeeded()?.message.clone().unwrap_or_default();
    Some(Condition::succeeded(
        ConditionStatus::False,
        reason,
        message,
    ))
}

/// The Build's status as its pod shows it ([`status_from_pod`]), keeping the start time first
/// recorded (when the pod was created), from which the timeout runs.
fn mirror(build: &Build, old: &BuildStatus, pod: &Pod, now: Timestamp) -> BuildStatus {
    let mut status = status_from_pod(pod, build);
    if let Some(start) = &old.start_time {
        status.start_time = Some(start.clone());
    }
    status.start_time.get_or_insert(Time(now));
    status
}

/// `startTime + timeout`.
fn build_deadline(build: &Build, status: &BuildStatus, now: Timestamp) -> Timestamp {
    let start = status.start_time.as_ref().map_or(now, |t| t.0);
    add(start, timeout(build))
}

/// Since when the pod's current container has been waiting: the latest of the pod's start (or
/// creation) and the end of any container that has finished before it.
fn waiting_since(pod: &Pod) -> Timestamp {
    let status = pod.status.as_ref();
    let started = status
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0);
    let finished = status.into_iter().flat_map(all_statuses).filter_map(|s| {
        let terminated = s.state.as_ref()?.terminated.as_ref()?;
        terminated.finished_at.as_ref().map(|t| t.0)
    });
    started
        .into_iter()
        .chain(finished)
        .max()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The pod's phase, or `""`.
fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// The Build's timeout, defaulted.
fn timeout(build: &Build) -> SignedDuration {
    SignedDuration::from_nanos(build.spec.timeout_or_default().as_nanos())
}

fn add(at: Timestamp, duration: SignedDuration) -> Timestamp {
    at.checked_add(duration).unwrap_or(Timestamp::MAX)
}

//! What a kubelet would write about a build pod: the harnesses on a control plane alone
//! (`bench-controller`, `chaos`) have no kubelet, so they move pods along themselves with these
//! patches of the status subresource.

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

/// Where a pod has got to, as a kubelet reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The init containers before the last exited 0, the last one runs (phase `Pending`).
    Running,
    /// Every container exited 0 (phase `Succeeded`).
    Succeeded,
    /// Every init container before the last exited 0, the last one exited with this code
    /// (phase `Failed`).
    LastStepFailed(i32),
    /// `activeDeadlineSeconds` passed while the last init container ran: it was killed (exit
    /// 137) and the pod failed with reason `DeadlineExceeded`.
    DeadlineExceeded,
}

/// The merge patch of `pod`'s status subresource that a kubelet sends when `pod` has reached
/// `outcome` at `now` (an RFC 3339 time): the phase, the pod's conditions, and one status per
/// container, in spec order.
pub(crate) fn patch(pod: &Pod, now: &str, outcome: Outcome) -> Value {
    let spec = pod.spec.as_ref();
    let init_containers = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let (phase, initialized, initialized_reason) = match outcome {
        Outcome::Running => ("Pending", "False", "ContainersNotInitialized"),
        Outcome::Succeeded => ("Succeeded", "True", "PodCompleted"),
        Outcome::LastStepFailed(_) | Outcome::DeadlineExceeded => {
            ("Failed", "False", "ContainersNotInitialized")
        }
    };
    let mut body = json!({
        "phase": phase,
        "startTime": now,
        "conditions": [
            condition(now, "PodScheduled", "True", None),
            condition(now, "Initialized", initialized, Some(initialized_reason)),
            condition(now, "ContainersReady", "False", Some("PodCompleted")),
            condition(now, "Ready", "False", Some("PodCompleted")),
        ],
        "initContainerStatuses": init_statuses(init_containers, now, outcome),
        "containerStatuses": main_statuses(containers, now, outcome),
    });
    if outcome == Outcome::DeadlineExceeded {
        body["reason"] = json!("DeadlineExceeded");
        body["message"] = json!("Pod was active on the node longer than the specified deadline");
    }
    json!({ "status": body })
}

/// The init containers' statuses: those before the last exited 0; the last one as `outcome`
/// says.
fn init_statuses(containers: &[Container], now: &str, outcome: Outcome) -> Vec<Value> {
    let last = containers.len().saturating_sub(1);
    let state = |index: usize| match outcome {
        _ if index < last => terminated(now, 0, "Completed"),
        Outcome::Succeeded => terminated(now, 0, "Completed"),
        Outcome::Running => json!({"running": {"startedAt": now}}),
        Outcome::DeadlineExceeded => terminated(now, 137, "Error"),
        Outcome::LastStepFailed(code) => terminated(now, code, "Error"),
    };
    containers
        .iter()
        .enumerate()
        .map(|(index, container)| container_status(container, state(index)))
        .collect()
}

/// The containers' statuses: exited 0 when the pod succeeded, else still waiting for the init
/// containers.
fn main_statuses(containers: &[Container], now: &str, outcome: Outcome) -> Vec<Value> {
    let state = || match outcome {
        Outcome::Succeeded => terminated(now, 0, "Completed"),
        _ => json!({"waiting": {"reason": "PodInitializing"}}),
    };
    containers
        .iter()
        .map(|container| container_status(container, state()))
        .collect()
}

/// One container's status in `state`.
fn container_status(container: &Container, state: Value) -> Value {
    json!({
        "name": container.name,
        "image": container.image.clone().unwrap_or_default(),
        "imageID": "",
        "ready": false,
        "restartCount": 0,
        "started": state.get("running").is_some(),
        "state": state,
    })
}

/// A container state: exited with `code` at `now`.
fn terminated(now: &str, code: i32, reason: &str) -> Value {
    json!({"terminated": {
        "exitCode": code, "reason": reason, "startedAt": now, "finishedAt": now,
    }})
}

/// A pod condition that changed at `now`.
fn condition(now: &str, type_: &str, status: &str, reason: Option<&str>) -> Value {
    let mut condition = json!({"type": type_, "status": status, "lastTransitionTime": now});
    if let Some(reason) = reason {
        condition["reason"] = json!(reason);
    }
    condition
}

/// [`patch`] with [`Outcome::Succeeded`]: what a kubelet sends when every init container and
/// container has exited 0 at `now`.
pub(crate) fn succeeded_patch(pod: &Pod, now: &str) -> Value {
    patch(pod, now, Outcome::Succeeded)
}

#[cfg(test)]
mod tests {
    use build_types::{Build, BuildSpec, ConditionStatus};
    use k8s_openapi::api::core::v1::PodStatus;

    use super::*;

    const NOW: &str = "2026-01-01T00:00:10Z";

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "b-pod-1", "namespace": "ns",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {
                "initContainers": [
                    {"name": "build-step-credential-initializer", "image": "creds"},
                    {"name": "build-step-build", "image": "busybox"},
                ],
                "containers": [{"name": "nop", "image": "nop"}],
            },
        }))
        .unwrap()
    }

    #[test]
    fn every_container_exits_zero_in_spec_order() {
        let patch = succeeded_patch(&pod(), NOW);
        let status = &patch["status"];
        assert_eq!(status["phase"], "Succeeded");
        let names = |key: &str| {
            status[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("initContainerStatuses"),
            ["build-step-credential-initializer", "build-step-build"]
        );
        assert_eq!(names("containerStatuses"), ["nop"]);
        for container in status["initContainerStatuses"]
            .as_array()
            .unwrap()
            .iter()
            .chain(status["containerStatuses"].as_array().unwrap())
        {
            let terminated = &container["state"]["terminated"];
            assert_eq!(terminated["exitCode"], 0, "{container}");
            assert_eq!(terminated["finishedAt"], NOW);
        }
        assert_eq!(status["initContainerStatuses"][1]["image"], "busybox");
    }

    #[test]
    fn the_controller_reads_it_as_success() {
        let mut pod = pod();
        let patch = succeeded_patch(&pod, NOW);
        let status: PodStatus = serde_json::from_value(patch["status"].clone()).unwrap();
        pod.status = Some(status);
        let mut build = Build::new("b", BuildSpec::default());
        build.metadata.namespace = Some("ns".into());
        let status = build_pod::status_from_pod(&pod, &build);
        let succeeded = status.succeeded().expect("a Succeeded condition");
        assert_eq!(succeeded.status, ConditionStatus::True);
        assert_eq!(status.steps_completed, ["build-step-build"]);
        assert_eq!(
            status.completion_time.map(|t| t.0.to_string()),
            Some(NOW.to_owned())
        );
    }

    #[test]
    fn a_pod_without_spec_gets_no_container_statuses() {
        let bare = Pod::default();
        let patch = succeeded_patch(&bare, NOW);
        assert_eq!(patch["status"]["initContainerStatuses"], json!([]));
        assert_eq!(patch["status"]["containerStatuses"], json!([]));
        assert_eq!(patch["status"]["phase"], "Succeeded");
    }

    fn build_status(outcome: Outcome) -> build_types::BuildStatus {
        let mut pod = pod();
        let patch = patch(&pod, NOW, outcome);
        pod.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
        let mut build = Build::new("b", BuildSpec::default());
        build.metadata.namespace = Some("ns".into());
        build_pod::status_from_pod(&pod, &build)
    }

    #[test]
    fn each_outcome_reads_as_the_controller_expects() {
        let running = build_status(Outcome::Running);
        let condition = running.succeeded().unwrap();
        assert_eq!(condition.status, ConditionStatus::Unknown);
        assert_eq!(running.completion_time, None);

        let failed = build_status(Outcome::LastStepFailed(1));
        let condition = failed.succeeded().unwrap();
        assert_eq!(condition.status, ConditionStatus::False);
        assert_eq!(condition.reason.as_deref(), Some("StepFailed"));
        assert!(failed.completion_time.is_some());

        let stopped = build_status(Outcome::DeadlineExceeded);
        let condition = stopped.succeeded().unwrap();
        assert_eq!(condition.status, ConditionStatus::False);
        assert_eq!(condition.reason.as_deref(), Some("BuildTimeout"));
        assert_eq!(
            stopped.step_states[0]
                .terminated
                .as_ref()
                .map(|t| t.exit_code),
            Some(137)
        );
    }
}

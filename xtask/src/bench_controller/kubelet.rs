//! What a kubelet would write when a build pod has run to completion: the benchmark has no
//! kubelet, so it finishes pods itself with this status patch.

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

/// The merge patch of `pod`'s status subresource that a kubelet sends when every init container
/// and container has exited 0 at `now` (an RFC 3339 time): phase `Succeeded`, the pod's
/// conditions, and one terminated status per container, in spec order.
pub(crate) fn succeeded_patch(pod: &Pod, now: &str) -> Value {
    let spec = pod.spec.as_ref();
    let terminated = |container: &Container| {
        json!({
            "name": container.name,
            "image": container.image.clone().unwrap_or_default(),
            "imageID": "",
            "ready": false,
            "restartCount": 0,
            "started": false,
            "state": {"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now,
            }},
        })
    };
    let init: Vec<Value> = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default()
        .iter()
        .map(terminated)
        .collect();
    let main: Vec<Value> = spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(terminated)
        .collect();
    let condition = |type_: &str, status: &str, reason: Option<&str>| {
        let mut condition = json!({"type": type_, "status": status, "lastTransitionTime": now});
        if let Some(reason) = reason {
            condition["reason"] = json!(reason);
        }
        condition
    };
    json!({"status": {
        "phase": "Succeeded",
        "startTime": now,
        "conditions": [
            condition("PodScheduled", "True", None),
            condition("Initialized", "True", Some("PodCompleted")),
            condition("ContainersReady", "False", Some("PodCompleted")),
            condition("Ready", "False", Some("PodCompleted")),
        ],
        "initContainerStatuses": init,
        "containerStatuses": main,
    }})
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
}

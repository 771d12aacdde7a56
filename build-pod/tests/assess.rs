//! Table tests of `assess`: what a Build's pod means for the Build at a given time — the
//! timeout, the image pull grace, cancel, a pod gone, deleted or evicted, a pod no node
//! takes, a success that wins; and of `assess_start`: what happens to a Build whose pod is not
//! there yet — invalid, waiting for what it lacks, rejected, retried, timed out.

use std::time::Duration;

use build_pod::{
    Assessment, ComposeError, Composed, Policy, STOPPED_DEADLINE_SECONDS, StartAttempt,
    StartDecision, Stop, Update, assess, assess_start,
};
use build_types::{Build, ConditionStatus, Report, TemplateKind};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

const CREATED: &str = "2024-01-01T00:00:00Z";
const STARTED: &str = "2024-01-01T00:00:05Z";

fn at(time: &str) -> Timestamp {
    time.parse().unwrap()
}

fn policy() -> Policy {
    Policy {
        image_pull_grace: Duration::from_secs(60),
    }
}

/// A Build with a 10-minute timeout and one step, with `status` (`null`: none) and
/// `spec.status` (`null`: not cancelled).
fn build(status: Value, spec_status: Value) -> Build {
    serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1",
        "kind": "Build",
        "metadata": {"name": "app", "namespace": "ci", "uid": "u-1",
                     "creationTimestamp": CREATED},
        "spec": {"timeout": "10m", "status": spec_status,
                 "steps": [{"name": "build", "image": "busybox"}]},
        "status": status,
    }))
    .unwrap()
}

/// The status of a Build whose pod was created and seen `Pending`.
fn running_status() -> Value {
    json!({
        "cluster": {"namespace": "ci", "podName": "app-pod-123456"},
        "startTime": STARTED,
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Pending",
                        "lastTransitionTime": STARTED}],
    })
}

fn finished_status(status: &str, reason: &str) -> Value {
    json!({
        "cluster": {"namespace": "ci", "podName": "app-pod-123456"},
        "startTime": STARTED,
        "completionTime": "2024-01-01T00:10:05Z",
        "stepStates": [{"running": {"startedAt": STARTED}}],
        "conditions": [{"type": "Succeeded", "status": status, "reason": reason,
                        "message": "it is over", "lastTransitionTime": "2024-01-01T00:10:05Z"}],
    })
}

/// The Build's pod with the step's container in `state`, in pod `phase` (and `extra` status
/// fields), its deadline at `deadline` seconds.
fn pod(phase: &str, step: Value, extra: Value, deadline: i64) -> Pod {
    let mut status = json!({
        "phase": phase,
        "startTime": STARTED,
        "initContainerStatuses": [
            {"name": "build-step-credential-initializer", "image": "creds-init", "imageID": "",
             "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "startedAt": STARTED,
                                      "finishedAt": "2024-01-01T00:00:07Z"}}},
            {"name": "build-step-build", "image": "busybox", "imageID": "", "ready": false,
             "restartCount": 0, "state": step},
        ],
    });
    if let (Value::Object(status), Value::Object(extra)) = (&mut status, extra) {
        status.extend(extra);
    }
    serde_json::from_value(json!({
        "metadata": {"name": "app-pod-123456", "namespace": "ci",
                     "creationTimestamp": STARTED},
        "spec": {
            "activeDeadlineSeconds": deadline,
            "initContainers": [
                {"name": "build-step-credential-initializer", "image": "creds-init"},
                {"name": "build-step-build", "image": "busybox"},
            ],
            "containers": [{"name": "nop", "image": "nop"}],
        },
        "status": status,
    }))
    .unwrap()
}

/// `pod` as the API server shows it once someone deleted it: a `deletionTimestamp`, and for
/// an eviction through the API, the `DisruptionTarget` condition it adds.
fn being_removed(mut pod: Pod, disruption: Option<(&str, &str)>) -> Pod {
    pod.metadata.deletion_timestamp =
        Some(serde_json::from_value(json!("2024-01-01T00:01:00Z")).unwrap());
    if let Some((reason, message)) = disruption {
        let condition = serde_json::from_value(json!({
            "type": "DisruptionTarget", "status": "True", "reason": reason, "message": message,
        }))
        .unwrap();
        let status = pod.status.get_or_insert_with(Default::default);
        status
            .conditions
            .get_or_insert_with(Vec::new)
            .push(condition);
    }
    pod
}

/// The Build's pod as it stays when no node can take it: no container has been created.
fn unscheduled() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "app-pod-123456", "namespace": "ci", "creationTimestamp": STARTED},
        "spec": {
            "activeDeadlineSeconds": 605,
            "nodeSelector": {"disk": "none-such"},
            "initContainers": [
                {"name": "build-step-credential-initializer", "image": "creds-init"},
                {"name": "build-step-build", "image": "busybox"},
            ],
            "containers": [{"name": "nop", "image": "nop"}],
        },
        "status": {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
        }]},
    }))
    .unwrap()
}

fn running() -> Value {
    json!({"running": {"startedAt": "2024-01-01T00:00:07Z"}})
}

fn pull_back_off() -> Value {
    json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}})
}

fn exited(code: i32) -> Value {
    json!({"terminated": {"exitCode": code, "startedAt": "2024-01-01T00:00:07Z",
                          "finishedAt": "2024-01-01T00:01:00Z"}})
}

/// What a case expects.
#[derive(Debug)]
enum Expect {
    CreatePod,
    Unchanged,
    /// Of `assess_start` only: try again with backoff.
    Retry,
    /// The `Succeeded` condition, a part of its message, the stop, the recheck time.
    Update {
        status: ConditionStatus,
        reason: &'static str,
        message: &'static str,
        stop: Stop,
        recheck_at: Option<&'static str>,
    },
}

fn update(
    status: ConditionStatus,
    reason: &'static str,
    message: &'static str,
    stop: Stop,
    recheck_at: Option<&'static str>,
) -> Expect {
    Expect::Update {
        status,
        reason,
        message,
        stop,
        recheck_at,
    }
}

struct Case {
    name: &'static str,
    build: Build,
    pod: Option<Pod>,
    now: &'static str,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    use ConditionStatus::{False, True, Unknown};
    let deadline = 600 + 60; // the pod's own deadline, unlowered
    vec![
        Case {
            name: "a new Build without a pod gets one",
            build: build(Value::Null, Value::Null),
            pod: None,
            now: STARTED,
            expect: Expect::CreatePod,
        },
        Case {
            name: "a pod recorded and gone fails the Build",
            build: build(running_status(), Value::Null),
            pod: None,
            now: "2024-01-01T00:01:00Z",
            expect: update(
                False,
                "PodDeleted",
                "was deleted before build \"app\" finished",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "a running pod is followed until the timeout",
            build: build(running_status(), Value::Null),
            pod: Some(pod("Pending", running(), json!({}), deadline)),
            now: "2024-01-01T00:01:00Z",
            expect: update(
                Unknown,
                "Building",
                "is running",
                Stop::No,
                Some("2024-01-01T00:10:05Z"),
            ),
        },
        Case {
            name: "past startTime + timeout the pod is stopped",
            build: build(running_status(), Value::Null),
            pod: Some(pod("Pending", running(), json!({}), deadline)),
            now: "2024-01-01T00:10:05Z",
            expect: update(
                False,
                "BuildTimeout",
                "failed to finish within \"10m0s\"",
                Stop::Confirm,
                None,
            ),
        },
        Case {
            name: "a running pod someone deletes fails the Build at once",
            build: build(running_status(), Value::Null),
            pod: Some(being_removed(
                pod("Pending", running(), json!({}), deadline),
                None,
            )),
            now: "2024-01-01T00:01:00Z",
            expect: update(
                False,
                "PodDeleted",
                "pod \"app-pod-123456\" was deleted before build \"app\" finished",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "a deleted pod's killed step reads as the deletion, not a failed step",
            build: build(running_status(), Value::Null),
            pod: Some(being_removed(
                pod("Failed", exited(143), json!({}), deadline),
                None,
            )),
            now: "2024-01-01T00:01:05Z",
            expect: update(
                False,
                "PodDeleted",
                "was deleted before build",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "a pod evicted through the API fails the Build naming the eviction",
            build: build(running_status(), Value::Null),
            pod: Some(being_removed(
                pod("Pending", running(), json!({}), deadline),
                Some(("EvictionByEvictionAPI", "Eviction API: evicting")),
            )),
            now: "2024-01-01T00:01:00Z",
            expect: update(
                False,
                "PodEvicted",
                "build pod was evicted: EvictionByEvictionAPI: Eviction API: evicting",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "a succeeded pod deleted afterwards keeps its success",
            build: build(running_status(), Value::Null),
            pod: Some(being_removed(
                pod("Succeeded", exited(0), json!({}), deadline),
                None,
            )),
            now: "2024-01-01T00:01:05Z",
            expect: update(True, "Succeeded", "", Stop::No, None),
        },
        Case {
            name: "a pod no node takes says why while it waits",
            build: build(running_status(), Value::Null),
            pod: Some(unscheduled()),
            now: "2024-01-01T00:01:00Z",
            expect: update(
                Unknown,
                "Pending",
                "PodScheduled is False (Unschedulable): 0/1 nodes are available",
                Stop::No,
                Some("2024-01-01T00:10:05Z"),
            ),
        },
        Case {
            name: "a pod no node takes times out naming the scheduler's reason",
            build: build(running_status(), Value::Null),
            pod: Some(unscheduled()),
            now: "2024-01-01T00:10:05Z",
            expect: update(
                False,
                "BuildTimeout",
                "failed to finish within \"10m0s\"; it waited for: pod condition PodScheduled is False (Unschedulable): 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
                Stop::Confirm,
                None,
            ),
        },
        Case {
            name: "a step OOM-killed fails the Build even if its shell exits 0 and the pod sticks",
            build: build(running_status(), Value::Null),
            pod: Some(pod(
                "Pending",
                json!({"terminated": {"exitCode": 0, "reason": "OOMKilled",
                                      "startedAt": "2024-01-01T00:00:07Z",
                                      "finishedAt": "2024-01-01T00:00:08Z"}}),
                json!({}),
                deadline,
            )),
            now: "2024-01-01T00:00:09Z",
            expect: update(
                False,
                "StepOOMKilled",
                "build step \"build-step-build\" was killed for using more memory than its limit (OOMKilled",
                Stop::Confirm,
                None,
            ),
        },
        Case {
            name: "a success seen after the timeout wins",
            build: build(running_status(), Value::Null),
            pod: Some(pod("Succeeded", exited(0), json!({}), deadline)),
            now: "2024-01-01T01:00:00Z",
            expect: update(True, "Succeeded", "", Stop::No, None),
        },
        Case {
            name: "a failed step fails the Build with the step's exit code",
            build: build(running_status(), Value::Null),
            pod: Some(pod("Failed", exited(2), json!({}), deadline)),
            now: "2024-01-01T00:01:00Z",
            expect: update(False, "StepFailed", "exited with code 2", Stop::No, None),
        },
        Case {
            name: "the kubelet's deadline reads as the timeout",
            build: build(running_status(), Value::Null),
            pod: Some(pod(
                "Failed",
                running(),
                json!({"reason": "DeadlineExceeded"}),
                deadline,
            )),
            now: "2024-01-01T00:10:06Z",
            expect: update(
                False,
                "BuildTimeout",
                "failed to finish within",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "an image error within its grace waits, until the grace ends",
            build: build(running_status(), Value::Null),
            pod: Some(pod("Pending", pull_back_off(), json!({}), deadline)),
            now: "2024-01-01T00:00:30Z",
            // Grace from the end of the container before it (00:00:07), not the pod's start.
            expect: update(
                Unknown,
                "ImagePullBackOff",
                "build step \"build-step-build\" is waiting: ImagePullBackOff: Back-off pulling image",
                Stop::No,
                Some("2024-01-01T00:01:07Z"),
            ),
        },
        Case {
            name: "an image error past its grace fails the Build and stops the pod",
            build: build(running_status(), Value::Null),
            pod: Some(pod("Pending", pull_back_off(), json!({}), deadline)),
            now: "2024-01-01T00:01:07Z",
            expect: update(
                False,
                "ImagePullBackOff",
                "build step \"build-step-build\" is waiting: ImagePullBackOff: Back-off pulling image",
                Stop::Confirm,
                None,
            ),
        },
        Case {
            name: "an interrupted stop for an image error is not taken for a timeout",
            build: build(
                {
                    let mut status = running_status();
                    status["conditions"][0]["reason"] = json!("ImagePullBackOff");
                    status["conditions"][0]["message"] = json!(
                        "build step \"build-step-build\" is waiting: ImagePullBackOff: Back-off"
                    );
                    status
                },
                Value::Null,
            ),
            pod: Some(pod(
                "Failed",
                pull_back_off(),
                json!({"reason": "DeadlineExceeded"}),
                STOPPED_DEADLINE_SECONDS,
            )),
            now: "2024-01-01T00:02:00Z",
            expect: update(
                False,
                "ImagePullBackOff",
                "is waiting: ImagePullBackOff",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "a lowered deadline past the Build's own timeout is the timeout",
            build: build(running_status(), Value::Null),
            pod: Some(pod(
                "Failed",
                pull_back_off(),
                json!({"reason": "DeadlineExceeded"}),
                STOPPED_DEADLINE_SECONDS,
            )),
            now: "2024-01-01T00:10:05Z",
            expect: update(
                False,
                "BuildTimeout",
                "failed to finish within",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "cancelled without a pod",
            build: build(Value::Null, json!("BuildCancelled")),
            pod: None,
            now: STARTED,
            expect: update(
                False,
                "BuildCancelled",
                "Build \"app\" was cancelled",
                Stop::No,
                None,
            ),
        },
        Case {
            name: "cancelled while running stops the pod",
            build: build(running_status(), json!("BuildCancelled")),
            pod: Some(pod("Pending", running(), json!({}), deadline)),
            now: "2024-01-01T00:01:00Z",
            expect: update(False, "BuildCancelled", "was cancelled", Stop::Now, None),
        },
        Case {
            name: "cancelled after the pod succeeded: the success stands",
            build: build(running_status(), json!("BuildCancelled")),
            pod: Some(pod("Succeeded", exited(0), json!({}), deadline)),
            now: "2024-01-01T00:01:00Z",
            expect: update(True, "Succeeded", "", Stop::No, None),
        },
        Case {
            name: "cancelled with the pod gone",
            build: build(running_status(), json!("BuildCancelled")),
            pod: None,
            now: "2024-01-01T00:01:00Z",
            expect: update(False, "BuildCancelled", "was cancelled", Stop::No, None),
        },
        Case {
            name: "a finished Build without its pod stays as it is",
            build: build(finished_status("False", "BuildTimeout"), Value::Null),
            pod: None,
            now: "2024-01-01T01:00:00Z",
            expect: Expect::Unchanged,
        },
        Case {
            name: "a finished Build's steps follow its pod, its verdict does not",
            build: build(finished_status("False", "BuildTimeout"), Value::Null),
            pod: Some(pod(
                "Failed",
                exited(137),
                json!({"reason": "DeadlineExceeded"}),
                STOPPED_DEADLINE_SECONDS,
            )),
            now: "2024-01-01T01:00:00Z",
            expect: update(False, "BuildTimeout", "it is over", Stop::No, None),
        },
        Case {
            name: "a failed Build's pod that shows up running is stopped, the verdict kept",
            build: build(finished_status("False", "BuildTimeout"), Value::Null),
            pod: Some(pod("Pending", running(), json!({}), deadline)),
            now: "2024-01-01T01:00:00Z",
            expect: update(False, "BuildTimeout", "it is over", Stop::Now, None),
        },
        Case {
            name: "a succeeded Build's pod is never stopped",
            build: build(finished_status("True", "Succeeded"), Value::Null),
            pod: Some(pod("Pending", running(), json!({}), deadline)),
            now: "2024-01-01T01:00:00Z",
            expect: update(True, "Succeeded", "it is over", Stop::No, None),
        },
        Case {
            name: "a cancel after the verdict changes nothing",
            build: build(
                finished_status("True", "Succeeded"),
                json!("BuildCancelled"),
            ),
            pod: None,
            now: "2024-01-01T01:00:00Z",
            expect: Expect::Unchanged,
        },
    ]
}

#[test]
fn assess_table() {
    for case in cases() {
        let got = assess(&case.build, case.pod.as_ref(), at(case.now), &policy());
        let name = case.name;
        match (&case.expect, got) {
            (Expect::CreatePod, Assessment::CreatePod) => {}
            (Expect::Unchanged, Assessment::Unchanged) => {}
            (expect @ Expect::Update { .. }, Assessment::Update(update)) => {
                check_update(name, expect, &update);
                // The timeout runs from the start time first recorded.
                let start = update.status.start_time.as_ref().map(|t| t.0);
                if case.build.status.is_some() {
                    assert_eq!(start, Some(at(STARTED)), "{name}");
                }
            }
            (expected, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}

/// Checks `update` against `expect`, an [`Expect::Update`]: the `Succeeded` condition, a part
/// of its message, the stop, the recheck time; and a completion time exactly when finished.
fn check_update(name: &str, expect: &Expect, update: &Update) {
    let Expect::Update {
        status,
        reason,
        message,
        stop,
        recheck_at,
    } = expect
    else {
        panic!("{name}: expected {expect:?}, got {update:?}");
    };
    let condition = update.status.succeeded().expect(name);
    assert_eq!(condition.status, *status, "{name}");
    assert_eq!(condition.reason.as_deref(), Some(*reason), "{name}");
    let text = condition.message.as_deref().unwrap_or_default();
    assert!(text.contains(message), "{name}: {text:?}");
    assert_eq!(update.stop, *stop, "{name}");
    assert_eq!(update.recheck_at, recheck_at.map(at), "{name}");
    // Finished means a completion time, unfinished none.
    let done = condition.status != ConditionStatus::Unknown;
    assert_eq!(update.status.completion_time.is_some(), done, "{name}");
}

#[test]
fn a_finished_build_keeps_its_verdict_and_completion_time() {
    let build = build(finished_status("False", "BuildTimeout"), Value::Null);
    let pod = pod(
        "Failed",
        exited(137),
        json!({"reason": "DeadlineExceeded"}),
        STOPPED_DEADLINE_SECONDS,
    );
    let Assessment::Update(update) =
        assess(&build, Some(&pod), at("2024-01-01T01:00:00Z"), &policy())
    else {
        panic!("the step states changed");
    };
    let old = build.status.unwrap();
    assert_eq!(update.status.conditions, old.conditions);
    assert_eq!(update.status.completion_time, old.completion_time);
    assert_eq!(update.status.steps_completed, ["build-step-build"]);
    assert_eq!(update.stop, Stop::No);
}

struct StartCase {
    name: &'static str,
    build: Build,
    attempt: StartAttempt<String>,
    now: &'static str,
    expect: Expect,
}

/// The status of a Build that waits for what `message` says is missing.
fn waiting_status(reason: &str, message: &str) -> Value {
    json!({
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": reason,
                        "message": message, "lastTransitionTime": CREATED}],
    })
}

fn composed() -> StartAttempt<String> {
    StartAttempt::Composed(Ok(Composed {
        pod: Pod::default(),
        warnings: Report::new(),
    }))
}

fn missing_template() -> StartAttempt<String> {
    StartAttempt::Composed(Err(ComposeError::TemplateNotFound {
        kind: TemplateKind::BuildTemplate,
        name: "kaniko".into(),
        namespace: Some("ci".into()),
    }))
}

fn missing_account() -> StartAttempt<String> {
    StartAttempt::Composed(Err(ComposeError::ServiceAccountNotFound {
        name: "bot".into(),
        namespace: "ci".into(),
    }))
}

fn invalid() -> StartAttempt<String> {
    let mut report = Report::new();
    report.error("spec.steps[0].image", "missing");
    StartAttempt::Composed(Err(ComposeError::Invalid(report)))
}

fn not_created() -> StartAttempt<String> {
    StartAttempt::NotCreated("exceeded quota: pods=10".into())
}

fn start_cases() -> Vec<StartCase> {
    use ConditionStatus::{False, Unknown};
    let template_waited = "BuildTemplate \"kaniko\" not found in namespace \"ci\"";
    vec![
        StartCase {
            name: "a composed Build gets its pod",
            build: build(Value::Null, Value::Null),
            attempt: composed(),
            now: STARTED,
            expect: Expect::CreatePod,
        },
        StartCase {
            name: "a Build that waited gets its pod once composed within its timeout",
            build: build(
                waiting_status("TemplateNotFound", template_waited),
                Value::Null,
            ),
            attempt: composed(),
            now: "2024-01-01T00:09:59Z",
            expect: Expect::CreatePod,
        },
        StartCase {
            name: "what a Build waited for came after its timeout: it times out naming it",
            build: build(
                waiting_status("TemplateNotFound", template_waited),
                Value::Null,
            ),
            attempt: composed(),
            now: "2024-01-01T00:10:00Z",
            expect: update(
                False,
                "BuildTimeout",
                "failed to finish within \"10m0s\"; it waited for: BuildTemplate \"kaniko\" not found in namespace \"ci\"",
                Stop::No,
                None,
            ),
        },
        StartCase {
            name: "an invalid Build fails with every problem",
            build: build(Value::Null, Value::Null),
            attempt: invalid(),
            now: STARTED,
            expect: update(
                False,
                "BuildValidationFailed",
                "spec.steps[0].image: missing",
                Stop::No,
                None,
            ),
        },
        StartCase {
            name: "a missing template is waited for until the timeout",
            build: build(Value::Null, Value::Null),
            attempt: missing_template(),
            now: STARTED,
            expect: update(
                Unknown,
                "TemplateNotFound",
                template_waited,
                Stop::No,
                Some("2024-01-01T00:10:00Z"),
            ),
        },
        StartCase {
            name: "a missing ServiceAccount at the timeout fails the Build",
            build: build(
                waiting_status("ServiceAccountNotFound", "ServiceAccount \"bot\" not found"),
                Value::Null,
            ),
            attempt: missing_account(),
            now: "2024-01-01T00:10:00Z",
            expect: update(
                False,
                "BuildTimeout",
                "failed to finish within \"10m0s\"; still waiting: ServiceAccount \"bot\" not found in namespace \"ci\"",
                Stop::No,
                None,
            ),
        },
        StartCase {
            name: "a pod the API server rejects fails the Build",
            build: build(Value::Null, Value::Null),
            attempt: StartAttempt::Rejected("spec.nodeName: Invalid value".into()),
            now: STARTED,
            expect: update(
                False,
                "BuildExecuteFailed",
                "the API server rejected pod \"app-pod-",
                Stop::No,
                None,
            ),
        },
        StartCase {
            name: "a pod create that may pass is retried within the timeout",
            build: build(Value::Null, Value::Null),
            attempt: not_created(),
            now: "2024-01-01T00:09:59Z",
            expect: Expect::Retry,
        },
        StartCase {
            name: "a pod create still failing at the timeout fails the Build",
            build: build(Value::Null, Value::Null),
            attempt: not_created(),
            now: "2024-01-01T00:10:00Z",
            expect: update(
                False,
                "BuildTimeout",
                "failed to finish within \"10m0s\"; its pod could not be created: exceeded quota: pods=10",
                Stop::No,
                None,
            ),
        },
    ]
}

#[test]
fn start_table() {
    for case in start_cases() {
        let got = assess_start(&case.build, case.attempt, at(case.now));
        let name = case.name;
        match (&case.expect, got) {
            (Expect::CreatePod, StartDecision::CreatePod(_)) => {}
            (Expect::Retry, StartDecision::Retry(_)) => {}
            (expect, StartDecision::Update(update)) => check_update(name, expect, &update),
            (expected, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}

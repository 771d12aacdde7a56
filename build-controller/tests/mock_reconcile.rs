//! Reconcile scenarios against a scripted API server, one or more per rule of the reconcile
//! (the numbers are those of the rules in `reconcile.rs`). Each asserts the exact requests, in
//! order: no GET that the caches should have answered, no write that was not needed.

#[path = "common/mock.rs"]
mod mock;

use std::time::Duration;

use build_controller::Error;
use build_types::Build;
use http::Method;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use mock::*;
use serde_json::{Value, json};

fn container(name: &str, state: Value) -> Value {
    json!({"name": name, "image": "img", "imageID": "", "ready": false, "restartCount": 0, "state": state})
}

fn terminated(exit_code: i32, finished_at: &str) -> Value {
    json!({"terminated": {"exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" },
                          "startedAt": "2024-01-01T00:01:02Z", "finishedAt": finished_at}})
}

fn waiting(reason: &str, message: &str) -> Value {
    json!({"waiting": {"reason": reason, "message": message}})
}

const CREDS_INIT: &str = "build-step-credential-initializer";
const STEP: &str = "build-step-echo";

/// A pod whose step is running (the pod is Pending while its init containers run).
fn running() -> Value {
    json!({
        "phase": "Pending", "startTime": NOW,
        "initContainerStatuses": [
            container(CREDS_INIT, terminated(0, "2024-01-01T00:01:05Z")),
            container(STEP, json!({"running": {"startedAt": "2024-01-01T00:01:06Z"}})),
        ],
        "containerStatuses": [container("nop", waiting("PodInitializing", ""))],
    })
}

fn succeeded_pod() -> Value {
    json!({
        "phase": "Succeeded", "startTime": NOW,
        "initContainerStatuses": [
            container(CREDS_INIT, terminated(0, "2024-01-01T00:01:05Z")),
            container(STEP, terminated(0, "2024-01-01T00:05:00Z")),
        ],
        "containerStatuses": [container("nop", terminated(0, "2024-01-01T00:05:01Z"))],
    })
}

fn image_pull_backoff() -> Value {
    json!({
        "phase": "Pending", "startTime": NOW,
        "initContainerStatuses": [
            container(CREDS_INIT, terminated(0, "2024-01-01T00:01:10Z")),
            container(STEP, waiting("ImagePullBackOff", "Back-off pulling image \"busybox:nope\"")),
        ],
        "containerStatuses": [container("nop", waiting("PodInitializing", ""))],
    })
}

/// The status the controller wrote when it created the pod.
fn started(build: &Build) -> Value {
    json!({
        "observedGeneration": 1,
        "builder": "Cluster",
        "cluster": {"namespace": NS, "podName": pod_name(build)},
        "startTime": NOW,
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Pending",
                        "message": "Pending", "lastTransitionTime": NOW}],
        "stepsCompleted": [],
    })
}

fn at(time: &'static str) -> Timestamp {
    time.parse().unwrap()
}

fn three_minutes_in() -> Timestamp {
    at("2024-01-01T00:03:00Z")
}

fn seven_minutes_in() -> Timestamp {
    at("2024-01-01T00:07:00Z")
}

// 1. A finished Build keeps its verdict; its step states follow the pod.

#[tokio::test]
async fn finished_builds_are_left_alone() {
    for status in ["True", "False"] {
        let build = with_status(
            simple_build(),
            json!({"conditions": [{"type": "Succeeded", "status": status, "reason": "Done"}],
                   "stepStates": [{"running": {"startedAt": "2024-01-01T00:01:06Z"}}]}),
        );
        // Even with a pod that says otherwise, and long past the timeout: the verdict stays.
        // A failed Build's pod that still runs is stopped (see the test below).
        let cluster = Cluster::with(&build);
        let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, running()));
        let exchanges = match status {
            "False" => vec![stop_pod(&pod_name(&build))],
            _ => vec![],
        };
        let outcome = reconcile_with(&build, cluster.stores(), much_later, exchanges).await;
        assert_eq!(outcome.action(), Action::await_change());
    }
}

/// Found by `cargo xtask chaos` (scenario `apiserver`): the pod create was sent, kube-apiserver
/// stored the pod and went down before answering; the create was retried until the 3 s timeout
/// passed and the Build failed with `BuildTimeout`, no pod known. The pod then showed up
/// running, and ran on for good: a finished Build was left alone. Now its pod is stopped; the
/// verdict and completionTime stay, only the step states follow the pod.
#[tokio::test]
async fn a_pod_that_shows_up_running_after_the_build_failed_is_stopped() {
    let verdict = json!({"type": "Succeeded", "status": "False", "reason": "BuildTimeout",
                         "message": "Build \"hello\" failed to finish within \"10m0s\"; its pod could not be created: connection refused",
                         "lastTransitionTime": "2024-01-01T00:10:01Z"});
    let build = with_status(
        simple_build(),
        json!({"observedGeneration": 1, "conditions": [verdict.clone()],
               "completionTime": "2024-01-01T00:10:01Z"}),
    );
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, running()));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        much_later,
        vec![
            stop_pod(&pod_name(&build)),
            status_patch(&build, "100", move |status| {
                assert_eq!(succeeded(status), &verdict, "{status}");
                assert_eq!(status["completionTime"], "2024-01-01T00:10:01Z", "{status}");
            }),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
}

/// A Build that timed out while its step ran: the verdict was written when the pod was stopped,
/// with the step still running. When the pod ends (the step killed, exit 137), the step states
/// follow, and the condition and completionTime stay as they were: no Event either.
#[tokio::test]
async fn step_states_settle_after_the_verdict() {
    let verdict = json!({"type": "Succeeded", "status": "False", "reason": "BuildTimeout",
                         "message": "Build \"hello\" failed to finish within \"10m0s\"",
                         "lastTransitionTime": "2024-01-01T00:11:00Z"});
    let mut status = started(&simple_build());
    status["conditions"] = json!([verdict]);
    status["completionTime"] = json!("2024-01-01T00:11:00Z");
    status["stepStates"] = json!([{"running": {"startedAt": "2024-01-01T00:01:06Z"}}]);
    let build = with_status(simple_build(), status);
    let killed = json!({"terminated": {"exitCode": 137, "reason": "Error",
                        "startedAt": "2024-01-01T00:01:06Z", "finishedAt": "2024-01-01T00:11:05Z"}});
    let stopped = json!({
        "phase": "Failed", "reason": "DeadlineExceeded", "startTime": NOW,
        "initContainerStatuses": [
            container(CREDS_INIT, terminated(0, "2024-01-01T00:01:05Z")),
            container(STEP, killed.clone()),
        ],
        "containerStatuses": [container("nop", waiting("PodInitializing", ""))],
    });
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, stopped));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        much_later,
        vec![status_patch(&build, "100", move |status| {
            assert_eq!(status["stepStates"], json!([killed.clone()]), "{status}");
            assert_eq!(status["stepsCompleted"], json!([STEP]), "{status}");
            assert_eq!(succeeded(status), &verdict, "{status}");
            assert_eq!(status["completionTime"], "2024-01-01T00:11:00Z", "{status}");
        })],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn deleted_builds_are_left_to_the_garbage_collector() {
    let mut build = simple_build();
    build.metadata.deletion_timestamp = Some(from(json!(NOW)));
    let outcome = reconcile_with(&build, Cluster::with(&build).stores(), now, vec![]).await;
    assert_eq!(outcome.action(), Action::await_change());
}

// 2. Cancelled.

#[tokio::test]
async fn cancelling_stops_the_pod_and_fails_the_build() {
    let running_build = with_status(simple_build(), started(&simple_build()));
    let mut build = running_build.clone();
    build.spec.cancel = Some(build_types::BuildSpecStatus::BuildCancelled);
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, running()));
    let name = pod_name(&build);
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        three_minutes_in,
        vec![
            stop_pod(&name),
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "BuildCancelled",
                    &["Build \"hello\" was cancelled"],
                );
                assert_eq!(status["completionTime"], "2024-01-01T00:03:00Z");
                assert_eq!(status["startTime"], NOW, "the start time is kept");
            }),
            event("Warning", "BuildCancelled", "was cancelled"),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn cancelling_before_the_pod_exists_creates_none() {
    let mut build = simple_build();
    build.spec.cancel = Some(build_types::BuildSpecStatus::BuildCancelled);
    let outcome = reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        now,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(status, "False", "BuildCancelled", &["hello"]);
                assert_eq!(status.get("cluster"), None, "no pod was started: {status}");
            }),
            event("Warning", "BuildCancelled", "was cancelled"),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn a_build_that_succeeded_before_its_cancel_was_seen_succeeds() {
    let mut build = with_status(simple_build(), started(&simple_build()));
    build.spec.cancel = Some(build_types::BuildSpecStatus::BuildCancelled);
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, succeeded_pod()));
    reconcile_with(
        &build,
        cluster.stores(),
        three_minutes_in,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(status, "True", "Succeeded", &[]);
            }),
            event(
                "Normal",
                "Succeeded",
                "Build \"hello\" succeeded in 4m1s (1 step)",
            ),
        ],
    )
    .await;
}

// 3. Invalid spec.

#[tokio::test]
async fn an_invalid_spec_fails_with_every_problem() {
    let build = build("bad", json!({"timeout": "48h"}));
    let outcome = reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        now,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "BuildValidationFailed",
                    &[
                        "got neither",
                        "spec.timeout: 48h0m0s is longer than the maximum",
                    ],
                );
                assert_eq!(status["completionTime"], NOW);
            }),
            event("Warning", "BuildValidationFailed", "got neither"),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
    assert_eq!(
        outcome
            .requests
            .iter()
            .filter(|r| r.path.contains("/pods"))
            .count(),
        0
    );
}

// 4. Missing template, ServiceAccount or Secret.

fn templated() -> Build {
    build(
        "templated",
        json!({"template": {"name": "kaniko", "arguments": [{"name": "IMAGE", "value": "x"}]}}),
    )
}

#[tokio::test]
async fn a_missing_template_is_waited_for_once_not_failed() {
    let build = templated();
    let outcome = reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        now,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "Unknown",
                    "TemplateNotFound",
                    &["BuildTemplate \"kaniko\" not found in namespace \"ns\""],
                );
                assert_eq!(status.get("completionTime"), None);
            }),
            event("Warning", "TemplateNotFound", "kaniko"),
        ],
    )
    .await;
    // Woken by the template's watch; at the latest at creation + 10m.
    assert_eq!(outcome.action(), requeue_in(9 * 60));

    // The next reconcile, with the status written, writes nothing and emits nothing.
    let written = outcome.requests[0].body["status"].clone();
    let waiting = with_status(build, written);
    let outcome = reconcile_with(
        &waiting,
        Cluster::with(&waiting).stores(),
        three_minutes_in,
        vec![],
    )
    .await;
    assert_eq!(outcome.action(), requeue_in(7 * 60));
}

#[tokio::test]
async fn a_missing_template_past_the_timeout_fails_the_build() {
    let build = with_status(
        templated(),
        json!({"observedGeneration": 1, "conditions": [{"type": "Succeeded", "status": "Unknown",
               "reason": "TemplateNotFound", "message": "BuildTemplate \"kaniko\" not found in namespace \"ns\"",
               "lastTransitionTime": NOW}], "stepsCompleted": []}),
    );
    reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        much_later,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "BuildTimeout",
                    &[
                        "Build \"templated\" failed to finish within \"10m0s\"",
                        "BuildTemplate \"kaniko\" not found",
                    ],
                );
                assert_eq!(status["completionTime"], "2024-01-02T00:00:00Z");
            }),
            event("Warning", "BuildTimeout", "kaniko"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_template_appearing_starts_the_waiting_build() {
    let build = with_status(
        templated(),
        json!({"observedGeneration": 1, "conditions": [{"type": "Succeeded", "status": "Unknown",
               "reason": "TemplateNotFound", "message": "BuildTemplate \"kaniko\" not found in namespace \"ns\"",
               "lastTransitionTime": CREATED}], "stepsCompleted": []}),
    );
    let cluster = Cluster::with(&build).template(template("kaniko"));
    let name = pod_name(&build);
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        now,
        vec![
            Exchange::new(Method::POST, pods_create_path())
                .body(|pod| {
                    let steps = pod["spec"]["initContainers"].to_string();
                    assert!(
                        steps.contains("docker:18.06"),
                        "the template's step: {steps}"
                    );
                })
                .echo(201),
            event("Normal", "Started", name.clone()),
            status_patch(&build, "100", |status| {
                assert_condition(status, "Unknown", "Pending", &[]);
                // Still Unknown: the transition time is that of the first Unknown.
                assert_eq!(succeeded(status)["lastTransitionTime"], CREATED);
            }),
        ],
    )
    .await;
    assert_eq!(
        outcome
            .metrics
            .pods_created
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_missing_service_account_is_waited_for() {
    let build = build(
        "as-bot",
        json!({"serviceAccountName": "bot", "steps": [{"name": "s", "image": "busybox"}]}),
    );
    reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        now,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "Unknown",
                    "ServiceAccountNotFound",
                    &["ServiceAccount \"bot\" not found in namespace \"ns\""],
                );
            }),
            event("Warning", "ServiceAccountNotFound", "bot"),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_missing_secret_is_waited_for_and_never_shown() {
    let build = build(
        "as-bot",
        json!({"serviceAccountName": "bot", "steps": [{"name": "s", "image": "busybox"}]}),
    );
    let cluster = Cluster::with(&build)
        .service_account(service_account("bot", &["present", "absent"]))
        .secret(secret("present"));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        now,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "Unknown",
                    "SecretNotFound",
                    &["Secret \"absent\" listed by ServiceAccount \"bot\" not found"],
                );
            }),
            event("Warning", "SecretNotFound", "absent"),
        ],
    )
    .await;
    for request in &outcome.requests {
        let text = request.body.to_string();
        assert!(!text.contains("cGFzcw=="), "secret data leaked: {text}");
    }
}

// 5. Create the pod.

#[tokio::test]
async fn a_new_build_gets_its_pod_and_a_pending_status() {
    let build = simple_build();
    let name = pod_name(&build);
    let expected_name = name.clone();
    let outcome = reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        now,
        vec![
            Exchange::new(Method::POST, pods_create_path())
                .body(move |pod| {
                    assert_eq!(pod["metadata"]["name"], expected_name.as_str());
                    assert_eq!(pod["metadata"]["namespace"], NS);
                    assert_eq!(
                        pod["metadata"]["labels"]["build.knative.dev/buildName"],
                        "hello"
                    );
                    let owner = &pod["metadata"]["ownerReferences"][0];
                    assert_eq!(owner["uid"], UID);
                    assert_eq!(owner["kind"], "Build");
                    assert_eq!(owner["controller"], true);
                    assert_eq!(pod["spec"]["activeDeadlineSeconds"], 600);
                })
                .respond(201, {
                    let cluster = Cluster::with(&build);
                    serde_json::to_value(pod_for(&build, &cluster, Value::Null)).unwrap()
                }),
            event("Normal", "Started", "Created pod"),
            status_patch(&build, "100", |status| {
                assert_eq!(status, &started(&simple_build()));
            }),
        ],
    )
    .await;
    assert_eq!(
        outcome.action(),
        requeue_in(10 * 60),
        "woken at the deadline"
    );
}

#[tokio::test]
async fn already_exists_for_our_own_pod_is_success() {
    let build = simple_build();
    let name = pod_name(&build);
    let cluster = Cluster::with(&build);
    let ours = pod_for(&build, &cluster, Value::Null);
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        now,
        vec![
            Exchange::new(Method::POST, pods_create_path()).respond(
                409,
                api_status(
                    409,
                    "AlreadyExists",
                    "pods",
                    &name,
                    &format!("pods \"{name}\" already exists"),
                ),
            ),
            Exchange::new(Method::GET, pod_path(&name))
                .respond(200, serde_json::to_value(&ours).unwrap()),
            status_patch(&build, "100", |status| {
                assert_eq!(status, &started(&simple_build()));
            }),
        ],
    )
    .await;
    assert_eq!(outcome.action(), requeue_in(10 * 60));
    assert_eq!(
        outcome
            .metrics
            .pods_created
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn already_exists_for_someone_elses_pod_is_an_error() {
    let build = simple_build();
    let name = pod_name(&build);
    let cluster = Cluster::with(&build);
    let theirs = owned_by_someone_else(pod_for(&build, &cluster, Value::Null));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        now,
        vec![
            Exchange::new(Method::POST, pods_create_path()).respond(
                409,
                api_status(
                    409,
                    "AlreadyExists",
                    "pods",
                    &name,
                    &format!("pods \"{name}\" already exists"),
                ),
            ),
            Exchange::new(Method::GET, pod_path(&name))
                .respond(200, serde_json::to_value(&theirs).unwrap()),
        ],
    )
    .await;
    let error = outcome.error();
    assert!(matches!(error, Error::PodNotOwned { .. }), "{error}");
    assert!(error.to_string().contains("another-uid"), "{error}");
    assert_eq!(outcome.retry, Some(Action::requeue(Duration::from_secs(1))));
}

#[tokio::test]
async fn someone_elses_pod_in_the_cache_is_an_error_without_any_request() {
    let build = simple_build();
    let cluster = Cluster::with(&build);
    let theirs = owned_by_someone_else(pod_for(&build, &cluster, running()));
    let outcome = reconcile_with(
        &build,
        Cluster::with(&build).pod(theirs).stores(),
        now,
        vec![],
    )
    .await;
    assert!(matches!(outcome.error(), Error::PodNotOwned { .. }));
}

// 6. Mirror the pod.

#[tokio::test]
async fn a_running_pod_is_mirrored_once() {
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, running()));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        three_minutes_in,
        vec![status_patch(&build, "100", |status| {
            assert_condition(status, "Unknown", "Building", &[]);
            assert_eq!(status["observedGeneration"], 1);
            assert_eq!(status["startTime"], NOW);
            assert_eq!(
                status["stepStates"].as_array().unwrap().len(),
                1,
                "{status}"
            );
            assert!(status["stepStates"][0]["running"].is_object(), "{status}");
        })],
    )
    .await;
    assert_eq!(
        outcome.action(),
        requeue_in(8 * 60),
        "woken at startTime + 10m"
    );

    // Nothing changed since: nothing is written.
    let mirrored = with_status(simple_build(), outcome.requests[0].body["status"].clone());
    let cluster = Cluster::with(&mirrored);
    let cluster = Cluster::with(&mirrored).pod(pod_for(&mirrored, &cluster, running()));
    let outcome = reconcile_with(&mirrored, cluster.stores(), three_minutes_in, vec![]).await;
    assert_eq!(outcome.action(), requeue_in(8 * 60));
}

#[tokio::test]
async fn a_conflict_is_retried_promptly_not_overwritten() {
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, running()));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        three_minutes_in,
        vec![Exchange::new(Method::PATCH, status_path(&build)).respond(
            409,
            api_status(
                409,
                "Conflict",
                "builds.build.knative.dev",
                "hello",
                "Operation cannot be fulfilled on builds.build.knative.dev \"hello\": the object has been modified; please apply your changes to the latest version and try again",
            ),
        )],
    )
    .await;
    assert!(outcome.error().is_conflict(), "{}", outcome.error());
    assert_eq!(
        outcome.retry,
        Some(Action::requeue(Duration::from_millis(200)))
    );
    assert_eq!(
        outcome
            .metrics
            .conflicts
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_failed_step_fails_the_build() {
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let failed = json!({
        "phase": "Failed", "startTime": NOW,
        "initContainerStatuses": [
            container(CREDS_INIT, terminated(0, "2024-01-01T00:01:05Z")),
            container(STEP, terminated(3, "2024-01-01T00:02:00Z")),
        ],
        "containerStatuses": [container("nop", waiting("PodInitializing", ""))],
    });
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, failed));
    reconcile_with(
        &build,
        cluster.stores(),
        three_minutes_in,
        vec![
            status_patch(&build, "100", |status| {
                assert_eq!(succeeded(status)["status"], "False", "{status}");
                assert_eq!(status["completionTime"], "2024-01-01T00:02:00Z");
            }),
            event("Warning", "Failed", ""),
        ],
    )
    .await;
}

// 7. Timeout.

#[tokio::test]
async fn the_timeout_stops_the_pod_and_fails_the_build() {
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let pod = pod_for(&build, &cluster, running());
    let cluster = Cluster::with(&build).pod(pod.clone());
    let name = pod_name(&build);
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        much_later,
        vec![
            // Before failing on the cache's word, the pod itself is read.
            read_pod(&pod),
            stop_pod(&name),
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "BuildTimeout",
                    &["Build \"hello\" failed to finish within \"10m0s\""],
                );
                assert_eq!(status["completionTime"], "2024-01-02T00:00:00Z");
            }),
            event(
                "Warning",
                "BuildTimeout",
                "failed to finish within \"10m0s\"",
            ),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
    assert_eq!(
        outcome
            .metrics
            .pods_stopped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_success_reported_before_the_deadline_wins_over_a_late_timeout() {
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, succeeded_pod()));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        much_later,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(status, "True", "Succeeded", &[]);
                assert_eq!(status["completionTime"], "2024-01-01T00:05:01Z");
                assert_eq!(status["stepsCompleted"], json!([STEP]));
            }),
            event("Normal", "Succeeded", ""),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
}

// 8. Image pull and container configuration errors.

#[tokio::test]
async fn a_success_the_cache_has_not_seen_wins_over_a_late_timeout() {
    // The cache still shows the pod running past the deadline; the server knows it succeeded.
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let cached = pod_for(&build, &cluster, running());
    let fresh = pod_for(&build, &cluster, succeeded_pod());
    let cluster = Cluster::with(&build).pod(cached);
    reconcile_with(
        &build,
        cluster.stores(),
        much_later,
        vec![
            read_pod(&fresh),
            status_patch(&build, "100", |status| {
                assert_condition(status, "True", "Succeeded", &[]);
            }),
            event("Normal", "Succeeded", ""),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_interrupted_stop_for_an_image_error_is_not_taken_for_a_timeout() {
    // A previous reconcile stopped the pod for ImagePullBackOff and died before writing the
    // status; the kubelet then failed the pod with DeadlineExceeded.
    let mut status = started(&simple_build());
    status["conditions"][0]["reason"] = json!("ImagePullBackOff");
    status["conditions"][0]["message"] =
        json!("build step \"build-step-build\" is waiting: ImagePullBackOff: Back-off");
    let build = with_status(simple_build(), status);
    let cluster = Cluster::with(&build);
    let mut pod = pod_for(
        &build,
        &cluster,
        json!({"phase": "Failed", "reason": "DeadlineExceeded", "startTime": NOW,
               "message": "Pod was active on the node longer than the specified deadline"}),
    );
    pod.spec.as_mut().unwrap().active_deadline_seconds = Some(1);
    let cluster = Cluster::with(&build).pod(pod);
    reconcile_with(
        &build,
        cluster.stores(),
        seven_minutes_in,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(status, "False", "ImagePullBackOff", &["Back-off"]);
            }),
            event("Warning", "Failed", "ImagePullBackOff"),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_pod_the_api_server_rejects_fails_the_build() {
    let build = simple_build();
    let name = pod_name(&build);
    let message = format!("Pod \"{name}\" is invalid: spec.containers[0].image: Required value");
    let body = api_status(422, "Invalid", "pods", &name, &message);
    let outcome = reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        now,
        vec![
            Exchange::new(Method::POST, pods_create_path()).respond(422, body),
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "BuildExecuteFailed",
                    &["the API server rejected pod", "Required value"],
                );
            }),
            event("Warning", "Failed", "BuildExecuteFailed"),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change(), "no retry");
}

#[tokio::test]
async fn a_template_that_appears_after_the_timeout_is_too_late() {
    let waiting = json!({
        "observedGeneration": 1,
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "TemplateNotFound",
                        "message": "BuildTemplate \"kaniko\" not found in namespace \"ns\"",
                        "lastTransitionTime": CREATED}],
        "stepsCompleted": [],
    });
    let build = with_status(templated(), waiting);
    let cluster = Cluster::with(&build).template(template("kaniko"));
    reconcile_with(
        &build,
        cluster.stores(),
        much_later,
        vec![
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "BuildTimeout",
                    &[
                        "failed to finish within \"10m0s\"",
                        "it waited for",
                        "kaniko",
                    ],
                );
            }),
            event("Warning", "BuildTimeout", "it waited for"),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_image_pull_error_within_the_grace_period_is_waited_on() {
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let cluster = Cluster::with(&build).pod(pod_for(&build, &cluster, image_pull_backoff()));
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        three_minutes_in,
        vec![status_patch(&build, "100", |status| {
            assert_eq!(succeeded(status)["status"], "Unknown");
            assert_eq!(succeeded(status)["reason"], "ImagePullBackOff");
        })],
    )
    .await;
    // The step has waited since the previous container finished (00:01:10); 5 minutes' grace.
    assert_eq!(outcome.action(), requeue_in(3 * 60 + 10));
}

#[tokio::test]
async fn an_image_pull_error_past_the_grace_period_fails_the_build() {
    let build = with_status(simple_build(), started(&simple_build()));
    let cluster = Cluster::with(&build);
    let pod = pod_for(&build, &cluster, image_pull_backoff());
    let cluster = Cluster::with(&build).pod(pod.clone());
    let name = pod_name(&build);
    reconcile_with(
        &build,
        cluster.stores(),
        seven_minutes_in,
        vec![
            read_pod(&pod),
            stop_pod(&name),
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "ImagePullBackOff",
                    &[STEP, "Back-off pulling image \"busybox:nope\""],
                );
                assert_eq!(status["completionTime"], "2024-01-01T00:07:00Z");
            }),
            event("Warning", "Failed", "ImagePullBackOff"),
        ],
    )
    .await;
}

// 9. The pod deleted from under a running Build.

#[tokio::test]
async fn a_deleted_pod_fails_the_running_build() {
    let build = with_status(simple_build(), started(&simple_build()));
    let name = pod_name(&build);
    let outcome = reconcile_with(
        &build,
        Cluster::with(&build).stores(),
        three_minutes_in,
        vec![
            Exchange::new(Method::GET, pod_path(&name)).respond(
                404,
                api_status(
                    404,
                    "NotFound",
                    "pods",
                    &name,
                    &format!("pods \"{name}\" not found"),
                ),
            ),
            status_patch(&build, "100", |status| {
                assert_condition(
                    status,
                    "False",
                    "PodDeleted",
                    &["was deleted before build \"hello\" finished"],
                );
            }),
            event("Warning", "Failed", "PodDeleted"),
        ],
    )
    .await;
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn a_pod_the_cache_has_not_seen_yet_is_not_taken_for_deleted() {
    let build = with_status(simple_build(), started(&simple_build()));
    let name = pod_name(&build);
    let cluster = Cluster::with(&build);
    let pod = pod_for(&build, &cluster, running());
    let outcome = reconcile_with(
        &build,
        cluster.stores(),
        three_minutes_in,
        vec![
            Exchange::new(Method::GET, pod_path(&name))
                .respond(200, serde_json::to_value(&pod).unwrap()),
            status_patch(&build, "100", |status| {
                assert_condition(status, "Unknown", "Building", &[]);
            }),
        ],
    )
    .await;
    assert_eq!(outcome.action(), requeue_in(8 * 60));
}

// Backoff.

#[tokio::test]
async fn failures_back_off_per_build_and_a_success_resets_them() {
    let build = simple_build();
    let cluster = Cluster::with(&build);
    let theirs = owned_by_someone_else(pod_for(&build, &cluster, running()));
    let stores = Cluster::with(&build).pod(theirs).stores();
    let (ctx, mut handle) = context(stores, now);
    let arc = std::sync::Arc::new(build.clone());
    let mut delays = Vec::new();
    for _ in 0..4 {
        let error = build_controller::reconcile(arc.clone(), ctx.clone())
            .await
            .unwrap_err();
        delays.push(build_controller::error_policy(
            arc.clone(),
            &error,
            ctx.clone(),
        ));
    }
    let secs = |s| Action::requeue(Duration::from_secs(s));
    assert_eq!(delays, [secs(1), secs(2), secs(4), secs(8)]);

    // Another Build's failures are its own.
    let mut other = build.clone();
    other.metadata.name = Some("other".into());
    let other_error = Error::MissingMetadata { field: "uid" };
    assert_eq!(
        build_controller::error_policy(std::sync::Arc::new(other), &other_error, ctx.clone()),
        secs(1)
    );

    // A successful reconcile (here: of the Build once finished) resets the backoff.
    let done = std::sync::Arc::new(with_status(
        build.clone(),
        json!({"conditions": [{"type": "Succeeded", "status": "False", "reason": "X"}]}),
    ));
    build_controller::reconcile(done, ctx.clone())
        .await
        .unwrap();
    let error = build_controller::reconcile(arc.clone(), ctx.clone())
        .await
        .unwrap_err();
    assert_eq!(
        build_controller::error_policy(arc, &error, ctx.clone()),
        secs(1)
    );
    drop(ctx);
    assert!(handle.next_request().await.is_none(), "no request was made");
}

// Cost: thousands of reconciles may be due at once (a burst of Builds, or every Build's status
// changing); those waiting for a worker must stay small.

#[tokio::test]
async fn a_reconcile_waiting_for_a_worker_is_small() {
    let build = simple_build();
    let (ctx, _handle) = context(Cluster::with(&build).stores(), now);
    let waiting = build_controller::reconcile(std::sync::Arc::new(build), ctx);
    let size = std::mem::size_of_val(&waiting);
    assert!(size <= 1024, "a waiting reconcile takes {size} bytes");
}

// Cost: a reconcile woken (by its pod's watch event) before the cache has the status it just
// wrote makes no request; the Build's own watch event wakes it again.

#[tokio::test]
async fn a_cache_that_lags_the_last_status_write_is_not_patched_again() {
    let build = simple_build();
    let (ctx, handle) = context(Cluster::with(&build).stores(), now);
    let name = pod_name(&build);
    let server = tokio::spawn(serve(
        handle,
        vec![
            Exchange::new(Method::POST, pods_create_path()).echo(201),
            event("Normal", "Started", name.clone()),
            status_patch(&build, "100", |_| {}),
        ],
    ));
    let first = build_controller::reconcile(std::sync::Arc::new(build.clone()), ctx.clone()).await;
    assert!(first.is_ok(), "{first:?}");
    // The same cached Build again (its resourceVersion unchanged): no request at all.
    let again = build_controller::reconcile(std::sync::Arc::new(build.clone()), ctx.clone()).await;
    assert_eq!(again.unwrap(), Action::requeue(Duration::from_millis(200)));
    drop(ctx);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the mock server finishes")
        .expect("exactly the first reconcile's requests");
}

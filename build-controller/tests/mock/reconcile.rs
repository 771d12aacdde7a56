//! Reconcile scenarios against the fake API server, one or more per rule of the reconcile
//! (the numbers are those of the rules on `build_controller::reconcile::reconcile`, in
//! `src/reconcile/mod.rs`; `build_pod::assess` decides rules 1, 2 and 6–9,
//! `build_pod::assess_start` rules 3–5). Each asserts the exact requests, in order: no GET that
//! the caches should have answered, no write that was not needed.

use crate::support;

use std::time::Duration;

use build_controller::Error;
use build_controller::stores::CachedBuild;
use build_types::{Build, BuildSpecStatus};
use http::Method;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use support::fake_api::status as api_status;
use support::fixtures::*;

fn at(time: &'static str) -> Timestamp {
    time.parse().unwrap()
}

fn three_minutes_in() -> Timestamp {
    at("2024-01-01T00:03:00Z")
}

fn seven_minutes_in() -> Timestamp {
    at("2024-01-01T00:07:00Z")
}

/// A one-step Build whose cancel was asked for.
fn cancelled(build: Build) -> Build {
    let mut build = build;
    build.spec.cancel = Some(BuildSpecStatus::BuildCancelled);
    build
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
        // Even with a pod that says otherwise, and long past the timeout: the verdict stays. A
        // failed Build's pod that still runs is stopped (see the test below).
        let outcome = Scenario::of(build)
            .pod(running())
            .at(much_later)
            .reconcile()
            .await;
        match status {
            "False" => outcome.expect(|build| vec![stop_pod(build)]),
            _ => outcome.expect(|_| vec![]),
        };
        assert_eq!(outcome.action(), Action::await_change());
        // A pod that has not ended may still change the step states: it stays cached.
        let pod = pod_name(&outcome.build);
        assert!(outcome.stores.pods.get(NS, &pod).is_some(), "{status}");
    }
}

/// A Build whose pod has ended is settled in the patch that writes its verdict: the Build watch
/// leaves it out from then on. A reconcile of a settled Build reads and writes nothing, its pod
/// cached or not.
#[tokio::test]
async fn a_build_finished_on_its_ended_pod_is_settled_in_the_same_patch() {
    for ended in [succeeded_pod(), failed_pod()] {
        let first = Scenario::build_with_pod(ended).at(three_minutes_in);
        let later = first.restart(Caches::new());
        let verdict = first.reconcile().await;
        verdict.expect(|build| {
            vec![
                status_patch(build, |status| {
                    assert_eq!(status["settled"], true, "{status}");
                    assert_ne!(succeeded(status)["status"], "Unknown", "{status}");
                }),
                Expect::new(Method::POST, events_path()).answered(201),
            ]
        });

        // A reconcile woken otherwise, its pod cached: nothing to do.
        let settled = later.caught_up().reconcile().await;
        settled.expect(|_| vec![]);
        assert_eq!(settled.action(), Action::await_change());

        // Without the pod: nothing read either.
        let mut without = later.caught_up();
        let cached = without.compiled_pod(Value::Null);
        without.caches.delete(cached);
        let outcome = without.reconcile().await;
        outcome.expect(|_| vec![]);
        assert_eq!(outcome.action(), Action::await_change());
    }
}

/// The pod watch leaves ended pods out, so a pod that ends leaves the cache as if deleted. A
/// Build still running then reads its pod from the API server and finishes on it, settled.
#[tokio::test]
async fn a_pod_that_ended_out_of_the_cache_is_read_and_the_build_finishes_settled() {
    let scenario = Scenario::started_build().at(three_minutes_in);
    let ended = scenario.compiled_pod(succeeded_pod());
    let outcome = scenario.stored(ended).reconcile().await;
    outcome.expect(|build| {
        vec![
            read_pod(build),
            condition_patch(build, "True", "Succeeded", &[]).status(|status| {
                assert_eq!(status["settled"], true, "{status}");
            }),
            Expect::new(Method::POST, events_path()).answered(201),
        ]
    });
}

/// A one-step Build that failed for `(reason, message)` at `at` while its step ran, and its
/// pod as it ended after, the step killed `(exit code, when)`: the Build, its verdict, the
/// killed step's state and the pod's status.
fn failed_while_running(
    (reason, message): (&str, &str),
    at: &str,
    (exit_code, killed_at): (i32, &'static str),
) -> (Build, Value, Value, Value) {
    let verdict = json!({"type": "Succeeded", "status": "False", "reason": reason,
                         "message": message, "lastTransitionTime": at});
    let mut status = started(&simple_build());
    status["conditions"] = json!([verdict]);
    status["completionTime"] = json!(at);
    status["stepStates"] = json!([{"running": {"startedAt": "2024-01-01T00:01:06Z"}}]);
    let build = with_status(simple_build(), status);
    let killed = terminated(exit_code, "2024-01-01T00:01:06Z", killed_at);
    let mut stopped = running();
    stopped["phase"] = json!("Failed");
    stopped["initContainerStatuses"][1] = container(STEP, killed.clone());
    (build, verdict, killed, stopped)
}

/// A Build that finished while its pod still ran (here: cancelled), whose pod then ended with
/// no controller watching: a new controller reconciles it (it is not settled), reads the pod,
/// and its step states follow; it is settled. One finished by an earlier release, which had no
/// `settled`, whose pod is gone: settled without another change.
#[tokio::test]
async fn a_finished_build_not_yet_settled_reads_its_pod_once_and_settles() {
    let (build, verdict, killed, stopped) = failed_while_running(
        ("BuildCancelled", "Build \"hello\" was cancelled"),
        "2024-01-01T00:02:00Z",
        (143, "2024-01-01T00:02:05Z"),
    );

    let scenario = Scenario::of(build.clone()).at(much_later);
    let pod = scenario.compiled_pod(stopped);
    let outcome = scenario.stored(pod).reconcile().await;
    outcome.expect(|build| {
        vec![
            read_pod(build),
            status_patch(build, move |status| {
                assert_eq!(status["stepStates"], json!([killed.clone()]), "{status}");
                assert_eq!(succeeded(status), &verdict, "{status}");
                assert_eq!(status["settled"], true, "{status}");
            }),
        ]
    });

    // Finished before `settled` existed, its pod gone since: read once (404), then settled.
    let outcome = Scenario::of(build).at(much_later).reconcile().await;
    outcome.expect(|build| {
        vec![
            read_pod(build).answered(404),
            status_patch(build, |status| {
                assert_eq!(status["settled"], true, "{status}")
            }),
        ]
    });
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
    let outcome = Scenario::of(build)
        .pod(running())
        .at(much_later)
        .reconcile()
        .await;
    outcome.expect(|build| {
        vec![
            stop_pod(build),
            status_patch(build, move |status| {
                assert_eq!(succeeded(status), &verdict, "{status}");
                assert_eq!(status["completionTime"], "2024-01-01T00:10:01Z", "{status}");
            }),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change());
}

/// A Build that timed out while its step ran: the verdict was written when the pod was stopped,
/// with the step still running. When the pod ends (the step killed, exit 137), the step states
/// follow, and the condition and completionTime stay as they were: no Event either.
#[tokio::test]
async fn step_states_settle_after_the_verdict() {
    let (build, verdict, killed, mut stopped) = failed_while_running(
        (
            "BuildTimeout",
            "Build \"hello\" failed to finish within \"10m0s\"",
        ),
        "2024-01-01T00:11:00Z",
        (137, "2024-01-01T00:11:05Z"),
    );
    stopped["reason"] = json!("DeadlineExceeded");
    let outcome = Scenario::of(build.clone())
        .pod(stopped)
        .at(much_later)
        .reconcile()
        .await;
    outcome.expect(|build| {
        vec![status_patch(build, move |status| {
            assert_eq!(status["stepStates"], json!([killed.clone()]), "{status}");
            assert_eq!(status["stepsCompleted"], json!([STEP]), "{status}");
            assert_eq!(succeeded(status), &verdict, "{status}");
            assert_eq!(status["completionTime"], "2024-01-01T00:11:00Z", "{status}");
        })]
    });
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn deleted_builds_are_left_to_the_garbage_collector() {
    let mut build = simple_build();
    build.metadata.deletion_timestamp = Some(from(json!(NOW)));
    let outcome = Scenario::of(build).reconcile().await;
    outcome.expect(|_| vec![]);
    assert_eq!(outcome.action(), Action::await_change());
}

// 2. Cancelled.

#[tokio::test]
async fn cancelling_stops_the_pod_and_fails_the_build() {
    let outcome = Scenario::of(cancelled(with_status(
        simple_build(),
        started(&simple_build()),
    )))
    .pod(running())
    .at(three_minutes_in)
    .reconcile()
    .await;
    outcome.expect(|build| {
        vec![
            stop_pod(build),
            condition_patch(
                build,
                "False",
                "BuildCancelled",
                &["Build \"hello\" was cancelled"],
            )
            .status(|status| {
                assert_eq!(status["completionTime"], "2024-01-01T00:03:00Z");
                assert_eq!(status["startTime"], NOW, "the start time is kept");
            }),
            event("Warning", "BuildCancelled", "was cancelled"),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn cancelling_before_the_pod_exists_creates_none() {
    let outcome = Scenario::of(cancelled(simple_build())).reconcile().await;
    outcome.expect(|build| {
        vec![
            // Before a pod-less verdict is taken for settled: no pod.
            read_pod(build).answered(404),
            condition_patch(build, "False", "BuildCancelled", &["hello"]).status(|status| {
                assert_eq!(status.get("cluster"), None, "no pod was started: {status}");
            }),
            event("Warning", "BuildCancelled", "was cancelled"),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn a_build_that_succeeded_before_its_cancel_was_seen_succeeds() {
    Scenario::of(cancelled(with_status(
        simple_build(),
        started(&simple_build()),
    )))
    .pod(succeeded_pod())
    .at(three_minutes_in)
    .reconcile()
    .await
    .expect(|build| {
        vec![
            condition_patch(build, "True", "Succeeded", &[]),
            event(
                "Normal",
                "Succeeded",
                "Build \"hello\" succeeded in 4m1s (1 step)",
            ),
        ]
    });
}

/// Found by `cargo xtask chaos` (scenario `failover`): a Build cancelled before the new
/// leader's cache had seen its pod, which the old leader had created. Failed with no pod in
/// sight, it is not taken for settled until the API server says there is no pod: here there
/// is one, so the Build stays in the watch, and the pod's watch event wakes it (rule 1 then
/// stops the pod).
#[tokio::test]
async fn a_pod_the_cache_has_not_seen_keeps_a_cancelled_build_unsettled() {
    let scenario = Scenario::of(cancelled(simple_build()));
    let pod = scenario.compiled_pod(running());
    let outcome = scenario.stored(pod).reconcile().await;
    outcome.expect(|build| {
        vec![
            read_pod(build),
            condition_patch(build, "False", "BuildCancelled", &["hello"])
                .status(|status| assert!(status.get("settled").is_none(), "{status}")),
            event("Warning", "BuildCancelled", "was cancelled"),
        ]
    });
}

// 3. Invalid spec.

#[tokio::test]
async fn an_invalid_spec_fails_with_every_problem() {
    let outcome = Scenario::of(build("bad", json!({"timeout": "48h"})))
        .reconcile()
        .await;
    outcome.expect(|build| {
        vec![
            // Before a pod-less verdict is taken for settled: no pod.
            read_pod(build).answered(404),
            condition_patch(
                build,
                "False",
                "BuildValidationFailed",
                &[
                    "got neither",
                    "spec.timeout: 48h0m0s is longer than the maximum",
                ],
            )
            .completed_at(NOW),
            event("Warning", "BuildValidationFailed", "got neither"),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change());
    // No pod is made: the only pod request is the read that finds none.
    assert_eq!(
        outcome
            .requests
            .iter()
            .filter(|r| r.path().contains("/pods") && r.method != Method::GET)
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

/// [`templated`] waiting for its template since `since`.
fn waiting_for_the_template(since: &str) -> Build {
    with_status(
        templated(),
        json!({"observedGeneration": 1, "conditions": [{"type": "Succeeded", "status": "Unknown",
               "reason": "TemplateNotFound", "message": "BuildTemplate \"kaniko\" not found in namespace \"ns\"",
               "lastTransitionTime": since}], "stepsCompleted": []}),
    )
}

#[tokio::test]
async fn a_missing_template_is_waited_for_once_not_failed() {
    let outcome = Scenario::of(templated()).reconcile().await;
    outcome.expect(|build| {
        vec![
            condition_patch(
                build,
                "Unknown",
                "TemplateNotFound",
                &["BuildTemplate \"kaniko\" not found in namespace \"ns\""],
            )
            .status(|status| {
                assert_eq!(status.get("completionTime"), None);
            }),
            event("Warning", "TemplateNotFound", "kaniko"),
        ]
    });
    // Woken by the template's watch; at the latest at creation + 10m.
    assert_eq!(outcome.action(), requeue_in(9 * 60));

    // The next reconcile, with the status written, writes nothing and emits nothing.
    let written = outcome.requests[0].body["status"].clone();
    let outcome = Scenario::of(with_status(templated(), written))
        .at(three_minutes_in)
        .reconcile()
        .await;
    outcome.expect(|_| vec![]);
    assert_eq!(outcome.action(), requeue_in(7 * 60));
}

#[tokio::test]
async fn a_missing_template_past_the_timeout_fails_the_build() {
    Scenario::of(waiting_for_the_template(NOW))
        .at(much_later)
        .reconcile()
        .await
        .expect(|build| {
            vec![
                // Before a pod-less verdict is taken for settled: no pod.
                read_pod(build).answered(404),
                condition_patch(
                    build,
                    "False",
                    "BuildTimeout",
                    &[
                        "Build \"templated\" failed to finish within \"10m0s\"",
                        "BuildTemplate \"kaniko\" not found",
                    ],
                )
                .completed_at("2024-01-02T00:00:00Z"),
                event("Warning", "BuildTimeout", "kaniko"),
            ]
        });
}

#[tokio::test]
async fn the_template_appearing_starts_the_waiting_build() {
    let build = waiting_for_the_template(CREATED);
    let name = pod_name(&build);
    let outcome = Scenario::of(build.clone())
        .with(template("kaniko"))
        .reconcile()
        .await;
    outcome.expect(|build| {
        vec![
            create_pod().body(|pod| {
                let steps = pod["spec"]["initContainers"].to_string();
                assert!(
                    steps.contains("docker:18.06"),
                    "the template's step: {steps}"
                );
            }),
            event("Normal", "Started", name.clone()),
            condition_patch(build, "Unknown", "Pending", &[]).status(|status| {
                // Still Unknown: the transition time is that of the first Unknown.
                assert_eq!(succeeded(status)["lastTransitionTime"], CREATED);
            }),
        ]
    });
    assert_eq!(outcome.counts.pods_created, 1);
}

/// A Build running as ServiceAccount `bot`.
fn as_bot() -> Build {
    build(
        "as-bot",
        json!({"serviceAccountName": "bot", "steps": [{"name": "s", "image": "busybox"}]}),
    )
}

#[tokio::test]
async fn a_missing_service_account_is_waited_for() {
    Scenario::of(as_bot()).reconcile().await.expect(|build| {
        vec![
            condition_patch(
                build,
                "Unknown",
                "ServiceAccountNotFound",
                &["ServiceAccount \"bot\" not found in namespace \"ns\""],
            ),
            event("Warning", "ServiceAccountNotFound", "bot"),
        ]
    });
}

#[tokio::test]
async fn a_missing_secret_is_waited_for_and_never_shown() {
    let outcome = Scenario::of(as_bot())
        .with(service_account("bot", &["present", "absent"]))
        .with(secret("present"))
        .reconcile()
        .await;
    outcome.expect(|build| {
        vec![
            condition_patch(
                build,
                "Unknown",
                "SecretNotFound",
                &["Secret \"absent\" listed by ServiceAccount \"bot\" not found"],
            ),
            event("Warning", "SecretNotFound", "absent"),
        ]
    });
    for request in &outcome.requests {
        let text = request.body.to_string();
        assert!(!text.contains("cGFzcw=="), "secret data leaked: {text}");
    }
}

// 5. Create the pod.

#[tokio::test]
async fn a_new_build_gets_its_pod_and_a_pending_status() {
    let build = simple_build();
    let expected_name = pod_name(&build);
    let outcome = Scenario::new_build().reconcile().await;
    outcome.expect(|build| {
        vec![
            create_pod().body(move |pod| {
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
            }),
            event("Normal", "Started", "Created pod"),
            status_patch(build, |status| {
                assert_eq!(status, &started(&simple_build()));
            }),
        ]
    });
    assert_eq!(
        outcome.action(),
        requeue_in(10 * 60),
        "woken at the deadline"
    );
}

/// A pod create that the API server answers 409 `AlreadyExists`: the pod is there, but not
/// yet in the cache.
fn create_pod_already_there() -> Expect {
    Expect::new(Method::POST, pods_create_path()).answered(409)
}

#[tokio::test]
async fn already_exists_for_our_own_pod_is_success() {
    let scenario = Scenario::new_build();
    let ours = scenario.compiled_pod(Value::Null);
    let outcome = scenario.stored(ours).reconcile().await;
    outcome.expect(|build| {
        vec![
            create_pod_already_there(),
            read_pod(build).answered(200),
            status_patch(build, |status| {
                assert_eq!(status, &started(&simple_build()));
            }),
        ]
    });
    assert_eq!(outcome.action(), requeue_in(10 * 60));
    assert_eq!(outcome.counts.pods_created, 0);
}

#[tokio::test]
async fn already_exists_for_someone_elses_pod_is_an_error() {
    let scenario = Scenario::new_build();
    let theirs = owned_by_someone_else(scenario.compiled_pod(Value::Null));
    let outcome = scenario.stored(theirs).reconcile().await;
    outcome.expect(|build| vec![create_pod_already_there(), read_pod(build).answered(200)]);
    let error = outcome.error();
    assert!(matches!(error, Error::PodNotOwned { .. }), "{error}");
    assert!(error.to_string().contains("another-uid"), "{error}");
    assert_eq!(outcome.retry, Some(Action::requeue(Duration::from_secs(1))));
}

#[tokio::test]
async fn someone_elses_pod_in_the_cache_is_an_error_without_any_request() {
    let scenario = Scenario::new_build();
    let theirs = owned_by_someone_else(scenario.compiled_pod(running()));
    let outcome = scenario.with(theirs).reconcile().await;
    outcome.expect(|_| vec![]);
    assert!(matches!(outcome.error(), Error::PodNotOwned { .. }));
}

// 6. Mirror the pod.

#[tokio::test]
async fn a_running_pod_is_mirrored_once() {
    let scenario = Scenario::build_with_running_pod().at(three_minutes_in);
    let outcome = scenario.reconcile().await;
    outcome.expect(|build| {
        vec![
            condition_patch(build, "Unknown", "Building", &[]).status(|status| {
                assert_eq!(status["observedGeneration"], 1);
                assert_eq!(status["startTime"], NOW);
                assert_eq!(
                    status["stepStates"].as_array().unwrap().len(),
                    1,
                    "{status}"
                );
                assert!(status["stepStates"][0]["running"].is_object(), "{status}");
            }),
        ]
    });
    assert_eq!(
        outcome.action(),
        requeue_in(8 * 60),
        "woken at startTime + 10m"
    );

    // Nothing changed since: nothing is written.
    let mirrored = with_status(simple_build(), outcome.requests[0].body["status"].clone());
    let outcome = Scenario::of(mirrored)
        .pod(running())
        .at(three_minutes_in)
        .reconcile()
        .await;
    outcome.expect(|_| vec![]);
    assert_eq!(outcome.action(), requeue_in(8 * 60));
}

#[tokio::test]
async fn a_conflict_is_retried_promptly_not_overwritten() {
    // Someone else wrote the Build since the cache saw it: the API server has a newer
    // resourceVersion than the patch's precondition.
    let scenario = Scenario::build_with_running_pod().at(three_minutes_in);
    let build = scenario.build.clone();
    let mut newer = build.clone();
    newer.metadata.resource_version = Some("101".into());
    let outcome = scenario.stored(newer).reconcile().await;
    outcome.expect(|build| vec![Expect::new(Method::PATCH, status_path(build)).answered(409)]);
    assert!(outcome.error().is_conflict(), "{}", outcome.error());
    assert!(
        outcome
            .error()
            .to_string()
            .contains("the object has been modified"),
        "{}",
        outcome.error()
    );
    assert_eq!(
        outcome.retry,
        Some(Action::requeue(Duration::from_millis(200)))
    );
    assert_eq!(outcome.counts.conflicts, 1);
}

#[tokio::test]
async fn a_failed_step_fails_the_build() {
    let scenario = Scenario::build_with_pod(failed_pod()).at(three_minutes_in);
    scenario.reconcile().await.expect(|build| {
        vec![
            status_patch(build, |status| {
                assert_eq!(succeeded(status)["status"], "False", "{status}");
                assert_eq!(status["completionTime"], "2024-01-01T00:02:00Z");
            }),
            event("Warning", "Failed", ""),
        ]
    });
}

// 7. Timeout.

#[tokio::test]
async fn the_timeout_stops_the_pod_and_fails_the_build() {
    let scenario = Scenario::build_with_running_pod().at(much_later);
    let outcome = scenario.reconcile().await;
    outcome.expect(|build| {
        vec![
            // Before failing on the cache's word, the pod itself is read.
            read_pod(build).answered(200),
            stop_pod(build),
            condition_patch(
                build,
                "False",
                "BuildTimeout",
                &["Build \"hello\" failed to finish within \"10m0s\""],
            )
            .completed_at("2024-01-02T00:00:00Z"),
            event(
                "Warning",
                "BuildTimeout",
                "failed to finish within \"10m0s\"",
            ),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change());
    assert_eq!(outcome.counts.pods_stopped, 1);
}

#[tokio::test]
async fn a_success_reported_before_the_deadline_wins_over_a_late_timeout() {
    let scenario = Scenario::build_with_pod(succeeded_pod()).at(much_later);
    let outcome = scenario.reconcile().await;
    outcome.expect(|build| {
        vec![
            condition_patch(build, "True", "Succeeded", &[]).status(|status| {
                assert_eq!(status["completionTime"], "2024-01-01T00:05:01Z");
                assert_eq!(status["stepsCompleted"], json!([STEP]));
            }),
            event("Normal", "Succeeded", ""),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change());
}

// 8. Image pull and container configuration errors.

#[tokio::test]
async fn a_success_the_cache_has_not_seen_wins_over_a_late_timeout() {
    // The cache still shows the pod running past the deadline; the server knows it succeeded.
    let scenario = Scenario::build_with_running_pod().at(much_later);
    let fresh = scenario.compiled_pod(succeeded_pod());
    scenario.stored(fresh).reconcile().await.expect(|build| {
        vec![
            read_pod(build).answered(200),
            condition_patch(build, "True", "Succeeded", &[]),
            event("Normal", "Succeeded", ""),
        ]
    });
}

#[tokio::test]
async fn an_interrupted_stop_for_an_image_error_is_not_taken_for_a_timeout() {
    // A previous reconcile stopped the pod for ImagePullBackOff and died before writing the
    // status; the kubelet then failed the pod with DeadlineExceeded.
    let mut status = started(&simple_build());
    status["conditions"][0]["reason"] = json!("ImagePullBackOff");
    status["conditions"][0]["message"] =
        json!("build step \"build-step-build\" is waiting: ImagePullBackOff: Back-off");
    let scenario = Scenario::of(with_status(simple_build(), status)).at(seven_minutes_in);
    let mut pod = scenario.compiled_pod(
        json!({"phase": "Failed", "reason": "DeadlineExceeded", "startTime": NOW,
               "message": "Pod was active on the node longer than the specified deadline"}),
    );
    pod.spec.as_mut().unwrap().active_deadline_seconds = Some(1);
    scenario.with(pod).reconcile().await.expect(|build| {
        vec![
            condition_patch(build, "False", "ImagePullBackOff", &["Back-off"]),
            event("Warning", "Failed", "ImagePullBackOff"),
        ]
    });
}

#[tokio::test]
async fn a_pod_the_api_server_rejects_fails_the_build() {
    let scenario = Scenario::new_build();
    let build = scenario.build.clone();
    let name = pod_name(&build);
    let message = format!("Pod \"{name}\" is invalid: spec.containers[0].image: Required value");
    scenario.api.fail_next(
        Method::POST,
        format!("/api/v1/namespaces/{NS}/pods"),
        api_status(422, "Invalid", "pods", &name, &message),
    );
    let outcome = scenario.reconcile().await;
    outcome.expect(|build| {
        vec![
            Expect::new(Method::POST, pods_create_path()).answered(422),
            read_pod(build).answered(404),
            condition_patch(
                build,
                "False",
                "BuildExecuteFailed",
                &["the API server rejected pod", "Required value"],
            ),
            event("Warning", "Failed", "BuildExecuteFailed"),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change(), "no retry");
}

#[tokio::test]
async fn a_template_that_appears_after_the_timeout_is_too_late() {
    Scenario::of(waiting_for_the_template(CREATED))
        .with(template("kaniko"))
        .at(much_later)
        .reconcile()
        .await
        .expect(|build| {
            vec![
                // Before a pod-less verdict is taken for settled: no pod.
                read_pod(build).answered(404),
                condition_patch(
                    build,
                    "False",
                    "BuildTimeout",
                    &[
                        "failed to finish within \"10m0s\"",
                        "it waited for",
                        "kaniko",
                    ],
                ),
                event("Warning", "BuildTimeout", "it waited for"),
            ]
        });
}

#[tokio::test]
async fn an_image_pull_error_within_the_grace_period_is_waited_on() {
    let scenario = Scenario::build_with_pod(image_pull_backoff()).at(three_minutes_in);
    let outcome = scenario.reconcile().await;
    outcome.expect(|build| {
        vec![status_patch(build, |status| {
            assert_eq!(succeeded(status)["status"], "Unknown");
            assert_eq!(succeeded(status)["reason"], "ImagePullBackOff");
        })]
    });
    // The step has waited since the previous container finished (00:01:10); 5 minutes' grace.
    assert_eq!(outcome.action(), requeue_in(3 * 60 + 10));
}

#[tokio::test]
async fn an_image_pull_error_past_the_grace_period_fails_the_build() {
    let scenario = Scenario::build_with_pod(image_pull_backoff()).at(seven_minutes_in);
    scenario.reconcile().await.expect(|build| {
        vec![
            read_pod(build).answered(200),
            stop_pod(build),
            condition_patch(
                build,
                "False",
                "ImagePullBackOff",
                &[STEP, "Back-off pulling image \"busybox:nope\""],
            )
            .completed_at("2024-01-01T00:07:00Z"),
            event("Warning", "Failed", "ImagePullBackOff"),
        ]
    });
}

// 9. The pod deleted from under a running Build.

#[tokio::test]
async fn a_deleted_pod_fails_the_running_build() {
    let scenario = Scenario::started_build().at(three_minutes_in);
    let outcome = scenario.reconcile().await;
    outcome.expect(|build| {
        vec![
            read_pod(build).answered(404),
            condition_patch(
                build,
                "False",
                "PodDeleted",
                &["was deleted before build \"hello\" finished"],
            ),
            event("Warning", "Failed", "PodDeleted"),
        ]
    });
    assert_eq!(outcome.action(), Action::await_change());
}

#[tokio::test]
async fn a_pod_the_cache_has_not_seen_yet_is_not_taken_for_deleted() {
    let scenario = Scenario::started_build().at(three_minutes_in);
    let pod = scenario.compiled_pod(running());
    let outcome = scenario.stored(pod).reconcile().await;
    outcome.expect(|build| {
        vec![
            read_pod(build).answered(200),
            condition_patch(build, "Unknown", "Building", &[]),
        ]
    });
    assert_eq!(outcome.action(), requeue_in(8 * 60));
}

// Backoff.

#[tokio::test]
async fn failures_back_off_per_build_and_a_success_resets_them() {
    let scenario = Scenario::new_build();
    let theirs = owned_by_someone_else(scenario.compiled_pod(running()));
    let scenario = scenario.with(theirs);
    let ctx = std::sync::Arc::new(scenario.context());
    let build = scenario.build.clone();
    let arc = std::sync::Arc::new(CachedBuild::from(build.clone()));
    let mut delays = Vec::new();
    for _ in 0..4 {
        let error = build_controller::reconcile::reconcile(arc.clone(), ctx.clone())
            .await
            .unwrap_err();
        delays.push(build_controller::reconcile::error_policy(
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
        build_controller::reconcile::error_policy(
            std::sync::Arc::new(other.into()),
            &other_error,
            ctx.clone()
        ),
        secs(1)
    );

    // A successful reconcile (here: of the Build once finished and settled) resets the
    // backoff.
    let done = std::sync::Arc::new(CachedBuild::from(with_status(
        build.clone(),
        json!({"conditions": [{"type": "Succeeded", "status": "False", "reason": "X"}],
               "settled": true}),
    )));
    build_controller::reconcile::reconcile(done, ctx.clone())
        .await
        .unwrap();
    let error = build_controller::reconcile::reconcile(arc.clone(), ctx.clone())
        .await
        .unwrap_err();
    assert_eq!(
        build_controller::reconcile::error_policy(arc, &error, ctx.clone()),
        secs(1)
    );
    drop(ctx);
    assert!(scenario.api.recorded().is_empty(), "no request was made");
}

// Cost: a reconcile woken (by its pod's watch event) before the cache has the status it just
// wrote makes no request; the Build's own watch event wakes it again.

#[tokio::test]
async fn a_cache_that_lags_the_last_status_write_is_not_patched_again() {
    let scenario = Scenario::new_build();
    let build = scenario.build.clone();
    let ctx = std::sync::Arc::new(scenario.context());
    let name = pod_name(&build);
    let first = build_controller::reconcile::reconcile(
        std::sync::Arc::new(build.clone().into()),
        ctx.clone(),
    )
    .await;
    assert!(first.is_ok(), "{first:?}");
    // The same cached Build again (its resourceVersion unchanged): no request at all.
    let again = build_controller::reconcile::reconcile(
        std::sync::Arc::new(build.clone().into()),
        ctx.clone(),
    )
    .await;
    assert_eq!(again.unwrap(), Action::requeue(Duration::from_millis(200)));
    drop(ctx);
    scenario.api.clients_dropped().await;
    assert_requests(
        &scenario.api.recorded(),
        vec![
            create_pod(),
            event("Normal", "Started", name.clone()),
            status_patch(&build, |_| {}),
        ],
    );
}

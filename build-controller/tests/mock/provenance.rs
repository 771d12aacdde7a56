//! What was built, from what, against the fake API server: a pod whose init containers ended
//! with termination messages and image IDs, one reconcile, and the Build's status carrying the
//! source's commit, each step's image digest and the results; a broken result is named in a
//! `ResultsReported` warning while the Build still succeeds.

use crate::support;

use build_types::Build;
use serde_json::{Value, json};
use support::fixtures::*;

const COMMIT: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
const DIGEST: &str = "sha256:5a3e1a7d6e0b3c9f8a7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a2918";
const GIT: &str = "build-step-git-source-0";
const BUILD: &str = "build-step-build";
const PUSH: &str = "build-step-push";

/// A Build with a git source and two steps, its pod just created.
fn app() -> Build {
    let build = build(
        "app",
        json!({
            "source": {"git": {"url": "https://github.com/example/app.git", "revision": "main"}},
            "steps": [
                {"name": "build", "image": "gcr.io/kaniko-project/executor:v1.23.0", "args": ["--destination=registry.example.com/app:1.0"]},
                {"name": "push", "image": "busybox:1.36", "args": ["true"]},
            ],
        }),
    );
    with_status(build.clone(), started(&build))
}

/// A container that exited `code` at 00:02, its termination message `message`, run from the
/// image `image_id`.
fn ended(name: &str, code: i32, message: &str, image_id: &str) -> Value {
    let mut status = container(
        name,
        terminated(code, "2024-01-01T00:01:10Z", "2024-01-01T00:02:00Z"),
    );
    status["imageID"] = json!(image_id);
    if !message.is_empty() {
        status["state"]["terminated"]["message"] = json!(message);
    }
    status
}

/// The pod of [`app`] after every container exited 0, the build step's message `build_said`.
fn succeeded(build_said: &str) -> Value {
    json!({
        "phase": "Succeeded", "startTime": NOW,
        "initContainerStatuses": [
            ended(CREDS_INIT, 0, "", "example.com/creds-init@sha256:01"),
            ended(GIT, 0, &format!("commit={COMMIT}\nrevision=main\n"), "example.com/git-init@sha256:02"),
            ended(BUILD, 0, build_said, "gcr.io/kaniko-project/executor@sha256:03"),
            ended(PUSH, 0, "", "docker.io/library/busybox@sha256:04"),
        ],
        "containerStatuses": [ended("nop", 0, "", "example.com/nop@sha256:05")],
    })
}

#[tokio::test]
async fn the_status_records_the_commit_the_digests_and_the_results() {
    let said = format!("IMAGE_URL=registry.example.com/app:1.0\nIMAGE_DIGEST={DIGEST}\n");
    let scenario = Scenario::of(app()).pod(succeeded(&said));
    let outcome = scenario.reconcile().await;
    outcome.expect(|build| {
        vec![
            condition_patch(build, "True", "Succeeded", &[]).status(|status| {
                assert_eq!(
                    status["sources"],
                    json!([{
                        "step": GIT, "kind": "git",
                        "url": "https://github.com/example/app.git",
                        "revision": "main", "commit": COMMIT,
                        "image": "example.com/git-init:test",
                        "imageID": "example.com/git-init@sha256:02",
                    }])
                );
                assert_eq!(
                    status["stepImages"],
                    json!([
                        {"step": BUILD, "image": "gcr.io/kaniko-project/executor:v1.23.0",
                         "imageID": "gcr.io/kaniko-project/executor@sha256:03"},
                        {"step": PUSH, "image": "busybox:1.36",
                         "imageID": "docker.io/library/busybox@sha256:04"},
                    ])
                );
                assert_eq!(
                    status["results"],
                    json!([
                        {"name": "IMAGE_URL", "value": "registry.example.com/app:1.0", "step": BUILD},
                        {"name": "IMAGE_DIGEST", "value": DIGEST, "step": BUILD},
                    ])
                );
                assert_eq!(status["controllerVersion"], build_pod::CONTROLLER_VERSION);
                assert_eq!(status["conditions"].as_array().unwrap().len(), 1);
            }),
            event("Normal", "Succeeded", ""),
        ]
    });
}

#[tokio::test]
async fn a_broken_result_is_named_and_the_build_still_succeeds() {
    let said = format!("IMAGE_URL=registry.example.com/app:1.0\nimage digest={DIGEST}\n");
    let scenario = Scenario::of(app()).pod(succeeded(&said));
    scenario.reconcile().await.expect(|build| {
        vec![
            condition_patch(build, "True", "Succeeded", &[]).status(|status| {
                let reported = status["conditions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["type"] == "ResultsReported")
                    .unwrap_or_else(|| panic!("no ResultsReported condition in {status}"));
                assert_eq!(reported["status"], "False");
                assert_eq!(reported["severity"], "Warning");
                assert_eq!(reported["reason"], "ResultsDropped");
                assert_eq!(
                    reported["message"],
                    "build step \"build-step-build\": line 2: \"image digest\" is not a result name (a letter or '_', then letters, digits and '_', at most 64 bytes)"
                );
                assert_eq!(
                    status["results"],
                    json!([{"name": "IMAGE_URL", "value": "registry.example.com/app:1.0", "step": BUILD}])
                );
            }),
            event("Normal", "Succeeded", ""),
        ]
    });
}

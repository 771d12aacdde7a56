//! The status extension as `status_from_pod` fills it: what each source was fetched at, each
//! step's image and the digest that ran, the results of steps that exited 0, and the
//! `ResultsReported` condition naming what was dropped.

use build_pod::{CONTROLLER_VERSION, status_from_pod};
use build_types::{
    Build, BuildSpec, BuildStatus, Condition, ConditionSeverity, ConditionStatus, GcsSourceSpec,
    GcsSourceType, GitSourceSpec, RESULTS_DROPPED, RESULTS_REPORTED, SourceSpec,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

const CREDS: &str = "build-step-credential-initializer";
const GIT: &str = "build-step-git-source-0";
const CUSTOM: &str = "build-step-custom-source-extra";
const GCS: &str = "build-step-gcs-source-assets";
const BUILD: &str = "build-step-build";
const PUSH: &str = "build-step-push";
const COMMIT: &str = "0d4a9c3b8f1e2d7c6b5a49382716f5e4d3c2b1a0";

fn t(seconds: i64) -> Time {
    Time(Timestamp::from_second(1_700_000_000 + seconds).unwrap())
}

/// A Build with a git source (credentials in its URL), a custom source, a GCS source and two
/// steps, and its pod as the compiler lays it out (spec only: the init containers' names and
/// images, then `nop`).
fn build_and_pod() -> (Build, Pod) {
    let mut build = Build::new("app", BuildSpec::default());
    build.metadata.namespace = Some("ci".into());
    build.spec.sources = vec![
        SourceSpec {
            git: Some(GitSourceSpec {
                url: "https://bot:s3cr3t@github.com/a/b.git".into(),
                revision: "main".into(),
            }),
            ..SourceSpec::default()
        },
        SourceSpec {
            name: Some("extra".into()),
            custom: Some(Box::new(Container::default())),
            ..SourceSpec::default()
        },
        SourceSpec {
            gcs: Some(GcsSourceSpec {
                type_: GcsSourceType::Archive,
                location: "gs://bucket/src.zip".into(),
            }),
            name: Some("assets".into()),
            target_path: Some("assets".into()),
            ..SourceSpec::default()
        },
    ];
    let container = |(name, image): (&str, &str)| Container {
        name: name.into(),
        image: Some(image.into()),
        ..Container::default()
    };
    let init = [
        (CREDS, "creds-init"),
        (GIT, "git-init:v1"),
        (CUSTOM, "example/fetch:1"),
        (GCS, "gcs-fetcher"),
        (BUILD, "example/build:1.0"),
        (PUSH, "example/push:1.0"),
    ];
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("app-pod-1a2b3c".into()),
            namespace: Some("ci".into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            init_containers: Some(init.into_iter().map(container).collect()),
            containers: vec![container(("nop", "nop"))],
            ..PodSpec::default()
        }),
        status: None,
    };
    (build, pod)
}

/// A container that exited with `code`, its termination message `message`.
fn exited(name: &str, code: i32, message: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        image: format!("docker.io/example/{name}:latest"),
        image_id: format!("docker.io/example/{name}@sha256:{:0>64}", name.len()),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                message: (!message.is_empty()).then(|| message.into()),
                finished_at: Some(t(10)),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }
}

fn running(name: &str) -> ContainerStatus {
    ContainerStatus {
        state: Some(ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(t(5)),
            }),
            ..ContainerState::default()
        }),
        ..exited(name, 0, "")
    }
}

fn waiting(name: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("PodInitializing".into()),
                message: None,
            }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }
}

/// The status of `build` when its pod is in `phase` with these init container statuses.
fn mapped(build: &Build, mut pod: Pod, phase: &str, init: Vec<ContainerStatus>) -> BuildStatus {
    pod.status = Some(PodStatus {
        phase: Some(phase.into()),
        start_time: Some(t(1)),
        init_container_statuses: Some(init),
        ..PodStatus::default()
    });
    let status = status_from_pod(&pod, build);
    assert_eq!(
        status.controller_version.as_deref(),
        Some(CONTROLLER_VERSION)
    );
    status
}

/// The extension alone, for a snapshot: without the version, which changes with each release.
fn extension(status: &BuildStatus) -> serde_json::Value {
    serde_json::json!({
        "sources": status.sources,
        "stepImages": status.step_images,
        "results": status.results,
        "resultsReported": status.condition(RESULTS_REPORTED),
    })
}

fn succeeded_prelude() -> Vec<ContainerStatus> {
    vec![
        exited(CREDS, 0, ""),
        exited(GIT, 0, &format!("commit={COMMIT}\nrevision=main\n")),
        exited(
            CUSTOM,
            0,
            "url=https://user:pw@example.com/extra.tar\ncommit=abc123\nFETCHED_BYTES=2048\n",
        ),
        exited(GCS, 0, "gcs-fetcher says: done"),
    ]
}

#[test]
fn a_succeeded_build_records_sources_images_and_results() {
    let (build, pod) = build_and_pod();
    let mut init = succeeded_prelude();
    init.push(exited(
        BUILD,
        0,
        "IMAGE_URL=registry.example.com/app:1.0\nIMAGE_DIGEST=sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
    ));
    init.push(exited(PUSH, 0, ""));
    let status = mapped(&build, pod, "Succeeded", init);
    assert_eq!(
        status.succeeded().unwrap().status,
        ConditionStatus::True,
        "{status:?}"
    );
    let json = serde_json::to_string(&status).unwrap();
    assert!(!json.contains("s3cr3t") && !json.contains(":pw@"), "{json}");
    insta::assert_yaml_snapshot!(extension(&status));
}

#[test]
fn a_failed_step_reports_no_results_and_later_steps_no_image_id() {
    let (build, pod) = build_and_pod();
    let mut init = succeeded_prelude();
    // The tail of its log, under FallbackToLogsOnError: never read as results.
    init.push(exited(
        BUILD,
        1,
        "IMAGE_URL=half/written\nerror: push denied",
    ));
    init.push(waiting(PUSH));
    let status = mapped(&build, pod, "Failed", init);
    assert_eq!(status.succeeded().unwrap().status, ConditionStatus::False);
    let names: Vec<_> = status.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["FETCHED_BYTES"], "only the custom source's");
    assert_eq!(status.step_images[1].step, PUSH);
    assert_eq!(
        status.step_images[1].image.image.as_deref(),
        Some("example/push:1.0")
    );
    assert_eq!(status.step_images[1].image.image_id, None);
    assert!(status.condition(RESULTS_REPORTED).is_none());
}

#[test]
fn a_pending_pod_lists_what_was_asked_for() {
    let (build, pod) = build_and_pod();
    let init = vec![running(CREDS), waiting(GIT), waiting(CUSTOM), waiting(GCS)];
    let status = mapped(&build, pod, "Pending", init);
    insta::assert_yaml_snapshot!(extension(&status));
}

/// Broken results are dropped, each named with its step and line, in a `Warning` condition
/// that leaves the Build's success alone.
#[test]
fn dropped_results_are_named_in_a_warning_condition() {
    let (build, pod) = build_and_pod();
    let mut init = succeeded_prelude();
    init.push(exited(
        BUILD,
        0,
        "IMAGE_URL=registry.example.com/app\nimage-digest=sha256:00\nIMAGE_URL=registry.example.com/app:2\n",
    ));
    init.push(exited(PUSH, 0, "Sleep expired"));
    let status = mapped(&build, pod, "Succeeded", init);
    assert_eq!(status.succeeded().unwrap().status, ConditionStatus::True);
    let condition = status.condition(RESULTS_REPORTED).unwrap();
    assert_eq!(condition.status, ConditionStatus::False);
    assert_eq!(condition.severity, Some(ConditionSeverity::Warning));
    assert_eq!(condition.reason.as_deref(), Some(RESULTS_DROPPED));
    assert_eq!(
        condition.message.as_deref(),
        Some(
            "build step \"build-step-build\": line 2: \"image-digest\" is not a result name (a letter or '_', then letters, digits and '_', at most 64 bytes); \
             build step \"build-step-build\": line 3: IMAGE_URL written again; its last value is kept; \
             build step \"build-step-push\": line 1 is not KEY=VALUE: \"Sleep expired\""
        )
    );
    let image = status
        .results
        .iter()
        .find(|r| r.name == "IMAGE_URL")
        .unwrap();
    assert_eq!(image.value, "registry.example.com/app:2");
}

/// A message that reached what the kubelet keeps of it in this pod (12 KiB shared by its seven
/// containers: 1755 bytes) may have been cut: all its results are dropped, and said so.
#[test]
fn a_message_at_the_kubelets_limit_is_dropped_whole() {
    let (build, pod) = build_and_pod();
    let mut init = succeeded_prelude();
    let long: String = (0..16)
        .map(|i| format!("K{i}={}\n", "v".repeat(110)))
        .collect();
    assert!(long.len() > 1755 && long.len() < 4096);
    init.push(exited(BUILD, 0, &long[..1755]));
    init.push(exited(PUSH, 0, "OK=1"));
    let status = mapped(&build, pod, "Succeeded", init);
    let names: Vec<_> = status.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["FETCHED_BYTES", "OK"]);
    let message = status.condition(RESULTS_REPORTED).unwrap().message.clone();
    assert_eq!(
        message.as_deref(),
        Some(
            "build step \"build-step-build\": its termination message reached the 1755 bytes the kubelet keeps of each container's in this pod (12 KiB shared by its containers, at most 4 KiB each) and may have been cut, so its results are dropped"
        )
    );
}

/// The condition follows the pod: a status that carried one loses it when nothing is dropped.
#[test]
fn the_condition_is_cleared_when_nothing_is_dropped() {
    let (mut build, pod) = build_and_pod();
    let mut old = BuildStatus::default();
    old.set_condition(
        Condition {
            type_: RESULTS_REPORTED.into(),
            ..Condition::succeeded(ConditionStatus::False, RESULTS_DROPPED, "old")
        },
        t(0),
    );
    build.status = Some(old);
    let mut init = succeeded_prelude();
    init.push(exited(BUILD, 0, ""));
    init.push(exited(PUSH, 0, ""));
    let status = mapped(&build, pod, "Succeeded", init);
    assert!(status.condition(RESULTS_REPORTED).is_none(), "{status:?}");
}

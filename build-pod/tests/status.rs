//! Table tests of the mapping from a build pod's status to its Build's status.

use build_auth::CredentialPlan;
use build_pod::{Images, PodInputs, compile_pod, status_from_pod};
use build_types::{
    Build, BuildProvider, BuildSpec, BuildStatus, ClusterSpec, Condition, ConditionStatus,
    GitSourceSpec, Reason, SourceSpec,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

const CREDS: &str = "build-step-credential-initializer";
const GIT: &str = "build-step-git-source-0";
const CUSTOM: &str = "build-step-custom-source-extra";
const STEPS: [&str; 3] = [
    "build-step-fetch-deps",
    "build-step-build",
    "build-step-push",
];

fn t(seconds: i64) -> Time {
    Time(Timestamp::from_second(1_700_000_000 + seconds).unwrap())
}

/// A Build with a git source, a custom source and three steps, and its compiled pod (no status).
fn build_and_pod() -> (Build, Pod) {
    let mut build = Build::new("app", BuildSpec::default());
    build.metadata.namespace = Some("ci".into());
    build.metadata.uid = Some("1b4e28ba-2fa1-11d2-883f-0016d3cca427".into());
    build.spec.sources = vec![
        SourceSpec {
            git: Some(GitSourceSpec {
                url: "https://github.com/a/b.git".into(),
                revision: "main".into(),
            }),
            ..SourceSpec::default()
        },
        SourceSpec {
            name: Some("extra".into()),
            custom: Some(Box::new(Container {
                image: Some("alpine".into()),
                ..Container::default()
            })),
            ..SourceSpec::default()
        },
    ];
    build.spec.set_defaults();
    let steps: Vec<Container> = ["fetch-deps", "build", "push"]
        .iter()
        .map(|name| Container {
            name: (*name).into(),
            image: Some(format!("example/{name}")),
            ..Container::default()
        })
        .collect();
    build.spec.steps = steps.clone();
    let images = Images {
        creds_init: "creds-init".into(),
        git_init: "git-init".into(),
        gcs_fetcher: "gcs-fetcher".into(),
        nop: "nop".into(),
    };
    let pod = compile_pod(&PodInputs {
        build: &build.clone().into_valid().unwrap_or_else(|r| panic!("{r}")),
        steps: &steps,
        volumes: &[],
        credentials: &CredentialPlan::default(),
        images: &images,
    })
    .unwrap();
    (build, pod)
}

fn status(name: &str, state: ContainerState) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        image: format!("docker.io/example/{name}:latest"),
        image_id: if state.waiting.is_some() {
            String::new()
        } else {
            format!("docker.io/example/{name}@sha256:0123")
        },
        state: Some(state),
        ..ContainerStatus::default()
    }
}

fn waiting(name: &str, reason: &str, message: &str) -> ContainerStatus {
    status(
        name,
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: (!message.is_empty()).then(|| message.into()),
            }),
            ..ContainerState::default()
        },
    )
}

fn running(name: &str, at: i64) -> ContainerStatus {
    status(
        name,
        ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(t(at)),
            }),
            ..ContainerState::default()
        },
    )
}

fn exited(name: &str, code: i32, reason: &str, finished: i64) -> ContainerStatus {
    status(
        name,
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(reason.into()),
                started_at: Some(t(finished - 1)),
                finished_at: Some(t(finished)),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        },
    )
}

fn done(name: &str, finished: i64) -> ContainerStatus {
    exited(name, 0, "Completed", finished)
}

/// The three source/credential containers, all finished.
fn prelude() -> Vec<ContainerStatus> {
    vec![done(CREDS, 2), done(GIT, 3), done(CUSTOM, 4)]
}

fn pod_status(phase: &str, init: Vec<ContainerStatus>) -> PodStatus {
    PodStatus {
        phase: Some(phase.into()),
        start_time: Some(t(1)),
        init_container_statuses: (!init.is_empty()).then_some(init),
        ..PodStatus::default()
    }
}

fn unschedulable() -> PodCondition {
    PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some("0/3 nodes are available: 3 Insufficient cpu.".into()),
        last_transition_time: Some(t(5)),
        ..PodCondition::default()
    }
}

/// What a case expects of the `Succeeded` condition and the steps.
struct Expect {
    status: ConditionStatus,
    reason: &'static str,
    /// The whole message (`{pod}` stands for the pod's name), or `None` for no message.
    message: Option<&'static str>,
    /// The step containers in `stepStates`, in order.
    step_states: &'static [&'static str],
    steps_completed: &'static [&'static str],
    /// The expected `completionTime`, in seconds after the base.
    completion: Option<i64>,
}

fn check(case: &str, status: Option<PodStatus>, expect: Expect) {
    let (build, mut pod) = build_and_pod();
    pod.metadata.creation_timestamp = Some(t(0));
    pod.status = status;
    let got = status_from_pod(&pod, &build);

    assert_eq!(got.builder, Some(BuildProvider::Cluster), "{case}");
    assert_eq!(
        got.cluster,
        Some(ClusterSpec {
            namespace: "ci".into(),
            pod_name: pod.metadata.name.clone().unwrap(),
        }),
        "{case}"
    );
    let condition = got
        .succeeded()
        .unwrap_or_else(|| panic!("{case}: no condition"));
    assert_eq!(condition.status, expect.status, "{case}");
    assert_eq!(condition.reason.as_deref(), Some(expect.reason), "{case}");
    let pod_name = pod.metadata.name.as_deref().unwrap();
    let message = expect.message.map(|m| m.replace("{pod}", pod_name));
    assert_eq!(condition.message, message, "{case}");
    assert!(condition.last_transition_time.is_some(), "{case}");

    let statuses: Vec<&ContainerStatus> = pod
        .status
        .iter()
        .flat_map(|s| s.init_container_statuses.iter().flatten())
        .collect();
    let expected_states: Vec<ContainerState> = expect
        .step_states
        .iter()
        .map(|name| {
            let status = statuses.iter().find(|s| s.name == *name).unwrap();
            status.state.clone().unwrap()
        })
        .collect();
    assert_eq!(got.step_states, expected_states, "{case}");
    assert_eq!(got.steps_completed, expect.steps_completed, "{case}");
    assert_eq!(got.completion_time, expect.completion.map(t), "{case}");
    let started = pod.status.as_ref().and_then(|s| s.start_time.clone());
    assert_eq!(got.start_time, Some(started.unwrap_or(t(0))), "{case}");
}

#[test]
fn empty_status() {
    check(
        "no status at all",
        None,
        Expect {
            status: ConditionStatus::Unknown,
            reason: "Pending",
            message: Some("Pending"),
            step_states: &[],
            steps_completed: &[],
            completion: None,
        },
    );
}

#[test]
fn pending_phases() {
    check(
        "pending, not scheduled",
        Some(PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![unschedulable()]),
            ..PodStatus::default()
        }),
        Expect {
            status: ConditionStatus::Unknown,
            reason: "Pending",
            message: Some(
                "pod condition PodScheduled is False (Unschedulable): 0/3 nodes are available: 3 Insufficient cpu.",
            ),
            step_states: &[],
            steps_completed: &[],
            completion: None,
        },
    );
    check(
        "pending with a pod message",
        Some(PodStatus {
            message: Some("waiting for a volume".into()),
            ..pod_status("Pending", vec![])
        }),
        Expect {
            status: ConditionStatus::Unknown,
            reason: "Pending",
            message: Some("waiting for a volume"),
            step_states: &[],
            steps_completed: &[],
            completion: None,
        },
    );
    check(
        "pending, first container being created",
        Some(pod_status(
            "Pending",
            vec![
                waiting(CREDS, "ContainerCreating", ""),
                waiting(GIT, "PodInitializing", ""),
            ],
        )),
        Expect {
            status: ConditionStatus::Unknown,
            reason: "Pending",
            message: Some(
                "build step \"build-step-credential-initializer\" is waiting: ContainerCreating",
            ),
            step_states: &[],
            steps_completed: &[],
            completion: None,
        },
    );
}

#[test]
fn image_pull_waiting_is_surfaced_for_fail_fast() {
    let mut init = prelude();
    init.push(waiting(
        STEPS[0],
        "ImagePullBackOff",
        "Back-off pulling image \"example/fetch-deps\"",
    ));
    check(
        "image pull back-off in the first step",
        Some(pod_status("Pending", init)),
        Expect {
            status: ConditionStatus::Unknown,
            reason: "ImagePullBackOff",
            message: Some(
                "build step \"build-step-fetch-deps\" is waiting: ImagePullBackOff: Back-off pulling image \"example/fetch-deps\"",
            ),
            step_states: &["build-step-fetch-deps"],
            steps_completed: &[],
            completion: None,
        },
    );
    for reason in [
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
    ] {
        assert!(reason.parse::<Reason>().unwrap().is_fail_fast(), "{reason}");
    }
    assert!("ContainerCreating".parse::<Reason>().is_err());
    assert!(!Reason::PodEvicted.is_fail_fast());
}

#[test]
fn building() {
    let mut init = prelude();
    init.extend([
        done(STEPS[0], 6),
        running(STEPS[1], 7),
        waiting(STEPS[2], "PodInitializing", ""),
    ]);
    check(
        "pending while the init containers run is building",
        Some(pod_status("Pending", init)),
        Expect {
            status: ConditionStatus::Unknown,
            reason: "Building",
            message: Some("build step \"build-step-build\" is running"),
            step_states: &STEPS,
            steps_completed: &["build-step-fetch-deps"],
            completion: None,
        },
    );
    let mut init = prelude();
    init.extend(STEPS.iter().enumerate().map(|(i, s)| done(s, 6 + i as i64)));
    let mut status = pod_status("Running", init);
    status.container_statuses = Some(vec![running("nop", 10)]);
    check(
        "running",
        Some(status),
        Expect {
            status: ConditionStatus::Unknown,
            reason: "Building",
            message: None,
            step_states: &STEPS,
            steps_completed: &STEPS,
            completion: None,
        },
    );
}

#[test]
fn succeeded() {
    let mut init = prelude();
    init.extend(STEPS.iter().enumerate().map(|(i, s)| done(s, 6 + i as i64)));
    let mut status = pod_status("Succeeded", init);
    status.container_statuses = Some(vec![done("nop", 12)]);
    check(
        "succeeded",
        Some(status),
        Expect {
            status: ConditionStatus::True,
            reason: "Succeeded",
            message: None,
            step_states: &STEPS,
            steps_completed: &STEPS,
            completion: Some(12),
        },
    );
}

#[test]
fn non_zero_exit_in_step_two() {
    let mut init = prelude();
    init.extend([
        done(STEPS[0], 6),
        exited(STEPS[1], 2, "Error", 9),
        waiting(STEPS[2], "PodInitializing", ""),
    ]);
    check(
        "step 2 exits 2",
        Some(pod_status("Failed", init)),
        Expect {
            status: ConditionStatus::False,
            reason: "StepFailed",
            message: Some(
                "build step \"build-step-build\" exited with code 2 (image: \"example/build\", digest sha256:0123); for logs run: kubectl -n ci logs {pod} -c build-step-build",
            ),
            step_states: &STEPS,
            steps_completed: &["build-step-fetch-deps", "build-step-build"],
            completion: Some(9),
        },
    );
}

/// containerd reports an imported image by its content digest alone (`image: sha256:…`): the
/// message still names the image as the step wrote it.
#[test]
fn failed_step_names_the_image_as_written() {
    let mut init = prelude();
    let mut build = exited(STEPS[0], 1, "Error", 6);
    build.image = "sha256:ab07f1e5".into();
    build.image_id = "sha256:ab07f1e5".into();
    init.push(build);
    check(
        "image reported by digest",
        Some(pod_status("Failed", init)),
        Expect {
            status: ConditionStatus::False,
            reason: "StepFailed",
            message: Some(
                "build step \"build-step-fetch-deps\" exited with code 1 (image: \"example/fetch-deps\", digest sha256:ab07f1e5); for logs run: kubectl -n ci logs {pod} -c build-step-fetch-deps",
            ),
            step_states: &STEPS[..1],
            steps_completed: &["build-step-fetch-deps"],
            completion: Some(6),
        },
    );
}

#[test]
fn source_failure_is_a_failed_step() {
    let mut git = exited(GIT, 1, "Error", 3);
    let terminated = git.state.as_mut().unwrap().terminated.as_mut().unwrap();
    terminated.message = Some(
        "git-init: cannot fetch revision \"nope\" from https://github.com/a/b.git: no branch, tag or commit of that name\n"
            .into(),
    );
    let init = vec![done(CREDS, 2), git, waiting(CUSTOM, "PodInitializing", "")];
    check(
        "git-init fails",
        Some(pod_status("Failed", init)),
        Expect {
            status: ConditionStatus::False,
            reason: "StepFailed",
            message: Some(
                "build step \"build-step-git-source-0\" exited with code 1: git-init: cannot fetch revision \"nope\" from https://github.com/a/b.git: no branch, tag or commit of that name (image: \"git-init\", digest sha256:0123); for logs run: kubectl -n ci logs {pod} -c build-step-git-source-0",
            ),
            step_states: &[],
            steps_completed: &[],
            completion: Some(3),
        },
    );
}

#[test]
fn deadline_exceeded() {
    let mut init = prelude();
    init.extend([done(STEPS[0], 6), exited(STEPS[1], 137, "Error", 601)]);
    let status = PodStatus {
        reason: Some("DeadlineExceeded".into()),
        message: Some("Pod was active on the node longer than the specified deadline".into()),
        ..pod_status("Failed", init)
    };
    check(
        "deadline exceeded",
        Some(status),
        Expect {
            status: ConditionStatus::False,
            reason: "BuildTimeout",
            message: Some("Build \"app\" failed to finish within \"10m0s\""),
            step_states: &STEPS[..2],
            steps_completed: &STEPS[..2],
            completion: Some(601),
        },
    );
}

#[test]
fn evicted() {
    let mut init = prelude();
    init.push(running(STEPS[0], 6));
    let status = PodStatus {
        reason: Some("Evicted".into()),
        message: Some("The node was low on resource: memory.".into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            last_transition_time: Some(t(20)),
            ..PodCondition::default()
        }]),
        ..pod_status("Failed", init)
    };
    check(
        "evicted",
        Some(status),
        Expect {
            status: ConditionStatus::False,
            reason: "PodEvicted",
            message: Some("build pod was evicted: The node was low on resource: memory."),
            step_states: &STEPS[..1],
            steps_completed: &[],
            completion: Some(20),
        },
    );
}

#[test]
fn oom_killed() {
    let mut init = prelude();
    init.extend([done(STEPS[0], 6), exited(STEPS[1], 137, "OOMKilled", 8)]);
    check(
        "oom",
        Some(pod_status("Failed", init)),
        Expect {
            status: ConditionStatus::False,
            reason: "StepOOMKilled",
            message: Some(
                "build step \"build-step-build\" was killed for using more memory than its limit (OOMKilled; image: \"example/build\", digest sha256:0123); for logs run: kubectl -n ci logs {pod} -c build-step-build",
            ),
            step_states: &STEPS[..2],
            steps_completed: &STEPS[..2],
            completion: Some(8),
        },
    );
}

#[test]
fn failed_without_a_reason() {
    check(
        "failed, nothing known",
        Some(pod_status("Failed", prelude())),
        Expect {
            status: ConditionStatus::False,
            reason: "BuildFailed",
            message: Some("build failed for unspecified reasons"),
            step_states: &[],
            steps_completed: &[],
            completion: Some(4),
        },
    );
}

#[test]
fn transition_time_comes_from_the_pod_and_is_kept_while_unchanged() {
    let (mut build, mut pod) = build_and_pod();
    let mut init = prelude();
    init.push(running(STEPS[0], 6));
    pod.status = Some(pod_status("Pending", init.clone()));
    let first = status_from_pod(&pod, &build);
    assert_eq!(first.succeeded().unwrap().last_transition_time, Some(t(6)));

    build.status = Some(first);
    init[3] = done(STEPS[0], 8);
    init.push(running(STEPS[1], 9));
    pod.status = Some(pod_status("Pending", init.clone()));
    let second = status_from_pod(&pod, &build);
    assert_eq!(second.succeeded().unwrap().last_transition_time, Some(t(6)));

    build.status = Some(second);
    init[4] = done(STEPS[1], 11);
    pod.status = Some(pod_status("Succeeded", init));
    let third = status_from_pod(&pod, &build);
    let condition = third.succeeded().unwrap();
    assert_eq!(condition.status, ConditionStatus::True);
    assert_eq!(condition.last_transition_time, Some(t(11)));
}

#[test]
fn other_conditions_and_fields_are_kept() {
    let (mut build, pod) = build_and_pod();
    let mut existing = BuildStatus {
        observed_generation: Some(3),
        ..BuildStatus::default()
    };
    existing.set_condition(
        Condition {
            type_: "Other".into(),
            ..Condition::succeeded(ConditionStatus::True, "Fine", "")
        },
        t(0),
    );
    build.status = Some(existing);
    let got = status_from_pod(&pod, &build);
    assert_eq!(got.observed_generation, Some(3));
    assert!(got.condition("Other").is_some());
    assert!(got.succeeded().is_some());
}

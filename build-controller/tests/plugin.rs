//! `kubectl build` against the fake API server (tests/support/fake_api.rs): each scenario
//! stores a Build, its pod and what it refers to, scripts how they change (a kubelet finishing
//! a step, the controller writing a status), runs one plugin command, and snapshots what it
//! printed (colour off, progress lines on) with its exit code.

mod support;

use build_controller::plugin::{PluginCli, PluginExit, Session, Style};
use build_types::Build;
use clap::{CommandFactory, Parser};
use http::Method;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use serde_json::{Value, json};
use support::fake_api::FakeApi;
use support::fixtures::{
    Caches, NS, UID, compiled_pod, container, from, running_since, terminated, to_json, waiting,
    with_status,
};
use support::plugin::{RUN_IMG, Ran};

const T0: &str = "2024-01-01T00:00:00Z";
const T1: &str = "2024-01-01T00:00:05Z";
const T2: &str = "2024-01-01T00:00:20Z";
const T3: &str = "2024-01-01T00:01:02Z";
const T4: &str = "2024-01-01T00:01:30Z";

/// Runs `kubectl build ARGS…` against `api`, in namespace [`NS`], colour off, progress on.
async fn kubectl_build(api: &FakeApi, args: &[&str]) -> Ran {
    let session = Session::new(api.client("plugin", NS), NS);
    let style = Style {
        color: false,
        progress: true,
    };
    support::plugin::kubectl_build(&session, style, args).await
}

/// The seed's `img` template: two steps, `build` and `push`.
fn img_template() -> Value {
    json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "BuildTemplate",
        "metadata": {"name": "img", "namespace": NS},
        "spec": {
            "parameters": [
                {"name": "IMAGE", "description": "Where to publish the resulting image."},
                {"name": "DOCKERFILE", "default": "Dockerfile"},
            ],
            "steps": [
                {"name": "build", "image": "garethr/img", "args": ["build", "-t", "${IMAGE}", "-f", "${DOCKERFILE}", "."]},
                {"name": "push", "image": "garethr/img", "args": ["push", "${IMAGE}"]},
            ],
        },
    })
}

const SENTINEL: &str = "SENTINEL-do-not-print-3f9a";

/// The seed's ServiceAccount `build-bot` and its Docker Hub Secret, whose values are a
/// sentinel; and the account's token Secret.
fn credentials() -> Vec<(&'static str, Value)> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(SENTINEL);
    vec![
        (
            "serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "build-bot", "namespace": NS},
                   "secrets": [{"name": "docker-hub"}, {"name": "build-bot-token"}]}),
        ),
        (
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "docker-hub", "namespace": NS,
                                "annotations": {"build.knative.dev/docker-0": "https://index.docker.io/v1/",
                                                "kubectl.kubernetes.io/last-applied-configuration": SENTINEL}},
                   "type": "kubernetes.io/basic-auth",
                   "data": {"username": encoded, "password": encoded}}),
        ),
        (
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "build-bot-token", "namespace": NS},
                   "type": "kubernetes.io/service-account-token",
                   "data": {"token": encoded}}),
        ),
    ]
}

/// The seed's `kubeval-img` Build in [`NS`], without a status.
fn img_build() -> Build {
    support::fixtures::build(
        "kubeval-img",
        json!({
            "serviceAccountName": "build-bot",
            "source": {"git": {"url": "https://github.com/garethr/kubeval.git", "revision": "master"}},
            "template": {"name": "img", "arguments": [{"name": "IMAGE", "value": "garethr/kubeval"}]},
        }),
    )
}

/// A status of `build` with its `Succeeded` condition (status, reason, message), its pod and
/// start time, and, once the condition is no longer `Unknown`, its completion time.
fn status(build: &Build, condition: (&str, &str, &str)) -> Value {
    let (status, reason, message) = condition;
    let mut value = json!({
        "builder": "Cluster",
        "cluster": {"namespace": NS, "podName": build_pod::pod_name(build)},
        "startTime": T0,
        "conditions": [{"type": "Succeeded", "status": status, "reason": reason,
                        "message": message, "lastTransitionTime": T0}],
    });
    if status != "Unknown" {
        value["completionTime"] = json!(T4);
    }
    value
}

/// The status of a Build waiting for its template (no pod yet).
fn waiting_for_the_template() -> Value {
    json!({"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "TemplateNotFound",
                           "message": "BuildTemplate \"img\" not found in namespace \"ns\"",
                           "lastTransitionTime": T0}]})
}

/// What the compiler sees for the seed's Build: the template and the credentials.
fn seed_caches() -> Caches {
    let mut caches = Caches::new().with(from::<build_types::BuildTemplate>(img_template()));
    for (resource, object) in credentials() {
        match resource {
            "serviceaccounts" => {
                caches.apply(from::<k8s_openapi::api::core::v1::ServiceAccount>(object))
            }
            _ => caches.apply(from::<k8s_openapi::api::core::v1::Secret>(object)),
        }
    }
    caches
}

fn initializing() -> Value {
    waiting("PodInitializing", "")
}

/// `build`'s pod in `phase`, its init containers in these states (in order).
fn pod(build: &Build, phase: &str, states: &[Value]) -> Pod {
    let mut pod = compiled_pod(build, &seed_caches(), Value::Null);
    let names: Vec<String> = pod
        .spec
        .as_ref()
        .unwrap()
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(
        names.len(),
        states.len(),
        "one state per init container: {names:?}"
    );
    let statuses: Vec<Value> = names
        .iter()
        .zip(states)
        .map(|(name, state)| container(name, state.clone()))
        .collect();
    pod.status = Some(from(json!({
        "phase": phase, "startTime": T0, "initContainerStatuses": statuses,
    })));
    pod
}

/// Every container of the seed's pod exited 0.
fn all_done() -> [Value; 4] {
    [
        terminated(0, T0, T0),
        terminated(0, T0, T1),
        terminated(0, T1, T2),
        terminated(0, T2, T3),
    ]
}

/// The seed's first two containers done, `build` running, `push` not started.
fn building() -> [Value; 4] {
    [
        terminated(0, T0, T0),
        terminated(0, T0, T1),
        running_since(T1),
        initializing(),
    ]
}

/// The kubelet and the controller at the end of a successful `build`: every container done,
/// the pod `Succeeded`, the Build's `Succeeded` condition `True`.
fn succeed(api: &FakeApi, build: &Build) {
    api.put("pods", to_json(&pod(build, "Succeeded", &all_done())));
    let finished = with_status(build.clone(), status(build, ("True", "Succeeded", "")));
    api.put("builds", to_json(&finished));
}

/// The seed's world in `api`: template, ServiceAccount, Secrets.
fn seed(api: &FakeApi) {
    api.insert("buildtemplates", img_template());
    insert_credentials(api);
}

/// The seed's ServiceAccount and Secrets in `api`.
fn insert_credentials(api: &FakeApi) {
    for (resource, object) in credentials() {
        api.insert(resource, object);
    }
}

/// The logs of the seed's containers.
fn seed_logs(api: &FakeApi, pod: &str) {
    for (container, text) in [
        (
            "build-step-credential-initializer",
            "creds-init: wrote ~/.docker/config.json for https://index.docker.io/v1/\n",
        ),
        (
            "build-step-git-source-0",
            "git-init: fetched master of https://github.com/garethr/kubeval.git\n",
        ),
        (
            "build-step-build",
            "INFO[0000] Building garethr/kubeval\nINFO[0042] Built and tagged garethr/kubeval:latest\n",
        ),
        (
            "build-step-push",
            "Pushing garethr/kubeval...\nSuccessfully pushed garethr/kubeval\n",
        ),
    ] {
        api.set_log(NS, pod, container, text);
    }
}

/// The seed's `kubeval-img` Build in a fake cluster, as a test sets it up.
struct World {
    api: FakeApi,
    /// The Build, as last stored.
    build: Build,
}

impl World {
    /// A cluster holding nothing yet.
    fn empty() -> Self {
        World {
            api: FakeApi::default(),
            build: img_build(),
        }
    }

    /// A cluster holding the seed's template, ServiceAccount and Secrets.
    fn seeded() -> Self {
        let world = World::empty();
        seed(&world.api);
        world
    }

    /// The seed with the Build running its `build` step.
    fn running() -> Self {
        World::seeded()
            .build(("Unknown", "Building", ""))
            .pod("Pending", &building())
    }

    fn pod_name(&self) -> String {
        build_pod::pod_name(&self.build)
    }

    /// Stores the Build with `status`.
    fn build_with(mut self, status: Value) -> Self {
        self.build = with_status(img_build(), status);
        self.api.insert("builds", to_json(&self.build));
        self
    }

    /// Stores the Build with its `Succeeded` condition (status, reason, message).
    fn build(self, condition: (&str, &str, &str)) -> Self {
        let status = status(&img_build(), condition);
        self.build_with(status)
    }

    /// Stores the Build's pod in `phase` with its init containers in `states`, and their logs.
    fn pod(self, phase: &str, states: &[Value]) -> Self {
        self.api
            .insert("pods", to_json(&pod(&self.build, phase, states)));
        seed_logs(&self.api, &self.pod_name());
        self
    }
}

fn build_path(name: &str) -> String {
    format!("/apis/build.knative.dev/v1alpha1/namespaces/{NS}/builds/{name}")
}

fn pod_path(name: &str) -> String {
    format!("/api/v1/namespaces/{NS}/pods/{name}")
}

fn log_path(pod: &str) -> String {
    format!("/api/v1/namespaces/{NS}/pods/{pod}/log")
}

/// The query strings of the log requests, in order.
fn log_requests(api: &FakeApi) -> Vec<String> {
    api.recorded()
        .iter()
        .filter(|r| r.uri.path().ends_with("/log"))
        .map(|r| r.uri.query().unwrap_or_default().to_owned())
        .collect()
}

/// Asserts that a follow said `why` it waits once, not at every poll.
fn assert_says_once(ran: &Ran, why: &str) {
    assert_eq!(ran.err.matches(why).count(), 1, "{}", ran.err);
}

/// `kubectl build logs -f kubeval-img`, which must end in success.
async fn follow_to_success(api: &FakeApi) -> Ran {
    let ran = kubectl_build(api, &["logs", "-f", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    ran
}

#[tokio::test(start_paused = true)]
async fn logs_follow_streams_each_step_as_it_starts_and_exits_0() {
    let World { api, build } = World::running();
    let pod_name = build_pod::pod_name(&build);
    // The kubelet: `build` ends while it is followed and `push` starts; then `push` ends, the
    // pod succeeds, and the controller writes the Build's success.
    let next = build.clone();
    api.after(1, Method::GET, log_path(&pod_name), move |api| {
        let states = [
            terminated(0, T0, T0),
            terminated(0, T0, T1),
            terminated(0, T1, T2),
            running_since(T2),
        ];
        api.put("pods", to_json(&pod(&next, "Pending", &states)));
    });
    let last = build.clone();
    api.after(2, Method::GET, log_path(&pod_name), move |api| {
        succeed(api, &last);
    });

    let ran = follow_to_success(&api).await;
    assert_eq!(
        log_requests(&api),
        [
            "&container=build-step-build&follow=true",
            "&container=build-step-push&follow=true",
        ]
    );
    insta::assert_snapshot!("logs_follow_success", ran.transcript());

    // Afterwards, with the helpers.
    let ran = kubectl_build(&api, &["logs", "kubeval-img", "--all"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded);
    insta::assert_snapshot!("logs_all_after_success", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_follow_says_once_why_a_step_waits_for_its_image() {
    let message = "Back-off pulling image \"garethr/img\"";
    let states = [
        terminated(0, T0, T0),
        terminated(0, T0, T1),
        waiting("ImagePullBackOff", message),
        initializing(),
    ];
    let World { api, build } = World::seeded()
        .build(("Unknown", "ImagePullBackOff", message))
        .pod("Pending", &states);
    let pod_name = build_pod::pod_name(&build);
    api.after(3, Method::GET, pod_path(&pod_name), move |api| {
        succeed(api, &build);
    });
    let ran = follow_to_success(&api).await;
    assert_says_once(&ran, "ImagePullBackOff");
    insta::assert_snapshot!("logs_follow_image_pull", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_follow_waits_for_the_pod_and_says_why() {
    let World { api, build } = World::empty().build_with(waiting_for_the_template());
    seed_logs(&api, &build_pod::pod_name(&build));
    api.after(3, Method::GET, build_path("kubeval-img"), move |api| {
        seed(api);
        succeed(api, &build);
    });
    let ran = follow_to_success(&api).await;
    assert_says_once(&ran, "TemplateNotFound");
    insta::assert_snapshot!("logs_follow_template_not_found", ran.transcript());
}

/// A failed Build: the stored pod and Build, and the command's transcript.
async fn failed(states: &[Value], condition: (&str, &str), args: &[&str]) -> Ran {
    let World { api, build } = World::seeded()
        .build(("False", condition.0, condition.1))
        .pod("Failed", states);
    api.set_log(
        NS,
        &build_pod::pod_name(&build),
        "build-step-git-source-0",
        "fatal: couldn't find remote ref nope\n",
    );
    let ran = kubectl_build(&api, args).await;
    assert_eq!(ran.exit, PluginExit::Failed, "{}", ran.transcript());
    let last = ran.err.lines().last().unwrap_or_default();
    assert!(last.starts_with("build \"kubeval-img\" failed"), "{last}");
    assert!(last.contains(condition.0), "{last}");
    ran
}

#[tokio::test(start_paused = true)]
async fn logs_of_a_failed_step_exit_1_naming_step_reason_and_message() {
    let message = "build step \"build-step-push\" exited with code 1 (image: \"garethr/img\"); for logs run: kubectl -n ns logs kubeval-img-pod-x -c build-step-push";
    let ran = failed(
        &[
            terminated(0, T0, T0),
            terminated(0, T0, T1),
            terminated(0, T1, T2),
            terminated(1, T2, T3),
        ],
        ("StepFailed", message),
        &["logs", "-f", "kubeval-img"],
    )
    .await;
    assert!(ran.err.lines().last().unwrap().contains("at step \"push\""));
    insta::assert_snapshot!("logs_step_failed", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn a_failing_helper_is_shown_without_all() {
    let message = "build step \"build-step-git-source-0\" exited with code 128";
    let ran = failed(
        &[
            terminated(0, T0, T0),
            terminated(128, T0, T1),
            initializing(),
            initializing(),
        ],
        ("StepFailed", message),
        &["logs", "kubeval-img"],
    )
    .await;
    assert!(ran.out.contains("[git-source-0] fatal"), "{}", ran.out);
    assert!(!ran.out.contains("credential-initializer"), "{}", ran.out);
    insta::assert_snapshot!("logs_helper_failed", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_after_a_timeout_show_the_stopped_step() {
    let ran = failed(
        &[
            terminated(0, T0, T0),
            terminated(0, T0, T1),
            running_since(T1),
            initializing(),
        ],
        (
            "BuildTimeout",
            "Build \"kubeval-img\" failed to finish within \"10m0s\"",
        ),
        &["logs", "-f", "kubeval-img"],
    )
    .await;
    assert!(ran.out.contains("[build] INFO[0042]"), "{}", ran.out);
    insta::assert_snapshot!("logs_timeout", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_after_a_cancel() {
    let ran = failed(
        &[
            terminated(0, T0, T0),
            terminated(0, T0, T1),
            terminated(137, T1, T2),
            initializing(),
        ],
        ("BuildCancelled", "Build \"kubeval-img\" was cancelled"),
        &["logs", "kubeval-img"],
    )
    .await;
    insta::assert_snapshot!("logs_cancelled", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_say_when_the_pod_is_gone() {
    let pod_name = build_pod::pod_name(&img_build());
    let message = format!("pod {pod_name:?} was deleted before build \"kubeval-img\" finished");
    let World { api, .. } = World::seeded().build(("False", "PodDeleted", &message));
    let ran = kubectl_build(&api, &["logs", "-f", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Failed);
    assert!(ran.err.contains("is gone"), "{}", ran.err);
    insta::assert_snapshot!("logs_pod_gone", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_of_a_missing_build_exit_2() {
    let api = FakeApi::default();
    let ran = kubectl_build(&api, &["logs", "-f", "nope"]).await;
    assert_eq!(ran.exit, PluginExit::Error);
    assert_eq!(api.recorded()[0].status, Some(404));
    insta::assert_snapshot!("logs_not_found", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_pass_step_tail_since_and_timestamps_to_the_api_server() {
    let World { api, .. } = World::seeded()
        .build(("True", "Succeeded", ""))
        .pod("Succeeded", &all_done());
    let ran = kubectl_build(
        &api,
        &[
            "logs",
            "kubeval-img",
            "--step",
            "push",
            "--tail",
            "1",
            "--since",
            "1h",
            "--timestamps",
        ],
    )
    .await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert_eq!(
        log_requests(&api),
        ["&container=build-step-push&sinceSeconds=3600&tailLines=1&timestamps=true"]
    );
}

/// Events of the Build, as the controller writes them (events.k8s.io, read through core/v1).
fn events(build: &Build) -> Vec<Value> {
    let event = |name: &str, type_: &str, reason: &str, message: &str, at: &str| {
        json!({"apiVersion": "v1", "kind": "Event",
               "metadata": {"name": name, "namespace": NS},
               "involvedObject": {"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
                                  "name": build.name_any(), "namespace": NS, "uid": UID},
               "type": type_, "reason": reason, "message": message,
               "eventTime": at, "reportingComponent": "build-controller",
               "reportingInstance": "test", "source": {}})
    };
    vec![
        event(
            "e2",
            "Warning",
            "Failed",
            "StepFailed: build step \"build-step-push\" exited with code 1",
            "2024-01-01T00:01:30.000000Z",
        ),
        event(
            "e1",
            "Normal",
            "Started",
            "created pod",
            "2024-01-01T00:00:00.000000Z",
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn describe_shows_everything_but_secret_values() {
    let message = "build step \"build-step-push\" exited with code 1 (image: \"garethr/img\")";
    let states = [
        terminated(0, T0, T0),
        terminated(0, T0, T1),
        terminated(0, T1, T2),
        terminated(1, T2, T3),
    ];
    let World { api, build } = World::seeded()
        .build(("False", "StepFailed", message))
        .pod("Failed", &states);
    for event in events(&build) {
        api.insert("events", event);
    }
    let ran = kubectl_build(&api, &["describe", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert_no_secret_value(&ran);
    assert!(
        ran.out
            .trim_end()
            .ends_with("kubectl build logs kubeval-img -n ns --step push"),
        "{}",
        ran.out
    );
    let events_request = api
        .recorded()
        .into_iter()
        .find(|r| r.uri.path().ends_with("/events"))
        .expect("describe lists events");
    assert!(
        events_request
            .uri
            .query()
            .unwrap()
            .contains("involvedObject.name%3Dkubeval-img"),
        "{}",
        events_request.uri
    );
    insta::assert_snapshot!("describe_failed", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn describe_a_build_waiting_for_its_template() {
    let World { api, .. } = World::empty().build_with(waiting_for_the_template());
    insert_credentials(&api);
    let ran = kubectl_build(&api, &["describe", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert_no_secret_value(&ran);
    insta::assert_snapshot!("describe_waiting", ran.transcript());
}

fn assert_no_secret_value(ran: &Ran) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(SENTINEL);
    for text in [&ran.out, &ran.err] {
        assert!(
            !text.contains(SENTINEL),
            "a Secret value was printed:\n{text}"
        );
        assert!(
            !text.contains(&encoded),
            "a Secret value was printed:\n{text}"
        );
        assert!(
            !text.contains("SENTINEL"),
            "a Secret value was printed:\n{text}"
        );
    }
}

fn created_builds(api: &FakeApi) -> Vec<Value> {
    api.recorded()
        .into_iter()
        .filter(|r| r.method == Method::POST && r.uri.path().ends_with("/builds"))
        .map(|r| r.body)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn run_detach_creates_a_build_with_a_generated_name() {
    let World { api, .. } = World::seeded();
    let mut args = RUN_IMG.to_vec();
    args.push("--detach");
    let ran = kubectl_build(&api, &args).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    let created = created_builds(&api);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["metadata"]["generateName"], "img-");
    let name = ran.out.lines().next().unwrap();
    let name = name
        .strip_prefix("build.build.knative.dev/")
        .and_then(|rest| rest.strip_suffix(" created"))
        .unwrap_or_else(|| panic!("{name}"));
    let stored = api
        .get("build.knative.dev", "builds", NS, name)
        .expect("the Build is stored");
    insta::assert_yaml_snapshot!("run_created_spec", stored["spec"]);
    insta::assert_snapshot!("run_detach", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn run_refuses_arguments_the_template_does_not_take() {
    let World { api, .. } = World::seeded();
    let ran = kubectl_build(
        &api,
        &[
            "run",
            "--template",
            "img",
            "--arg",
            "IMAGES=garethr/kubeval",
            "--git",
            "https://github.com/garethr/kubeval.git",
        ],
    )
    .await;
    assert_eq!(ran.exit, PluginExit::Error);
    assert!(created_builds(&api).is_empty(), "nothing is created");
    assert!(
        ran.err.contains("(parameters: IMAGE, DOCKERFILE)"),
        "{}",
        ran.err
    );
    insta::assert_snapshot!("run_unknown_argument", ran.transcript());

    let ran = kubectl_build(&api, &["run", "--template", "kaniko", "--cluster-template"]).await;
    assert_eq!(ran.exit, PluginExit::Error);
    assert!(created_builds(&api).is_empty());
    insta::assert_snapshot!("run_template_not_found", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn run_follows_the_build_it_created() {
    let World { api, .. } = World::seeded();
    // The controller and the kubelet: once the Build exists, its pod runs to the end.
    api.after(
        1,
        Method::POST,
        format!("/apis/build.knative.dev/v1alpha1/namespaces/{NS}/builds"),
        |api| {
            let stored: Build = from(api.all("build.knative.dev", "builds").remove(0));
            seed_logs(api, &build_pod::pod_name(&stored));
            succeed(api, &stored);
        },
    );
    let ran = kubectl_build(&api, RUN_IMG).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert!(
        ran.out.starts_with("build.build.knative.dev/img-"),
        "{}",
        ran.out
    );
    insta::assert_snapshot!("run_follow", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn run_from_a_file() {
    let World { api, .. } = World::seeded();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeval-img.yaml");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/seed/kubeval-img.yaml"
        ),
        &file,
    )
    .unwrap();
    let ran = kubectl_build(&api, &["run", "-f", file.to_str().unwrap(), "--detach"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert_eq!(ran.out, "build.build.knative.dev/kubeval-img created\n");
    let created = created_builds(&api);
    assert_eq!(created[0]["metadata"]["namespace"], NS);
    assert_eq!(created[0]["spec"]["template"]["name"], "img");
}

#[tokio::test(start_paused = true)]
async fn cancel_sets_spec_status_and_waits_for_the_controller() {
    let World { api, build } = World::running();
    // The controller notices the cancel a few polls later.
    api.after(3, Method::GET, build_path("kubeval-img"), move |api| {
        let mut cancelled: Value = api
            .get("build.knative.dev", "builds", NS, "kubeval-img")
            .unwrap();
        let message = "Build \"kubeval-img\" was cancelled";
        cancelled["status"] = status(&build, ("False", "BuildCancelled", message));
        api.put("builds", cancelled);
    });
    let ran = kubectl_build(&api, &["cancel", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    let patch = api
        .recorded()
        .into_iter()
        .find(|r| r.method == Method::PATCH)
        .expect("a patch");
    assert_eq!(patch.body, json!({"spec": {"status": "BuildCancelled"}}));
    let stored = api
        .get("build.knative.dev", "builds", NS, "kubeval-img")
        .unwrap();
    assert_eq!(stored["spec"]["status"], "BuildCancelled");
    insta::assert_snapshot!("cancel", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn cancel_no_wait_and_cancel_of_a_finished_or_missing_build() {
    let World { api, .. } = World::running();
    let ran = kubectl_build(&api, &["cancel", "kubeval-img", "--no-wait"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert_eq!(
        ran.out,
        "build.build.knative.dev/kubeval-img cancel requested\n"
    );

    let World { api, .. } = World::empty().build(("True", "Succeeded", ""));
    let ran = kubectl_build(&api, &["cancel", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert!(
        api.recorded().iter().all(|r| r.method == Method::GET),
        "no patch"
    );
    assert!(ran.err.contains("already finished"), "{}", ran.err);

    let ran = kubectl_build(&api, &["cancel", "nope"]).await;
    assert_eq!(ran.exit, PluginExit::Error);
}

#[tokio::test]
async fn validate_and_render_are_reachable_through_the_plugin() {
    let api = FakeApi::default();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seed");
    let ran = kubectl_build(&api, &["validate", seed]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert_eq!(ran.out.matches(": ok").count(), 6, "{}", ran.out);
    let ran = kubectl_build(&api, &["render", seed, "--build", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    let pod: Pod = serde_yaml_ng::from_str(&ran.out).unwrap();
    assert_eq!(
        pod.spec.unwrap().service_account_name.as_deref(),
        Some("build-bot")
    );
    assert!(
        api.recorded().is_empty(),
        "the offline commands make no request"
    );
}

#[test]
fn every_command_explains_itself() {
    let command = PluginCli::command();
    command.clone().debug_assert();
    let mut help = Vec::new();
    for sub in command.get_subcommands() {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        assert!(!about.is_empty(), "{} has no help", sub.get_name());
        for arg in sub.get_arguments() {
            assert!(
                arg.get_help().is_some() || arg.get_id() == "help",
                "{} {} has no help",
                sub.get_name(),
                arg.get_id()
            );
        }
        help.push(format!("{}: {about}", sub.get_name()));
    }
    assert_eq!(help.len(), 7);
    let long = command.clone().render_long_help().to_string();
    assert!(long.contains("Exit codes:"), "{long}");
    let logs = PluginCli::try_parse_from(["kubectl-build", "logs", "--help"]).unwrap_err();
    assert!(logs.to_string().contains("--follow"), "{logs}");
}

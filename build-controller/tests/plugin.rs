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
use support::plugin::{Ends, IMG_LOGS, Live, RUN_IMG, Ran};

const T0: &str = "2024-01-01T00:00:00Z";
const T1: &str = "2024-01-01T00:00:05Z";
const T2: &str = "2024-01-01T00:00:20Z";
const T3: &str = "2024-01-01T00:01:02Z";
const T4: &str = "2024-01-01T00:01:30Z";

/// How the mocked commands print: colour off, progress on.
const STYLE: Style = Style {
    color: false,
    progress: true,
};

/// What a terminal shows for `kubectl build ARGS…`: the command line, then stdout and stderr
/// as they were written. README's "Use it" shows these (`readme_shows_real_plugin_output`).
fn terminal(args: &[&str], ran: &Ran) -> String {
    format!("$ kubectl build {}\n{}", args.join(" "), ran.terminal)
}

/// When the mocked commands run: five minutes after [`T0`].
const NOW: &str = "2024-01-01T00:05:00Z";

/// A session against `api` in namespace [`NS`], at [`NOW`].
fn session(api: &FakeApi) -> Session {
    let mut session = Session::new(api.client("plugin", NS), NS);
    session.clock = || NOW.parse().unwrap();
    session
}

/// Runs `kubectl build ARGS…` against `api`, in namespace [`NS`], colour off, progress on.
async fn kubectl_build(api: &FakeApi, args: &[&str]) -> Ran {
    support::plugin::kubectl_build(&session(api), STYLE, args).await
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
    for (container, text) in IMG_LOGS {
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
    /// A cluster holding nothing yet, whose watches deliver changes.
    fn empty() -> Self {
        World {
            api: FakeApi::default().with_watch_news(),
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

/// The Builds of [`NS`]: what a watch of one Build lists and watches.
fn builds_path() -> String {
    format!("/apis/build.knative.dev/v1alpha1/namespaces/{NS}/builds")
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

/// `kubectl build logs -f kubeval-img` while `script` changes the world, which must end in
/// success.
async fn follow_while<Fut: std::future::Future<Output = ()>>(
    api: &FakeApi,
    script: impl FnOnce(Live) -> Fut,
) -> Ran {
    let ran = support::plugin::kubectl_build_scripted(
        &session(api),
        STYLE,
        &["logs", "-f", "kubeval-img"],
        Ends::WithCommand,
        script,
    )
    .await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    ran
}

/// Lets every task run until none can (the clock is paused: it moves only then), so that the
/// command has seen the last change before the next one.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// `kubectl build logs -f kubeval-img`, which must end in success.
async fn follow_to_success(api: &FakeApi) -> Ran {
    let ran = kubectl_build(api, &["logs", "-f", "kubeval-img"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    ran
}

/// The kubelet and the controller around a follow of the running seed Build: `build` ends
/// while it is followed and `push` starts (and, with `expire`, the API server then ends every
/// watch before sending that news and forgets its history, as a restart does); then `push`
/// ends, the pod succeeds, and the controller writes the Build's success.
fn build_then_push(api: &FakeApi, build: &Build, expire: bool) {
    let pod_name = build_pod::pod_name(build);
    let next = build.clone();
    api.after(1, Method::GET, log_path(&pod_name), move |api| {
        let states = [
            terminated(0, T0, T0),
            terminated(0, T0, T1),
            terminated(0, T1, T2),
            running_since(T2),
        ];
        api.put("pods", to_json(&pod(&next, "Pending", &states)));
        if expire {
            api.expire_history();
        }
    });
    let last = build.clone();
    api.after(2, Method::GET, log_path(&pod_name), move |api| {
        succeed(api, &last);
    });
}

#[tokio::test(start_paused = true)]
async fn logs_follow_streams_each_step_as_it_starts_and_exits_0() {
    let World { api, build } = World::running();
    build_then_push(&api, &build, false);
    let ran = follow_to_success(&api).await;
    assert_eq!(
        log_requests(&api),
        [
            "&container=build-step-build&follow=true",
            "&container=build-step-push&follow=true",
        ]
    );
    insta::assert_snapshot!("logs_follow_success", ran.transcript());
    insta::assert_snapshot!(
        "terminal_logs_follow",
        terminal(&["logs", "-f", "kubeval-img"], &ran)
    );

    // Afterwards, with the helpers.
    let ran = kubectl_build(&api, &["logs", "kubeval-img", "--all"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded);
    insta::assert_snapshot!("logs_all_after_success", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_follow_lists_again_when_its_watch_expires_mid_build() {
    let World { api, build } = World::running();
    build_then_push(&api, &build, true);
    let ran = follow_to_success(&api).await;
    // Both watches, resumed from versions the API server no longer holds, got 410 Expired
    // and listed again: the start of `push` came through the pod's second list.
    let pod_requests: Vec<String> = api
        .recorded()
        .iter()
        .filter(|r| r.is("list", "pods") || r.is("watch", "pods"))
        .map(|r| r.path())
        .collect();
    println!("the pod's list and watch requests: {pod_requests:#?}");
    let lists = |resource: &str| {
        api.recorded()
            .iter()
            .filter(|r| r.is("list", resource))
            .count()
    };
    assert_eq!(lists("pods"), 2, "the pod is listed again after the 410");
    assert_eq!(
        lists("builds"),
        2,
        "the Build is listed again after the 410"
    );
    // What the user sees is what a follow without the expiry shows.
    insta::assert_snapshot!("logs_follow_success", ran.transcript());
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
    // Once the follow said why it waits, the kubelet reports the same wait again (the follow
    // looks again, and says nothing new), then the image comes and the Build succeeds.
    let again = pod(&build, "Pending", &states);
    let kubelet = api.clone();
    let ran = follow_while(&api, |live| async move {
        let api = kubelet;
        live.err.shows("ImagePullBackOff").await;
        api.put("pods", to_json(&again));
        settle().await;
        succeed(&api, &build);
    })
    .await;
    assert_says_once(&ran, "ImagePullBackOff");
    insta::assert_snapshot!("logs_follow_image_pull", ran.transcript());
}

#[tokio::test(start_paused = true)]
async fn logs_follow_waits_for_the_pod_and_says_why() {
    let World { api, build } = World::empty().build_with(waiting_for_the_template());
    seed_logs(&api, &build_pod::pod_name(&build));
    // Once the follow said why it waits, the controller writes the same wait again (the follow
    // looks again, and says nothing new); then the template comes, and the Build runs to its
    // end.
    let again = to_json(&build);
    let controller = api.clone();
    let ran = follow_while(&api, |live| async move {
        let api = controller;
        live.err.shows("TemplateNotFound").await;
        api.put("builds", again);
        settle().await;
        seed(&api);
        succeed(&api, &build);
    })
    .await;
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

/// The seed's Build failed at `push`, its pod kept, and its Events.
fn failed_at_push_with_events() -> World {
    let message = "build step \"build-step-push\" exited with code 1 (image: \"garethr/img\")";
    let states = [
        terminated(0, T0, T0),
        terminated(0, T0, T1),
        terminated(0, T1, T2),
        terminated(1, T2, T3),
    ];
    let world = World::seeded()
        .build(("False", "StepFailed", message))
        .pod("Failed", &states);
    for event in events(&world.build) {
        world.api.insert("events", event);
    }
    world
}

#[tokio::test(start_paused = true)]
async fn describe_shows_everything_but_secret_values() {
    let World { api, .. } = failed_at_push_with_events();
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
    insta::assert_snapshot!(
        "terminal_describe",
        terminal(&["describe", "kubeval-img"], &ran)
    );
}

#[tokio::test(start_paused = true)]
async fn describe_output_yaml_and_json_carry_what_the_text_shows() {
    let World { api, .. } = failed_at_push_with_events();
    let yaml = kubectl_build(&api, &["describe", "kubeval-img", "-o", "yaml"]).await;
    assert_eq!(yaml.exit, PluginExit::Succeeded, "{}", yaml.transcript());
    assert_no_secret_value(&yaml);
    insta::assert_snapshot!("describe_failed_yaml", yaml.transcript());
    let json = kubectl_build(&api, &["describe", "kubeval-img", "-o", "json"]).await;
    assert_no_secret_value(&json);
    insta::assert_snapshot!("describe_failed_json", json.transcript());
    let from_yaml: Value = serde_yaml_ng::from_str(&yaml.out).unwrap();
    let from_json: Value = serde_json::from_str(&json.out).unwrap();
    assert_eq!(from_yaml, from_json, "the same content in both formats");
    // And the same as the text view's.
    let text = kubectl_build(&api, &["describe", "kubeval-img"]).await.out;
    assert_eq!(from_json["steps"].as_array().unwrap().len(), 4);
    assert_eq!(from_json["failedStep"], "push");
    assert!(text.ends_with(&format!("{}\n", from_json["logsCommand"].as_str().unwrap())));
    assert_eq!(
        from_json["serviceAccount"]["secrets"][1]["uses"][0]["target"],
        "https://index.docker.io/v1/"
    );

    let World { api, .. } = World::empty().build_with(waiting_for_the_template());
    insert_credentials(&api);
    let args = ["describe", "kubeval-img", "-o", "yaml"];
    let ran = kubectl_build(&api, &args).await;
    insta::assert_snapshot!("terminal_describe_yaml", terminal(&args, &ran));
    let waiting: Value = serde_yaml_ng::from_str(&ran.out).unwrap();
    assert_eq!(waiting["template"]["found"], false);
    assert_eq!(waiting["pod"]["state"], "not created yet");
    assert!(waiting.get("failedStep").is_none(), "{waiting}");
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
    insta::assert_snapshot!("terminal_run", terminal(RUN_IMG, &ran));
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
    // The controller notices the cancel once the command watches the Build (its list, then
    // its watch).
    api.after(2, Method::GET, builds_path(), move |api| {
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
    insta::assert_snapshot!(
        "terminal_cancel",
        terminal(&["cancel", "kubeval-img"], &ran)
    );
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
    let mut examples = 0;
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
        let after = sub
            .get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            after.contains("Examples:\n  # "),
            "{}: {after}",
            sub.get_name()
        );
        assert!(after.contains("Exit codes:"), "{}: {after}", sub.get_name());
        examples += examples_parse(&after);
    }
    assert_eq!(help.len(), 9);
    let root = command
        .get_after_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    examples += examples_parse(&root);
    assert!(examples >= 20, "{examples} examples");
    let long = command.clone().render_long_help().to_string();
    assert!(long.contains("Exit codes:"), "{long}");
    let logs = PluginCli::try_parse_from(["kubectl-build", "logs", "--help"]).unwrap_err();
    assert!(logs.to_string().contains("--follow"), "{logs}");
}

/// Every `kubectl build …` line of `help`'s examples (continued with `\`, up to a `|`) parses as
/// the plugin's command line; returns how many there are.
fn examples_parse(help: &str) -> usize {
    let mut parsed = 0;
    let mut lines = help.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("kubectl build ") else {
            continue;
        };
        let mut command = rest.to_owned();
        while command.ends_with('\\') {
            command.pop();
            command.push_str(lines.next().unwrap_or_default());
        }
        let command = command.split(" | ").next().unwrap();
        let words = std::iter::once("kubectl-build").chain(command.split_whitespace());
        if let Err(error) = PluginCli::try_parse_from(words) {
            panic!("the example `kubectl build {command}` does not parse: {error}");
        }
        parsed += 1;
    }
    parsed
}

/// A Build `name` in `namespace` from the `img` template, created at `created`, with `status`
/// (`Null`: none yet).
fn listed(namespace: &str, name: &str, created: &str, status: Value) -> Value {
    let mut build = json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
                     "creationTimestamp": created, "labels": {"app": "kubeval"}},
        "spec": {"serviceAccountName": "build-bot",
                 "template": {"name": "img", "arguments": [{"name": "IMAGE", "value": "x"}]}},
    });
    if !status.is_null() {
        build["status"] = status;
    }
    build
}

/// A status: the `Succeeded` condition (status, reason), the start and, when given, the end.
fn run_status(build: &str, condition: (&str, &str), start: &str, end: Option<&str>) -> Value {
    let mut status = json!({
        "builder": "Cluster",
        "cluster": {"namespace": NS, "podName": format!("{build}-pod-1a2b3c")},
        "startTime": start,
        "conditions": [{"type": "Succeeded", "status": condition.0, "reason": condition.1,
                        "lastTransitionTime": start}],
    });
    if let Some(end) = end {
        status["completionTime"] = json!(end);
    }
    status
}

/// Five Builds in [`NS`], one of each kind: failed at `push` (its pod kept), succeeded,
/// running, waiting for its template, not seen by the controller yet.
fn several(api: &FakeApi) {
    let World { build, .. } = World::seeded().build((
        "False",
        "StepFailed",
        "build step \"build-step-push\" exited with code 1",
    ));
    let failed = with_status(
        build.clone(),
        status(&build, ("False", "StepFailed", "exited with code 1")),
    );
    api.insert("builds", to_json(&failed));
    let states = [
        terminated(0, T0, T0),
        terminated(0, T0, T1),
        terminated(0, T1, T2),
        terminated(1, T2, T3),
    ];
    api.insert("pods", to_json(&pod(&build, "Failed", &states)));
    let succeeded = run_status(
        "kubeval-buildkit",
        ("True", "Succeeded"),
        "2024-01-01T00:02:00Z",
        Some("2024-01-01T00:03:10Z"),
    );
    let running = run_status(
        "img-x7k2p",
        ("Unknown", "Building"),
        "2024-01-01T00:04:00Z",
        None,
    );
    let waiting = json!({"conditions": [{"type": "Succeeded", "status": "Unknown",
        "reason": "TemplateNotFound", "lastTransitionTime": "2024-01-01T00:04:30Z"}]});
    for build in [
        listed(NS, "kubeval-buildkit", "2024-01-01T00:02:00Z", succeeded),
        listed(NS, "img-x7k2p", "2024-01-01T00:04:00Z", running),
        listed(NS, "early", "2024-01-01T00:04:30Z", waiting),
        listed(NS, "fresh", "2024-01-01T00:04:55Z", Value::Null),
    ] {
        api.insert("builds", build);
    }
}

#[tokio::test(start_paused = true)]
async fn list_says_when_there_are_no_builds() {
    let api = FakeApi::default();
    let ran = kubectl_build(&api, &["list"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert!(ran.out.is_empty(), "{}", ran.out);
    insta::assert_snapshot!("list_empty", ran.transcript());
    let ran = kubectl_build(&api, &["list", "-A"]).await;
    assert_eq!(ran.err, "No Builds found.\n");
}

#[tokio::test(start_paused = true)]
async fn list_shows_status_reason_age_duration_and_the_failed_step_newest_first() {
    let api = FakeApi::default();
    several(&api);
    let ran = kubectl_build(&api, &["list"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    let names: Vec<&str> = ran
        .out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "fresh",
            "early",
            "img-x7k2p",
            "kubeval-buildkit",
            "kubeval-img"
        ],
        "not started first (newest created first), then newest started first"
    );
    insta::assert_snapshot!("list_several", ran.transcript());
    insta::assert_snapshot!("terminal_list", terminal(&["list"], &ran));
    // One list of Builds, one of their pods (for the failed step), nothing else.
    let requests: Vec<String> = api.recorded().iter().map(|r| r.path()).collect();
    assert_eq!(requests.len(), 2, "{requests:#?}");

    let ran = kubectl_build(&api, &["list", "-o", "wide"]).await;
    insta::assert_snapshot!("list_wide", ran.transcript());

    let ran = kubectl_build(&api, &["list", "-o", "name", "-l", "app=kubeval"]).await;
    assert_eq!(
        ran.out,
        "build.build.knative.dev/fresh\nbuild.build.knative.dev/early\n\
         build.build.knative.dev/img-x7k2p\nbuild.build.knative.dev/kubeval-buildkit\n"
    );
}

#[tokio::test(start_paused = true)]
async fn list_all_namespaces_sorts_by_namespace_first() {
    let api = FakeApi::default();
    several(&api);
    let other = run_status(
        "nightly",
        ("False", "BuildTimeout"),
        "2024-01-01T00:01:00Z",
        Some("2024-01-01T00:04:00Z"),
    );
    api.insert(
        "builds",
        listed("another", "nightly", "2024-01-01T00:01:00Z", other),
    );
    let ran = kubectl_build(&api, &["list", "-A"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    assert!(ran.out.starts_with("NAMESPACE"), "{}", ran.out);
    insta::assert_snapshot!("list_all_namespaces", ran.transcript());
    let list = &api.recorded()[0];
    assert_eq!(
        list.uri.path(),
        "/apis/build.knative.dev/v1alpha1/builds",
        "one list across namespaces"
    );
}

#[tokio::test(start_paused = true)]
async fn list_yaml_and_json_print_a_list() {
    let api = FakeApi::default();
    several(&api);
    let ran = kubectl_build(&api, &["list", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
    assert_eq!(list["items"][0]["metadata"]["name"], "fresh");
    let ran = kubectl_build(&api, &["list", "-o", "yaml"]).await;
    let yaml: Value = serde_yaml_ng::from_str(&ran.out).unwrap();
    assert_eq!(yaml, list);
    let empty = kubectl_build(&FakeApi::default(), &["list", "-o", "yaml"]).await;
    assert_eq!(
        empty.out,
        "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ''\n"
    );
}

#[tokio::test(start_paused = true)]
async fn list_watch_prints_a_line_for_each_change() {
    let api = FakeApi::default().with_watch_news();
    let running = run_status(
        "img-x7k2p",
        ("Unknown", "Building"),
        "2024-01-01T00:04:00Z",
        None,
    );
    api.insert(
        "builds",
        listed(NS, "img-x7k2p", "2024-01-01T00:04:00Z", running),
    );
    let cluster = api.clone();
    let args = ["list", "-w"];
    let ran = support::plugin::kubectl_build_scripted(
        &session(&api),
        STYLE,
        &args,
        Ends::WithScript,
        |live| {
            async move {
                // The table, then: the running Build succeeds, and a new one comes.
                live.out.lines(2).await;
                let mut done: Value = cluster
                    .get("build.knative.dev", "builds", NS, "img-x7k2p")
                    .unwrap();
                done["status"] = run_status(
                    "img-x7k2p",
                    ("True", "Succeeded"),
                    "2024-01-01T00:04:00Z",
                    Some("2024-01-01T00:04:50Z"),
                );
                cluster.put("builds", done);
                cluster.insert(
                    "builds",
                    listed(NS, "img-q9w8e", "2024-01-01T00:04:58Z", Value::Null),
                );
                live.out.lines(4).await;
            }
        },
    )
    .await;
    insta::assert_snapshot!("list_watch", ran.transcript());
    insta::assert_snapshot!("terminal_list_watch", terminal(&args, &ran));
    let watches = api
        .recorded()
        .iter()
        .filter(|r| r.is("watch", "builds"))
        .count();
    assert!(watches >= 1, "the changes came by watch");
}

/// What `kubectl_complete-build WORDS…` answers against `api` (in [`NS`], or the namespace
/// the words give with `-n`), as it prints it.
async fn complete(api: &FakeApi, words: &[&str]) -> String {
    let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    let mut err = Vec::new();
    let completions = build_controller::plugin::complete(
        &words,
        |cluster| async move {
            let namespace = cluster.namespace.unwrap_or_else(|| NS.to_owned());
            Ok(Session::new(api.client("complete", &namespace), namespace))
        },
        &mut err,
    )
    .await;
    let mut out = Vec::new();
    completions.write(&mut out).unwrap();
    String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap()
}

#[tokio::test(start_paused = true)]
async fn completion_offers_subcommands_flags_and_values() {
    let api = FakeApi::default();
    insta::assert_snapshot!("complete_subcommands", complete(&api, &[""]).await);
    assert_eq!(
        complete(&api, &["l"]).await,
        "list\tList the Builds, newest first: status, reason, age, duration and the step that failed each\n\
         logs\tShow the logs of every step of a Build, in the order the steps run, each line prefixed `[step]`\n:4\n"
    );
    insta::assert_snapshot!("complete_list_flags", complete(&api, &["list", "--"]).await);
    // A flag given is not offered again; one that repeats is.
    let flags = complete(&api, &["run", "--template", "img", "--arg", "A=1", "--"]).await;
    assert!(!flags.contains("--template\t"), "{flags}");
    assert!(flags.contains("--arg\t"), "{flags}");
    assert_eq!(
        complete(&api, &["list", "-o", ""]).await,
        "wide\tThe table, with POD, TEMPLATE and SERVICE ACCOUNT columns\n\
         yaml\tThe Builds as a YAML List (with -w: one document per change)\n\
         json\tThe Builds as a JSON List (with -w: one object per change)\n\
         name\tOne `build.build.knative.dev/NAME` per line\n:4\n"
    );
    assert_eq!(
        complete(&api, &["list", "--output=y"]).await,
        "--output=yaml\tThe Builds as a YAML List (with -w: one document per change)\n:4\n"
    );
    assert_eq!(complete(&api, &["completion", "b"]).await, "bash\n:4\n");
    // Files: the shell's own completion (directive 0).
    assert_eq!(complete(&api, &["render", ""]).await, ":0\n");
    assert_eq!(complete(&api, &["run", "-f", ""]).await, ":0\n");
    assert!(api.recorded().is_empty(), "none of these asks the cluster");
}

#[tokio::test(start_paused = true)]
async fn completion_offers_builds_templates_and_steps_from_the_cluster() {
    let api = FakeApi::default();
    several(&api);
    seed(&api);
    api.insert(
        "builds",
        listed("another", "nightly", "2024-01-01T00:01:00Z", Value::Null),
    );
    api.insert(
        "clusterbuildtemplates",
        json!({"apiVersion": "build.knative.dev/v1alpha1", "kind": "ClusterBuildTemplate",
               "metadata": {"name": "kaniko"}, "spec": {"steps": []}}),
    );
    let builds = complete(&api, &["logs", ""]).await;
    let shown = format!("$ kubectl_complete-build logs ''\n{builds}");
    insta::assert_snapshot!("terminal_complete", shown);
    let not_found = "error: build \"nope\" not found in namespace \"ns\" \
                     (list them with: kubectl get builds -n ns)\n";
    let cases: &[(&[&str], &str)] = &[
        (
            &["describe", "kub"],
            "kubeval-buildkit\tSucceeded\nkubeval-img\tFailed\n:4\n",
        ),
        // Namespace-aware: -n before or after the subcommand.
        (&["-n", "another", "cancel", ""], "nightly\tPending\n:4\n"),
        (
            &["logs", "--namespace=another", ""],
            "nightly\tPending\n:4\n",
        ),
        // Templates for --template, ClusterBuildTemplates with --cluster-template.
        (&["run", "--template", ""], "img\n:4\n"),
        (
            &["run", "--cluster-template", "--template", ""],
            "kaniko\n:4\n",
        ),
        // Steps for --step: the pod's containers, helpers included...
        (
            &["logs", "kubeval-img", "--step", ""],
            "credential-initializer\ngit-source-0\nbuild\npush\n:4\n",
        ),
        // ...or, before there is a pod, the template's steps.
        (&["logs", "fresh", "--step", "p"], "push\n:4\n"),
    ];
    for (words, expected) in cases {
        assert_eq!(complete(&api, words).await, *expected, "{words:?}");
    }
    // A Build that is not there: an error, said on stderr, which shells discard.
    let missing = complete(&api, &["logs", "nope", "--step", ""]).await;
    assert_eq!(missing, format!(":1\n{not_found}"));
}

#[test]
fn completion_scripts_are_clap_generated_for_kubectl_build() {
    let script = |shell: &str| {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut io = build_controller::plugin::Io {
            out: &mut out,
            err: &mut err,
            style: Style::default(),
        };
        let cli = PluginCli::try_parse_from(["kubectl-build", "completion", shell]).unwrap();
        let exit = build_controller::plugin::execute_offline(&cli.command, &mut io)
            .expect("completion needs no cluster")
            .unwrap();
        assert_eq!(exit, PluginExit::Succeeded);
        String::from_utf8(out).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let text = script(shell);
        for word in ["kubectl-build", "list", "logs", "all-namespaces", "step"] {
            assert!(text.contains(word), "{shell}: no {word}");
        }
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubectl-build.bash");
    std::fs::write(&path, script("bash")).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// README's "Use it" shows what the plugin prints: each block marked `<!-- plugin-output: NAME
/// -->` is the snapshot `terminal_NAME` (the command line, then stdout and stderr as a terminal
/// shows them), which the scenarios above make.
#[test]
fn readme_shows_real_plugin_output() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut shown = 0;
    for (marked, _) in readme.match_indices("<!-- plugin-output: ") {
        let rest = &readme[marked + "<!-- plugin-output: ".len()..];
        let name = &rest[..rest.find(" -->").unwrap()];
        let block = &rest[rest.find("```text\n").unwrap() + "```text\n".len()..];
        let block = &block[..block.find("```\n").unwrap()];
        let path = format!("{root}/build-controller/tests/snapshots/plugin__terminal_{name}.snap");
        let snapshot = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let body = snapshot.splitn(3, "---\n").nth(2).unwrap();
        assert_eq!(
            block, body,
            "README.md's {name} output is stale: paste the body of {path}"
        );
        shown += 1;
    }
    assert!(shown >= 8, "README shows {shown} outputs");
}

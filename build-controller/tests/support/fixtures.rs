//! The world of the mocked tests, in controller-rs's `fixtures.rs` style: Builds, templates,
//! Secrets and pods as the API server would store them; the controller's caches; named
//! [`Scenario`]s that put a Build (and what it refers to) into both and run one reconcile
//! against the [`FakeApi`]; and [`Expect`]ations on the requests it made, in order.

use std::sync::Arc;
use std::time::Duration;

use build_controller::ops::metrics::Counts;
use build_controller::reconcile::{error_policy, reconcile};
use build_controller::stores::{
    CachedBuild, CachedPod, CachesSynced, PodCache, PodCacheWriter, Stores,
};
use build_controller::{Config, Context, Error};
use build_pod::{ComposeInputs, Images, Lookup, compose};
use build_types::{Build, BuildTemplate, ClusterBuildTemplate};
use http::Method;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::fake_api::{FakeApi, Recorded};

/// The namespace every fixture lives in.
pub(crate) const NS: &str = "ns";
/// The Build's UID.
pub(crate) const UID: &str = "5b6e2f0a-1d2c-4e8b-9a7f-0c1d2e3f4a5b";
/// When every fixture Build was created.
pub(crate) const CREATED: &str = "2024-01-01T00:00:00Z";
/// The fixed "now" of [`now`]: one minute after [`CREATED`].
pub(crate) const NOW: &str = "2024-01-01T00:01:00Z";
/// The init container that writes credentials, first in every pod.
pub(crate) const CREDS_INIT: &str = "build-step-credential-initializer";
/// The step of [`simple_build`].
pub(crate) const STEP: &str = "build-step-echo";

/// The test clock.
pub(crate) fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// A clock far past every fixture's deadline.
pub(crate) fn much_later() -> Timestamp {
    "2024-01-02T00:00:00Z".parse().unwrap()
}

/// The helper images of the test controller.
pub(crate) fn images() -> Images {
    Images {
        creds_init: "example.com/creds-init:test".into(),
        git_init: "example.com/git-init:test".into(),
        gcs_fetcher: "example.com/gcs-fetcher:test".into(),
        nop: "example.com/nop:test".into(),
    }
}

/// The settings of a test controller that watches every namespace.
pub(crate) fn cluster_wide_config() -> Config {
    let mut config = Config::new(images());
    config.instance = Some("test".into());
    config
}

/// The settings of a test controller that watches [`NS`].
pub(crate) fn config() -> Config {
    let mut config = cluster_wide_config();
    config.namespace = Some(NS.into());
    config
}

pub(crate) fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

pub(crate) fn to_json(object: &impl serde::Serialize) -> Value {
    serde_json::to_value(object).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Objects.

/// A Build `name` in [`NS`] with the given spec, created at [`CREATED`].
pub(crate) fn build(name: &str, spec: Value) -> Build {
    from(json!({
        "apiVersion": "build.knative.dev/v1alpha1",
        "kind": "Build",
        "metadata": {
            "name": name, "namespace": NS, "uid": UID, "generation": 1,
            "resourceVersion": "100", "creationTimestamp": CREATED,
        },
        "spec": spec,
    }))
}

/// A one-step Build.
pub(crate) fn simple_build() -> Build {
    build(
        "hello",
        json!({"steps": [{"name": "echo", "image": "busybox", "args": ["echo", "hi"]}]}),
    )
}

/// `build` with `status` as its stored status.
pub(crate) fn with_status(mut build: Build, status: Value) -> Build {
    build.status = Some(from(status));
    build
}

/// The status the controller writes when it creates `build`'s pod at [`NOW`] (a Build with its
/// own steps, and git sources if any).
pub(crate) fn started(build: &Build) -> Value {
    let mut status = json!({
        "observedGeneration": 1,
        "builder": "Cluster",
        "cluster": {"namespace": NS, "podName": pod_name(build)},
        "startTime": NOW,
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Pending",
                        "message": "Pending", "lastTransitionTime": NOW}],
        "stepsCompleted": [],
        "controllerVersion": build_pod::CONTROLLER_VERSION,
    });
    // The status extension of a pod that has not started: what was asked for.
    let sources: Vec<Value> = build
        .spec
        .all_sources()
        .iter()
        .enumerate()
        .filter_map(|(index, source)| {
            let git = source.git.as_ref()?;
            Some(
                json!({"step": format!("build-step-git-source-{index}"), "kind": "git",
                        "url": git.url, "revision": git.revision, "image": images().git_init}),
            )
        })
        .collect();
    if !sources.is_empty() {
        status["sources"] = json!(sources);
    }
    let steps: Vec<Value> = build
        .spec
        .steps
        .iter()
        .map(|step| json!({"step": format!("build-step-{}", step.name), "image": step.image}))
        .collect();
    if !steps.is_empty() {
        status["stepImages"] = json!(steps);
    }
    status
}

/// The name of `build`'s pod.
pub(crate) fn pod_name(build: &Build) -> String {
    build_pod::pod_name(build)
}

/// A Secret holding basic-auth credentials for Docker Hub.
pub(crate) fn secret(name: &str) -> Secret {
    from(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": NS,
                     "annotations": {"build.knative.dev/docker-0": "https://index.docker.io/v1/"}},
        "type": "kubernetes.io/basic-auth",
        "data": {"username": "dXNlcg==", "password": "cGFzcw=="},
    }))
}

/// A ServiceAccount listing `secrets`.
pub(crate) fn service_account(name: &str, secrets: &[&str]) -> ServiceAccount {
    from(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": NS},
        "secrets": secrets.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
    }))
}

/// A BuildTemplate with one step.
pub(crate) fn template(name: &str) -> BuildTemplate {
    from(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "BuildTemplate",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "parameters": [{"name": "IMAGE"}],
            "steps": [{"name": "build", "image": "docker:18.06", "args": ["build", "-t", "${IMAGE}", "."]}],
        },
    }))
}

/// `pod` as another owner's.
pub(crate) fn owned_by_someone_else(mut pod: Pod) -> Pod {
    for owner in pod.metadata.owner_references.iter_mut().flatten() {
        owner.uid = "another-uid".into();
    }
    pod
}

// Pod statuses.

/// A container's status in `state`.
pub(crate) fn container(name: &str, state: Value) -> Value {
    json!({"name": name, "image": "img", "imageID": "", "ready": false, "restartCount": 0, "state": state})
}

/// A container that ran from `started` to `finished` and exited with `exit_code`.
pub(crate) fn terminated(exit_code: i32, started: &str, finished: &str) -> Value {
    json!({"terminated": {"exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" },
                          "startedAt": started, "finishedAt": finished}})
}

/// A container running since `started`.
pub(crate) fn running_since(started: &str) -> Value {
    json!({"running": {"startedAt": started}})
}

/// A container waiting for `reason`.
pub(crate) fn waiting(reason: &str, message: &str) -> Value {
    json!({"waiting": {"reason": reason, "message": message}})
}

/// The status of [`simple_build`]'s pod at [`NOW`] with its step in `step` and `phase`.
fn simple_pod_status(phase: &str, step: Value, nop: Value) -> Value {
    json!({
        "phase": phase, "startTime": NOW,
        "initContainerStatuses": [
            container(CREDS_INIT, terminated(0, "2024-01-01T00:01:02Z", "2024-01-01T00:01:05Z")),
            container(STEP, step),
        ],
        "containerStatuses": [container("nop", nop)],
    })
}

/// A pod whose step is running (the pod is Pending while its init containers run).
pub(crate) fn running() -> Value {
    simple_pod_status(
        "Pending",
        running_since("2024-01-01T00:01:06Z"),
        waiting("PodInitializing", ""),
    )
}

/// A pod whose step exited 0.
pub(crate) fn succeeded_pod() -> Value {
    simple_pod_status(
        "Succeeded",
        terminated(0, "2024-01-01T00:01:02Z", "2024-01-01T00:05:00Z"),
        terminated(0, "2024-01-01T00:01:02Z", "2024-01-01T00:05:01Z"),
    )
}

/// A pod whose step exited 3.
pub(crate) fn failed_pod() -> Value {
    simple_pod_status(
        "Failed",
        terminated(3, "2024-01-01T00:01:02Z", "2024-01-01T00:02:00Z"),
        waiting("PodInitializing", ""),
    )
}

/// A pod whose step cannot pull its image, since the credentials were written at 00:01:10.
pub(crate) fn image_pull_backoff() -> Value {
    let mut status = simple_pod_status(
        "Pending",
        waiting(
            "ImagePullBackOff",
            "Back-off pulling image \"busybox:nope\"",
        ),
        waiting("PodInitializing", ""),
    );
    status["initContainerStatuses"][0] = container(
        CREDS_INIT,
        terminated(0, "2024-01-01T00:01:02Z", "2024-01-01T00:01:10Z"),
    );
    status
}

// ---------------------------------------------------------------------------------------------
// The controller's caches.

/// The watch caches of one controller process; the tests change them between reconciles as
/// the watches would.
pub(crate) struct Caches {
    builds: Writer<CachedBuild>,
    pods: PodCacheWriter,
    pod_cache: PodCache,
    templates: Writer<BuildTemplate>,
    cluster_templates: Writer<ClusterBuildTemplate>,
    service_accounts: Writer<ServiceAccount>,
    secrets: Writer<Secret>,
}

/// An object the controller caches.
pub(crate) trait Cached:
    Resource<DynamicType = ()> + Clone + serde::Serialize + serde::de::DeserializeOwned + 'static
{
    /// Applies the watch `event` to its cache in `caches`.
    fn apply_event(caches: &mut Caches, event: Event<Self>);
}

macro_rules! cached {
    ($($kind:ty => $field:ident),* $(,)?) => {$(
        impl Cached for $kind {
            fn apply_event(caches: &mut Caches, event: Event<Self>) {
                caches.$field.apply_watcher_event(&event);
            }
        }
    )*};
}

/// Builds and pods are cached as the controller's watch decodes them: as `CachedBuild`s and
/// `CachedPod`s.
impl Cached for Build {
    fn apply_event(caches: &mut Caches, event: Event<Self>) {
        caches
            .builds
            .apply_watcher_event(&map_event(event, CachedBuild::from));
    }
}

impl Cached for Pod {
    fn apply_event(caches: &mut Caches, event: Event<Self>) {
        caches
            .pods
            .apply_watcher_event(&map_event(event, CachedPod::from));
    }
}

/// The same watch event, with its object converted by `convert`.
fn map_event<A, B>(event: Event<A>, convert: impl Fn(A) -> B) -> Event<B> {
    match event {
        Event::Apply(object) => Event::Apply(convert(object)),
        Event::Delete(object) => Event::Delete(convert(object)),
        Event::InitApply(object) => Event::InitApply(convert(object)),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }
}

cached! {
    BuildTemplate => templates,
    ClusterBuildTemplate => cluster_templates,
    ServiceAccount => service_accounts,
    Secret => secrets,
}

impl Caches {
    /// Caches that have listed an empty cluster.
    pub(crate) fn new() -> Self {
        fn ready<K>() -> Writer<K>
        where
            K: kube::runtime::reflector::Lookup + Clone + 'static,
            K::DynamicType: Default + Eq + std::hash::Hash + Clone,
        {
            let mut writer = Writer::default();
            writer.apply_watcher_event(&Event::Init);
            writer.apply_watcher_event(&Event::InitDone);
            writer
        }
        let pod_cache = PodCache::of([]);
        Caches {
            builds: ready(),
            pods: pod_cache.writer(),
            pod_cache,
            templates: ready(),
            cluster_templates: ready(),
            service_accounts: ready(),
            secrets: ready(),
        }
    }

    /// Caches that have seen everything `api` holds now (of pods, those of Builds).
    pub(crate) fn of(api: &FakeApi) -> Self {
        fn load<K: Cached>(caches: &mut Caches, api: &FakeApi) {
            let group = K::group(&()).into_owned();
            for object in api.all(&group, &K::plural(&())) {
                caches.apply(from::<K>(object));
            }
        }
        let mut caches = Caches::new();
        load::<Build>(&mut caches, api);
        for pod in api.all("", "pods") {
            if !pod["metadata"]["labels"][build_pod::BUILD_NAME_LABEL].is_null() {
                caches.apply(from::<Pod>(pod));
            }
        }
        load::<BuildTemplate>(&mut caches, api);
        load::<ClusterBuildTemplate>(&mut caches, api);
        load::<ServiceAccount>(&mut caches, api);
        load::<Secret>(&mut caches, api);
        caches
    }

    /// The caches with `object` added (or changed).
    pub(crate) fn with<K: Cached>(mut self, object: K) -> Self {
        self.apply(object);
        self
    }

    /// Adds or changes `object`, as a watch event does.
    pub(crate) fn apply<K: Cached>(&mut self, object: K) {
        K::apply_event(self, Event::Apply(object));
    }

    /// Removes `object`, as a watch event does.
    pub(crate) fn delete<K: Cached>(&mut self, object: K) {
        K::apply_event(self, Event::Delete(object));
    }

    /// The stores a controller context reads.
    pub(crate) fn stores(&self) -> Stores {
        Stores {
            builds: self.builds.as_reader(),
            pods: self.pod_cache.clone(),
            templates: self.templates.as_reader(),
            cluster_templates: self.cluster_templates.as_reader(),
            service_accounts: self.service_accounts.as_reader(),
            secrets: self.secrets.as_reader(),
            synced: CachesSynced::already(),
        }
    }
}

/// The pod the controller compiles for `build` over `caches`, as the API server stores it
/// after creation at [`NOW`], with `status` as its status.
pub(crate) fn compiled_pod(build: &Build, caches: &Caches, status: Value) -> Pod {
    let stores = caches.stores();
    let lookup: &dyn Lookup = &stores;
    let mut pod = compose(&ComposeInputs {
        build,
        lookup,
        images: &images(),
    })
    .expect("the fixture build compiles")
    .pod;
    pod.metadata.namespace = Some(NS.into());
    pod.metadata.uid = Some("pod-uid".into());
    pod.metadata.resource_version = Some("200".into());
    pod.metadata.creation_timestamp = Some(from(json!(NOW)));
    if !status.is_null() {
        pod.status = Some(from(status));
    }
    pod
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// A Build in a cluster: what the API server stores, what the controller's caches have seen
/// of it (the same unless a test says otherwise), and the controller's clock.
pub(crate) struct Scenario {
    pub(crate) api: FakeApi,
    pub(crate) caches: Caches,
    pub(crate) build: Build,
    clock: fn() -> Timestamp,
}

impl Scenario {
    /// `build`, stored (given a resourceVersion, uid and creationTimestamp when it has none)
    /// and cached as stored, at [`NOW`].
    pub(crate) fn of(build: Build) -> Self {
        let api = FakeApi::with_clock(now);
        api.insert("builds", to_json(&build));
        let namespace = build.namespace().unwrap_or_default();
        let stored = api.get("build.knative.dev", "builds", &namespace, &build.name_any());
        let build: Build = from(stored.expect("the Build is stored"));
        let caches = Caches::new().with(build.clone());
        Scenario {
            api,
            caches,
            build,
            clock: now,
        }
    }

    /// A one-step Build just created: no status, no pod.
    pub(crate) fn new_build() -> Self {
        Scenario::of(simple_build())
    }

    /// A one-step Build whose pod the controller created, with the status it wrote then.
    pub(crate) fn started_build() -> Self {
        Scenario::of(with_status(simple_build(), started(&simple_build())))
    }

    /// [`Scenario::started_build`] with its pod in `status`.
    pub(crate) fn build_with_pod(status: Value) -> Self {
        Scenario::started_build().pod(status)
    }

    /// [`Scenario::started_build`] with its step running.
    pub(crate) fn build_with_running_pod() -> Self {
        Scenario::build_with_pod(running())
    }

    /// A fresh controller process over the same API server, its caches `caches`.
    pub(crate) fn restart(&self, caches: Caches) -> Self {
        Scenario {
            api: self.api.clone(),
            caches,
            build: self.build.clone(),
            clock: self.clock,
        }
    }

    /// A fresh controller process over the same API server, its watches caught up: its caches
    /// hold what the API server stores now, and the Build reconciled is the one stored.
    pub(crate) fn caught_up(&self) -> Self {
        let namespace = self.build.namespace().unwrap_or_default();
        let stored = self
            .api
            .get(
                "build.knative.dev",
                "builds",
                &namespace,
                &self.build.name_any(),
            )
            .expect("the Build is stored");
        Scenario {
            api: self.api.clone(),
            caches: Caches::of(&self.api),
            build: from(stored),
            clock: self.clock,
        }
    }

    /// The same scenario with the controller's clock reading `clock`.
    pub(crate) fn at(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }

    /// The Build's pod in `status`, stored and cached.
    pub(crate) fn pod(self, status: Value) -> Self {
        let pod = self.compiled_pod(status);
        self.with(pod)
    }

    /// The pod the controller compiles for the Build, as stored after creation.
    pub(crate) fn compiled_pod(&self, status: Value) -> Pod {
        compiled_pod(&self.build, &self.caches, status)
    }

    /// `object` stored and cached.
    pub(crate) fn with<K: Cached>(self, object: K) -> Self {
        self.stored(object.clone()).cached(object)
    }

    /// `object` stored, but not yet seen by the caches.
    pub(crate) fn stored<K: Cached>(self, object: K) -> Self {
        self.api.insert(&K::plural(&()), to_json(&object));
        self
    }

    /// `object` cached, whatever the API server now has.
    pub(crate) fn cached<K: Cached>(mut self, object: K) -> Self {
        self.caches.apply(object);
        self
    }

    /// A controller context over the fake API server and the caches.
    pub(crate) fn context(&self) -> Context {
        Context::new(
            self.api.client("controller", NS),
            config(),
            self.caches.stores(),
        )
        .with_clock(self.clock)
    }

    /// Reconciles the Build once (and runs the error policy on a failure).
    pub(crate) async fn reconcile(self) -> Outcome {
        let ctx = Arc::new(self.context());
        let stores = ctx.stores.clone();
        let earlier = self.api.recorded().len();
        let build = Arc::new(CachedBuild::from(self.build.clone()));
        let result = reconcile(build.clone(), ctx.clone()).await;
        let retry = result
            .as_ref()
            .err()
            .map(|error| error_policy(build, error, ctx.clone()));
        let counts = ctx.telemetry.counts();
        drop(ctx);
        self.api.clients_dropped().await;
        Outcome {
            result,
            retry,
            requests: self.api.recorded().split_off(earlier),
            counts,
            build: self.build,
            stores,
        }
    }
}

/// What a reconcile did.
pub(crate) struct Outcome {
    pub(crate) result: Result<Action, Error>,
    /// What the error policy decided, when the reconcile failed.
    pub(crate) retry: Option<Action>,
    /// The requests this reconcile made (not those made before it on the same API server).
    pub(crate) requests: Vec<Recorded>,
    /// What the reconcile counted.
    pub(crate) counts: Counts,
    /// The Build reconciled.
    pub(crate) build: Build,
    /// The caches it read, as it left them.
    pub(crate) stores: Stores,
}

impl Outcome {
    /// The action of a successful reconcile.
    #[track_caller]
    pub(crate) fn action(&self) -> Action {
        match &self.result {
            Ok(action) => action.clone(),
            Err(error) => panic!("reconcile failed: {error}"),
        }
    }

    /// The error of a failed reconcile.
    #[track_caller]
    pub(crate) fn error(&self) -> &Error {
        match &self.result {
            Ok(action) => panic!("reconcile succeeded with {action:?}"),
            Err(error) => error,
        }
    }

    /// Asserts that the reconcile made exactly the requests `expected` lists for the Build, in
    /// order.
    #[track_caller]
    pub(crate) fn expect(&self, expected: impl FnOnce(&Build) -> Vec<Expect>) -> &Self {
        assert_requests(&self.requests, expected(&self.build));
        self
    }
}

/// The action of a reconcile that wakes again `secs` seconds from [`NOW`] (plus the controller's
/// 100 ms of slack).
pub(crate) fn requeue_in(secs: u64) -> Action {
    Action::requeue(Duration::from_secs(secs) + Duration::from_millis(100))
}

// ---------------------------------------------------------------------------------------------
// Expected requests.

type Check = Box<dyn Fn(&Value)>;

/// One expected request: method, path with query, checks of its body and of the status the
/// API server answered.
pub(crate) struct Expect {
    method: Method,
    path: String,
    checks: Vec<Check>,
    answered: Option<u16>,
}

impl Expect {
    /// Expects `method` on `path` (with its query).
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        Expect {
            method,
            path: path.into(),
            checks: Vec::new(),
            answered: None,
        }
    }

    /// Also runs `check` on the request's JSON body.
    pub(crate) fn body(mut self, check: impl Fn(&Value) + 'static) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Also runs `check` on the `status` of the request's JSON body.
    pub(crate) fn status(self, check: impl Fn(&Value) + 'static) -> Self {
        self.body(move |body| check(&body["status"]))
    }

    /// Also asserts the status's `completionTime`.
    pub(crate) fn completed_at(self, time: &'static str) -> Self {
        self.status(move |status| assert_eq!(status["completionTime"], time, "{status}"))
    }

    /// Also asserts the status the API server answered.
    pub(crate) fn answered(mut self, status: u16) -> Self {
        self.answered = Some(status);
        self
    }
}

/// Asserts that `recorded` are exactly the `expected` requests, in order.
#[track_caller]
pub(crate) fn assert_requests(recorded: &[Recorded], expected: Vec<Expect>) {
    let got: Vec<String> = recorded
        .iter()
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect();
    let want: Vec<String> = expected
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert_eq!(got, want, "the requests, in order");
    for (i, (request, expect)) in recorded.iter().zip(&expected).enumerate() {
        for check in &expect.checks {
            check(&request.body);
        }
        if let Some(status) = expect.answered {
            assert_eq!(request.status, Some(status), "request #{i}: {}", got[i]);
        }
    }
}

/// The path of the Build's status subresource.
pub(crate) fn status_path(build: &Build) -> String {
    format!(
        "/apis/build.knative.dev/v1alpha1/namespaces/{NS}/builds/{}/status?&fieldManager=build-controller",
        build.name_any()
    )
}

/// The path pods are created at.
pub(crate) fn pods_create_path() -> String {
    format!("/api/v1/namespaces/{NS}/pods?&fieldManager=build-controller")
}

/// The path of a pod (GET).
pub(crate) fn pod_path(name: &str) -> String {
    format!("/api/v1/namespaces/{NS}/pods/{name}")
}

/// The path of a pod (PATCH).
pub(crate) fn pod_patch_path(name: &str) -> String {
    format!("/api/v1/namespaces/{NS}/pods/{name}?&fieldManager=build-controller")
}

/// The path Events are created at.
pub(crate) fn events_path() -> String {
    format!("/api/v1/namespaces/{NS}/events?")
}

/// A pod create, answered 201.
pub(crate) fn create_pod() -> Expect {
    Expect::new(Method::POST, pods_create_path()).answered(201)
}

/// A GET of `build`'s pod.
pub(crate) fn read_pod(build: &Build) -> Expect {
    Expect::new(Method::GET, pod_path(&pod_name(build)))
}

/// An Event POST: asserts its type, reason and that its note contains `note`.
pub(crate) fn event(type_: &'static str, reason: &'static str, note: impl Into<String>) -> Expect {
    let note = note.into();
    Expect::new(Method::POST, events_path())
        .body(move |body| {
            assert_eq!(body["type"], type_, "{body}");
            assert_eq!(body["reason"], reason, "{body}");
            assert_eq!(body["involvedObject"]["kind"], "Build", "{body}");
            // Legacy clients (`kubectl get events --sort-by=.lastTimestamp`) order by these.
            for legacy in ["firstTimestamp", "lastTimestamp"] {
                assert!(body[legacy].is_string(), "no {legacy} in {body}");
            }
            assert_eq!(body["count"], 1, "{body}");
            assert_eq!(
                body["eventTime"].as_str().map(|t| t.len() > 20),
                Some(true),
                "{body}"
            );
            assert_eq!(body["reportingComponent"], "build-controller", "{body}");
            let text = body["message"].as_str().unwrap_or_default();
            assert!(text.contains(&note), "event note {text:?} lacks {note:?}");
        })
        .answered(201)
}

/// A status PATCH of `build`: asserts it carries the cached resourceVersion as its
/// precondition, then runs `check` on the patch's `status`.
pub(crate) fn status_patch(build: &Build, check: impl Fn(&Value) + 'static) -> Expect {
    let version = build
        .resource_version()
        .expect("a cached Build has a resourceVersion");
    Expect::new(Method::PATCH, status_path(build)).body(move |body| {
        assert_eq!(body["apiVersion"], "build.knative.dev/v1alpha1");
        assert_eq!(body["kind"], "Build");
        assert_eq!(
            body["metadata"],
            json!({"resourceVersion": version}),
            "{body}"
        );
        assert_eq!(
            body.as_object().unwrap().len(),
            4,
            "only status and its preconditions: {body}"
        );
        check(&body["status"]);
    })
}

/// A status PATCH of `build` (as [`status_patch`]) whose `Succeeded` condition is `expected`
/// for `reason`, its message holding each of `words`.
pub(crate) fn condition_patch(
    build: &Build,
    expected: &'static str,
    reason: &'static str,
    words: &'static [&'static str],
) -> Expect {
    status_patch(build, move |status| {
        assert_condition(status, expected, reason, words)
    })
}

/// The stop patch of `build`'s pod.
pub(crate) fn stop_pod(build: &Build) -> Expect {
    Expect::new(Method::PATCH, pod_patch_path(&pod_name(build)))
        .body(|body| assert_eq!(body, &json!({"spec": {"activeDeadlineSeconds": 1}})))
        .answered(200)
}

/// The `Succeeded` condition of a status patch.
pub(crate) fn succeeded(status: &Value) -> &Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Succeeded"))
        .unwrap_or_else(|| panic!("no Succeeded condition in {status}"))
}

/// Asserts the `Succeeded` condition's status and reason, and that its message contains each
/// of `words`.
#[track_caller]
pub(crate) fn assert_condition(status: &Value, expected: &str, reason: &str, words: &[&str]) {
    let condition = succeeded(status);
    assert_eq!(condition["status"], expected, "{condition}");
    assert_eq!(condition["reason"], reason, "{condition}");
    let message = condition["message"].as_str().unwrap_or_default();
    for word in words {
        assert!(message.contains(word), "message {message:?} lacks {word:?}");
    }
}

//! A scripted API server for reconcile tests (as in kube-rs/controller-rs): each test lists the
//! requests a reconcile must make, in order, with the responses a kube-apiserver would give, and
//! the runner fails on any other request, on a missing one and on any extra one.
//!
//! Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use build_controller::{
    CachesSynced, Config, Context, Error, Metrics, Stores, error_policy, reconcile,
};
use build_pod::{ComposeInputs, Images, Lookup, compose};
use build_types::{Build, BuildTemplate, ClusterBuildTemplate};
use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// The namespace every fixture lives in.
pub(crate) const NS: &str = "ns";
/// The Build's UID.
pub(crate) const UID: &str = "5b6e2f0a-1d2c-4e8b-9a7f-0c1d2e3f4a5b";
/// When every fixture Build was created.
pub(crate) const CREATED: &str = "2024-01-01T00:00:00Z";
/// The fixed "now" of [`now`]: one minute after [`CREATED`].
pub(crate) const NOW: &str = "2024-01-01T00:01:00Z";

/// The test clock.
pub(crate) fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// A clock far past every fixture's deadline.
pub(crate) fn much_later() -> Timestamp {
    "2024-01-02T00:00:00Z".parse().unwrap()
}

pub(crate) type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

type Check = Box<dyn Fn(&Value) + Send>;

/// One expected request and the response to it.
pub(crate) struct Exchange {
    method: Method,
    path: String,
    checks: Vec<Check>,
    status: u16,
    response: Value,
    echo: bool,
}

impl Exchange {
    /// Expects `method` on `path` (with its query), answering 200 with `{}` unless told.
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        Exchange {
            method,
            path: path.into(),
            checks: Vec::new(),
            status: 200,
            response: json!({}),
            echo: false,
        }
    }

    /// Also runs `check` on the request's JSON body.
    pub(crate) fn body(mut self, check: impl Fn(&Value) + Send + 'static) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Answers with `status` and `body`.
    pub(crate) fn respond(mut self, status: u16, body: Value) -> Self {
        self.status = status;
        self.response = body;
        self
    }

    /// Answers with `status` and the request's own body, as a create does.
    pub(crate) fn echo(mut self, status: u16) -> Self {
        self.status = status;
        self.echo = true;
        self
    }
}

/// A request the mock server received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) body: Value,
}

/// Serves `exchanges` in order, then asserts that no further request comes before every
/// client is dropped.
pub(crate) async fn serve(mut handle: Handle, exchanges: Vec<Exchange>) -> Vec<Recorded> {
    let mut recorded = Vec::new();
    for (i, exchange) in exchanges.into_iter().enumerate() {
        let Some((request, send)) = handle.next_request().await else {
            panic!(
                "request #{i}: expected {} {}, but the reconcile made no further request; got {:#?}",
                exchange.method, exchange.path, recorded
            );
        };
        let got = take(request).await;
        assert_eq!(
            (&got.method, got.path.as_str()),
            (&exchange.method, exchange.path.as_str()),
            "request #{i} (body {})",
            got.body
        );
        for check in &exchange.checks {
            check(&got.body);
        }
        let response = if exchange.echo {
            &got.body
        } else {
            &exchange.response
        };
        send.send_response(
            Response::builder()
                .status(exchange.status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(response).unwrap()))
                .unwrap(),
        );
        recorded.push(got);
    }
    if let Some((request, _)) = handle.next_request().await {
        let got = take(request).await;
        panic!(
            "unexpected extra request {} {} with body {}",
            got.method, got.path, got.body
        );
    }
    recorded
}

/// Takes the next request without answering it (for a reconcile killed mid-way).
pub(crate) async fn next_unanswered(handle: &mut Handle) -> Recorded {
    let (request, _send) = handle.next_request().await.expect("a request");
    take(request).await
}

async fn take(request: Request<Body>) -> Recorded {
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{method} {path}: body: {e}"))
    };
    Recorded { method, path, body }
}

/// What a reconcile did.
pub(crate) struct Outcome {
    pub(crate) result: Result<Action, Error>,
    /// What the error policy decided, when the reconcile failed.
    pub(crate) retry: Option<Action>,
    pub(crate) requests: Vec<Recorded>,
    pub(crate) metrics: Arc<Metrics>,
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

/// The test controller's settings.
pub(crate) fn config() -> Config {
    let mut config = Config::new(images());
    config.namespace = Some(NS.into());
    config.instance = Some("test".into());
    config
}

/// A context over a mock API server.
pub(crate) fn context(stores: Stores, clock: fn() -> Timestamp) -> (Arc<Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let ctx = Context::new(client, config(), stores).with_clock(clock);
    (Arc::new(ctx), handle)
}

/// Reconciles `build` once against `stores` and a server that expects exactly `exchanges`.
pub(crate) async fn reconcile_with(
    build: &Build,
    stores: Stores,
    clock: fn() -> Timestamp,
    exchanges: Vec<Exchange>,
) -> Outcome {
    let (ctx, handle) = context(stores, clock);
    let server = tokio::spawn(serve(handle, exchanges));
    let result = reconcile(Arc::new(build.clone()), ctx.clone()).await;
    let retry = result
        .as_ref()
        .err()
        .map(|error| error_policy(Arc::new(build.clone()), error, ctx.clone()));
    let metrics = ctx.metrics.clone();
    drop(ctx);
    let requests = match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(requests)) => requests,
        Ok(Err(panic)) => std::panic::resume_unwind(panic.into_panic()),
        Err(_) => panic!("the mock server did not finish"),
    };
    Outcome {
        result,
        retry,
        requests,
        metrics,
    }
}

pub(crate) use build_controller::ready_store as store;

/// What the caches hold for a test.
#[derive(Default)]
pub(crate) struct Cluster {
    pub(crate) builds: Vec<Build>,
    pub(crate) pods: Vec<Pod>,
    pub(crate) templates: Vec<BuildTemplate>,
    pub(crate) cluster_templates: Vec<ClusterBuildTemplate>,
    pub(crate) service_accounts: Vec<ServiceAccount>,
    pub(crate) secrets: Vec<Secret>,
}

impl Cluster {
    /// The caches of a cluster holding `build` (and nothing else yet).
    pub(crate) fn with(build: &Build) -> Self {
        Cluster {
            builds: vec![build.clone()],
            ..Cluster::default()
        }
    }

    pub(crate) fn pod(mut self, pod: Pod) -> Self {
        self.pods.push(pod);
        self
    }

    pub(crate) fn template(mut self, template: BuildTemplate) -> Self {
        self.templates.push(template);
        self
    }

    pub(crate) fn service_account(mut self, account: ServiceAccount) -> Self {
        self.service_accounts.push(account);
        self
    }

    pub(crate) fn secret(mut self, secret: Secret) -> Self {
        self.secrets.push(secret);
        self
    }

    pub(crate) fn stores(&self) -> Stores {
        Stores {
            builds: store(self.builds.clone()),
            pods: store(self.pods.clone()),
            templates: store(self.templates.clone()),
            cluster_templates: store(self.cluster_templates.clone()),
            service_accounts: store(self.service_accounts.clone()),
            secrets: store(self.secrets.clone()),
            synced: CachesSynced::already(),
        }
    }
}

pub(crate) fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

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

/// The pod the controller compiles for `build` over `cluster`, as the API server returns it
/// after creation (creation timestamp and UID set), with `status` as its status.
pub(crate) fn pod_for(build: &Build, cluster: &Cluster, status: Value) -> Pod {
    let stores = cluster.stores();
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

/// `pod` as another owner's.
pub(crate) fn owned_by_someone_else(mut pod: Pod) -> Pod {
    for owner in pod.metadata.owner_references.iter_mut().flatten() {
        owner.uid = "another-uid".into();
    }
    pod
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

/// An Event POST: asserts its type, reason and that its note contains `note`.
pub(crate) fn event(
    type_: &'static str,
    reason: &'static str,
    note: impl Into<String>,
) -> Exchange {
    let note = note.into();
    Exchange::new(Method::POST, events_path())
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
        .echo(201)
}

/// A status PATCH: asserts it carries the resourceVersion `version`, then runs `check` on the
/// patch's `status`. Answers 200 with the Build as patched.
pub(crate) fn status_patch(
    build: &Build,
    version: &'static str,
    check: impl Fn(&Value) + Send + 'static,
) -> Exchange {
    let mut response = serde_json::to_value(build).unwrap();
    Exchange::new(Method::PATCH, status_path(build))
        .body(move |body| {
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
        .respond(200, {
            response["metadata"]["resourceVersion"] = json!("101");
            response
        })
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

/// A GET of `pod` that the API server answers with `pod` as it has it.
pub(crate) fn read_pod(pod: &Pod) -> Exchange {
    let name = pod.metadata.name.clone().unwrap_or_default();
    Exchange::new(Method::GET, pod_path(&name))
        .respond(200, serde_json::to_value(pod).expect("a pod serializes"))
}

/// The stop patch of a pod.
pub(crate) fn stop_pod(name: &str) -> Exchange {
    Exchange::new(Method::PATCH, pod_patch_path(name))
        .body(|body| assert_eq!(body, &json!({"spec": {"activeDeadlineSeconds": 1}})))
        .respond(
            200,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        )
}

/// A metav1.Status failure body, as the API server writes it.
pub(crate) fn api_status(code: u16, reason: &str, kind: &str, name: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": {"name": name, "kind": kind}, "code": code,
    })
}

/// The name of `build`'s pod.
pub(crate) fn pod_name(build: &Build) -> String {
    build_pod::pod_name(build)
}

/// The secrets a Secret fixture never shows.
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

/// The action of a reconcile that wakes again `secs` seconds from [`NOW`] (plus the controller's
/// 100 ms of slack).
pub(crate) fn requeue_in(secs: u64) -> Action {
    Action::requeue(Duration::from_secs(secs) + Duration::from_millis(100))
}

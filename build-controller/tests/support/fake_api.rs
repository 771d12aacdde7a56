//! One in-memory kube-apiserver for every mocked test, served to `kube::Client`s through
//! `tower_test` mock pairs. It keeps objects by group and resource and answers as a
//! kube-apiserver 1.36 does:
//!
//! - get, list (namespace, `labelSelector` and `fieldSelector` applied; a `{Kind}List` with the
//!   current resourceVersion), create (201; `generateName`; 409 `AlreadyExists`; uid,
//!   creationTimestamp, resourceVersion and, for pods and custom resources, generation set;
//!   a new pod `Pending`; a custom resource's status dropped), replace (PUT, with
//!   resourceVersion-based optimistic concurrency: 409 `Conflict`, 422 without one), merge
//!   patch (a `metadata.resourceVersion` in it is a precondition; on `/status` only the status
//!   changes, on the object everything but the status), delete, all failures as a `Status`
//!   body (404 `NotFound`, also for a resource it does not serve);
//! - watches are held open without news (a watch on a quiet cluster), or, on a server made
//!   with [`FakeApi::with_watch_news`], answered with the changes made after the watch's
//!   `resourceVersion` (`ADDED`, `MODIFIED`, `DELETED`; label and field selectors applied, a
//!   change that moves an object out of them a `DELETED` of the object as it was) as soon as
//!   there are any, after which the watch ends and the client watches again from the last
//!   version it saw: a real watch's events, delivered in batches;
//! - pod logs (`pods/log`, plain text, `tailLines` applied; 400 `BadRequest` for a container
//!   that has not started, as the pod's status says).
//!
//! Every request is recorded with the status it got ([`FakeApi::recorded`]). A test scripts the
//! world around it: [`FakeApi::after`] changes stored objects after the n-th request of a kind
//! (a kubelet finishing a step), [`FakeApi::fail_next`] answers one request with a failure (an
//! admission webhook refusing), [`FakeApi::hang`] never answers matching requests (a process
//! killed while waiting), [`FakeApi::set_link`] cuts one client off (a partition).
//!
//! Several clients may share one server (two controller replicas on one cluster). The envtest
//! scenario `the_fake_api_server_answers_as_this_one_does` sends the same requests to this fake
//! and to a real kube-apiserver and compares the answers, failure messages included.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Method, Request, Response, Uri};
use k8s_openapi::jiff::{Timestamp, Unit};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::SendResponse;

/// What a request asks for, read from its method and path as the API server's request info
/// resolver does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// `""` for the core group.
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) namespace: Option<String>,
    /// The resource, without its subresource.
    pub(crate) resource: String,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub(crate) verb: &'static str,
}

impl Route {
    /// The route of a resource request; `None` for any other path.
    pub(crate) fn parse(method: &Method, uri: &Uri) -> Option<Route> {
        let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let (group, version, rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", namespace, rest @ ..] if !rest.is_empty() => {
                (Some((*namespace).to_owned()), rest)
            }
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some((*name).to_owned()), None),
            [resource, name, sub] => (*resource, Some((*name).to_owned()), Some((*sub).to_owned())),
            _ => return None,
        };
        let watching = query(uri, "watch").is_some_and(|w| w == "true" || w == "1");
        let verb = match (method.as_str(), &name) {
            ("GET", Some(_)) => "get",
            ("GET", None) if watching => "watch",
            ("GET", None) => "list",
            ("POST", _) => "create",
            ("PUT", Some(_)) => "update",
            ("PATCH", Some(_)) => "patch",
            ("DELETE", Some(_)) => "delete",
            ("DELETE", None) => "deletecollection",
            _ => return None,
        };
        Some(Route {
            group: group.to_owned(),
            version: version.to_owned(),
            namespace,
            resource: resource.to_owned(),
            name,
            subresource,
            verb,
        })
    }

    /// `resource` or `resource/subresource`.
    pub(crate) fn full_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }
}

/// A request the server received, and the status it answered (`None`: held open or never
/// answered).
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    /// Which client sent it.
    pub(crate) client: &'static str,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) body: Value,
    pub(crate) status: Option<u16>,
}

impl Recorded {
    /// The path with its query, as the client sent it.
    pub(crate) fn path(&self) -> String {
        self.uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// What the request asks for.
    pub(crate) fn route(&self) -> Option<Route> {
        Route::parse(&self.method, &self.uri)
    }

    /// Whether the request is `verb` on `resource` (`builds/status`, `pods`, …).
    pub(crate) fn is(&self, verb: &str, resource: &str) -> bool {
        self.route()
            .is_some_and(|r| r.verb == verb && r.full_resource() == resource)
    }
}

/// What one client's requests get, to simulate a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// Answered normally.
    Up,
    /// Answered with 503 Service Unavailable.
    Down,
}

type Change = Box<dyn FnOnce(&FakeApi) + Send>;

/// A scripted change: after `remaining` more requests `method path`, `change` runs.
struct Trigger {
    method: Method,
    path: String,
    remaining: usize,
    change: Option<Change>,
}

/// How the server answers one request.
enum Reply {
    Json(u16, Value),
    Text(String),
    /// Held open (a watch) or never answered (a hang).
    Open,
    /// A watch that sends these events (one JSON object a line) and ends.
    Events(Vec<Value>),
    /// A watch on a server with news: answered once there are changes for it.
    Watch(Watch),
}

/// A watch waiting for news: what it selects, and the version it has seen.
#[derive(Clone, Debug)]
struct Watch {
    group: String,
    resource: String,
    /// `None`: across namespaces.
    namespace: Option<String>,
    labels: String,
    fields: String,
    since: u64,
    /// How many times the history had been expired when the watch started.
    era: u64,
}

/// One change of a stored object, as a watch reports it.
struct Written {
    version: u64,
    group: String,
    resource: String,
    namespace: String,
    type_: &'static str,
    object: Value,
    /// The object before this change, for a change of one that was stored.
    previous: Option<Value>,
}

/// The changes a server with news has seen, and a signal for the watches waiting.
struct News {
    written: Vec<Written>,
    version: tokio::sync::watch::Sender<u64>,
    /// How many times [`FakeApi::expire_history`] ended the open watches.
    era: u64,
}

struct State {
    /// (group, resource) → (namespace, name) → object.
    objects: BTreeMap<(String, String), BTreeMap<(String, String), Value>>,
    /// (namespace, pod, container) → the container's log.
    logs: BTreeMap<(String, String, String), String>,
    /// The last resourceVersion given out.
    version: u64,
    clock: fn() -> Timestamp,
    recorded: Vec<Recorded>,
    links: BTreeMap<&'static str, Link>,
    triggers: Vec<Trigger>,
    /// One-off answers: (method, path) → the failure `Status`.
    failures: Vec<(Method, String, Value)>,
    /// Requests never answered: (method, path).
    hangs: Vec<(Method, String)>,
    /// Per resource (`buildtemplates`), how many more of its watches fail with 503, as while
    /// kube-apiserver is down.
    failing_watches: BTreeMap<String, usize>,
    /// Resources whose next watch (after any failing ones) reports its resourceVersion
    /// expired (an `ERROR` event with a 410 `Status`), as a restarted kube-apiserver does.
    expiring_watches: Vec<String>,
    /// The oldest resourceVersion a watch may start from (0: any); older ones have expired.
    oldest: u64,
    servers: Vec<JoinHandle<()>>,
    /// `Some` when watches deliver changes ([`FakeApi::with_watch_news`]).
    news: Option<News>,
}

impl State {
    /// Notes a change for the watches, on a server with news.
    fn written(
        &mut self,
        type_: &'static str,
        group: &str,
        resource: &str,
        object: &Value,
        previous: Option<&Value>,
    ) {
        let Some(news) = &mut self.news else {
            return;
        };
        let version = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.version);
        news.written.push(Written {
            version,
            group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            type_,
            object: object.clone(),
            previous: previous.cloned(),
        });
        news.version.send_replace(version);
    }

    /// The events `watch` has not seen yet.
    fn news_for(&self, watch: &Watch) -> Vec<Value> {
        let Some(news) = &self.news else {
            return Vec::new();
        };
        let selects = |object: &Value| {
            labels_match(&watch.labels, object) && fields_match(&watch.fields, object)
        };
        news.written
            .iter()
            .filter(|w| {
                w.version > watch.since
                    && w.group == watch.group
                    && w.resource == watch.resource
                    && watch.namespace.as_ref().is_none_or(|n| *n == w.namespace)
            })
            .filter_map(|w| {
                let was = w.previous.as_ref().is_some_and(selects);
                // A change that moves an object into the selection is its addition, one that
                // moves it out its deletion, carrying the object as it was and the change's
                // version, as the watch cache sends them.
                match (w.type_, w.previous.as_ref(), selects(&w.object)) {
                    ("DELETED", _, true) => Some(json!({"type": "DELETED", "object": w.object})),
                    (_, Some(_), true) if !was => {
                        Some(json!({"type": "ADDED", "object": w.object}))
                    }
                    (type_, _, true) => Some(json!({"type": type_, "object": w.object})),
                    ("MODIFIED", Some(previous), false) if was => {
                        let mut gone = previous.clone();
                        gone["metadata"]["resourceVersion"] = json!(w.version.to_string());
                        Some(json!({"type": "DELETED", "object": gone}))
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

/// The shared server state. Cheap to clone.
#[derive(Clone)]
pub(crate) struct FakeApi {
    state: Arc<Mutex<State>>,
}

impl Default for FakeApi {
    /// An empty cluster whose clock is the system's.
    fn default() -> Self {
        FakeApi::with_clock(Timestamp::now)
    }
}

/// The kind of each resource the server serves, and whether it is namespaced.
fn served(group: &str, resource: &str) -> Option<(&'static str, bool)> {
    Some(match (group, resource) {
        ("build.knative.dev", "builds") => ("Build", true),
        ("build.knative.dev", "buildtemplates") => ("BuildTemplate", true),
        ("build.knative.dev", "clusterbuildtemplates") => ("ClusterBuildTemplate", false),
        ("", "pods") => ("Pod", true),
        ("", "serviceaccounts") => ("ServiceAccount", true),
        ("", "secrets") => ("Secret", true),
        ("", "configmaps") => ("ConfigMap", true),
        ("", "events") => ("Event", true),
        ("", "namespaces") => ("Namespace", false),
        ("coordination.k8s.io", "leases") => ("Lease", true),
        _ => return None,
    })
}

/// Resources whose status is written only through `/status`.
fn has_status_subresource(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        ("build.knative.dev", "builds") | ("", "pods")
    )
}

/// Resources the API server keeps a `metadata.generation` for.
fn has_generation(group: &str, resource: &str) -> bool {
    group == "build.knative.dev" || (group, resource) == ("", "pods")
}

impl FakeApi {
    /// An empty cluster whose clock (for creation timestamps) is `clock`.
    pub(crate) fn with_clock(clock: fn() -> Timestamp) -> Self {
        FakeApi {
            state: Arc::new(Mutex::new(State {
                objects: BTreeMap::new(),
                logs: BTreeMap::new(),
                version: 0,
                clock,
                recorded: Vec::new(),
                links: BTreeMap::new(),
                triggers: Vec::new(),
                failures: Vec::new(),
                hangs: Vec::new(),
                failing_watches: BTreeMap::new(),
                expiring_watches: Vec::new(),
                oldest: 0,
                news: None,
                servers: Vec::new(),
            })),
        }
    }

    /// The same server, whose watches deliver the changes made after they start (the
    /// module's doc says how). Call it before any client is made.
    pub(crate) fn with_watch_news(self) -> Self {
        let (version, _) = tokio::sync::watch::channel(0);
        self.lock().news = Some(News {
            written: Vec::new(),
            version,
            era: 0,
        });
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `object` as it already is in the cluster (apiVersion, kind, metadata.name and,
    /// if namespaced, metadata.namespace) under `resource` (`builds`, `pods`, …): its
    /// resourceVersion, uid and creationTimestamp are kept, and given when missing.
    pub(crate) fn insert(&self, resource: &str, mut object: Value) {
        let mut state = self.lock();
        let given = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok());
        match given {
            Some(version) => state.version = state.version.max(version),
            None => {
                state.version += 1;
                object["metadata"]["resourceVersion"] = json!(state.version.to_string());
            }
        }
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("uid-{name}"));
        }
        if object["metadata"]["creationTimestamp"].is_null() {
            object["metadata"]["creationTimestamp"] = json!(timestamp((state.clock)()));
        }
        store(&mut state, resource, object);
    }

    /// Writes `object` as another client would (a kubelet, a controller): the stored object
    /// is replaced and gets the next resourceVersion.
    pub(crate) fn put(&self, resource: &str, mut object: Value) {
        let mut state = self.lock();
        state.version += 1;
        object["metadata"]["resourceVersion"] = json!(state.version.to_string());
        store(&mut state, resource, object);
    }

    /// The stored object, if any.
    pub(crate) fn get(
        &self,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        self.lock()
            .objects
            .get(&(group.to_owned(), resource.to_owned()))
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
    }

    /// The stored objects of a resource in every namespace, by namespace and name.
    pub(crate) fn all(&self, group: &str, resource: &str) -> Vec<Value> {
        self.lock()
            .objects
            .get(&(group.to_owned(), resource.to_owned()))
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Sets the log of `container` in pod `namespace/pod`.
    pub(crate) fn set_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        self.lock().logs.insert(
            (namespace.to_owned(), pod.to_owned(), container.to_owned()),
            text.to_owned(),
        );
    }

    /// Runs `change` once the server has answered the `count`-th request `method path` (the
    /// path without its query) from now on.
    pub(crate) fn after(
        &self,
        count: usize,
        method: Method,
        path: impl Into<String>,
        change: impl FnOnce(&FakeApi) + Send + 'static,
    ) {
        self.lock().triggers.push(Trigger {
            method,
            path: path.into(),
            remaining: count,
            change: Some(Box::new(change)),
        });
    }

    /// Fails the next `times` watches of each of `resources` (`builds`, `pods`, …) with 503,
    /// as while kube-apiserver is down; lists still answer.
    pub(crate) fn fail_watches(&self, resources: &[&str], times: usize) {
        let mut state = self.lock();
        for resource in resources {
            state.failing_watches.insert((*resource).to_owned(), times);
        }
    }

    /// Ends the next watch of `resource` (after any failing ones) with an `ERROR` event
    /// whose 410 `Status` says its resourceVersion expired: the client lists again.
    pub(crate) fn expire_next_watch(&self, resource: &str) {
        self.lock().expiring_watches.push(resource.to_owned());
    }

    /// Forgets the history of changes up to now, as etcd's compaction or a new watch cache (a
    /// restarted kube-apiserver, a replaced CRD) does, and ends every open watch: a client that
    /// watches again from a version older than now gets what kube-apiserver sends then, an
    /// `ERROR` event whose `Status` is 410 `Expired`, "too old resource version: 7 (9)". On a
    /// server with news.
    pub(crate) fn expire_history(&self) {
        let mut state = self.lock();
        state.oldest = state.version;
        let news = state
            .news
            .as_mut()
            .expect("expire_history needs with_watch_news");
        news.era += 1;
        let version = *news.version.borrow();
        news.version.send_replace(version);
    }

    /// Answers the next request `method path` (the path without its query) with the failure
    /// `status` (a `Status` body, as from [`status`]), as an admission webhook refusing it
    /// would; the request changes nothing.
    pub(crate) fn fail_next(&self, method: Method, path: impl Into<String>, status: Value) {
        self.lock().failures.push((method, path.into(), status));
    }

    /// Never answers requests `method path` (the path without its query) until
    /// [`FakeApi::stop_hanging`].
    pub(crate) fn hang(&self, method: Method, path: impl Into<String>) {
        self.lock().hangs.push((method, path.into()));
    }

    /// Answers every request again.
    pub(crate) fn stop_hanging(&self) {
        self.lock().hangs.clear();
    }

    /// Every request so far, in the order they came.
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// Sets what `client`'s requests get from now on.
    pub(crate) fn set_link(&self, client: &'static str, link: Link) {
        self.lock().links.insert(client, link);
    }

    /// Waits (polling every 10 ms) until `done` holds for the requests so far.
    pub(crate) async fn until(&self, mut done: impl FnMut(&[Recorded]) -> bool) {
        while !done(&self.lock().recorded) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every client made so far is dropped (their connections closed), at most
    /// ten seconds.
    pub(crate) async fn clients_dropped(&self) {
        let servers = std::mem::take(&mut self.lock().servers);
        for server in servers {
            match tokio::time::timeout(Duration::from_secs(10), server).await {
                Ok(Ok(())) => {}
                Ok(Err(panic)) => std::panic::resume_unwind(panic.into_panic()),
                Err(_) => panic!("a client of the fake API server was not dropped"),
            }
        }
    }

    /// A client whose requests this server answers, named `name` in [`Recorded::client`].
    pub(crate) fn client(&self, name: &'static str, default_namespace: &str) -> Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api = self.clone();
        let mut news = self.lock().news.as_ref().map(|n| n.version.subscribe());
        let server = tokio::spawn(async move {
            // Held-open requests keep their senders until the client goes away.
            let mut open = Vec::new();
            // Watches waiting for news.
            let mut watching: Vec<(Watch, SendResponse<Response<Body>>)> = Vec::new();
            loop {
                let changed = async {
                    match news.as_mut() {
                        Some(news) => news.changed().await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                let next = tokio::select! {
                    next = handle.next_request() => next,
                    true = changed, if !watching.is_empty() => {
                        let mut still = Vec::new();
                        let era = api.lock().news.as_ref().map_or(0, |n| n.era);
                        for (watch, send) in watching.drain(..) {
                            let events = api.lock().news_for(&watch);
                            if watch.era < era {
                                // The API server ended it, without the news it had not sent.
                                respond(send, 200, "application/json", Vec::new());
                            } else if events.is_empty() {
                                still.push((watch, send));
                            } else {
                                respond(send, 200, "application/json", event_lines(events));
                            }
                        }
                        watching = still;
                        continue;
                    }
                };
                let Some((request, send)) = next else {
                    break;
                };
                let method = request.method().clone();
                let uri = request.uri().clone();
                let content_type = request
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let bytes = request.into_body().collect_bytes().await.unwrap();
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes)
                        .unwrap_or_else(|e| panic!("{method} {uri}: the body is not JSON: {e}"))
                };
                let reply = api.answer(name, &method, &uri, &content_type, &body);
                api.lock().recorded.push(Recorded {
                    client: name,
                    method: method.clone(),
                    uri: uri.clone(),
                    body,
                    status: match &reply {
                        Reply::Json(status, _) => Some(*status),
                        Reply::Text(_) | Reply::Events(_) => Some(200),
                        Reply::Open | Reply::Watch(_) => None,
                    },
                });
                for change in api.due(&method, uri.path()) {
                    change(&api);
                }
                let (status, content_type, bytes) = match reply {
                    Reply::Json(status, value) => (
                        status,
                        "application/json",
                        serde_json::to_vec(&value).unwrap(),
                    ),
                    Reply::Text(text) => (200, "text/plain", text.into_bytes()),
                    Reply::Events(events) => (200, "application/json", event_lines(events)),
                    Reply::Open => {
                        open.push(send);
                        continue;
                    }
                    Reply::Watch(watch) => {
                        let events = api.lock().news_for(&watch);
                        if events.is_empty() {
                            watching.push((watch, send));
                            continue;
                        }
                        (200, "application/json", event_lines(events))
                    }
                };
                respond(send, status, content_type, bytes);
            }
        });
        self.lock().servers.push(server);
        Client::new(service, default_namespace)
    }

    /// The changes due after a request `method path`.
    fn due(&self, method: &Method, path: &str) -> Vec<Change> {
        let mut state = self.lock();
        let mut due = Vec::new();
        for trigger in &mut state.triggers {
            if trigger.method == method && trigger.path == path && trigger.remaining > 0 {
                trigger.remaining -= 1;
                if trigger.remaining == 0
                    && let Some(change) = trigger.change.take()
                {
                    due.push(change);
                }
            }
        }
        due
    }

    /// The answer to one request.
    fn answer(
        &self,
        client: &'static str,
        method: &Method,
        uri: &Uri,
        content_type: &str,
        body: &Value,
    ) -> Reply {
        let mut state = self.lock();
        if state.links.get(client) == Some(&Link::Down) {
            return failure(503, "ServiceUnavailable", None, "the server is unavailable");
        }
        let path = uri.path();
        if state.hangs.iter().any(|(m, p)| m == method && p == path) {
            return Reply::Open;
        }
        if let Some(i) = state
            .failures
            .iter()
            .position(|(m, p, _)| m == method && p == path)
        {
            let (_, _, status) = state.failures.remove(i);
            let code = status["code"].as_u64().expect("a Status has a code") as u16;
            return Reply::Json(code, status);
        }
        let Some(route) = Route::parse(method, uri) else {
            return not_served();
        };
        let Some((kind, namespaced)) = served(&route.group, &route.resource) else {
            return not_served();
        };
        let across_namespaces = matches!(route.verb, "list" | "watch");
        if route.namespace.is_some() && !namespaced
            || route.namespace.is_none() && namespaced && !across_namespaces
        {
            return not_served();
        }
        let request = Call {
            route: &route,
            kind,
            uri,
            body,
        };
        match (route.verb, route.subresource.as_deref()) {
            ("watch", None) => {
                if let Some(left) = state.failing_watches.get_mut(&route.resource)
                    && *left > 0
                {
                    *left -= 1;
                    return failure(
                        503,
                        "ServiceUnavailable",
                        None,
                        "the server is shutting down",
                    );
                }
                if let Some(i) = state
                    .expiring_watches
                    .iter()
                    .position(|r| *r == route.resource)
                {
                    state.expiring_watches.remove(i);
                    let expired = status(410, "Expired", "", "", "too old resource version");
                    return Reply::Events(vec![json!({"type": "ERROR", "object": expired})]);
                }
                let Some(news) = &state.news else {
                    return Reply::Open;
                };
                let era = news.era;
                let since = query(uri, "resourceVersion")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(state.version);
                // Version 0 is "any": it never expires.
                if since > 0 && since < state.oldest {
                    return Reply::Events(vec![expired(since, state.oldest)]);
                }
                Reply::Watch(Watch {
                    group: route.group.clone(),
                    resource: route.resource.clone(),
                    namespace: route.namespace.clone(),
                    labels: query(uri, "labelSelector").unwrap_or_default(),
                    fields: query(uri, "fieldSelector").unwrap_or_default(),
                    since,
                    era,
                })
            }
            ("list", None) => request.list(&state),
            ("get", None) => request.get(&state),
            ("get", Some("log")) if route.resource == "pods" => request.log(&state),
            ("create", None) => request.create(&mut state),
            ("update", None | Some("status")) => request.write(&mut state, None),
            ("patch", None | Some("status")) => {
                let merge = content_type.starts_with("application/merge-patch+json")
                    || content_type.starts_with("application/strategic-merge-patch+json");
                if !merge {
                    return failure(
                        415,
                        "UnsupportedMediaType",
                        None,
                        &format!("the fake applies merge patches only, not {content_type:?}"),
                    );
                }
                request.write(&mut state, Some(body))
            }
            ("delete", None) => request.delete(&mut state),
            _ => failure(
                405,
                "MethodNotAllowed",
                None,
                "the server does not allow this method on the requested resource",
            ),
        }
    }
}

/// One request being answered.
struct Call<'a> {
    route: &'a Route,
    kind: &'static str,
    uri: &'a Uri,
    body: &'a Value,
}

impl Call<'_> {
    fn key(&self) -> (String, String) {
        (self.route.group.clone(), self.route.resource.clone())
    }

    fn object_key(&self) -> (String, String) {
        (
            self.route.namespace.clone().unwrap_or_default(),
            self.route.name.clone().unwrap_or_default(),
        )
    }

    /// `pods` or `builds.build.knative.dev`, as messages name a resource.
    fn qualified(&self) -> String {
        if self.route.group.is_empty() {
            self.route.resource.clone()
        } else {
            format!("{}.{}", self.route.resource, self.route.group)
        }
    }

    fn stored(&self, state: &State) -> Option<Value> {
        state
            .objects
            .get(&self.key())
            .and_then(|objects| objects.get(&self.object_key()))
            .cloned()
    }

    /// A failure `Status` naming this request's object.
    fn failure(&self, code: u16, reason: &str, name: &str, message: &str) -> Reply {
        let mut details = json!({"name": name, "kind": self.route.resource});
        if !self.route.group.is_empty() {
            details["group"] = json!(self.route.group);
        }
        Reply::Json(code, status_with(code, reason, details, message))
    }

    fn not_found(&self, name: &str) -> Reply {
        let message = format!("{} {name:?} not found", self.qualified());
        self.failure(404, "NotFound", name, &message)
    }

    fn list(&self, state: &State) -> Reply {
        let labels = query(self.uri, "labelSelector").unwrap_or_default();
        let fields = query(self.uri, "fieldSelector").unwrap_or_default();
        let items: Vec<Value> = state
            .objects
            .get(&self.key())
            .into_iter()
            .flatten()
            .filter(|((ns, _), _)| self.route.namespace.as_ref().is_none_or(|n| n == ns))
            .map(|(_, object)| object)
            .filter(|object| labels_match(&labels, object) && fields_match(&fields, object))
            .cloned()
            .collect();
        let api_version = if self.route.group.is_empty() {
            self.route.version.clone()
        } else {
            format!("{}/{}", self.route.group, self.route.version)
        };
        Reply::Json(
            200,
            json!({"apiVersion": api_version, "kind": format!("{}List", self.kind),
                   "metadata": {"resourceVersion": state.version.to_string()},
                   "items": items}),
        )
    }

    fn get(&self, state: &State) -> Reply {
        match self.stored(state) {
            Some(object) => Reply::Json(200, object),
            None => self.not_found(&self.object_key().1),
        }
    }

    fn log(&self, state: &State) -> Reply {
        let (namespace, pod_name) = self.object_key();
        let Some(pod) = self.stored(state) else {
            return self.not_found(&pod_name);
        };
        let names = |field: &str| -> Vec<String> {
            pod["spec"][field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        };
        let (main, init) = (names("containers"), names("initContainers"));
        let container = match query(self.uri, "container") {
            Some(container) => container,
            None if main.len() == 1 && init.is_empty() => main[0].clone(),
            None => {
                let message = format!(
                    "a container name must be specified for pod {pod_name}, choose one of: \
                     [{}] or one of the init containers: [{}]",
                    main.join(" "),
                    init.join(" ")
                );
                return failure(400, "BadRequest", None, &message);
            }
        };
        if !main.contains(&container) && !init.contains(&container) {
            let message = format!("container {container} is not valid for pod {pod_name}");
            return failure(400, "BadRequest", None, &message);
        }
        let state_of = ["initContainerStatuses", "containerStatuses"]
            .iter()
            .flat_map(|field| pod["status"][field].as_array().into_iter().flatten())
            .find(|s| s["name"] == container.as_str())
            .map(|s| s["state"].clone())
            .unwrap_or(Value::Null);
        if state_of["running"].is_null() && state_of["terminated"].is_null() {
            let reason = state_of["waiting"]["reason"]
                .as_str()
                .unwrap_or("ContainerCreating");
            let message = format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: {reason}"
            );
            return failure(400, "BadRequest", None, &message);
        }
        let text = state
            .logs
            .get(&(namespace, pod_name, container))
            .cloned()
            .unwrap_or_default();
        let tail = query(self.uri, "tailLines").and_then(|n| n.parse::<usize>().ok());
        Reply::Text(match tail {
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let kept = &lines[lines.len().saturating_sub(n)..];
                kept.iter().map(|l| format!("{l}\n")).collect()
            }
            None => text,
        })
    }

    fn create(&self, state: &mut State) -> Reply {
        let mut object = self.body.clone();
        let namespace = self.route.namespace.clone().unwrap_or_default();
        let meta = &mut object["metadata"];
        if let Some(given) = meta["namespace"].as_str()
            && given != namespace
        {
            return failure(
                400,
                "BadRequest",
                None,
                "the namespace of the provided object does not match the namespace sent on the request",
            );
        }
        if meta["resourceVersion"].is_string() {
            return failure(
                500,
                "",
                None,
                "resourceVersion should not be set on objects to be created",
            );
        }
        let mut name = meta["name"].as_str().unwrap_or_default().to_owned();
        if name.is_empty()
            && let Some(prefix) = meta["generateName"].as_str()
        {
            // Five characters, as the API server's, but derived from the resourceVersion.
            let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
            let mut n = state.version + 1;
            let mut suffix = String::new();
            for _ in 0..5 {
                suffix.push(char::from(alphabet[(n % 27) as usize]));
                n = n / 27 + 7;
            }
            name = format!("{prefix}{suffix}");
        }
        if name.is_empty() {
            let message = format!(
                "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                self.kind
            );
            return self.failure(422, "Invalid", "", &message);
        }
        let objects = state.objects.entry(self.key()).or_default();
        if objects.contains_key(&(namespace.clone(), name.clone())) {
            let message = format!("{} {name:?} already exists", self.qualified());
            return self.failure(409, "AlreadyExists", &name, &message);
        }
        state.version += 1;
        let version = state.version.to_string();
        meta["name"] = json!(name);
        meta["resourceVersion"] = json!(version);
        meta["uid"] = json!(format!("uid-{version}"));
        meta["creationTimestamp"] = json!(timestamp((state.clock)()));
        if !namespace.is_empty() {
            meta["namespace"] = json!(namespace);
        }
        let (group, resource) = self.key();
        if has_generation(&group, &resource) {
            meta["generation"] = json!(1);
        }
        if (group.as_str(), resource.as_str()) == ("", "pods") {
            object["status"] = json!({"phase": "Pending", "qosClass": qos_class(&object)});
        } else if has_status_subresource(&group, &resource) {
            object.as_object_mut().unwrap().remove("status");
        }
        state
            .objects
            .entry(self.key())
            .or_default()
            .insert((namespace, name), object.clone());
        state.written("ADDED", &group, &resource, &object, None);
        Reply::Json(201, object)
    }

    /// An update (`patch` is `None`: the body is the whole object) or a merge patch.
    fn write(&self, state: &mut State, patch: Option<&Value>) -> Reply {
        let name = self.object_key().1;
        let Some(stored) = self.stored(state) else {
            return self.not_found(&name);
        };
        let sent_version = self.body["metadata"]["resourceVersion"].as_str();
        if patch.is_none() {
            if self.body["metadata"]["name"].as_str() != Some(name.as_str()) {
                return failure(
                    400,
                    "BadRequest",
                    None,
                    "the name of the object does not match the name on the URL",
                );
            }
            if sent_version.is_none() {
                let message = format!(
                    "{} {name:?} is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update",
                    self.qualified()
                );
                return self.failure(422, "Invalid", &name, &message);
            }
        }
        if sent_version.is_some() && sent_version != stored["metadata"]["resourceVersion"].as_str()
        {
            let message = format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
                 please apply your changes to the latest version and try again",
                self.qualified()
            );
            return self.failure(409, "Conflict", &name, &message);
        }
        let sent = match patch {
            Some(patch) => {
                let mut merged = stored.clone();
                merge(&mut merged, patch);
                merged
            }
            None => self.body.clone(),
        };
        let (group, resource) = self.key();
        let mut next = if self.route.subresource.as_deref() == Some("status") {
            // Only the status changes.
            let mut next = stored.clone();
            next["status"] = sent["status"].clone();
            next
        } else if has_status_subresource(&group, &resource) {
            // Everything but the status changes.
            let mut next = sent;
            next["status"] = stored["status"].clone();
            next
        } else {
            sent
        };
        if next["status"].is_null() {
            next.as_object_mut().unwrap().remove("status");
        }
        for field in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "generation",
        ] {
            next["metadata"][field] = stored["metadata"][field].clone();
        }
        if has_generation(&group, &resource) && next["spec"] != stored["spec"] {
            let generation = stored["metadata"]["generation"].as_i64().unwrap_or(0);
            next["metadata"]["generation"] = json!(generation + 1);
        }
        if next["metadata"]["generation"].is_null() {
            next["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("generation");
        }
        state.version += 1;
        next["metadata"]["resourceVersion"] = json!(state.version.to_string());
        state
            .objects
            .entry(self.key())
            .or_default()
            .insert(self.object_key(), next.clone());
        state.written("MODIFIED", &group, &resource, &next, Some(&stored));
        Reply::Json(200, next)
    }

    fn delete(&self, state: &mut State) -> Reply {
        let removed = state
            .objects
            .get_mut(&self.key())
            .and_then(|objects| objects.remove(&self.object_key()));
        match removed {
            Some(object) => {
                if state.news.is_some() {
                    // A deletion is a change of its own, at a version of its own.
                    state.version += 1;
                    let mut gone = object.clone();
                    gone["metadata"]["resourceVersion"] = json!(state.version.to_string());
                    let (group, resource) = self.key();
                    state.written("DELETED", &group, &resource, &gone, None);
                }
                Reply::Json(200, object)
            }
            None => self.not_found(&self.object_key().1),
        }
    }
}

fn store(state: &mut State, resource: &str, object: Value) {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = match api_version.split_once('/') {
        Some((group, _)) => group.to_owned(),
        None => String::new(),
    };
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    let previous = state
        .objects
        .entry((group.clone(), resource.to_owned()))
        .or_default()
        .insert((namespace, name), object.clone());
    let type_ = if previous.is_some() {
        "MODIFIED"
    } else {
        "ADDED"
    };
    state.written(type_, &group, resource, &object, previous.as_ref());
}

/// Answers one request.
fn respond(send: SendResponse<Response<Body>>, status: u16, content_type: &str, bytes: Vec<u8>) {
    send.send_response(
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Body::from(bytes))
            .unwrap(),
    );
}

/// Watch events as a watch's body sends them: one JSON object a line.
fn event_lines(events: Vec<Value>) -> Vec<u8> {
    let mut lines = Vec::new();
    for event in events {
        lines.extend(serde_json::to_vec(&event).unwrap());
        lines.push(b'\n');
    }
    lines
}

/// A pod's QoS class, as the API server sets it on creation: `BestEffort` without any
/// resources, `Burstable` otherwise (`Guaranteed` is not told apart).
fn qos_class(pod: &Value) -> &'static str {
    let with_resources = ["containers", "initContainers"]
        .iter()
        .flat_map(|field| pod["spec"][field].as_array().into_iter().flatten())
        .any(|c| {
            c["resources"].as_object().is_some_and(|r| {
                r.values()
                    .any(|v| v.as_object().is_some_and(|m| !m.is_empty()))
            })
        });
    if with_resources {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// A JSON merge patch (RFC 7386) of `patch` into `target`.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// Whether `object`'s labels match a label selector (`k`, `!k`, `k=v`, `k==v`, `k!=v`, joined
/// by commas).
fn labels_match(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once("!=") {
            Some((key, value)) => labels[key].as_str() != Some(value),
            None => match term.split_once('=') {
                Some((key, value)) => labels[key].as_str() == Some(value.trim_start_matches('=')),
                None => match term.strip_prefix('!') {
                    Some(key) => labels[key].is_null(),
                    None => !labels[term].is_null(),
                },
            },
        })
}

/// Whether `object` matches a field selector (`a.b=v`, `a.b==v`, `a.b!=v`, joined by commas).
fn fields_match(selector: &str, object: &Value) -> bool {
    let field = |path: &str| {
        let value = path.split('.').fold(object, |v, key| &v[key]);
        match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once("!=") {
            Some((path, value)) => field(path) != value,
            None => match term.split_once('=') {
                Some((path, value)) => field(path) == value.trim_start_matches('='),
                None => false,
            },
        })
}

/// The percent-decoded value of `key` in the URI's query.
fn query(uri: &Uri, key: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .map(percent_decode)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A timestamp as the API server writes it: whole seconds, UTC.
fn timestamp(at: Timestamp) -> String {
    at.round(Unit::Second).unwrap().to_string()
}

/// 404 for a path the server does not serve.
fn not_served() -> Reply {
    failure(
        404,
        "NotFound",
        None,
        "the server could not find the requested resource",
    )
}

fn failure(code: u16, reason: &str, details: Option<Value>, message: &str) -> Reply {
    Reply::Json(
        code,
        status_with(code, reason, details.unwrap_or(json!({})), message),
    )
}

fn status_with(code: u16, reason: &str, details: Value, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    })
}

/// The event kube-apiserver (1.36) sends on a watch from a version older than its history,
/// and then ends the watch, as a real one answered in envtest:
/// `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
/// "message":"too old resource version: 1 (216)","reason":"Expired","code":410}}`.
pub(crate) fn expired(since: u64, oldest: u64) -> Value {
    json!({"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {since} ({oldest})"),
        "reason": "Expired", "code": 410,
    }})
}

/// A failure `Status` about the object `kind`/`name` (for [`FakeApi::fail_next`]).
pub(crate) fn status(code: u16, reason: &str, kind: &str, name: &str, message: &str) -> Value {
    status_with(code, reason, json!({"name": name, "kind": kind}), message)
}

//! An in-memory stand-in for a kube-apiserver, served to `kube::Client`s through
//! `tower_test` mock pairs: it keeps objects by resource, answers get, list, create (with
//! `generateName`), replace (PUT, with resourceVersion-based optimistic concurrency) and patch
//! the way the API server does (201 on create, 409 `AlreadyExists`, 409 `Conflict` on a stale
//! resourceVersion, 404 `NotFound` as a `Status`), serves pod logs (`pods/log`, plain text; 400
//! `BadRequest` for a container that has not started), parks watches (they never send an
//! event), and records every request with the status it got.
//!
//! [`FakeApi::after`] scripts the world's changes: after the n-th request of a kind, a function
//! changes the stored objects (a kubelet finishing a step, a controller writing a status).
//!
//! Several clients may share one server state (two controller replicas on one cluster). Each
//! test binary uses a subset of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use build_controller::ApiRequest;
use http::{Method, Request, Response, Uri};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// A request the server received, and the status it answered (`None` for a parked watch).
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
    /// The request in RBAC's terms.
    pub(crate) fn api_request(&self) -> Option<ApiRequest> {
        ApiRequest::from_http(&self.method, &self.uri)
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

type Action = Box<dyn FnOnce(&FakeApi) + Send>;

/// A scripted change: after `remaining` more requests `method path`, `action` runs.
struct Trigger {
    method: Method,
    path: String,
    remaining: usize,
    action: Option<Action>,
}

#[derive(Default)]
struct State {
    /// (group, resource) → (namespace, name) → object.
    objects: BTreeMap<(String, String), BTreeMap<(String, String), Value>>,
    /// (namespace, pod, container) → the container's log.
    logs: BTreeMap<(String, String, String), String>,
    next_version: u64,
    recorded: Vec<Recorded>,
    links: BTreeMap<&'static str, Link>,
    triggers: Vec<Trigger>,
}

/// The shared server state. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct FakeApi {
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    /// Stores `object` (with apiVersion, kind, metadata.name and, if namespaced,
    /// metadata.namespace) under `resource` (`builds`, `pods`, …).
    pub(crate) fn insert(&self, resource: &str, mut object: Value) {
        let mut state = self.lock();
        let group = group_of(&object);
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        state.next_version += 1;
        object["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
        state
            .objects
            .entry((group, resource.to_owned()))
            .or_default()
            .insert((namespace, name), object);
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

    /// Sets the log of `container` in pod `namespace/pod` (the container has started).
    pub(crate) fn set_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        self.lock().logs.insert(
            (namespace.to_owned(), pod.to_owned(), container.to_owned()),
            text.to_owned(),
        );
    }

    /// Runs `action` once the server has answered the `count`-th request `method path` (the
    /// path without its query) from now on.
    pub(crate) fn after(
        &self,
        count: usize,
        method: Method,
        path: impl Into<String>,
        action: impl FnOnce(&FakeApi) + Send + 'static,
    ) {
        self.lock().triggers.push(Trigger {
            method,
            path: path.into(),
            remaining: count,
            action: Some(Box::new(action)),
        });
    }

    /// The actions due after a request `method path`.
    fn due(&self, method: &Method, path: &str) -> Vec<Action> {
        let mut state = self.lock();
        let mut due = Vec::new();
        for trigger in &mut state.triggers {
            if trigger.method == method && trigger.path == path && trigger.remaining > 0 {
                trigger.remaining -= 1;
                if trigger.remaining == 0
                    && let Some(action) = trigger.action.take()
                {
                    due.push(action);
                }
            }
        }
        due
    }

    /// The names of the stored objects of a resource in a namespace.
    pub(crate) fn names(&self, group: &str, resource: &str, namespace: &str) -> Vec<String> {
        self.lock()
            .objects
            .get(&(group.to_owned(), resource.to_owned()))
            .map(|objects| {
                objects
                    .keys()
                    .filter(|(ns, _)| ns == namespace)
                    .map(|(_, name)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every request so far.
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// Sets what `client`'s requests get from now on.
    pub(crate) fn set_link(&self, client: &'static str, link: Link) {
        self.lock().links.insert(client, link);
    }

    /// A client whose requests this server answers, named `name` in [`Recorded::client`].
    pub(crate) fn client(&self, name: &'static str, default_namespace: &str) -> Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api = self.clone();
        tokio::spawn(async move {
            // Watches are never answered; their senders are kept until the client goes away.
            let mut parked = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let (method, uri, body) = take(request).await;
                let (status, response) = api.answer(name, &method, &uri, &body);
                api.lock().recorded.push(Recorded {
                    client: name,
                    method: method.clone(),
                    uri: uri.clone(),
                    body,
                    status,
                });
                for action in api.due(&method, uri.path()) {
                    action(&api);
                }
                match (status, response) {
                    (Some(status), Value::String(text)) => send.send_response(
                        Response::builder()
                            .status(status)
                            .header("content-type", "text/plain")
                            .body(Body::from(text.into_bytes()))
                            .unwrap(),
                    ),
                    (Some(status), response) => send.send_response(
                        Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Body::from(serde_json::to_vec(&response).unwrap()))
                            .unwrap(),
                    ),
                    (None, _) => parked.push(send),
                }
            }
        });
        Client::new(service, default_namespace)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The status and body for one request; `None` parks it (a watch).
    fn answer(
        &self,
        client: &'static str,
        method: &Method,
        uri: &Uri,
        body: &Value,
    ) -> (Option<u16>, Value) {
        let mut state = self.lock();
        if state.links.get(client) == Some(&Link::Down) {
            return (
                Some(503),
                status(
                    503,
                    "ServiceUnavailable",
                    "",
                    "",
                    "the server is unavailable",
                ),
            );
        }
        let Some(request) = ApiRequest::from_http(method, uri) else {
            return (Some(404), status(404, "NotFound", "", "", "not found"));
        };
        let (resource, subresource) = match request.resource.split_once('/') {
            Some((resource, sub)) => (resource.to_owned(), Some(sub.to_owned())),
            None => (request.resource.clone(), None),
        };
        let key = (request.group.clone(), resource.clone());
        let namespace = request.namespace.clone().unwrap_or_default();
        let qualified = if request.group.is_empty() {
            resource.clone()
        } else {
            format!("{resource}.{}", request.group)
        };
        if resource == "pods" && subresource.as_deref() == Some("log") {
            let pod = request.name.clone().unwrap_or_default();
            let container = query_value(uri, "container").unwrap_or_default();
            let exists = state
                .objects
                .get(&key)
                .is_some_and(|pods| pods.contains_key(&(namespace.clone(), pod.clone())));
            if !exists {
                return (
                    Some(404),
                    status(
                        404,
                        "NotFound",
                        "pods",
                        &pod,
                        &format!("pods {pod:?} not found"),
                    ),
                );
            }
            return match state.logs.get(&(namespace, pod.clone(), container.clone())) {
                Some(text) => (Some(200), Value::String(text.clone())),
                None => (
                    Some(400),
                    status(
                        400,
                        "BadRequest",
                        "",
                        "",
                        &format!(
                            "container {container:?} in pod {pod:?} is waiting to start: PodInitializing"
                        ),
                    ),
                ),
            };
        }
        let upcoming_version = state.next_version + 1;
        let objects = state.objects.entry(key).or_default();
        let not_found = |name: &str| {
            status(
                404,
                "NotFound",
                &resource,
                name,
                &format!("{qualified} {name:?} not found"),
            )
        };
        match request.verb.as_str() {
            "watch" => (None, Value::Null),
            "list" => {
                let items: Vec<Value> = objects
                    .iter()
                    .filter(|((ns, _), _)| request.namespace.is_none() || *ns == namespace)
                    .map(|(_, object)| object.clone())
                    .collect();
                (
                    Some(200),
                    json!({"apiVersion": "v1", "kind": "List",
                           "metadata": {"resourceVersion": state.next_version.to_string()},
                           "items": items}),
                )
            }
            "get" => {
                let name = request.name.clone().unwrap_or_default();
                match objects.get(&(namespace, name.clone())) {
                    Some(object) => (Some(200), object.clone()),
                    None => (Some(404), not_found(&name)),
                }
            }
            "create" => {
                let mut object = body.clone();
                let mut name = object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if name.is_empty()
                    && let Some(prefix) = object["metadata"]["generateName"].as_str()
                {
                    // Five characters, as the API server's, but derived from the version.
                    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
                    let mut n = upcoming_version;
                    let mut suffix = String::new();
                    for _ in 0..5 {
                        suffix.push(char::from(alphabet[(n % 27) as usize]));
                        n = n / 27 + 7;
                    }
                    name = format!("{prefix}{suffix}");
                    object["metadata"]["name"] = json!(name);
                }
                if objects.contains_key(&(namespace.clone(), name.clone())) {
                    return (
                        Some(409),
                        status(
                            409,
                            "AlreadyExists",
                            &resource,
                            &name,
                            &format!("{qualified} {name:?} already exists"),
                        ),
                    );
                }
                state.next_version += 1;
                let version = state.next_version.to_string();
                let objects = state
                    .objects
                    .get_mut(&(request.group.clone(), resource.clone()))
                    .unwrap();
                object["metadata"]["resourceVersion"] = json!(version);
                object["metadata"]["uid"] = json!(format!("uid-{version}"));
                object["metadata"]["creationTimestamp"] = json!("2024-01-01T00:01:00Z");
                if !namespace.is_empty() {
                    object["metadata"]["namespace"] = json!(namespace);
                }
                objects.insert((namespace, name), object.clone());
                (Some(201), object)
            }
            "update" | "patch" => {
                let name = request.name.clone().unwrap_or_default();
                let Some(stored) = objects.get(&(namespace.clone(), name.clone())).cloned() else {
                    return (Some(404), not_found(&name));
                };
                let sent_version = body["metadata"]["resourceVersion"].as_str();
                let stored_version = stored["metadata"]["resourceVersion"].as_str();
                if request.verb == "update" && sent_version.is_none() {
                    return (
                        Some(422),
                        status(
                            422,
                            "Invalid",
                            &resource,
                            &name,
                            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                        ),
                    );
                }
                if sent_version.is_some() && sent_version != stored_version {
                    return (
                        Some(409),
                        status(
                            409,
                            "Conflict",
                            &resource,
                            &name,
                            &format!(
                                "Operation cannot be fulfilled on {qualified} {name:?}: the object \
                                 has been modified; please apply your changes to the latest \
                                 version and try again"
                            ),
                        ),
                    );
                }
                let mut next = if request.verb == "update" {
                    body.clone()
                } else {
                    let mut merged = stored.clone();
                    merge(&mut merged, body, subresource.as_deref());
                    merged
                };
                state.next_version += 1;
                next["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
                for field in ["uid", "creationTimestamp"] {
                    next["metadata"][field] = stored["metadata"][field].clone();
                }
                state
                    .objects
                    .get_mut(&(request.group.clone(), resource.clone()))
                    .unwrap()
                    .insert((namespace, name), next.clone());
                (Some(200), next)
            }
            _ => (
                Some(405),
                status(405, "MethodNotAllowed", &resource, "", ""),
            ),
        }
    }
}

/// A JSON merge patch (RFC 7386) of `patch` into `target`; on a subresource only that field
/// changes, as the API server does for `/status`.
fn merge(target: &mut Value, patch: &Value, subresource: Option<&str>) {
    if let Some(field) = subresource {
        merge(&mut target[field], &patch[field], None);
        return;
    }
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(
                        target.entry(key.clone()).or_insert(Value::Null),
                        value,
                        None,
                    );
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// The value of `key` in the URI's query, percent-decoding left aside (test values need none).
fn query_value(uri: &Uri, key: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}

fn group_of(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    match api_version.split_once('/') {
        Some((group, _)) => group.to_owned(),
        None => String::new(),
    }
}

/// A metav1.Status failure, as the API server writes it.
pub(crate) fn status(code: u16, reason: &str, kind: &str, name: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": {"name": name, "kind": kind},
        "code": code,
    })
}

async fn take(request: Request<Body>) -> (Method, Uri, Value) {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (method, uri, body)
}

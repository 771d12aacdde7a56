//! `run` end to end against a fake API server: the start-up check, one list and one watch per
//! cache (the pods' filtered by label), a reconcile once every cache is synced, and a graceful
//! shutdown. The control-plane tests (envtest.rs) do the same against a real kube-apiserver
//! where one is available.

#[path = "common/mock.rs"]
mod mock;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Response};
use kube::client::Body;
use mock::*;
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Default)]
struct Seen {
    /// Lists, by path without query.
    lists: BTreeMap<String, usize>,
    /// Watches, by path without query, with their queries.
    watches: BTreeMap<String, String>,
    created_pods: Vec<Value>,
    status_patches: Vec<Value>,
    events: Vec<Value>,
    other: Vec<String>,
}

fn respond(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn real_now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap()
        .to_string()
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": format!("{kind}List"),
           "metadata": {"resourceVersion": "1"}, "items": items})
}

async fn fake_api(
    mut handle: Handle,
    seen: Arc<Mutex<Seen>>,
    patched: Arc<Notify>,
    build: build_types::Build,
) {
    let mut open_watches = Vec::new();
    while let Some((request, send)) = handle.next_request().await {
        let method = request.method().clone();
        let uri = request.uri().clone();
        let (path, query) = (uri.path().to_owned(), uri.query().unwrap_or("").to_owned());
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut seen = seen.lock().unwrap();
        let resource = path.rsplit('/').next().unwrap_or_default().to_owned();
        match method {
            Method::GET if query.contains("watch=true") => {
                seen.watches.insert(path, query);
                // Held open, as a watch with no news is.
                open_watches.push(send);
            }
            Method::GET => {
                *seen.lists.entry(path.clone()).or_default() += 1;
                let response = match resource.as_str() {
                    "builds" => list(
                        "Build",
                        "build.knative.dev/v1alpha1",
                        vec![serde_json::to_value(&build).unwrap()],
                    ),
                    "buildtemplates" => list("BuildTemplate", "build.knative.dev/v1alpha1", vec![]),
                    "clusterbuildtemplates" => {
                        list("ClusterBuildTemplate", "build.knative.dev/v1alpha1", vec![])
                    }
                    "pods" => list("Pod", "v1", vec![]),
                    "serviceaccounts" => list("ServiceAccount", "v1", vec![]),
                    "secrets" => list("Secret", "v1", vec![]),
                    _ => {
                        seen.other.push(format!("GET {path}?{query}"));
                        json!({})
                    }
                };
                send.send_response(respond(200, &response));
            }
            Method::POST if path == format!("/api/v1/namespaces/{NS}/pods") => {
                let mut pod = body.clone();
                pod["metadata"]["creationTimestamp"] = json!(real_now());
                seen.created_pods.push(body);
                send.send_response(respond(201, &pod));
            }
            Method::POST if path == format!("/api/v1/namespaces/{NS}/events") => {
                seen.events.push(body.clone());
                send.send_response(respond(201, &body));
            }
            Method::PATCH if path.ends_with("/builds/hello/status") => {
                seen.status_patches.push(body["status"].clone());
                let mut stored = serde_json::to_value(&build).unwrap();
                stored["status"] = body["status"].clone();
                send.send_response(respond(200, &stored));
                patched.notify_one();
            }
            _ => {
                seen.other.push(format!("{method} {path}?{query}"));
                send.send_response(respond(
                    404,
                    &api_status(404, "NotFound", "", "", "not served by the fake"),
                ));
            }
        }
    }
}

#[tokio::test]
async fn run_lists_and_watches_each_cache_once_reconciles_and_shuts_down() {
    // `run` reads the system clock: a Build created now, not at the fixtures' fixed time.
    let mut build = simple_build();
    build.metadata.creation_timestamp = Some(from(json!(real_now())));
    let (service, handle) = tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
    let client = kube::Client::new(service, NS);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let patched = Arc::new(Notify::new());
    let server = tokio::spawn(fake_api(
        handle,
        seen.clone(),
        patched.clone(),
        build.clone(),
    ));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(build_controller::run(client, config(), async move {
        let _ = stopped.await;
    }));
    if tokio::time::timeout(Duration::from_secs(20), patched.notified())
        .await
        .is_err()
    {
        let seen = seen.lock().unwrap();
        panic!(
            "no status written; lists {:?}, watches {:?}, pods {}, other {:?}",
            seen.lists,
            seen.watches,
            seen.created_pods.len(),
            seen.other
        );
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), controller)
        .await
        .expect("run returns after the shutdown signal")
        .unwrap()
        .expect("run succeeds");
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("every client is dropped")
        .unwrap();

    let seen = seen.lock().unwrap();
    assert!(
        seen.other.is_empty(),
        "unexpected requests: {:#?}",
        seen.other
    );
    let builds = format!("/apis/build.knative.dev/v1alpha1/namespaces/{NS}/builds");
    let expected_lists: BTreeMap<String, usize> = [
        // The start-up check, then the cache's own list.
        (builds.clone(), 2),
        (
            format!("/apis/build.knative.dev/v1alpha1/namespaces/{NS}/buildtemplates"),
            1,
        ),
        (
            "/apis/build.knative.dev/v1alpha1/clusterbuildtemplates".to_owned(),
            1,
        ),
        (format!("/api/v1/namespaces/{NS}/pods"), 1),
        (format!("/api/v1/namespaces/{NS}/serviceaccounts"), 1),
        (format!("/api/v1/namespaces/{NS}/secrets"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(seen.lists, expected_lists);
    assert_eq!(
        seen.watches.keys().collect::<Vec<_>>(),
        expected_lists.keys().collect::<Vec<_>>(),
        "one watch per cache"
    );
    let pod_watch = &seen.watches[&format!("/api/v1/namespaces/{NS}/pods")];
    assert!(
        pod_watch.contains("labelSelector=build.knative.dev%2FbuildName"),
        "{pod_watch}"
    );

    assert_eq!(seen.created_pods.len(), 1);
    assert_eq!(
        seen.created_pods[0]["metadata"]["name"],
        pod_name(&build).as_str()
    );
    let [status] = seen.status_patches.as_slice() else {
        panic!("{:#?}", seen.status_patches);
    };
    assert_condition(status, "Unknown", "Pending", &[]);
    assert_eq!(
        seen.events
            .iter()
            .map(|e| e["reason"].clone())
            .collect::<Vec<_>>(),
        [json!("Started")]
    );
}

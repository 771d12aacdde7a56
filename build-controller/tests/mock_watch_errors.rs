//! `run` through an API server restart, against a fake API server: every watch fails twice
//! (503, as while kube-apiserver is down), then the template watch reports its resource
//! version expired (410, as a restarted kube-apiserver does) and the re-list shows the
//! template the Build waits for. The Build's pod must follow within a minute, as it would
//! with a healthy server after each watch's own backoff; found by `cargo xtask chaos`
//! (scenario `apiserver`), where the Builds waiting for a template created during the
//! restarts stayed waiting for minutes.
//!
//! Time is paused: the backoffs pass in virtual time, so the test is quick and exact.

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

/// How many times each watch fails before the server is back.
const FAILURES: usize = 2;

#[derive(Default)]
struct Seen {
    /// Watch requests, by resource.
    watches: BTreeMap<String, usize>,
    template_lists: usize,
    created_pods: Vec<Value>,
    other: Vec<String>,
}

fn respond(status: u16, body: &[u8]) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .unwrap()
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"apiVersion": api_version, "kind": format!("{kind}List"),
           "metadata": {"resourceVersion": "1"}, "items": items}),
    )
    .unwrap()
}

/// A watch body with one MODIFIED event; the watch then ends, and the client watches again.
fn modified(object: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({"type": "MODIFIED", "object": object})).unwrap();
    line.push(b'\n');
    line
}

async fn fake_api(
    mut handle: Handle,
    seen: Arc<Mutex<Seen>>,
    created: Arc<Notify>,
    build: build_types::Build,
) {
    let mut open_watches = Vec::new();
    // The Build's watch, once back: it delivers each status the controller writes.
    let mut build_watch = None;
    let mut stored: Option<Value> = None;
    let mut version = 100;
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
                let count = seen.watches.entry(resource.clone()).or_default();
                *count += 1;
                if *count <= FAILURES {
                    let status = api_status(503, "ServiceUnavailable", "", "", "shutting down");
                    send.send_response(respond(503, &serde_json::to_vec(&status).unwrap()));
                } else if resource == "buildtemplates" && *count == FAILURES + 1 {
                    let expired = api_status(410, "Expired", "", "", "too old resource version");
                    let event = json!({"type": "ERROR", "object": expired});
                    let mut line = serde_json::to_vec(&event).unwrap();
                    line.push(b'\n');
                    send.send_response(respond(200, &line));
                } else if resource == "builds" {
                    match stored.take() {
                        Some(build) => send.send_response(respond(200, &modified(&build))),
                        None => build_watch = Some(send),
                    }
                } else {
                    // Held open, as a watch with no news is.
                    open_watches.push(send);
                }
            }
            Method::GET if path.starts_with(&format!("/api/v1/namespaces/{NS}/pods/")) => {
                // the controller reads the pod its status names while its cache lacks it
                match seen.created_pods.first() {
                    Some(pod) => {
                        send.send_response(respond(200, &serde_json::to_vec(pod).unwrap()))
                    }
                    None => {
                        let status = api_status(404, "NotFound", "pods", &resource, "not found");
                        send.send_response(respond(404, &serde_json::to_vec(&status).unwrap()));
                    }
                }
            }
            Method::GET => {
                let response = match resource.as_str() {
                    "builds" => list(
                        "Build",
                        "build.knative.dev/v1alpha1",
                        vec![serde_json::to_value(&build).unwrap()],
                    ),
                    "buildtemplates" => {
                        seen.template_lists += 1;
                        let items = if seen.template_lists == 1 {
                            vec![]
                        } else {
                            vec![serde_json::to_value(template("late")).unwrap()]
                        };
                        list("BuildTemplate", "build.knative.dev/v1alpha1", items)
                    }
                    "clusterbuildtemplates" => {
                        list("ClusterBuildTemplate", "build.knative.dev/v1alpha1", vec![])
                    }
                    "pods" => list("Pod", "v1", vec![]),
                    "serviceaccounts" => list("ServiceAccount", "v1", vec![]),
                    "secrets" => list("Secret", "v1", vec![]),
                    _ => {
                        seen.other.push(format!("GET {path}?{query}"));
                        b"{}".to_vec()
                    }
                };
                send.send_response(respond(200, &response));
            }
            Method::POST if path == format!("/api/v1/namespaces/{NS}/pods") => {
                seen.created_pods.push(body.clone());
                send.send_response(respond(201, &bytes));
                created.notify_one();
            }
            Method::POST if path == format!("/api/v1/namespaces/{NS}/events") => {
                send.send_response(respond(201, &bytes));
            }
            Method::PATCH if path.ends_with("/builds/hello/status") => {
                version += 1;
                let mut patched = serde_json::to_value(&build).unwrap();
                patched["status"] = body["status"].clone();
                patched["metadata"]["resourceVersion"] = json!(version.to_string());
                send.send_response(respond(200, &serde_json::to_vec(&patched).unwrap()));
                match build_watch.take() {
                    Some(watch) => watch.send_response(respond(200, &modified(&patched))),
                    None => stored = Some(patched),
                }
            }
            _ => {
                seen.other.push(format!("{method} {path}?{query}"));
                let status = api_status(404, "NotFound", "", "", "not served by the fake");
                send.send_response(respond(404, &serde_json::to_vec(&status).unwrap()));
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_template_created_while_the_api_server_restarts_starts_its_build_within_a_minute() {
    let mut build = build(
        "hello",
        json!({"template": {"name": "late", "arguments": [{"name": "IMAGE", "value": "x"}]}}),
    );
    // `run` reads the system clock: a Build created now, not at the fixtures' fixed time.
    build.metadata.creation_timestamp = Some(from(json!(
        k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap()
            .to_string()
    )));
    let (service, handle) = tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
    let client = kube::Client::new(service, NS);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let created = Arc::new(Notify::new());
    let server = tokio::spawn(fake_api(handle, seen.clone(), created.clone(), build));

    let started = tokio::time::Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(build_controller::run(client, config(), async move {
        let _ = stopped.await;
    }));
    let waited = tokio::time::timeout(Duration::from_secs(60), created.notified()).await;
    {
        let seen = seen.lock().unwrap();
        assert!(
            waited.is_ok(),
            "no pod within 60s of the restart: watches {:?}, template lists {}, other {:?}",
            seen.watches,
            seen.template_lists,
            seen.other
        );
        assert_eq!(seen.created_pods.len(), 1);
        assert!(seen.template_lists >= 2, "the template was re-listed");
        assert!(seen.other.is_empty(), "{:?}", seen.other);
    }
    eprintln!(
        "pod created {:?} (virtual) after the start",
        started.elapsed()
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), controller)
        .await
        .expect("run returns after the shutdown signal")
        .unwrap()
        .expect("run succeeds");
    server.abort();
}

//! A reconcile killed between creating the pod and writing the status, then a restarted
//! controller (fresh context, fresh caches): exactly one pod, and the status it should have.
//!
//! The API server here is a small stateful fake (pods by name, status patches recorded) rather
//! than a script, so that "exactly one pod" is the fake's state, not the script's.

#[path = "common/mock.rs"]
mod mock;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use build_types::Build;
use http::{Method, Response};
use k8s_openapi::api::core::v1::Pod;
use kube::client::Body;
use mock::*;
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Default)]
struct Fake {
    pods: BTreeMap<String, Value>,
    creates: usize,
    gets: usize,
    status_patches: Vec<Value>,
    /// While set, a status patch is never answered (the controller is killed waiting for it).
    hang_on_status: bool,
    parked: Vec<tower_test::mock::SendResponse<Response<Body>>>,
}

fn respond(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

async fn fake_api(mut handle: Handle, fake: Arc<Mutex<Fake>>, hung: Arc<Notify>, build: Build) {
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    while let Some((request, send)) = handle.next_request().await {
        let (method, path) = (
            request.method().clone(),
            request.uri().path_and_query().unwrap().to_string(),
        );
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut fake = fake.lock().unwrap();
        match method {
            Method::POST if path.starts_with(&format!("{pods}?")) => {
                let name = body["metadata"]["name"].as_str().unwrap().to_owned();
                let fake = &mut *fake;
                match fake.pods.entry(name.clone()) {
                    std::collections::btree_map::Entry::Occupied(_) => {
                        let message = format!("pods \"{name}\" already exists");
                        send.send_response(respond(
                            409,
                            &api_status(409, "AlreadyExists", "pods", &name, &message),
                        ));
                    }
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        let mut pod = body.clone();
                        pod["metadata"]["uid"] = json!("pod-uid");
                        pod["metadata"]["creationTimestamp"] = json!(NOW);
                        pod["metadata"]["resourceVersion"] = json!("200");
                        slot.insert(pod.clone());
                        fake.creates += 1;
                        send.send_response(respond(201, &pod));
                    }
                }
            }
            Method::GET if path.starts_with(&format!("{pods}/")) => {
                fake.gets += 1;
                let name = path.rsplit('/').next().unwrap();
                match fake.pods.get(name) {
                    Some(pod) => send.send_response(respond(200, pod)),
                    None => send.send_response(respond(
                        404,
                        &api_status(404, "NotFound", "pods", name, "not found"),
                    )),
                }
            }
            Method::PATCH if path == status_path(&build) => {
                if fake.hang_on_status {
                    fake.parked.push(send);
                    hung.notify_one();
                } else {
                    fake.status_patches.push(body["status"].clone());
                    let mut stored = serde_json::to_value(&build).unwrap();
                    stored["status"] = body["status"].clone();
                    send.send_response(respond(200, &stored));
                }
            }
            Method::POST if path == events_path() => send.send_response(respond(201, &body)),
            _ => panic!("unexpected request {method} {path}: {body}"),
        }
    }
}

/// Runs one controller "process": a fresh context over `stores` and the fake.
async fn start(
    build: &Build,
    stores: build_controller::Stores,
    fake: &Arc<Mutex<Fake>>,
) -> (
    tokio::task::JoinHandle<Result<kube::runtime::controller::Action, build_controller::Error>>,
    tokio::task::JoinHandle<()>,
    Arc<Notify>,
) {
    let (ctx, handle) = context(stores, now);
    let hung = Arc::new(Notify::new());
    let server = tokio::spawn(fake_api(handle, fake.clone(), hung.clone(), build.clone()));
    let reconcile = tokio::spawn(build_controller::reconcile(Arc::new(build.clone()), ctx));
    (reconcile, server, hung)
}

/// Kills the first controller while its status patch is in flight.
async fn first_run_killed_before_its_status_lands(build: &Build, fake: &Arc<Mutex<Fake>>) {
    fake.lock().unwrap().hang_on_status = true;
    let (reconcile, server, hung) = start(build, Cluster::with(build).stores(), fake).await;
    tokio::time::timeout(Duration::from_secs(10), hung.notified())
        .await
        .expect("the reconcile reached its status patch");
    reconcile.abort();
    assert!(reconcile.await.unwrap_err().is_cancelled());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the killed controller's client is gone")
        .unwrap();
    let mut fake = fake.lock().unwrap();
    fake.hang_on_status = false;
    fake.parked.clear();
    assert_eq!(fake.creates, 1);
    assert!(fake.status_patches.is_empty(), "no status was written");
}

async fn restart(build: &Build, stores: build_controller::Stores, fake: &Arc<Mutex<Fake>>) {
    let (reconcile, server, _) = start(build, stores, fake).await;
    let action = reconcile
        .await
        .unwrap()
        .expect("the restarted reconcile succeeds");
    assert_eq!(action, requeue_in(10 * 60));
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
}

fn assert_one_pod_and_a_started_status(build: &Build, fake: &Fake) {
    assert_eq!(fake.pods.len(), 1, "exactly one pod");
    assert_eq!(fake.creates, 1, "created once");
    let [status] = fake.status_patches.as_slice() else {
        panic!("one status patch, got {:#?}", fake.status_patches);
    };
    assert_eq!(status["cluster"]["podName"], pod_name(build).as_str());
    assert_eq!(status["startTime"], NOW);
    assert_eq!(status["observedGeneration"], 1);
    assert_condition(status, "Unknown", "Pending", &[]);
}

#[tokio::test]
async fn restart_with_the_pod_in_the_cache() {
    let build = simple_build();
    let fake = Arc::new(Mutex::new(Fake::default()));
    first_run_killed_before_its_status_lands(&build, &fake).await;

    // The new process's pod cache has seen the pod: no create, no GET, just the status.
    let pod: Pod = from(fake.lock().unwrap().pods.values().next().unwrap().clone());
    restart(&build, Cluster::with(&build).pod(pod).stores(), &fake).await;
    let fake = fake.lock().unwrap();
    assert_eq!(fake.gets, 0);
    assert_one_pod_and_a_started_status(&build, &fake);
}

#[tokio::test]
async fn restart_before_the_cache_has_seen_the_pod() {
    let build = simple_build();
    let fake = Arc::new(Mutex::new(Fake::default()));
    first_run_killed_before_its_status_lands(&build, &fake).await;

    // The new process's pod cache is still empty: the create gives AlreadyExists, the pod is
    // read once to check that it is this Build's, and the status follows.
    restart(&build, Cluster::with(&build).stores(), &fake).await;
    let fake = fake.lock().unwrap();
    assert_eq!(fake.gets, 1);
    assert_one_pod_and_a_started_status(&build, &fake);
}

#[tokio::test]
async fn the_fake_refuses_a_second_pod() {
    // The fake itself: a second create of the same name is AlreadyExists, as on a real server.
    let build = simple_build();
    let fake = Arc::new(Mutex::new(Fake::default()));
    let (ctx, handle) = context(Cluster::with(&build).stores(), now);
    let server = tokio::spawn(fake_api(
        handle,
        fake.clone(),
        Arc::new(Notify::new()),
        build.clone(),
    ));
    let api: kube::Api<Pod> = kube::Api::namespaced(ctx.client.clone(), NS);
    let pod: Pod = from(json!({"metadata": {"name": "p"}}));
    api.create(&Default::default(), &pod).await.unwrap();
    let error = api.create(&Default::default(), &pod).await.unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.reason == "AlreadyExists" && s.code == 409),
        "{error}"
    );
    drop(api);
    drop(ctx);
    server.await.unwrap();
    assert_eq!(fake.lock().unwrap().pods.len(), 1);
}

//! A reconcile killed between creating the pod and writing the status, then a restarted
//! controller (fresh context, fresh caches): exactly one pod, and the status it should have.
//!
//! The API server is the stateful fake, so that "exactly one pod" is the server's state, not a
//! script's.

use crate::support;

use std::time::Duration;

use http::Method;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use support::fake_api::{FakeApi, Recorded};
use support::fixtures::*;

/// How many of the requests were `verb` on `resource` and got `status`.
fn count(requests: &[Recorded], verb: &str, resource: &str, status: u16) -> usize {
    requests
        .iter()
        .filter(|r| r.is(verb, resource) && r.status == Some(status))
        .count()
}

/// How many times a pod was read.
fn reads_of_pods(requests: &[Recorded]) -> usize {
    requests.iter().filter(|r| r.is("get", "pods")).count()
}

/// Kills the first controller while its status patch is in flight.
async fn first_run_killed_before_its_status_lands() -> Scenario {
    let scenario = Scenario::new_build();
    let status = status_path(&scenario.build);
    let status = status.split('?').next().unwrap().to_owned();
    scenario.api.hang(Method::PATCH, status);
    let ctx = std::sync::Arc::new(scenario.context());
    let reconcile = tokio::spawn(build_controller::reconcile::reconcile(
        std::sync::Arc::new(scenario.build.clone().into()),
        ctx,
    ));
    tokio::time::timeout(
        Duration::from_secs(10),
        scenario
            .api
            .until(|requests| requests.iter().any(|r| r.is("patch", "builds/status"))),
    )
    .await
    .expect("the reconcile reached its status patch");
    reconcile.abort();
    assert!(reconcile.await.unwrap_err().is_cancelled());
    scenario.api.clients_dropped().await;
    scenario.api.stop_hanging();
    let requests = scenario.api.recorded();
    assert_eq!(count(&requests, "create", "pods", 201), 1);
    let stored = scenario
        .api
        .get("build.knative.dev", "builds", NS, "hello")
        .unwrap();
    assert!(
        stored.get("status").is_none(),
        "no status was written: {stored}"
    );
    scenario
}

/// Runs a second controller "process" over the first one's API server, its caches `caches`.
async fn restart(first: &Scenario, caches: Caches) {
    let outcome = first.restart(caches).reconcile().await;
    assert_eq!(
        outcome.action(),
        requeue_in(10 * 60),
        "the restarted reconcile succeeds"
    );
}

fn assert_one_pod_and_a_started_status(api: &FakeApi) {
    let requests = api.recorded();
    assert_eq!(api.all("", "pods").len(), 1, "exactly one pod");
    assert_eq!(count(&requests, "create", "pods", 201), 1, "created once");
    let patches: Vec<_> = requests
        .iter()
        .filter(|r| r.is("patch", "builds/status") && r.status == Some(200))
        .map(|r| r.body["status"].clone())
        .collect();
    let [status] = patches.as_slice() else {
        panic!("one status patch, got {patches:#?}");
    };
    assert_eq!(
        status["cluster"]["podName"],
        pod_name(&simple_build()).as_str()
    );
    assert_eq!(status["startTime"], NOW);
    assert_eq!(status["observedGeneration"], 1);
    assert_condition(status, "Unknown", "Pending", &[]);
}

#[tokio::test]
async fn restart_with_the_pod_in_the_cache() {
    let first = first_run_killed_before_its_status_lands().await;

    // The new process's pod cache has seen the pod: no create, no GET, just the status.
    restart(&first, Caches::of(&first.api)).await;
    let api = &first.api;
    assert_eq!(reads_of_pods(&api.recorded()), 0);
    assert_one_pod_and_a_started_status(api);
}

#[tokio::test]
async fn restart_before_the_cache_has_seen_the_pod() {
    let first = first_run_killed_before_its_status_lands().await;

    // The new process's pod cache is still empty: the create gives AlreadyExists, the pod is
    // read once to check that it is this Build's, and the status follows.
    restart(&first, Caches::new().with(simple_build())).await;
    let api = &first.api;
    let requests = api.recorded();
    assert_eq!(count(&requests, "create", "pods", 409), 1);
    assert_eq!(reads_of_pods(&requests), 1);
    assert_one_pod_and_a_started_status(api);
}

#[tokio::test]
async fn the_fake_refuses_a_second_pod() {
    // The fake itself: a second create of the same name is AlreadyExists, as on a real server.
    let api = FakeApi::default();
    let pods: kube::Api<Pod> = kube::Api::namespaced(api.client("test", NS), NS);
    let pod: Pod = from(json!({"metadata": {"name": "p"}}));
    pods.create(&Default::default(), &pod).await.unwrap();
    let error = pods.create(&Default::default(), &pod).await.unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(s) if s.reason == "AlreadyExists" && s.code == 409),
        "{error}"
    );
    drop(pods);
    api.clients_dropped().await;
    assert_eq!(api.all("", "pods").len(), 1);
}

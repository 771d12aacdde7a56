//! `run` end to end against the fake API server: the start-up check, one list and one watch
//! per cache (the pods' filtered by label and to those not ended, the Builds' to those not
//! settled), a reconcile once every cache is synced, and a
//! graceful shutdown. The control-plane tests (envtest.rs) do the same against a real
//! kube-apiserver where one is available.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use build_types::Build;
use serde_json::json;
use support::fake_api::FakeApi;
use support::fixtures::*;

/// A one-step Build created now (`run` reads the system clock, not the fixtures' fixed time),
/// stored in a fresh fake API server.
fn server_with_a_new_build() -> (FakeApi, Build) {
    let api = FakeApi::default();
    let mut build = simple_build();
    build.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap(),
    ));
    api.insert("builds", to_json(&build));
    (api, build)
}

/// Runs the controller against `api` until it has written a status, then shuts it down.
async fn run_until_a_status_is_written(api: &FakeApi) {
    let watching = api.clone();
    let shutdown = async move {
        watching
            .until(|requests| {
                requests
                    .iter()
                    .any(|r| r.is("patch", "builds/status") && r.status.is_some())
            })
            .await;
    };
    tokio::time::timeout(
        Duration::from_secs(20),
        build_controller::run(api.client("controller", NS), config(), shutdown),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no status written and shut down; requests {:#?}",
            api.recorded()
        )
    })
    .expect("run succeeds");
    api.clients_dropped().await;
}

/// The query of the last watch of `path`.
fn watch_query(api: &FakeApi, path: &str) -> String {
    api.recorded()
        .iter()
        .rev()
        .find(|r| r.uri.path() == path && r.route().is_some_and(|q| q.verb == "watch"))
        .and_then(|r| r.uri.query().map(str::to_owned))
        .unwrap_or_else(|| panic!("no watch of {path}"))
}

#[tokio::test]
async fn run_lists_and_watches_each_cache_once_reconciles_and_shuts_down() {
    let (api, build) = server_with_a_new_build();
    run_until_a_status_is_written(&api).await;

    let requests = api.recorded();
    let unexpected: Vec<String> = requests
        .iter()
        .filter(|r| {
            let expected = ["list", "watch"]
                .iter()
                .any(|verb| r.route().is_some_and(|q| q.verb == *verb))
                || r.is("create", "pods")
                || r.is("create", "events")
                || r.is("patch", "builds/status");
            !expected || r.status.is_some_and(|s| s >= 400)
        })
        .map(|r| format!("{} {} -> {:?}", r.method, r.path(), r.status))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected requests: {unexpected:#?}"
    );

    let mut lists: BTreeMap<String, usize> = BTreeMap::new();
    let mut watches: BTreeMap<String, String> = BTreeMap::new();
    for request in &requests {
        let path = request.uri.path().to_owned();
        match request.route().map(|r| r.verb) {
            Some("list") => *lists.entry(path).or_default() += 1,
            Some("watch") => {
                watches.insert(path, request.uri.query().unwrap_or_default().to_owned());
            }
            _ => {}
        }
    }
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
    assert_eq!(lists, expected_lists);
    assert_eq!(
        watches.keys().collect::<Vec<_>>(),
        expected_lists.keys().collect::<Vec<_>>(),
        "one watch per cache"
    );
    // The pods not ended, the Builds not settled.
    let pod_watch = &watches[&format!("/api/v1/namespaces/{NS}/pods")];
    assert!(
        pod_watch.contains("labelSelector=build.knative.dev%2FbuildName")
            && pod_watch
                .contains("fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"),
        "{pod_watch}"
    );
    let build_watch = &watches[&builds];
    assert!(
        build_watch.contains("fieldSelector=status.settled%21%3Dtrue"),
        "{build_watch}"
    );

    let created_pods: Vec<_> = requests.iter().filter(|r| r.is("create", "pods")).collect();
    assert_eq!(created_pods.len(), 1);
    assert_eq!(
        created_pods[0].body["metadata"]["name"],
        pod_name(&build).as_str()
    );
    let status_patches: Vec<_> = requests
        .iter()
        .filter(|r| r.is("patch", "builds/status"))
        .map(|r| r.body["status"].clone())
        .collect();
    let [status] = status_patches.as_slice() else {
        panic!("{status_patches:#?}");
    };
    assert_condition(status, "Unknown", "Pending", &[]);
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.is("create", "events"))
            .map(|r| r.body["reason"].clone())
            .collect::<Vec<_>>(),
        [json!("Started")]
    );
}

/// A Build CRD from before `status.settled` was selectable: the API server refuses the start-up
/// check's field selector (as kube-apiserver 1.36 answers it), and the controller watches every
/// Build instead, and still runs them.
#[tokio::test]
async fn against_a_build_crd_without_the_selectable_field_every_build_is_watched() {
    let (api, _) = server_with_a_new_build();
    let builds = format!("/apis/build.knative.dev/v1alpha1/namespaces/{NS}/builds");
    api.fail_next(
        http::Method::GET,
        builds.clone(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "field label not supported: status.settled",
               "reason": "BadRequest", "code": 400}),
    );
    run_until_a_status_is_written(&api).await;
    let build_watch = watch_query(&api, &builds);
    assert!(!build_watch.contains("fieldSelector"), "{build_watch}");
    let pod_watch = watch_query(&api, &format!("/api/v1/namespaces/{NS}/pods"));
    assert!(
        pod_watch.contains("fieldSelector=status.phase"),
        "{pod_watch}"
    );
}

//! `run` end to end against the fake API server: the start-up check, one list and one watch
//! per cache (the pods' filtered by label), a reconcile once every cache is synced, and a
//! graceful shutdown. The control-plane tests (envtest.rs) do the same against a real
//! kube-apiserver where one is available.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use support::fake_api::FakeApi;
use support::fixtures::*;

#[tokio::test]
async fn run_lists_and_watches_each_cache_once_reconciles_and_shuts_down() {
    // `run` reads the system clock: a Build created now, not at the fixtures' fixed time.
    let api = FakeApi::default();
    let mut build = simple_build();
    build.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap(),
    ));
    api.insert("builds", to_json(&build));

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
    let pod_watch = &watches[&format!("/api/v1/namespaces/{NS}/pods")];
    assert!(
        pod_watch.contains("labelSelector=build.knative.dev%2FbuildName"),
        "{pod_watch}"
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

//! `run` through an API server restart, against the fake API server: every watch fails twice
//! (503, as while kube-apiserver is down), then the template watch reports its resource
//! version expired (410, as a restarted kube-apiserver does) and the re-list shows the
//! template the Build waits for, created during the restart. The Build's pod must follow within
//! a minute, as it would with a healthy server after each watch's own backoff; found by
//! `cargo xtask chaos` (scenario `apiserver`), where Builds waiting for a template created
//! during the restarts stayed waiting for minutes: kube-runtime's one backoff shared by every
//! watch grew with each watch's errors and paused them all.
//!
//! Time is paused: the backoffs pass in virtual time, so the test is quick and exact.

use crate::support;

use std::time::Duration;

use http::Method;
use serde_json::json;
use support::fake_api::FakeApi;
use support::fixtures::*;

const WATCHED: &[&str] = &[
    "builds",
    "pods",
    "buildtemplates",
    "clusterbuildtemplates",
    "serviceaccounts",
    "secrets",
];

#[tokio::test(start_paused = true)]
async fn a_template_created_while_the_api_server_restarts_starts_its_build_within_a_minute() {
    let api = FakeApi::default();
    let mut build = build(
        "hello",
        json!({"template": {"name": "late", "arguments": [{"name": "IMAGE", "value": "x"}]}}),
    );
    // `run` reads the system clock: a Build created now, not at the fixtures' fixed time.
    build.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now()
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap(),
    ));
    api.insert("builds", to_json(&build));
    // The template is created right after the controller's first list of templates: only a
    // re-list finds it, since watches never report news here.
    let templates = format!("/apis/build.knative.dev/v1alpha1/namespaces/{NS}/buildtemplates");
    api.after(1, Method::GET, templates, |api| {
        api.insert("buildtemplates", to_json(&template("late")))
    });
    api.fail_watches(WATCHED, 2);
    api.expire_next_watch("buildtemplates");
    // The Build's watch too: its re-list brings the status the controller wrote meanwhile
    // (watches here never report news), without which the controller would wait for its
    // cache to catch up.
    api.expire_next_watch("builds");

    let started = tokio::time::Instant::now();
    let watching = api.clone();
    let shutdown = async move {
        watching
            .until(|requests| requests.iter().any(|r| r.is("create", "pods")))
            .await;
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        build_controller::run(api.client("controller", NS), config(), shutdown),
    )
    .await
    .unwrap_or_else(|_| {
        let watches: Vec<String> = api
            .recorded()
            .iter()
            .map(|r| format!("{} {} -> {:?}", r.method, r.uri, r.status))
            .collect();
        panic!("no pod within 60s of the restart; watches {watches:#?}")
    })
    .expect("run succeeds");
    let requests = api.recorded();
    let template_lists = requests
        .iter()
        .filter(|r| r.is("list", "buildtemplates"))
        .count();
    assert!(template_lists >= 2, "the template was re-listed");
    let creates = requests.iter().filter(|r| r.is("create", "pods")).count();
    assert_eq!(creates, 1);
    eprintln!(
        "pod created {:?} (virtual) after the start",
        started.elapsed()
    );
}

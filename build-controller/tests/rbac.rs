//! The release's RBAC against what the controller does: every request the controller makes in
//! mocked scenarios is allowed by `PERMISSIONS` (from which the ClusterRole and Role are
//! generated), and every permission is used by one of them.
//!
//! The scenarios run the real code paths against an in-memory API server: the whole controller
//! (`run`) starting a Build, reconciles that find a pod gone, stop a timed-out pod and repeat
//! an Event, and leader election acquiring, renewing and releasing its Lease.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use build_controller::ops::http::{Endpoints, Health};
use build_controller::ops::leader::{LeaderElector, Leadership, LeaseSettings};
use build_controller::ops::metrics::Telemetry;
use build_controller::reconcile::reconcile;
use build_controller::release::manifests::RELEASE_NAMESPACE;
use build_controller::release::rbac::{ApiRequest, PERMISSIONS, Scope, policy_rules};
use build_types::{Build, BuildTemplate};
use serde_json::{Value, json};
use support::fake_api::{FakeApi, Recorded};
use support::fixtures::*;

/// The request in RBAC's terms.
fn api_request(request: &Recorded) -> Option<ApiRequest> {
    ApiRequest::from_http(&request.method, &request.uri)
}

fn one_step() -> Value {
    json!({"steps": [{"name": "echo", "image": "busybox", "args": ["echo", "hi"]}]})
}

/// A running Build's status, without its pod's name.
fn building() -> Value {
    json!({
        "builder": "Cluster",
        "startTime": "2024-01-01T00:00:01Z",
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Building"}],
    })
}

/// The whole controller as `build-controller run --leader-election` runs it: takes the Lease,
/// lists and watches everything, creates the Build's pod, publishes `Started`, writes the
/// status; once the status is written it stops and releases the Lease.
async fn run_the_controller() -> Vec<Recorded> {
    let api = FakeApi::default();
    api.insert("builds", to_json(&build("hello", one_step())));
    let client = api.client("controller", "default");
    let watching = api.clone();
    let shutdown = async move {
        watching
            .until(|requests| requests.iter().any(|r| r.is("patch", "builds/status")))
            .await;
    };
    let shutdown = futures::FutureExt::shared(shutdown);
    let mut settings = LeaseSettings::new(RELEASE_NAMESPACE, "controller-0");
    settings.retry_period = Duration::from_millis(50);
    let elector = LeaderElector::new(client.clone(), settings);
    let config = cluster_wide_config();
    let endpoints = Endpoints {
        telemetry: Telemetry::new(),
        health: Health::default(),
    };
    let work = build_controller::ops::run_observed(client, config, endpoints, shutdown.clone());
    let led = tokio::time::timeout(Duration::from_secs(60), elector.run(shutdown, work))
        .await
        .expect("the controller writes the status within a minute");
    assert!(matches!(led, Leadership::Finished(Ok(()))), "{led:?}");
    api.recorded()
}

/// A running Build whose pod was deleted: the pod is read once to confirm, then the Build
/// fails with `PodDeleted`.
async fn reconcile_a_build_whose_pod_is_gone() -> Vec<Recorded> {
    let mut status = building();
    status["cluster"] = json!({"namespace": NS, "podName": "gone-pod"});
    let outcome = Scenario::of(with_status(build("gone", one_step()), status))
        .reconcile()
        .await;
    outcome.action();
    outcome.requests
}

/// A Build past its timeout with a running pod: the pod is stopped, the Build fails.
async fn reconcile_a_timed_out_build() -> Vec<Recorded> {
    let outcome = Scenario::of(with_status(build("slow", one_step()), building()))
        .pod(json!({"phase": "Running", "startTime": "2024-01-01T00:00:01Z"}))
        .at(much_later)
        .reconcile()
        .await;
    outcome.action();
    outcome.requests
}

/// A Build waiting for its template, then for a Secret, then for its template again (it was
/// deleted meanwhile): the second `TemplateNotFound` Event is a repeat, which the Recorder
/// writes as a patch of the first one's series.
async fn reconcile_a_build_waiting_twice_for_its_template() -> Vec<Recorded> {
    let spec = json!({"template": {"name": "tpl", "kind": "BuildTemplate"},
                      "serviceAccountName": "builder"});
    let template: BuildTemplate = from(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "BuildTemplate",
        "metadata": {"name": "tpl", "namespace": NS},
        "spec": {"steps": [{"name": "build", "image": "busybox"}]},
    }));
    let creds = secret("creds");
    // A minute after the Build's creation: well within its timeout.
    let mut scenario = Scenario::of(build("waiting", spec))
        .cached(service_account("builder", &["creds"]))
        .cached(creds.clone());
    let ctx = Arc::new(scenario.context());
    let api = scenario.api.clone();

    let reconcile_once = async |caches: &mut Caches, expected: &str| {
        let stored = api
            .get("build.knative.dev", "builds", NS, "waiting")
            .expect("stored");
        let build: Build = from(stored);
        caches.apply(build.clone());
        reconcile(Arc::new(build.into()), ctx.clone())
            .await
            .expect("reconciled");
        let after: Build = from(
            api.get("build.knative.dev", "builds", NS, "waiting")
                .unwrap(),
        );
        let reason = after
            .status
            .as_ref()
            .and_then(|s| s.succeeded())
            .and_then(|c| c.reason.clone());
        assert_eq!(reason.as_deref(), Some(expected));
    };
    reconcile_once(&mut scenario.caches, "TemplateNotFound").await;
    scenario.caches.apply(template.clone());
    scenario.caches.delete(creds.clone());
    reconcile_once(&mut scenario.caches, "SecretNotFound").await;
    scenario.caches.delete(template);
    scenario.caches.apply(creds);
    reconcile_once(&mut scenario.caches, "TemplateNotFound").await;
    scenario.api.recorded()
}

/// Leader election: creates the Lease, renews it while the work runs, releases it after.
async fn lead_briefly() -> Vec<Recorded> {
    let api = FakeApi::default();
    let mut settings = LeaseSettings::new(RELEASE_NAMESPACE, "controller-0");
    settings.lease_duration = Duration::from_secs(2);
    settings.renew_deadline = Duration::from_secs(1);
    settings.retry_period = Duration::from_millis(50);
    let elector = LeaderElector::new(api.client("controller", RELEASE_NAMESPACE), settings);
    let work = tokio::time::sleep(Duration::from_millis(200));
    let led = elector.run(std::future::pending(), work).await;
    assert_eq!(led, Leadership::Finished(()));
    api.recorded()
}

fn describe(request: &ApiRequest) -> String {
    format!(
        "{} {}/{} in {}",
        request.verb,
        if request.group.is_empty() {
            "core"
        } else {
            &request.group
        },
        request.resource,
        request.namespace.as_deref().unwrap_or("<all namespaces>")
    )
}

#[tokio::test]
async fn every_request_is_allowed_and_every_permission_is_used() {
    let mut recorded = Vec::new();
    recorded.extend(run_the_controller().await);
    recorded.extend(reconcile_a_build_whose_pod_is_gone().await);
    recorded.extend(reconcile_a_timed_out_build().await);
    recorded.extend(reconcile_a_build_waiting_twice_for_its_template().await);
    recorded.extend(lead_briefly().await);

    let mut denied = BTreeSet::new();
    let mut used = BTreeSet::new();
    for request in &recorded {
        let Some(api_request) = api_request(request) else {
            panic!("not a resource request: {} {}", request.method, request.uri);
        };
        match api_request.permission(RELEASE_NAMESPACE) {
            Some(permission) => {
                used.insert((permission.group, permission.resource, permission.verb));
            }
            None => {
                denied.insert(describe(&api_request));
            }
        }
    }
    assert!(
        denied.is_empty(),
        "requests the release's RBAC denies: {denied:#?}"
    );
    let unused: Vec<String> = PERMISSIONS
        .iter()
        .filter(|p| !used.contains(&(p.group, p.resource, p.verb)))
        .map(|p| format!("{} {}/{} ({})", p.verb, p.group, p.resource, p.used_by))
        .collect();
    assert!(
        unused.is_empty(),
        "granted but used by no scenario: {unused:#?}"
    );

    // And every write the scenarios made succeeded: they took the code paths they name.
    let failed: Vec<String> = recorded
        .iter()
        .filter(|r| r.method != http::Method::GET && !matches!(r.status, Some(200..=299)))
        .map(|r| format!("{} {} -> {:?}", r.method, r.uri, r.status))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test]
async fn the_controller_reads_secrets_and_pods_but_never_deletes() {
    let recorded = run_the_controller().await;
    let verbs: BTreeSet<(String, String)> = recorded
        .iter()
        .filter_map(api_request)
        .map(|r| (r.resource, r.verb))
        .collect();
    assert!(verbs.contains(&("secrets".into(), "watch".into())));
    assert!(verbs.contains(&("pods".into(), "create".into())));
    assert!(verbs.iter().all(|(_, verb)| !verb.starts_with("delete")));
    assert!(verbs.iter().all(
        |(resource, verb)| resource != "secrets" || ["list", "watch"].contains(&verb.as_str())
    ));
}

#[test]
fn the_permission_table() {
    let rows: Vec<String> = PERMISSIONS
        .iter()
        .map(|p| {
            format!(
                "{:?} {}/{} {}: {}",
                p.scope,
                if p.group.is_empty() { "core" } else { p.group },
                p.resource,
                p.verb,
                p.used_by
            )
        })
        .collect();
    insta::assert_yaml_snapshot!(rows);
}

#[test]
fn the_rules_grant_exactly_the_table() {
    for scope in [Scope::Cluster, Scope::OwnNamespace] {
        let mut granted = BTreeSet::new();
        for rule in policy_rules(scope) {
            assert_eq!(rule.resource_names, None);
            assert_eq!(rule.non_resource_urls, None);
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        assert!(!group.contains('*') && !resource.contains('*') && verb != "*");
                        assert!(
                            granted.insert((group.clone(), resource.clone(), verb.clone())),
                            "{group} {resource} {verb} twice"
                        );
                    }
                }
            }
        }
        let table: BTreeSet<(String, String, String)> = PERMISSIONS
            .iter()
            .filter(|p| p.scope == scope)
            .map(|p| (p.group.into(), p.resource.into(), p.verb.into()))
            .collect();
        assert_eq!(granted, table, "{scope:?}");
    }
}

#[test]
fn leases_are_granted_only_in_the_controller_namespace() {
    let lease = |namespace: &str| {
        let uri = format!("/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/x");
        ApiRequest::from_http(&http::Method::PUT, &uri.parse().unwrap()).unwrap()
    };
    assert!(
        lease(RELEASE_NAMESPACE)
            .permission(RELEASE_NAMESPACE)
            .is_some()
    );
    assert!(lease("default").permission(RELEASE_NAMESPACE).is_none());
    let delete = ApiRequest::from_http(
        &http::Method::DELETE,
        &"/api/v1/namespaces/ns/pods/p".parse().unwrap(),
    )
    .unwrap();
    assert!(delete.permission(RELEASE_NAMESPACE).is_none());
}

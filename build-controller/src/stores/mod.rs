//! The watch caches the controller reads from, and the mappers that wake a waiting Build when
//! what it waits for appears.

use std::time::Duration;

use build_types::{Build, BuildTemplate, BuildTemplateSpec, ClusterBuildTemplate, TemplateKind};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::error::Error;
use build_pod::Lookup;

mod build;
mod intern;
mod pod;
mod pod_cache;
mod projection;

pub use build::CachedBuild;
pub use pod::CachedPod;
pub use pod_cache::{PodCache, PodCacheWriter};
pub use projection::strip_for_cache;
pub(crate) use projection::strip_secret_for_cache;

/// Read handles of the controller's watch caches. Every read a reconcile makes comes from here.
///
/// Fill them from reflectors (see [`run`](crate::run)) or, in tests, from
/// [`Writer`](kube::runtime::reflector::store::Writer)s (for pods, a [`PodCacheWriter`]) fed
/// with watcher events.
///
/// Its `Debug` output shows only how many objects each cache holds: Secrets are never printed.
#[derive(Clone)]
pub struct Stores {
    /// Builds, finished ones without most of their spec.
    pub builds: Store<CachedBuild>,
    /// Pods labelled with `build.knative.dev/buildName`, as much of each as a reconcile reads,
    /// but those of finished Builds once they have settled ([`PodCache`]).
    pub pods: PodCache,
    /// BuildTemplates.
    pub templates: Store<BuildTemplate>,
    /// ClusterBuildTemplates.
    pub cluster_templates: Store<ClusterBuildTemplate>,
    /// ServiceAccounts.
    pub service_accounts: Store<ServiceAccount>,
    /// Secrets.
    pub secrets: Store<Secret>,
    /// Whether every cache above has its initial list.
    pub synced: CachesSynced,
}

/// Whether every watch cache has its initial list, shared by all reconciles.
///
/// kube-runtime's `Store::wait_until_ready` wakes only the last of several concurrent waiters
/// (its one-shot channel keeps one waker), so at start-up, with many Builds reconciled at once,
/// all but one reconcile would stall until the sync timeout. A `watch` channel wakes them all.
#[derive(Clone, Debug)]
pub struct CachesSynced(tokio::sync::watch::Receiver<bool>);

impl CachesSynced {
    /// For caches that are complete from the start, filled by hand: in tests, or in a program
    /// that calls [`reconcile`](crate::reconcile::reconcile) itself (as `cargo xtask
    /// bench-controller --writes-floor` does).
    pub fn already() -> Self {
        CachesSynced(tokio::sync::watch::channel(true).1)
    }

    /// Not yet synced; the sender says when.
    pub(crate) fn pending() -> (tokio::sync::watch::Sender<bool>, Self) {
        let (sender, receiver) = tokio::sync::watch::channel(false);
        (sender, CachesSynced(receiver))
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("builds", &self.builds.len())
            .field("pods", &self.pods.len())
            .field("templates", &self.templates.len())
            .field("cluster_templates", &self.cluster_templates.len())
            .field("service_accounts", &self.service_accounts.len())
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// A cache that has finished its initial list and holds `objects`: for programs that fill
/// [`Stores`] themselves (tests, or an embedding that already has the objects).
#[cfg(test)]
pub(crate) fn ready_store<K>(objects: impl IntoIterator<Item = K>) -> Store<K>
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let mut writer = kube::runtime::reflector::store::Writer::<K>::default();
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Init);
    for object in objects {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::InitApply(object));
    }
    writer.apply_watcher_event(&kube::runtime::watcher::Event::InitDone);
    writer.as_reader()
}

impl Stores {
    /// Waits until every cache has finished its initial list, at most `timeout`.
    pub async fn wait_until_ready(&self, timeout: Duration) -> Result<(), Error> {
        let mut synced = self.synced.0.clone();
        let all = async move {
            // An Err means the sender was dropped: the controller is stopping; go on.
            let _ = synced.wait_for(|synced| *synced).await;
        };
        tokio::time::timeout(timeout, all)
            .await
            .map_err(|_| Error::CachesNotReady { waited: timeout })
    }

    /// The cached pod `name` in `namespace`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.pods.get(namespace, name).map(|pod| pod.to_pod())
    }

    /// The Builds not yet finished that a new or changed BuildTemplate may unblock.
    pub fn builds_waiting_for_template(
        &self,
        template: &BuildTemplate,
    ) -> Vec<ObjectRef<CachedBuild>> {
        let (Some(namespace), name) = (template.namespace(), template.name_any()) else {
            return Vec::new();
        };
        self.unfinished_builds(|build| {
            build.namespace().as_deref() == Some(namespace.as_str())
                && build.spec.template.as_ref().is_some_and(|t| {
                    t.kind.unwrap_or_default() == TemplateKind::BuildTemplate && t.name == name
                })
        })
    }

    /// The Builds not yet finished that a new or changed ClusterBuildTemplate may unblock.
    pub fn builds_waiting_for_cluster_template(
        &self,
        template: &ClusterBuildTemplate,
    ) -> Vec<ObjectRef<CachedBuild>> {
        let name = template.name_any();
        self.unfinished_builds(|build| {
            build.spec.template.as_ref().is_some_and(|t| {
                t.kind == Some(TemplateKind::ClusterBuildTemplate) && t.name == name
            })
        })
    }

    /// The Builds not yet finished that run as a new or changed ServiceAccount.
    pub fn builds_waiting_for_service_account(
        &self,
        account: &ServiceAccount,
    ) -> Vec<ObjectRef<CachedBuild>> {
        let (Some(namespace), name) = (account.namespace(), account.name_any()) else {
            return Vec::new();
        };
        self.unfinished_builds(|build| {
            build.namespace().as_deref() == Some(namespace.as_str())
                && build.spec.service_account() == name
        })
    }

    /// The Builds not yet finished whose ServiceAccount lists a new or changed Secret.
    pub fn builds_waiting_for_secret(&self, secret: &Secret) -> Vec<ObjectRef<CachedBuild>> {
        let (Some(namespace), name) = (secret.namespace(), secret.name_any()) else {
            return Vec::new();
        };
        let accounts: Vec<String> = self
            .service_accounts
            .state()
            .iter()
            .filter(|account| {
                account.namespace().as_deref() == Some(namespace.as_str())
                    && account
                        .secrets
                        .iter()
                        .flatten()
                        .any(|s| s.name.as_deref() == Some(name.as_str()))
            })
            .map(|account| account.name_any())
            .collect();
        if accounts.is_empty() {
            return Vec::new();
        }
        self.unfinished_builds(|build| {
            build.namespace().as_deref() == Some(namespace.as_str())
                && accounts.iter().any(|a| a == build.spec.service_account())
        })
    }

    fn unfinished_builds(&self, matches: impl Fn(&Build) -> bool) -> Vec<ObjectRef<CachedBuild>> {
        let mut refs: Vec<ObjectRef<CachedBuild>> = self
            .builds
            .state()
            .iter()
            .filter(|cached| cached.unfinished().is_some_and(&matches))
            .map(|cached| ObjectRef::from_obj(&**cached))
            .collect();
        refs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        refs
    }
}

impl Lookup for Stores {
    fn build_template(&self, namespace: &str, name: &str) -> Option<BuildTemplateSpec> {
        self.templates
            .get(&ObjectRef::new(name).within(namespace))
            .map(|t| t.spec.clone())
    }

    fn cluster_build_template(&self, name: &str) -> Option<BuildTemplateSpec> {
        self.cluster_templates
            .get(&ObjectRef::new(name))
            .map(|t| t.template_spec().clone())
    }

    fn service_account(&self, namespace: &str, name: &str) -> Option<ServiceAccount> {
        self.service_accounts
            .get(&ObjectRef::new(name).within(namespace))
            .map(|a| (*a).clone())
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.secrets
            .get(&ObjectRef::new(name).within(namespace))
            .map(|s| (*s).clone())
    }
}

#[cfg(test)]
mod tests {
    use build_types::ConditionStatus;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use serde_json::json;

    use super::projection::LAST_APPLIED;
    use super::ready_store as store;
    use super::*;

    fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    fn build(name: &str, spec: serde_json::Value, done: bool) -> Build {
        let mut value = json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
            "metadata": {"name": name, "namespace": "ns"}, "spec": spec,
        });
        if done {
            value["status"] =
                json!({"conditions": [{"type": "Succeeded", "status": "True", "reason": "Done"}]});
        }
        from(value)
    }

    #[test]
    fn cached_secrets_keep_their_keys_not_their_values() {
        let mut secret: Secret = from(json!({
            "metadata": {"name": "hub", "namespace": "ns",
                         "annotations": {"build.knative.dev/docker-0": "https://index.docker.io/v1/"}},
            "type": "kubernetes.io/basic-auth",
            "data": {"username": "c2VudGluZWwtdXNlcg==", "password": "c2VudGluZWwtcGFzcw=="},
            "stringData": {"extra": "sentinel-extra"},
        }));
        strip_secret_for_cache(&mut secret);
        let data = secret.data.as_ref().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["password", "username"]);
        assert!(data.values().all(|v| v.0.is_empty()));
        assert_eq!(secret.string_data.as_ref().unwrap()["extra"], "");
        // The planner needs only the keys.
        let account: ServiceAccount = from(json!({
            "metadata": {"name": "bot", "namespace": "ns"}, "secrets": [{"name": "hub"}]
        }));
        let plan = build_auth::plan(&build_auth::PlanInputs {
            service_account: &account,
            secrets: std::slice::from_ref(&secret),
        })
        .expect("plans from key names alone");
        assert_eq!(plan.args, ["-basic-docker=hub=https://index.docker.io/v1/"]);
    }

    #[tokio::test(start_paused = true)]
    async fn every_concurrent_waiter_wakes_when_caches_sync() {
        let (sender, synced) = CachesSynced::pending();
        let mut all = stores();
        all.synced = synced;
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let stores = all.clone();
                tokio::spawn(async move { stores.wait_until_ready(Duration::from_secs(30)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        sender.send_replace(true);
        let started = tokio::time::Instant::now();
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_ok(), "a waiter timed out");
        }
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    fn stores() -> Stores {
        Stores {
            builds: store(
                vec![
                    build("uses-bt", json!({"template": {"name": "t"}}), false),
                    build(
                        "uses-bt-explicit",
                        json!({"template": {"name": "t", "kind": "BuildTemplate"}}),
                        false,
                    ),
                    build("done", json!({"template": {"name": "t"}}), true),
                    build(
                        "uses-cbt",
                        json!({"template": {"name": "t", "kind": "ClusterBuildTemplate"}}),
                        false,
                    ),
                    build(
                        "uses-bot",
                        json!({"serviceAccountName": "bot", "steps": [{"image": "x"}]}),
                        false,
                    ),
                    build("uses-default", json!({"steps": [{"image": "x"}]}), false),
                ]
                .into_iter()
                .map(CachedBuild::from),
            ),
            pods: PodCache::default(),
            templates: store(vec![]),
            cluster_templates: store(vec![]),
            service_accounts: store(vec![from(json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "bot", "namespace": "ns"},
                "secrets": [{"name": "creds"}],
            }))]),
            secrets: store(vec![]),
            synced: CachesSynced::already(),
        }
    }

    fn names(refs: Vec<ObjectRef<CachedBuild>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn template_wakes_the_unfinished_builds_that_name_it() {
        let template: BuildTemplate = from(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "BuildTemplate",
            "metadata": {"name": "t", "namespace": "ns"}, "spec": {},
        }));
        assert_eq!(
            names(stores().builds_waiting_for_template(&template)),
            ["uses-bt", "uses-bt-explicit"]
        );
        let elsewhere: BuildTemplate = from(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "BuildTemplate",
            "metadata": {"name": "t", "namespace": "other"}, "spec": {},
        }));
        assert!(stores().builds_waiting_for_template(&elsewhere).is_empty());
    }

    #[test]
    fn cluster_template_wakes_builds_of_that_kind_only() {
        let template: ClusterBuildTemplate = from(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "ClusterBuildTemplate",
            "metadata": {"name": "t"}, "spec": {},
        }));
        assert_eq!(
            names(stores().builds_waiting_for_cluster_template(&template)),
            ["uses-cbt"]
        );
    }

    #[test]
    fn service_account_wakes_the_builds_that_run_as_it() {
        let bot: ServiceAccount = from(json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot", "namespace": "ns"},
        }));
        assert_eq!(
            names(stores().builds_waiting_for_service_account(&bot)),
            ["uses-bot"]
        );
        let default: ServiceAccount = from(json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "ns"},
        }));
        assert_eq!(
            names(stores().builds_waiting_for_service_account(&default)),
            ["uses-bt", "uses-bt-explicit", "uses-cbt", "uses-default"]
        );
    }

    #[test]
    fn secret_wakes_the_builds_whose_account_lists_it() {
        let creds: Secret = from(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "ns"},
        }));
        assert_eq!(
            names(stores().builds_waiting_for_secret(&creds)),
            ["uses-bot"]
        );
        let unrelated: Secret = from(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other", "namespace": "ns"},
        }));
        assert!(stores().builds_waiting_for_secret(&unrelated).is_empty());
    }

    #[test]
    fn lookup_reads_the_caches() {
        let stores = stores();
        assert!(stores.service_account("ns", "bot").is_some());
        assert!(stores.service_account("other", "bot").is_none());
        assert!(stores.secret("ns", "creds").is_none());
        assert!(stores.build_template("ns", "t").is_none());
    }

    #[test]
    fn stripping_drops_managed_fields_and_the_applied_copy() {
        let mut secret: Secret = from(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "s", "namespace": "ns",
                "annotations": {LAST_APPLIED: "{\"data\":\"c2VjcmV0\"}", "build.knative.dev/docker-0": "https://x"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
            "data": {"password": "c2VjcmV0"},
        }));
        strip_for_cache(&mut secret);
        assert_eq!(secret.metadata.managed_fields, None);
        assert_eq!(
            secret.annotations().keys().collect::<Vec<_>>(),
            ["build.knative.dev/docker-0"]
        );
        assert!(secret.data.is_some(), "the data itself is kept");
    }

    /// A build pod as the API server returns it once the kubelet has run it.
    fn full_pod() -> Pod {
        from(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "b-pod-1", "namespace": "ns", "uid": "pod-uid", "resourceVersion": "7",
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "labels": {"build.knative.dev/buildName": "b"},
                "annotations": {"sidecar.istio.io/inject": "false"},
                "ownerReferences": [{"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
                                     "name": "b", "uid": "build-uid", "controller": true}],
                "managedFields": [{"manager": "build-controller", "operation": "Update"}],
            },
            "spec": {
                "activeDeadlineSeconds": 600,
                "initContainers": [
                    {"name": "build-step-credential-initializer", "image": "creds-init",
                     "args": ["-basic-docker=hub=https://index.docker.io/v1/"],
                     "env": [{"name": "HOME", "value": "/builder/home"}],
                     "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}]},
                    {"name": "build-step-build", "image": "busybox", "args": ["echo", "hi"],
                     "env": [{"name": "HOME", "value": "/builder/home"}],
                     "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}]},
                ],
                "containers": [{"name": "nop", "image": "nop"}],
                "volumes": [{"name": "workspace", "emptyDir": {}}],
            },
            "status": {
                "phase": "Failed", "startTime": "2024-01-01T00:00:01Z",
                "hostIP": "10.0.0.1", "podIP": "10.1.0.1", "qosClass": "BestEffort",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                     "lastTransitionTime": "2024-01-01T00:00:01Z"},
                    {"type": "Ready", "status": "False", "reason": "PodCompleted",
                     "message": "containers with unready status: [nop]",
                     "lastProbeTime": "2024-01-01T00:00:09Z", "observedGeneration": 1,
                     "lastTransitionTime": "2024-01-01T00:00:09Z"},
                ],
                "initContainerStatuses": [
                    {"name": "build-step-credential-initializer", "image": "creds-init",
                     "imageID": "sha256:1", "ready": false, "restartCount": 0,
                     "containerID": "containerd://1",
                     "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                               "startedAt": "2024-01-01T00:00:02Z", "finishedAt": "2024-01-01T00:00:03Z"}}},
                    {"name": "build-step-build", "image": "busybox", "imageID": "sha256:2",
                     "ready": false, "restartCount": 0, "lastState": {},
                     "state": {"terminated": {"exitCode": 2, "reason": "Error",
                               "containerID": "containerd://2", "message": "no such file\n",
                               "startedAt": "2024-01-01T00:00:04Z", "finishedAt": "2024-01-01T00:00:08Z"}}},
                ],
                "containerStatuses": [
                    {"name": "nop", "image": "nop", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "PodInitializing"}},
                     "lastState": {"running": {"startedAt": "2024-01-01T00:00:05Z"}}},
                ],
            },
        }))
    }

    #[test]
    fn a_stripped_pod_maps_to_the_same_build_status() {
        let pod = full_pod();
        let stripped = CachedPod::from(pod.clone()).to_pod();
        // Decoded from the API server's JSON straight into the cache, the same.
        let decoded: CachedPod = from(serde_json::to_value(&pod).unwrap());
        assert_eq!(decoded, CachedPod::from(pod.clone()));
        assert_eq!(decoded.to_pod(), stripped);
        let build = build(
            "b",
            json!({"steps": [{"name": "build", "image": "busybox"}]}),
            false,
        );
        let status = build_pod::status_from_pod(&pod, &build);
        assert_eq!(status.succeeded().unwrap().status, ConditionStatus::False);
        assert_eq!(build_pod::status_from_pod(&stripped, &build), status);
        // What the reconcile reads besides: the owner, the deadline, the init containers' order.
        assert_eq!(stripped.owner_references(), pod.owner_references());
        let spec = stripped.spec.as_ref().unwrap();
        assert_eq!(spec.active_deadline_seconds, Some(600));
        let names: Vec<_> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| &c.name)
            .collect();
        assert_eq!(
            names,
            ["build-step-credential-initializer", "build-step-build"]
        );
        // What it never reads is gone; each container keeps its name and image.
        assert!(spec.volumes.is_none());
        let containers = || {
            spec.init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
        };
        assert!(containers().all(|c| c.args.is_none() && c.env.is_none() && c.image.is_some()));
        assert_eq!(spec.containers.len(), 1);
        assert_eq!(stripped.metadata.managed_fields, None);
        assert_eq!(stripped.metadata.annotations, None);
        // The watch selects build pods by label on the server; nothing reads them after.
        assert!(pod.metadata.labels.is_some());
        assert_eq!(stripped.metadata.labels, None);
        let status = stripped.status.as_ref().unwrap();
        assert_eq!(status.pod_ip, None);
        assert!(
            status
                .init_container_statuses
                .iter()
                .flatten()
                .all(|c| c.volume_mounts.is_none() && c.container_id.is_none())
        );
        // Conditions keep what the status leg reads, not their probe times.
        let conditions = status.conditions.as_deref().unwrap_or_default();
        assert_eq!(conditions.len(), 2);
        assert!(conditions.iter().all(|c| c.last_probe_time.is_none()));
        assert_eq!(
            conditions[1].message.as_deref(),
            Some("containers with unready status: [nop]")
        );
        // An empty last state (a container that never restarted) is not kept.
        assert!(
            status
                .init_container_statuses
                .iter()
                .flatten()
                .all(|c| c.last_state.is_none())
        );
        let (full, kept) = (
            serde_json::to_vec(&pod).unwrap().len(),
            serde_json::to_vec(&stripped).unwrap().len(),
        );
        assert!(
            kept * 4 < full * 3,
            "at least a quarter smaller: {kept} of {full} bytes"
        );
    }

    #[test]
    fn finished_builds_are_cached_without_their_spec_but_their_sources() {
        let spec = json!({"steps": [{"name": "build", "image": "busybox"}], "timeout": "5m",
                          "source": {"git": {"url": "https://example.com/r.git", "revision": "main"}}});
        let cached = |build: &Build| -> CachedBuild {
            let mut value = serde_json::to_value(build).unwrap();
            value["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:spec": {"f:steps": {}}}}]);
            value["metadata"]["annotations"] = json!({LAST_APPLIED: "{}", "team": "a"});
            let decoded: CachedBuild = from(value.clone());
            // Decoded from the API server's JSON straight into the cache, the same.
            assert_eq!(decoded, CachedBuild::from(from::<Build>(value)));
            decoded
        };
        let running = build("running", spec.clone(), false);
        let kept = cached(&running);
        let unfinished = kept
            .unfinished()
            .expect("an unfinished Build is kept whole");
        assert_eq!(unfinished.spec, running.spec);
        assert_eq!(kept.build().spec, running.spec);

        let done = build("done", spec, true);
        let kept = cached(&done);
        assert!(kept.unfinished().is_none());
        assert_eq!(kept.status().as_deref(), done.status.as_ref());
        let back = kept.build();
        // Its sources say which of its pod's init containers are steps, whose states settle.
        assert_eq!(back.spec.all_sources().len(), 1);
        assert!(back.spec.steps.is_empty() && back.spec.timeout.is_none());
        assert_eq!(back.status, done.status);
        assert_eq!(back.metadata.name.as_deref(), Some("done"));
        // Neither keeps what a cache never needs.
        assert_eq!(back.metadata.managed_fields, None);
        assert_eq!(
            back.annotations().keys().collect::<Vec<_>>(),
            ["team"],
            "kubectl's copy of the object is dropped, other annotations kept"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut stores = stores();
        stores.secrets = store(vec![from(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
            "stringData": {"password": "hunter2"},
        }))]);
        let shown = format!("{stores:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("secrets: 1"), "{shown}");
    }

    #[test]
    fn a_stripped_pod_keeps_its_steps_names_images_and_deadline() {
        let pod = Pod {
            spec: Some(PodSpec {
                init_containers: Some(vec![Container {
                    name: "build-step-build".into(),
                    image: Some("busybox".into()),
                    args: Some(vec!["echo".into(), "hello".into()]),
                    ..Container::default()
                }]),
                active_deadline_seconds: Some(600),
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        let spec = CachedPod::from(pod).to_pod().spec.unwrap();
        assert_eq!(spec.active_deadline_seconds, Some(600));
        let step = &spec.init_containers.unwrap()[0];
        assert_eq!(step.name, "build-step-build");
        assert_eq!(
            (step.image.as_deref(), &step.args),
            (Some("busybox"), &None)
        );
    }
}

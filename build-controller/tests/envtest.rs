//! The controller against a real kube-apiserver (envtest): CRDs installed, the seed applied,
//! pods created by the controller, pod statuses written the way a kubelet would, Builds
//! reaching their end; and `kubectl build` run, describe and cancel, a follow by watch through
//! an expired watch, list, and the completion of a Build's name by `kubectl_complete-build`
//! (and by kubectl itself, when `KUBEBUILDER_ASSETS` holds one). Skipped, with a one-line
//! message, when `KUBEBUILDER_ASSETS` is unset or lacks `etcd` or `kube-apiserver`.
//!
//! One control plane serves every scenario (each in its own namespace); starting one takes
//! several seconds. It is the `throwaway-cluster` crate's (`xtask/cluster/`), the one `cargo
//! xtask chaos` and `cargo xtask e2e` start too.

#[path = "envtest/provenance.rs"]
mod provenance;
mod support;

use std::future::Future;
use std::path::Path;

use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use std::time::Duration;

use build_controller::Config;
use build_controller::plugin::{PluginExit, Session, Style};
use build_pod::Images;
use build_types::{Build, BuildTemplate, ConditionStatus};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::fake_api::FakeApi;
use support::plugin::{Ends, IMG_LOGS, RUN_IMG, Ran, kubectl_build, kubectl_build_scripted};
use throwaway_cluster::{ControlPlane, ControlPlaneInputs};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_scenarios() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let Some(assets) = throwaway_cluster::assets_or_skip("envtest", &["etcd", "kube-apiserver"])
    else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("build-controller-envtest-")
        .tempdir()
        .expect("a temporary directory");
    // dropped before `dir`: stops etcd and kube-apiserver, then the directory goes
    let control_plane = ControlPlane::start(ControlPlaneInputs {
        assets: &assets,
        dir: dir.path().to_path_buf(),
        log: std::process::Stdio::inherit(),
        extra_apiserver_args: vec![],
        disabled_admission_plugins: "ServiceAccount",
        controller_manager: None,
    })
    .expect("the control plane starts (its log is above)");
    let client = control_plane.admin_client().await.expect("a client");
    install_crds(&client).await;
    the_fake_api_server_answers_as_this_one_does(&client).await;

    let mut config = Config::new(Images {
        creds_init: "example.com/creds-init:envtest".into(),
        git_init: "example.com/git-init:envtest".into(),
        gcs_fetcher: "example.com/gcs-fetcher:envtest".into(),
        nop: "example.com/nop:envtest".into(),
    });
    config.instance = Some("envtest".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(build_controller::run(client.clone(), config, async move {
        let _ = stopped.await;
    }));

    seed_builds_succeed(&client).await;
    a_failing_step_fails_the_build(&client).await;
    a_build_past_its_timeout_is_stopped(&client).await;
    a_build_waits_for_its_template(&client).await;
    the_plugin_runs_describes_and_cancels(&client).await;
    the_plugin_follows_by_watch_lists_and_completes(&client).await;
    provenance::a_build_reports_what_it_built(&client).await;

    let _ = stop.send(());
    tokio::time::timeout(WAIT, controller)
        .await
        .expect("the controller stops on shutdown")
        .expect("the controller task")
        .expect("the controller ran");
    drop(control_plane);
}

/// The fake API server of the mocked tests (tests/support/fake_api.rs) against this real one:
/// the same requests get the same answers, failures the same code, reason and message.
async fn the_fake_api_server_answers_as_this_one_does(client: &Client) {
    let ns = namespace(client, "fake-vs-real").await;
    let real = answers(client.clone(), &ns).await;
    println!("the API server's answers: {real:#?}");
    let fake = answers(FakeApi::default().client("fake", &ns), &ns).await;
    assert_eq!(fake, real, "the fake's answers, then the API server's");
}

/// What a request got: `ok` and what matters of the answer, or the failure's code, reason and
/// message.
fn answer<T>(result: Result<T, kube::Error>, ok: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => format!("ok {}", ok(value)),
        Err(kube::Error::Api(status)) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        Err(error) => format!("error {error}"),
    }
}

/// The answers to requests of each kind the controller and the plugin make, and to the
/// failures they handle.
async fn answers(client: Client, ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let post = PostParams::default();
    let merge = PatchParams::default();
    let pod = |name: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }))
        .unwrap()
    };
    let names = |list: kube::core::ObjectList<Pod>| {
        let names: Vec<String> = list.items.iter().map(|p| p.name_any()).collect();
        names.join(",")
    };
    let phase = |pod: Pod| format!("{:?}", pod.status.and_then(|s| s.phase));
    let mut answers = vec![
        answer(pods.create(&post, &pod("p")).await, phase),
        answer(pods.create(&post, &pod("p")).await, phase),
        answer(pods.get("missing").await, phase),
    ];
    let mut generated = pod("");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("g-".into());
    answers.push(answer(pods.create(&post, &generated).await, |p| {
        let name = p.name_any();
        format!("{} {}", &name[..2], name.len())
    }));
    let mut nameless = generated.clone();
    nameless.metadata.generate_name = None;
    answers.push(answer(pods.create(&post, &nameless).await, phase));
    let mut versioned = pod("v");
    versioned.metadata.resource_version = Some("5".into());
    answers.push(answer(pods.create(&post, &versioned).await, phase));
    let mut elsewhere = pod("o");
    elsewhere.metadata.namespace = Some("elsewhere".into());
    answers.push(answer(pods.create(&post, &elsewhere).await, phase));
    let stored = pods.get("p").await.unwrap();
    let version: u64 = stored.resource_version().unwrap().parse().unwrap();
    let stale_version = (version - 1).to_string();
    let mut stale = stored.clone();
    stale.metadata.resource_version = Some(stale_version.clone());
    answers.push(answer(pods.replace("p", &post, &stale).await, phase));
    let labelled = json!({"metadata": {"resourceVersion": stale_version, "labels": {"x": "y"}}});
    answers.push(answer(
        pods.patch("p", &merge, &Patch::Merge(&labelled)).await,
        phase,
    ));
    let labelled = json!({"metadata": {"labels": {"x": "y"}}});
    answers.push(answer(
        pods.patch("p", &merge, &Patch::Merge(&labelled)).await,
        |p| format!("{:?}", p.labels()),
    ));
    answers.push(answer(
        pods.list(&ListParams::default().labels("x=y")).await,
        names,
    ));
    answers.push(answer(
        pods.list(&ListParams::default().labels("app,x!=y")).await,
        |list| list.items.len().to_string(),
    ));
    answers.push(answer(
        pods.list(&ListParams::default().fields("metadata.name=p"))
            .await,
        names,
    ));

    let builds: Api<Build> = Api::namespaced(client.clone(), ns);
    let build: Build = serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": "b"},
        "spec": {"steps": [{"name": "s", "image": "busybox"}]},
        "status": {"builder": "Cluster"},
    }))
    .unwrap();
    let seen = |b: Build| {
        format!(
            "generation {:?} builder {:?} timeout {:?}",
            b.metadata.generation,
            b.status.and_then(|s| s.builder),
            b.spec.timeout
        )
    };
    answers.push(answer(builds.create(&post, &build).await, seen));
    let both = json!({"spec": {"timeout": "1m"}, "status": {"builder": "Cluster"}});
    answers.push(answer(
        builds.patch_status("b", &merge, &Patch::Merge(&both)).await,
        seen,
    ));
    let both = json!({"spec": {"timeout": "2m"}, "status": {"builder": "Google"}});
    answers.push(answer(
        builds.patch("b", &merge, &Patch::Merge(&both)).await,
        seen,
    ));
    answers.push(answer(builds.get("nope").await, seen));

    let leases: Api<Lease> = Api::namespaced(client, ns);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "l"}, "spec": {"holderIdentity": "a"},
    }))
    .unwrap();
    let holder = |l: Lease| format!("{:?}", l.spec.and_then(|s| s.holder_identity));
    answers.push(answer(leases.create(&post, &lease).await, holder));
    let mut unversioned = leases.get("l").await.unwrap();
    unversioned.metadata.resource_version = None;
    answers.push(answer(
        leases.replace("l", &post, &unversioned).await,
        holder,
    ));
    answers
}

/// The seed: two BuildTemplates, a ServiceAccount with a Secret, two Builds; both Builds get
/// their pod, and succeed when the pods do.
async fn seed_builds_succeed(client: &Client) {
    let ns = namespace(client, "seed").await;
    let seed = build_types::load_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seed"));
    assert!(seed.is_ok(), "the seed loads: {:?}", seed.errors);
    apply_templates_and_credentials(client, &ns, &seed).await;
    let builds: Vec<Build> = seed.builds().map(|(_, b)| b.clone()).collect();
    assert_eq!(builds.len(), 2, "the seed has two Builds");
    for build in &builds {
        create(client, &ns, build).await;
    }
    for build in &builds {
        let name = build.name_any();
        let pod = wait_for_pod(client, &ns, &name).await;
        let spec = pod.spec.clone().unwrap();
        let images: Vec<&str> = spec
            .init_containers
            .iter()
            .flatten()
            .filter_map(|c| c.image.as_deref())
            .collect();
        assert!(
            images.contains(&"example.com/creds-init:envtest"),
            "{images:?}"
        );
        assert!(
            images.contains(&"example.com/git-init:envtest"),
            "{images:?}"
        );
        if name == "kubeval-img" {
            assert_eq!(spec.service_account_name.as_deref(), Some("build-bot"));
            assert!(images.contains(&"garethr/img"), "{images:?}");
        } else {
            assert!(images.contains(&"docker:18.06"), "{images:?}");
        }
        kubelet_finishes(client, &pod, None).await;
        let status = wait_for_end(client, &ns, &name).await;
        let condition = status.succeeded().unwrap();
        assert_eq!(condition.status, ConditionStatus::True, "{condition:?}");
        assert!(status.completion_time.is_some());
        assert_eq!(
            status.cluster.as_ref().map(|c| c.pod_name.as_str()),
            pod.metadata.name.as_deref()
        );
        events_read_in_order_by_legacy_clients(client, &ns, &name).await;
    }
}

/// The Build's Events, as `kubectl get events --sort-by=.lastTimestamp` reads them (core/v1):
/// each has `firstTimestamp`, `lastTimestamp` and `count`, `Started` sorts before `Succeeded`,
/// and the success note says what succeeded.
async fn events_read_in_order_by_legacy_clients(client: &Client, ns: &str, build: &str) {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    let selector = format!("involvedObject.kind=Build,involvedObject.name={build}");
    let mut events = eventually("the Build has its Started and Succeeded Events", || {
        let api = api.clone();
        let params = ListParams::default().fields(&selector);
        async move {
            let events = api.list(&params).await.ok()?.items;
            let reasons = |r: &str| events.iter().any(|e| e.reason.as_deref() == Some(r));
            (reasons("Started") && reasons("Succeeded")).then_some(events)
        }
    })
    .await;
    for event in &events {
        assert!(event.first_timestamp.is_some(), "{event:?}");
        assert!(event.last_timestamp.is_some(), "{event:?}");
        assert_eq!(event.count, Some(1), "{event:?}");
    }
    // The template was applied just before the Build: when the Build's watch event reaches the
    // controller before the template's, it first says so (a `TemplateNotFound` Warning) and
    // starts once the template arrives. Legitimate, and not what this checks.
    events.retain(|e| e.reason.as_deref() != Some("TemplateNotFound"));
    // Event times are whole seconds: both may carry the same one, in either list order.
    events.sort_by_key(|e| (e.last_timestamp.clone(), e.reason != Some("Started".into())));
    let reasons: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert_eq!(reasons, ["Started", "Succeeded"], "{events:?}");
    let note = events[1].message.as_deref().unwrap_or_default();
    assert!(
        note.starts_with(&format!("Build {build:?} succeeded")),
        "{note}"
    );
}

/// A step exiting 1 fails the Build.
async fn a_failing_step_fails_the_build(client: &Client) {
    let ns = namespace(client, "failing").await;
    let build: Build = serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": "fails"},
        "spec": {"steps": [
            {"name": "first", "image": "busybox", "args": ["true"]},
            {"name": "second", "image": "busybox", "args": ["false"]},
        ]},
    }))
    .unwrap();
    create(client, &ns, &build).await;
    let pod = wait_for_pod(client, &ns, "fails").await;
    kubelet_finishes(client, &pod, Some("build-step-second")).await;
    let status = wait_for_end(client, &ns, "fails").await;
    let condition = status.succeeded().unwrap();
    assert_eq!(condition.status, ConditionStatus::False, "{condition:?}");
    let message = condition.message.clone().unwrap_or_default();
    assert!(message.contains("build-step-second"), "{message}");
}

/// A running pod past the Build's timeout is stopped (not deleted) and the Build fails with
/// `BuildTimeout`.
async fn a_build_past_its_timeout_is_stopped(client: &Client) {
    let ns = namespace(client, "timeout").await;
    let build: Build = serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": "slow"},
        "spec": {"timeout": "3s", "steps": [{"name": "sleep", "image": "busybox", "args": ["sleep", "3600"]}]},
    }))
    .unwrap();
    create(client, &ns, &build).await;
    let pod = wait_for_pod(client, &ns, "slow").await;
    kubelet_runs(client, &pod).await;
    let status = wait_for_end(client, &ns, "slow").await;
    let condition = status.succeeded().unwrap();
    assert_eq!(condition.status, ConditionStatus::False, "{condition:?}");
    assert_eq!(condition.reason.as_deref(), Some("BuildTimeout"));
    assert_eq!(
        condition.message.as_deref(),
        Some("Build \"slow\" failed to finish within \"3s\"")
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let stopped = pods.get(&pod.name_any()).await.expect("the pod is kept");
    assert_eq!(
        stopped.spec.as_ref().unwrap().active_deadline_seconds,
        Some(1)
    );
    let state = |status: &build_types::BuildStatus| status.step_states.last().cloned();
    assert!(
        state(&status).is_some_and(|s| s.running.is_some()),
        "{status:?}"
    );

    // The kubelet kills the step (SIGKILL after the grace period): its state settles, the
    // verdict stays.
    let init: Vec<Value> = stopped_statuses(&stopped);
    patch_pod_status(
        client,
        &stopped,
        json!({"status": {"phase": "Failed", "reason": "DeadlineExceeded",
                          "initContainerStatuses": init}}),
    )
    .await;
    let builds: Api<Build> = Api::namespaced(client.clone(), &ns);
    let settled = eventually("the killed step's state settles", || {
        let builds = builds.clone();
        async move {
            let status = builds.get("slow").await.ok()?.status?;
            let terminated = state(&status)?.terminated?;
            Some((status, terminated.exit_code))
        }
    })
    .await;
    assert_eq!(settled.1, 137);
    assert_eq!(settled.0.succeeded(), status.succeeded());
    assert_eq!(settled.0.completion_time, status.completion_time);
}

/// The init container statuses of a pod whose running container was killed (exit 137).
fn stopped_statuses(pod: &Pod) -> Vec<Value> {
    let statuses = pod
        .status
        .clone()
        .unwrap_or_default()
        .init_container_statuses;
    statuses
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let running = s.state.as_ref().is_some_and(|st| st.running.is_some());
            let state = if running {
                json!({"terminated": {"exitCode": 137, "reason": "Error",
                                      "startedAt": now(), "finishedAt": now()}})
            } else {
                serde_json::to_value(&s.state).unwrap()
            };
            container_status(&s.name, &s.image, state)
        })
        .collect()
}

/// A Build naming a template that does not exist yet waits (Unknown, TemplateNotFound), and
/// gets its pod once the template is created.
async fn a_build_waits_for_its_template(client: &Client) {
    let ns = namespace(client, "waiting").await;
    let build: Build = serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": "early"},
        "spec": {"template": {"name": "later"}},
    }))
    .unwrap();
    create(client, &ns, &build).await;
    let builds: Api<Build> = Api::namespaced(client.clone(), &ns);
    eventually("the Build waits for its template", || async {
        let build = builds.get("early").await.ok()?;
        let condition = build.status?.succeeded()?.clone();
        (condition.status == ConditionStatus::Unknown
            && condition.reason.as_deref() == Some("TemplateNotFound"))
        .then_some(())
    })
    .await;
    let template: BuildTemplate = serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "BuildTemplate",
        "metadata": {"name": "later"},
        "spec": {"steps": [{"name": "hello", "image": "busybox", "args": ["echo", "hello"]}]},
    }))
    .unwrap();
    create(client, &ns, &template).await;
    wait_for_pod(client, &ns, "early").await;
}

/// `kubectl build run --detach`, `describe` and `cancel` against the real API server, with the
/// seed's img template, ServiceAccount and Secret.
async fn the_plugin_runs_describes_and_cancels(client: &Client) {
    let ns = namespace(client, "plugin").await;
    let seed = build_types::load_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seed"));
    apply_templates_and_credentials(client, &ns, &seed).await;
    let session = Session::new(client.clone(), &ns);

    let detach = [RUN_IMG, &["--detach"]].concat();
    let Ran { exit, out, err, .. } = kubectl_build(&session, Style::default(), &detach).await;
    println!("kubectl build run --detach:\n{out}{err}");
    assert_eq!(exit, PluginExit::Succeeded, "{err}");
    let name = out
        .trim()
        .strip_prefix("build.build.knative.dev/")
        .and_then(|rest| rest.strip_suffix(" created"))
        .unwrap_or_else(|| panic!("run prints the generated name: {out}"))
        .to_owned();
    assert!(name.starts_with("img-"), "{name}");
    let pod = wait_for_pod(client, &ns, &name).await;
    kubelet_runs(client, &pod).await;

    let Ran { exit, out, err, .. } =
        kubectl_build(&session, Style::default(), &["describe", &name]).await;
    println!("kubectl build describe:\n{out}{err}");
    assert_eq!(exit, PluginExit::Succeeded, "{err}");
    for expected in [
        "Service Account:  build-bot",
        "Secret docker-hub (kubernetes.io/basic-auth): basic-docker https://index.docker.io/v1/",
        "git https://github.com/garethr/kubeval.git @ master",
        "IMAGE = garethr/kubeval",
        "git-source-0",
        "Running",
    ] {
        assert!(
            out.contains(expected),
            "describe lacks {expected:?}:\n{out}"
        );
    }
    for value in ["<your username>", "<your password>"] {
        assert!(
            !out.contains(value) && !err.contains(value),
            "a Secret value was printed"
        );
    }

    let Ran { exit, out, err, .. } =
        kubectl_build(&session, Style::default(), &["cancel", &name]).await;
    println!("kubectl build cancel:\n{out}{err}");
    assert_eq!(exit, PluginExit::Succeeded, "{err}");
    let builds: Api<Build> = Api::namespaced(client.clone(), &ns);
    let condition = builds
        .get(&name)
        .await
        .unwrap()
        .status
        .unwrap()
        .succeeded()
        .cloned()
        .unwrap();
    assert_eq!(
        condition.reason.as_deref(),
        Some("BuildCancelled"),
        "{condition:?}"
    );
}

/// Creates the seed's BuildTemplates, Secrets and ServiceAccounts in `ns`.
async fn apply_templates_and_credentials(client: &Client, ns: &str, seed: &build_types::Loaded) {
    for (_, template) in seed.build_templates() {
        create(client, ns, template).await;
    }
    for (_, secret) in seed.secrets() {
        create::<Secret>(client, ns, secret).await;
    }
    for (_, account) in seed.service_accounts() {
        create::<ServiceAccount>(client, ns, account).await;
    }
}

async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in build_types::crds() {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply("build-controller-envtest").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("installing CRD {name}: {e}"));
        eventually("the CRD is established", || async {
            let crd = crds.get(&name).await.ok()?;
            crd.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await;
    }
    let builds: Api<Build> = Api::all(client.clone());
    eventually("Builds are served", || async {
        builds
            .list(&ListParams::default().limit(1))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}

async fn namespace(client: &Client, name: &str) -> String {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    name.to_owned()
}

async fn create<K>(client: &Client, namespace: &str, object: &K)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let mut object = object.clone();
    object.meta_mut().namespace = Some(namespace.to_owned());
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {}/{}: {e}", namespace, object.name_any()));
}

async fn wait_for_pod(client: &Client, namespace: &str, build: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{}={build}", build_pod::BUILD_NAME_LABEL);
    let pod = eventually("the build pod is created", || async {
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .ok()?;
        match list.items.as_slice() {
            [] => None,
            [pod] => Some(pod.clone()),
            more => panic!("{} pods for build {build}", more.len()),
        }
    })
    .await;
    let owner = &pod.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Build", build));
    pod
}

async fn wait_for_end(client: &Client, namespace: &str, name: &str) -> build_types::BuildStatus {
    let builds: Api<Build> = Api::namespaced(client.clone(), namespace);
    eventually("the Build finishes", || async {
        let status = builds.get(name).await.ok()?.status?;
        status.is_done().then_some(status)
    })
    .await
}

/// Binds the pod to a node that does not exist, as a scheduler would, so that its status can
/// say it runs.
async fn bind(client: &Client, pod: &Pod) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap());
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": pod.name_any()},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "envtest-node"},
    });
    let _: Value = pods
        .create_subresource("binding", &pod.name_any(), &PostParams::default(), &binding)
        .await
        .expect("binding the pod");
}

fn container_status(name: &str, image: &str, state: Value) -> Value {
    json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0,
           "started": false, "state": state})
}

fn terminated(exit_code: i32) -> Value {
    json!({"terminated": {"exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" },
                          "startedAt": now(), "finishedAt": now()}})
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap()
        .to_string()
}

/// Writes the pod's status as a kubelet would once it has run every container: each init
/// container terminated (with exit code 1 for `failing`, after which none runs), then the
/// phase.
async fn kubelet_finishes(client: &Client, pod: &Pod, failing: Option<&str>) {
    bind(client, pod).await;
    kubelet_ends(client, pod, failing).await;
}

/// [`kubelet_finishes`] for a pod already bound.
async fn kubelet_ends(client: &Client, pod: &Pod, failing: Option<&str>) {
    let spec = pod.spec.clone().unwrap();
    let mut failed = false;
    let mut init = Vec::new();
    for container in spec.init_containers.iter().flatten() {
        let image = container.image.clone().unwrap_or_default();
        let state = if failed {
            json!({"waiting": {"reason": "PodInitializing"}})
        } else if Some(container.name.as_str()) == failing {
            failed = true;
            terminated(1)
        } else {
            terminated(0)
        };
        init.push(container_status(&container.name, &image, state));
    }
    let main: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let state = if failed {
                json!({"waiting": {"reason": "PodInitializing"}})
            } else {
                terminated(0)
            };
            container_status(&c.name, c.image.as_deref().unwrap_or_default(), state)
        })
        .collect();
    let phase = if failed { "Failed" } else { "Succeeded" };
    patch_pod_status(
        client,
        pod,
        json!({"status": {"phase": phase, "startTime": now(),
                          "initContainerStatuses": init, "containerStatuses": main}}),
    )
    .await;
}

/// Writes the pod's status as a kubelet would while its first step runs.
async fn kubelet_runs(client: &Client, pod: &Pod) {
    bind(client, pod).await;
    let spec = pod.spec.clone().unwrap();
    let init_containers = spec.init_containers.clone().unwrap_or_default();
    let init: Vec<Value> = init_containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let state = if i + 1 < init_containers.len() {
                terminated(0)
            } else {
                json!({"running": {"startedAt": now()}})
            };
            container_status(&c.name, c.image.as_deref().unwrap_or_default(), state)
        })
        .collect();
    let main: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            container_status(
                &c.name,
                c.image.as_deref().unwrap_or_default(),
                json!({"waiting": {"reason": "PodInitializing"}}),
            )
        })
        .collect();
    patch_pod_status(
        client,
        pod,
        json!({"status": {"phase": "Pending", "startTime": now(),
                          "initContainerStatuses": init, "containerStatuses": main}}),
    )
    .await;
}

async fn patch_pod_status(client: &Client, pod: &Pod, patch: Value) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap());
    pods.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .unwrap_or_else(|e| panic!("patching the status of pod {}: {e}", pod.name_any()));
}

/// Polls `check` every 200 ms until it returns `Some`, at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// `kubectl build` following by watch, listing and completing, on the real API server.

/// `kubectl build logs -f` follows a Build by watch on the real API server and goes on when
/// its watch expires mid-build: the Builds CRD is replaced (as an upgrade does), the API server
/// ends the watches of its old storage, and its new watch cache answers the follower's old
/// resourceVersion with 410 Expired. Then `kubectl build list` (the library, and the binary
/// through a proxy), and a Build's name completed by `kubectl_complete-build` and by kubectl.
async fn the_plugin_follows_by_watch_lists_and_completes(client: &Client) {
    let ns = namespace(client, "plugin-watch").await;
    let seed = build_types::load_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/seed"));
    apply_templates_and_credentials(client, &ns, &seed).await;
    let node = kubelet(client).await;
    let session = Session::new(client.clone(), &ns);
    let detach = [RUN_IMG, &["--detach"]].concat();
    let Ran { exit, out, err, .. } = kubectl_build(&session, Style::default(), &detach).await;
    assert_eq!(exit, PluginExit::Succeeded, "{err}");
    let name = created_name(&out);
    let pod = wait_for_pod(client, &ns, &name).await;
    bind_to(client, &pod, &node).await;
    kubelet_at(client, &pod, Some(2)).await;

    let seen = Requests::default();
    let follower = Session::new(seen.client(client, &ns), &ns);
    let progress = Style {
        color: false,
        progress: true,
    };
    let args = ["logs", "-f", name.as_str()];
    let ran = kubectl_build_scripted(&follower, progress, &args, Ends::WithCommand, |live| {
        let (seen, pod) = (seen.clone(), pod.clone());
        async move {
            live.out.shows("[build] INFO[0042]").await;
            let version = eventually("the follower watches its Build", || async {
                seen.last_watch_version("builds")
            })
            .await;
            let crd = add_printer_column(client).await;
            eventually("the follower lists its Build again", || async {
                (seen.lists("builds") >= 2).then_some(())
            })
            .await;
            let expired = watch_from(client, &ns, &version).await;
            println!("a watch of builds from {version}, the follower's last version: {expired}");
            assert_answers_as_the_fake(&expired, &version);
            restore(client, crd).await;
            kubelet_at(client, &pod, Some(3)).await;
            live.out.shows("[push] Successfully pushed").await;
            kubelet_ends(client, &pod, None).await;
        }
    })
    .await;
    println!(
        "kubectl build logs -f {name} (exit {}):\n{}{}",
        ran.exit.code(),
        ran.out,
        ran.err
    );
    println!("the follower's requests:\n{}", seen.lines().join("\n"));
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}{}", ran.out, ran.err);
    assert!(
        seen.lists("builds") >= 2,
        "the Build was listed again after its watch expired"
    );
    for (_, log) in IMG_LOGS.iter().skip(2) {
        for line in log.lines() {
            assert_eq!(
                ran.out.matches(line).count(),
                1,
                "{line:?} once:\n{}",
                ran.out
            );
        }
    }
    assert_eq!(
        seen.count("GET", &format!("/builds/{name}"), ""),
        1,
        "one GET of the Build"
    );

    lists_and_completes(client, &session, &name).await;
}

/// `kubectl build list`, in-process and as the binary, and the Build's name and steps
/// completed by `kubectl_complete-build`, and by kubectl (1.26+) running it.
async fn lists_and_completes(client: &Client, session: &Session, name: &str) {
    let ns = session.namespace.as_str();
    let Ran { exit, out, err, .. } = kubectl_build(session, Style::default(), &["list"]).await;
    println!("kubectl build list:\n{out}{err}");
    assert_eq!(exit, PluginExit::Succeeded, "{err}");
    let row = out.lines().nth(1).unwrap_or_default().to_owned();
    assert!(row.starts_with(name) && row.contains("Succeeded"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = proxy(client, dir.path()).await;
    let list = binary(
        "kubectl-build",
        &["list", "-A", "-o", "wide"],
        &kubeconfig,
        &[],
    )
    .await;
    println!("kubectl-build list -A -o wide:\n{list}");
    assert!(
        list.contains(&format!("{ns}   {name}")) || list.contains(name),
        "{list}"
    );

    let complete = "kubectl_complete-build";
    let names = binary(complete, &["-n", ns, "logs", "img-"], &kubeconfig, &[]).await;
    println!("kubectl_complete-build -n {ns} logs img-:\n{names}");
    assert_eq!(names, format!("{name}\tSucceeded\n:4\n"));
    let steps = binary(
        complete,
        &["-n", ns, "logs", name, "--step", ""],
        &kubeconfig,
        &[],
    )
    .await;
    assert_eq!(
        steps,
        "credential-initializer\ngit-source-0\nbuild\npush\n:4\n"
    );

    let Some(kubectl) = std::env::var_os("KUBEBUILDER_ASSETS")
        .map(|assets| std::path::PathBuf::from(assets).join("kubectl"))
        .filter(|kubectl| kubectl.is_file())
    else {
        println!("no kubectl in KUBEBUILDER_ASSETS: kubectl __complete not tried");
        return;
    };
    let words = ["__complete", "build", "-n", ns, "logs", "img-"];
    let by_kubectl = binary_at(&kubectl, &words, &kubeconfig, &[]).await;
    println!("kubectl __complete build -n {ns} logs img-:\n{by_kubectl}");
    assert_eq!(by_kubectl, format!("{name}\tSucceeded\n:4\n"));
}

/// The name `run --detach` printed.
fn created_name(out: &str) -> String {
    out.trim()
        .strip_prefix("build.build.knative.dev/")
        .and_then(|rest| rest.strip_suffix(" created"))
        .unwrap_or_else(|| panic!("run prints the generated name: {out}"))
        .to_owned()
}

/// Runs the workspace's binary `name` with `args` against the cluster `kubeconfig` names;
/// returns its stdout. Its directory comes first on PATH, as an installed plugin's would.
async fn binary(name: &str, args: &[&str], kubeconfig: &Path, env: &[(&str, &str)]) -> String {
    let path = match name {
        "kubectl-build" => env!("CARGO_BIN_EXE_kubectl-build"),
        _ => env!("CARGO_BIN_EXE_kubectl_complete-build"),
    };
    binary_at(Path::new(path), args, kubeconfig, env).await
}

async fn binary_at(path: &Path, args: &[&str], kubeconfig: &Path, env: &[(&str, &str)]) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_kubectl-build"))
        .parent()
        .unwrap();
    let search = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut command = std::process::Command::new(path);
    command
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", search)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null());
    // The proxy it talks to runs on this runtime: wait on another thread.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        output.status.success(),
        "{} {args:?}: {}\n{}",
        path.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The requests a client sent, `METHOD /path?query`, in order.
#[derive(Clone, Default)]
struct Requests(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Requests {
    /// A client that sends its requests through `client`, recording them here.
    fn client(&self, client: &Client, namespace: &str) -> Client {
        let (client, seen) = (client.clone(), self.clone());
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let (client, seen) = (client.clone(), seen.clone());
            async move {
                let line = format!("{} {}", request.method(), request.uri());
                seen.0.lock().unwrap().push(line);
                client.send(request).await
            }
        });
        Client::new(service, namespace)
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// How many requests `method` had `path` and `query` in their line.
    fn count(&self, method: &str, path: &str, query: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(method) && l.contains(path) && l.contains(query))
            .count()
    }

    /// How many lists (not watches) of `resource` were sent.
    fn lists(&self, resource: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.contains(&format!("/{resource}?")) && !l.contains("watch=true"))
            .count()
    }

    /// The resourceVersion the last watch of `resource` started from, once there is one.
    fn last_watch_version(&self, resource: &str) -> Option<String> {
        let lines = self.lines();
        let watch = lines
            .iter()
            .rev()
            .find(|l| l.contains(&format!("/{resource}?")) && l.contains("watch=true"))?;
        let version = watch
            .split(['?', '&'])
            .find_map(|pair| pair.strip_prefix("resourceVersion="));
        Some(version.unwrap_or_else(|| panic!("{watch}")).to_owned())
    }
}

/// Replaces the Builds CRD with one more printer column (as an upgrade that changes the CRD
/// does): the API server swaps the Builds' storage, ending the watches of the old one. Returns
/// the CRD as it was.
async fn add_printer_column(client: &Client) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let before = crds.get("builds.build.knative.dev").await.unwrap();
    let mut changed = before.clone();
    for version in &mut changed.spec.versions {
        let column = serde_json::from_value(json!({
            "name": "Pod", "type": "string", "jsonPath": ".status.cluster.podName",
        }))
        .unwrap();
        version
            .additional_printer_columns
            .get_or_insert_with(Vec::new)
            .push(column);
    }
    crds.replace("builds.build.knative.dev", &PostParams::default(), &changed)
        .await
        .expect("replacing the Builds CRD");
    before
}

/// Puts the Builds CRD back as it was.
async fn restore(client: &Client, mut crd: CustomResourceDefinition) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let now = crds.get("builds.build.knative.dev").await.unwrap();
    crd.metadata.resource_version = now.metadata.resource_version;
    crds.replace("builds.build.knative.dev", &PostParams::default(), &crd)
        .await
        .expect("restoring the Builds CRD");
}

/// What the API server answers a watch of the Builds of `ns` from `version` (one line, the
/// watch ending at once or within two seconds).
async fn watch_from(client: &Client, ns: &str, version: &str) -> Value {
    let url = format!(
        "/apis/build.knative.dev/v1alpha1/namespaces/{ns}/builds?watch=true&resourceVersion={version}&timeoutSeconds=2"
    );
    let request = http::Request::get(url).body(Vec::new()).unwrap();
    let text = client.request_text(request).await.expect("the watch");
    serde_json::from_str(text.lines().next().unwrap_or("null")).unwrap_or(Value::Null)
}

/// The real API server's answer to a watch from an expired version is the fake's (but for the
/// oldest version it names).
fn assert_answers_as_the_fake(real: &Value, version: &str) {
    let since: u64 = version.parse().unwrap();
    let message = real["object"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let oldest = message
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("the watch did not expire: {real}"));
    assert_eq!(*real, support::fake_api::expired(since, oldest));
}

/// A kubelet as far as `pods/log` needs one: a Node whose address is 127.0.0.1 and whose
/// kubelet port is an HTTPS server here, answering `/containerLogs/NS/POD/CONTAINER` with
/// [`IMG_LOGS`] (the API server checks no kubelet certificate without
/// `--kubelet-certificate-authority`). Returns the Node's name.
async fn kubelet(client: &Client) -> String {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|request: http::Request<_>| async move {
                    let _: &hyper::body::Incoming = request.body();
                    let container = request.uri().path().rsplit('/').next().unwrap_or_default();
                    let log = IMG_LOGS
                        .iter()
                        .find(|(name, _)| *name == container)
                        .map_or("", |(_, log)| log);
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(hyper::body::Bytes::from(log)),
                    ))
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let node = serde_json::from_value(json!({"metadata": {"name": "envtest-kubelet"}})).unwrap();
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("creating the Node");
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
    }});
    nodes
        .patch_status(
            "envtest-kubelet",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .expect("the Node's status");
    "envtest-kubelet".to_owned()
}

/// `kubectl proxy` for the plugin's binaries: plain HTTP on 127.0.0.1, each request sent on
/// through `client` (its credentials, its TLS). Returns a kubeconfig in `dir` that names it.
async fn proxy(client: &Client, dir: &Path) -> std::path::PathBuf {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = client.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let client = client.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| forward(client.clone(), request));
                let io = hyper_util::rt::TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    let kubeconfig = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\n\
         users:\n- name: proxy\n  user: {{}}\ncontexts:\n- name: envtest\n  context: {{cluster: envtest, user: proxy, namespace: default}}\n\
         current-context: envtest\n"
    );
    std::fs::write(&kubeconfig, text).unwrap();
    kubeconfig
}

/// Sends `request` on through `client`; the answer is streamed back (a watch).
async fn forward(
    client: Client,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<UnsyncBoxBody<hyper::body::Bytes, tower::BoxError>>, tower::BoxError> {
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(http::header::HOST);
    let body = body.collect().await?.to_bytes().to_vec();
    let response = client
        .send(http::Request::from_parts(parts, body.into()))
        .await?;
    Ok(response.map(|body| {
        body.map_err(|e| -> tower::BoxError { Box::new(e) })
            .boxed_unsync()
    }))
}

/// Binds the pod to `node`, as a scheduler would.
async fn bind_to(client: &Client, pod: &Pod, node: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap());
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": pod.name_any()},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let _: Value = pods
        .create_subresource("binding", &pod.name_any(), &PostParams::default(), &binding)
        .await
        .expect("binding the pod");
}

/// Writes the pod's status as a kubelet would while its init container `running` runs: those
/// before it done, those after it waiting.
async fn kubelet_at(client: &Client, pod: &Pod, running: Option<usize>) {
    let spec = pod.spec.clone().unwrap();
    let running = running.unwrap_or(usize::MAX);
    let init: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let state = match i.cmp(&running) {
                std::cmp::Ordering::Less => terminated(0),
                std::cmp::Ordering::Equal => json!({"running": {"startedAt": now()}}),
                std::cmp::Ordering::Greater => json!({"waiting": {"reason": "PodInitializing"}}),
            };
            container_status(&c.name, c.image.as_deref().unwrap_or_default(), state)
        })
        .collect();
    patch_pod_status(
        client,
        pod,
        json!({"status": {"phase": "Pending", "startTime": now(), "initContainerStatuses": init}}),
    )
    .await;
}

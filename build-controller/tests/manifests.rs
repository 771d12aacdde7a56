//! `config/release.yaml`: fresh, every document a typed Kubernetes object that fits a
//! client-side `kubectl apply`, and the objects consistent with each other and with the
//! controller's command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use build_controller::release::manifests::{
    CONTROLLER_NAME, RELEASE_FILE, RELEASE_HEADER, RELEASE_NAMESPACE, RELEASE_REPLICAS,
    controller_image, release_images, release_yaml,
};
use build_controller::release::rbac::{Scope, policy_rules};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a client-side `kubectl apply` can store in its last-applied annotation.
const KUBECTL_APPLY_LIMIT: usize = 256 * 1024;

/// The workspace root, or `None` outside the workspace (a published package has no
/// `config/`).
fn workspace_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    root.join("xtask/Cargo.toml")
        .exists()
        .then(|| root.to_path_buf())
}

#[test]
fn the_committed_release_is_fresh() {
    let Some(root) = workspace_root() else {
        return;
    };
    let path = root.join(RELEASE_FILE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == release_yaml(),
        "{RELEASE_FILE} is missing or stale; run `cargo xtask manifests`"
    );
}

/// The release's objects, typed.
#[derive(Default)]
struct Release {
    order: Vec<String>,
    namespaces: Vec<Namespace>,
    crds: Vec<CustomResourceDefinition>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    services: Vec<Service>,
    deployments: Vec<Deployment>,
}

/// Reads `value` as a `T` and insists the typed form keeps every field: an unknown field
/// (a typo, or one this Kubernetes version lacks) would be rejected by the API server.
fn strict<T: DeserializeOwned + serde::Serialize>(value: &Value) -> T {
    let typed: T =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{}: {e}", value["kind"]));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        value,
        "{} {} has fields its type lacks",
        value["kind"],
        value["metadata"]["name"]
    );
    typed
}

fn release() -> Release {
    let text = release_yaml();
    assert!(text.starts_with(&format!("{RELEASE_HEADER}\n")));
    let mut release = Release::default();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).expect("every document is YAML");
        let json = serde_json::to_string(&value).unwrap();
        let kind = value["kind"].as_str().expect("a kind").to_owned();
        let name = value["metadata"]["name"]
            .as_str()
            .expect("a name")
            .to_owned();
        assert!(
            json.len() < KUBECTL_APPLY_LIMIT,
            "{kind} {name} is {} bytes as JSON",
            json.len()
        );
        match (
            value["apiVersion"].as_str().unwrap_or_default(),
            kind.as_str(),
        ) {
            ("v1", "Namespace") => release.namespaces.push(strict(&value)),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                release.crds.push(strict(&value))
            }
            ("v1", "ServiceAccount") => release.service_accounts.push(strict(&value)),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                release.cluster_roles.push(strict(&value))
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                release.cluster_role_bindings.push(strict(&value))
            }
            ("rbac.authorization.k8s.io/v1", "Role") => release.roles.push(strict(&value)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                release.role_bindings.push(strict(&value))
            }
            ("v1", "Service") => release.services.push(strict(&value)),
            ("apps/v1", "Deployment") => release.deployments.push(strict(&value)),
            (api_version, kind) => panic!("unexpected {api_version} {kind}"),
        }
        release.order.push(kind);
    }
    release
}

#[test]
fn every_document_is_a_typed_object_within_kubectls_limits() {
    let release = release();
    assert_eq!(
        release.order,
        [
            "Namespace",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
        ],
        "the namespace and CRDs come before what needs them"
    );
    let crds: Vec<&str> = release
        .crds
        .iter()
        .map(|crd| crd.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        crds,
        [
            "builds.build.knative.dev",
            "buildtemplates.build.knative.dev",
            "clusterbuildtemplates.build.knative.dev"
        ]
    );
    assert_eq!(
        release.namespaces[0].metadata.name.as_deref(),
        Some(RELEASE_NAMESPACE)
    );
}

#[test]
fn the_roles_are_the_permission_table_bound_to_the_controllers_account() {
    let release = release();
    let account = &release.service_accounts[0];
    assert_eq!(account.metadata.name.as_deref(), Some(CONTROLLER_NAME));
    assert_eq!(
        account.metadata.namespace.as_deref(),
        Some(RELEASE_NAMESPACE)
    );

    let cluster_role = &release.cluster_roles[0];
    assert_eq!(
        cluster_role.rules.as_deref(),
        Some(&policy_rules(Scope::Cluster)[..])
    );
    let role = &release.roles[0];
    assert_eq!(role.metadata.namespace.as_deref(), Some(RELEASE_NAMESPACE));
    assert_eq!(
        role.rules.as_deref(),
        Some(&policy_rules(Scope::OwnNamespace)[..])
    );

    let binding = &release.cluster_role_bindings[0];
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(
        Some(&binding.role_ref.name),
        cluster_role.metadata.name.as_ref()
    );
    let binding_subjects = binding.subjects.as_deref().unwrap();
    let role_binding = &release.role_bindings[0];
    assert_eq!(role_binding.role_ref.kind, "Role");
    assert_eq!(
        Some(&role_binding.role_ref.name),
        role.metadata.name.as_ref()
    );
    assert_eq!(role_binding.metadata.namespace, role.metadata.namespace);
    for subjects in [binding_subjects, role_binding.subjects.as_deref().unwrap()] {
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0].kind, "ServiceAccount");
        assert_eq!(Some(&subjects[0].name), account.metadata.name.as_ref());
        assert_eq!(subjects[0].namespace, account.metadata.namespace);
    }
}

#[test]
fn the_deployment_is_hardened_and_probed() {
    let release = release();
    let deployment = &release.deployments[0];
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(RELEASE_REPLICAS));
    assert_eq!(RELEASE_REPLICAS, 2);
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(CONTROLLER_NAME));
    let pod_security = pod.security_context.as_ref().unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert!(pod_security.run_as_user.is_some_and(|uid| uid != 0));
    assert_eq!(
        pod_security
            .seccomp_profile
            .as_ref()
            .map(|p| p.type_.as_str()),
        Some("RuntimeDefault")
    );

    let [container] = pod.containers.as_slice() else {
        panic!("one container");
    };
    assert_eq!(
        container.image.as_deref(),
        Some(controller_image().as_str())
    );
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(
        security.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    let resources = container.resources.as_ref().unwrap();
    for list in [&resources.requests, &resources.limits] {
        let list = list.as_ref().unwrap();
        assert!(
            list.contains_key("cpu") && list.contains_key("memory"),
            "{list:?}"
        );
    }

    // The probes reach the metrics port, on the paths the controller serves.
    let ports: Vec<(&str, i32)> = container
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.as_deref().unwrap_or_default(), p.container_port))
        .collect();
    assert_eq!(ports, [("metrics", 9090)]);
    for (probe, path) in [
        (&container.liveness_probe, "/healthz"),
        (&container.readiness_probe, "/readyz"),
    ] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref()).unwrap();
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.port, IntOrString::String("metrics".into()));
    }
    let args = container.args.as_deref().unwrap_or_default();
    assert!(args.contains(&"--metrics-address=0.0.0.0:9090".to_owned()));

    // The helper images reach the controller through its environment.
    let env: BTreeMap<&str, Option<&str>> = container
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e.value.as_deref()))
        .collect();
    let images = release_images();
    for (name, image) in [
        ("BUILD_CREDS_INIT_IMAGE", &images.creds_init),
        ("BUILD_GIT_INIT_IMAGE", &images.git_init),
        ("BUILD_GCS_FETCHER_IMAGE", &images.gcs_fetcher),
        ("BUILD_NOP_IMAGE", &images.nop),
    ] {
        assert_eq!(env.get(name), Some(&Some(image.as_str())), "{name}");
    }

    // The Service selects the pods and exposes the metrics port.
    let service = &release.services[0];
    let selector = service.spec.as_ref().unwrap().selector.as_ref().unwrap();
    let labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    for (key, value) in selector {
        assert_eq!(labels.get(key), Some(value), "{key}");
    }
    assert_eq!(spec.selector.match_labels.as_ref(), Some(selector));
    let port = &service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    assert_eq!(
        port.target_port,
        Some(IntOrString::String("metrics".into()))
    );
}

#[test]
fn the_controller_accepts_the_deployments_arguments_and_environment() {
    let release = release();
    let pod = release.deployments[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("run"));
    let output = Command::new(env!("CARGO_BIN_EXE_build-controller"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "`build-controller run` has no {flag}:\n{help}"
        );
    }
    for env in container.env.iter().flatten() {
        let name = env.name.as_str();
        if name.starts_with("BUILD_") || name.starts_with("POD_") {
            assert!(
                help.contains(&format!("env: {name}")),
                "`build-controller run` reads no {name}:\n{help}"
            );
        }
    }
}

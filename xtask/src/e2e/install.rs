//! Installs the product the way a user does: `config/release.yaml` applied object by object.
//!
//! One difference from the release, because of this cluster: the controller runs as a process on
//! the host instead of the release's Deployment. Pods here cannot reach the API server: it
//! listens on the host's loopback, the pod bridge has no gateway and there is no kube-proxy for
//! the `kubernetes` Service; and `hostNetwork` is refused by the `restricted` Pod Security level
//! the release puts on its namespace. So the release's Deployment is not applied; the host
//! process runs with the release's ServiceAccount identity (a token from the TokenRequest API for
//! `knative-build/build-controller`), the Deployment's arguments and the release's helper
//! images, so the release's RBAC is what is tested.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::{Client, ResourceExt};

use super::cluster::Cluster;
use crate::bench_controller::wait_established;
use crate::control_plane;

const FIELD_MANAGER: &str = "xtask-e2e";

/// How to (re)start the controller.
pub(crate) struct Controller {
    /// The ServiceAccount kubeconfig it runs with.
    pub(crate) kubeconfig: PathBuf,
    binary: PathBuf,
    image_pull_grace: String,
}

impl Controller {
    /// Starts the controller process (again), logging to `logs/build-controller.log`.
    pub(crate) fn start(&self, cluster: &mut Cluster) -> anyhow::Result<()> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(&self.binary);
        command
            .arg("run")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg(format!("--metrics-address=127.0.0.1:{port}"))
            .args([
                "--leader-election",
                "--leader-election-namespace=knative-build",
                "--leader-election-lease=build-controller",
            ])
            .arg(format!("--image-pull-grace={}", self.image_pull_grace))
            .env("POD_NAMESPACE", "knative-build")
            .env("RUST_LOG", "info")
            .env_remove("KUBECONFIG");
        cluster.spawn_appending("build-controller", &mut command)
    }
}

/// The objects of the release that are applied, and the one that is not (see the module docs).
pub(crate) fn release_objects(yaml: &str) -> anyhow::Result<(Vec<DynamicObject>, Vec<String>)> {
    let mut applied = Vec::new();
    let mut skipped = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(document).context("parsing config/release.yaml")?;
        if value.is_null() {
            continue;
        }
        let object: DynamicObject = serde_json::from_value(value)?;
        let kind = object
            .types
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default();
        if kind == "Deployment" {
            skipped.push(format!(
                "Deployment {}/{}",
                object.namespace().unwrap_or_default(),
                object.name_any()
            ));
        } else {
            applied.push(object);
        }
    }
    Ok((applied, skipped))
}

/// Applies the release, waits for its CRDs, and starts the controller under its ServiceAccount.
pub(crate) async fn install(
    cluster: &mut Cluster,
    bins: &Path,
    image_pull_grace: &str,
) -> anyhow::Result<Controller> {
    let t0 = Instant::now();
    let client = cluster.admin_client().await?;
    let (names, skipped) = apply_release(&client, cluster.workspace()).await?;
    eprintln!(
        "[install] {:>5.1}s applied config/release.yaml: {}; not applied: {}",
        t0.elapsed().as_secs_f64(),
        names.join(", "),
        skipped.join(", ")
    );
    let kubeconfig = cluster.dir.join("controller.kubeconfig");
    service_account_kubeconfig(&client, &cluster.api_url, &cluster.ca, &kubeconfig).await?;
    let controller = Controller {
        kubeconfig,
        binary: bins.join("build-controller"),
        image_pull_grace: image_pull_grace.to_owned(),
    };
    controller.start(cluster)?;
    eprintln!(
        "[install] {:>5.1}s build-controller started on the host as system:serviceaccount:knative-build:build-controller",
        t0.elapsed().as_secs_f64()
    );
    Ok(controller)
}

/// Applies `config/release.yaml` but its Deployment (see the module docs), object by object
/// with server-side apply, and waits until its CRDs are established. Returns what was applied
/// and what was not (`Kind name` each).
pub(crate) async fn apply_release(
    client: &Client,
    workspace: &Path,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let yaml = std::fs::read_to_string(workspace.join("config/release.yaml"))?;
    let (objects, skipped) = release_objects(&yaml)?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for object in &objects {
        let types = object
            .types
            .as_ref()
            .context("every release object has apiVersion and kind")?;
        let gvk = GroupVersionKind::try_from(types)?;
        let (resource, capabilities) = pinned_kind(client, &gvk).await?;
        let api: Api<DynamicObject> = if capabilities.scope == kube::discovery::Scope::Namespaced {
            Api::namespaced_with(
                client.clone(),
                &object.namespace().unwrap_or_default(),
                &resource,
            )
        } else {
            Api::all_with(client.clone(), &resource)
        };
        api.patch(&object.name_any(), &params, &Patch::Apply(object))
            .await
            .with_context(|| format!("applying {} {}", types.kind, object.name_any()))?;
        names.push(format!("{} {}", types.kind, object.name_any()));
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in [
        "builds.build.knative.dev",
        "buildtemplates.build.knative.dev",
        "clusterbuildtemplates.build.knative.dev",
    ] {
        wait_established(&crds, name).await?;
    }
    Ok((names, skipped))
}

/// Writes to `path` a kubeconfig for the API server at `api_url` that authenticates as the
/// release's ServiceAccount `knative-build/build-controller` (a TokenRequest token).
pub(crate) async fn service_account_kubeconfig(
    client: &Client,
    api_url: &str,
    ca: &Path,
    path: &Path,
) -> anyhow::Result<()> {
    let token = service_account_token(client).await?;
    std::fs::write(
        path,
        control_plane::kubeconfig(api_url, ca, &format!("{{token: {token}}}")),
    )?;
    Ok(())
}

/// A token for `knative-build/build-controller` from the TokenRequest API (valid 2 hours).
async fn service_account_token(client: &Client) -> anyhow::Result<String> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "knative-build");
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(7200),
            ..Default::default()
        },
        ..Default::default()
    };
    let response = accounts
        .create_token_request("build-controller", &PostParams::default(), &request)
        .await
        .context("requesting a token for knative-build/build-controller")?;
    Ok(response
        .status
        .context("the TokenRequest has a status")?
        .token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_is_applied_but_its_deployment() {
        let yaml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/release.yaml"
        ))
        .unwrap();
        let (applied, skipped) = release_objects(&yaml).unwrap();
        let kinds: Vec<String> = applied
            .iter()
            .map(|o| o.types.as_ref().unwrap().kind.clone())
            .collect();
        for kind in [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
        ] {
            assert!(
                kinds.iter().any(|k| k == kind),
                "{kind} missing from {kinds:?}"
            );
        }
        assert_eq!(skipped, ["Deployment knative-build/build-controller"]);
    }
}

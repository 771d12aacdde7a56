//! The release as generated (`config/release.yaml`), applied to a cluster: whole, as a user
//! applies it (`cargo xtask e2e`), or without its Deployment for a controller the harness runs
//! itself (`cargo xtask e2e --controller host`, `cargo xtask chaos`); and a kubeconfig for the
//! release's ServiceAccount.

use std::path::Path;

use anyhow::{Context, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::{Client, ResourceExt};
use throwaway_cluster::wait_established;

/// The field manager of every apply.
const FIELD_MANAGER: &str = "xtask-e2e";

/// The API resource of a release object, by discovery, and its namespace when its kind is
/// namespaced.
pub(crate) async fn resource_of(
    client: &Client,
    object: &DynamicObject,
) -> anyhow::Result<(kube::api::ApiResource, Option<String>)> {
    let types = object
        .types
        .as_ref()
        .context("every release object has apiVersion and kind")?;
    let gvk = GroupVersionKind::try_from(types)?;
    let (resource, capabilities) = pinned_kind(client, &gvk).await?;
    let namespace = (capabilities.scope == kube::discovery::Scope::Namespaced)
        .then(|| object.namespace().unwrap_or_default());
    Ok((resource, namespace))
}

/// Server-side apply, taking the fields over as `kubectl apply --server-side --force-conflicts`.
pub(crate) fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// What [`apply_objects`] did.
pub(crate) struct Applied {
    /// `Kind name` of each object applied.
    pub(crate) names: Vec<String>,
    /// The API server's `Warning` headers, each with its object.
    pub(crate) warnings: Vec<String>,
}

/// Waits until the release's CRDs are established.
pub(crate) async fn wait_crds(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in [
        "builds.build.knative.dev",
        "buildtemplates.build.knative.dev",
        "clusterbuildtemplates.build.knative.dev",
    ] {
        wait_established(&crds, name).await?;
    }
    Ok(())
}

/// Every object of the release, in its order.
pub(crate) fn release_objects(yaml: &str) -> anyhow::Result<Vec<DynamicObject>> {
    let mut objects = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(document).context("parsing config/release.yaml")?;
        if value.is_null() {
            continue;
        }
        objects.push(serde_json::from_value(value)?);
    }
    Ok(objects)
}

/// `Kind` of a release object.
pub(crate) fn kind(object: &DynamicObject) -> &str {
    object.types.as_ref().map_or("", |t| t.kind.as_str())
}

/// Applies `config/release.yaml` but its Deployment (for a controller the harness runs
/// itself), object by object with server-side apply, and waits until its CRDs are
/// established. Returns what was applied and what was not (`Kind name` each).
pub(crate) async fn apply_release(
    client: &Client,
    workspace: &Path,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let yaml = std::fs::read_to_string(workspace.join("config/release.yaml"))?;
    let (deployments, objects): (Vec<DynamicObject>, Vec<DynamicObject>) = release_objects(&yaml)?
        .into_iter()
        .partition(|o| kind(o) == "Deployment");
    let applied = apply_objects(client, &objects, &apply_params()).await?;
    wait_crds(client).await?;
    let skipped = deployments
        .iter()
        .map(|o| {
            format!(
                "Deployment {}/{}",
                o.namespace().unwrap_or_default(),
                o.name_any()
            )
        })
        .collect();
    Ok((applied.names, skipped))
}

/// Applies `objects` in order with server-side apply, as `kubectl apply --server-side` does,
/// keeping the API server's warnings.
pub(crate) async fn apply_objects(
    client: &Client,
    objects: &[DynamicObject],
    params: &PatchParams,
) -> anyhow::Result<Applied> {
    let mut applied = Applied {
        names: Vec::new(),
        warnings: Vec::new(),
    };
    for object in objects {
        let types = object
            .types
            .as_ref()
            .context("every release object has apiVersion and kind")?;
        let (resource, namespace) = resource_of(client, object).await?;
        let url = <DynamicObject as kube::Resource>::url_path(&resource, namespace.as_deref());
        let name = format!("{} {}", types.kind, object.name_any());
        let request = kube::core::Request::new(url)
            .patch(&object.name_any(), params, &Patch::Apply(object))
            .with_context(|| format!("encoding {name}"))?;
        let response = client
            .send(request.map(kube::client::Body::from))
            .await
            .with_context(|| format!("applying {name}"))?;
        for warning in response.headers().get_all("warning") {
            applied.warnings.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(warning.as_bytes())
            ));
        }
        let status = response.status();
        let body = response.into_body().collect_bytes().await?;
        if !status.is_success() {
            bail!(
                "applying {name}: {status}: {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        applied.names.push(name);
    }
    Ok(applied)
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
        throwaway_cluster::kubeconfig(api_url, ca, &format!("{{token: {token}}}")),
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
    fn the_release_holds_what_a_user_applies() {
        let yaml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/release.yaml"
        ))
        .unwrap();
        let objects = release_objects(&yaml).unwrap();
        let kinds: Vec<&str> = objects.iter().map(kind).collect();
        for kind in [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
        ] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
        assert_eq!(kinds[0], "Namespace", "the namespace comes first");
    }
}

//! Uninstall: `kubectl delete -f config/release.yaml`, as README's "Uninstall" tells users.
//! Every object of the release must be gone, and with the CRDs every Build and, through
//! their owner references, every Build pod in the test namespaces.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::{Client, ResourceExt};

use super::verdict::Checked;
use super::world::World;
use crate::harness::release::{release_objects, resource_of};
use throwaway_cluster::{Cluster, run_quiet};

/// The label every Build pod carries.
const BUILD_POD: &str = "build.knative.dev/buildName";

/// The verdict's name.
pub(super) const TITLE: &str = "uninstall: kubectl delete -f config/release.yaml";

/// Runs the scenario.
pub(super) async fn run(world: &World, cluster: &Cluster) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let client = world.client.clone();
    let release = crate::harness::workspace_root().join("config/release.yaml");
    let objects = release_objects(&std::fs::read_to_string(&release)?)?;
    let build_pods = Api::<Pod>::all(client.clone());
    let before = build_pods
        .list(&ListParams::default().labels(BUILD_POD))
        .await?;
    let builds = count_builds(&client).await?;
    let t = Instant::now();
    let kubectl = cluster.assets().join("kubectl");
    if kubectl.is_file() {
        let out = run_quiet(
            std::process::Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&cluster.kubeconfig)
                .arg("delete")
                .arg("-f")
                .arg(&release)
                .args(["--wait=true", "--timeout=180s"]),
        )?;
        checked.note(format!(
            "kubectl delete -f config/release.yaml (kubectl from KUBEBUILDER_ASSETS):\n{}",
            out.trim()
        ));
    } else {
        for object in &objects {
            delete(&client, object).await?;
        }
        checked.note(format!(
            "deleted the {} objects of config/release.yaml in its order through the API, as kubectl delete -f does (no kubectl in KUBEBUILDER_ASSETS)",
            objects.len()
        ));
    }
    let left = wait_gone(&client, &objects).await?;
    checked.note(format!(
        "before: {builds} Builds and {} Build pods; {:.1}s after the delete: {} of {} release objects left, {} Build pods left",
        before.items.len(),
        t.elapsed().as_secs_f64(),
        left.objects.len(),
        objects.len(),
        left.build_pods
    ));
    checked.check(
        left.objects.is_empty(),
        format!("left: {}", left.objects.join(", ")),
    );
    checked.check(
        left.build_pods == 0,
        format!("{} Build pods left", left.build_pods),
    );
    Ok(checked)
}

/// What is still there.
struct Left {
    objects: Vec<String>,
    build_pods: usize,
}

/// Waits (at most 180 s) until the release's objects and every Build pod are gone.
async fn wait_gone(client: &Client, objects: &[DynamicObject]) -> anyhow::Result<Left> {
    let t = Instant::now();
    loop {
        let mut left = Vec::new();
        for object in objects {
            if exists(client, object).await? {
                left.push(format!(
                    "{} {}",
                    object.types.as_ref().map_or("", |t| t.kind.as_str()),
                    object.name_any()
                ));
            }
        }
        let build_pods = Api::<Pod>::all(client.clone())
            .list(&ListParams::default().labels(BUILD_POD))
            .await?
            .items
            .len();
        if (left.is_empty() && build_pods == 0) || t.elapsed() > Duration::from_secs(180) {
            return Ok(Left {
                objects: left,
                build_pods,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The Builds in every namespace (0 once their CRD is gone).
async fn count_builds(client: &Client) -> anyhow::Result<usize> {
    let builds: Api<build_types::Build> = Api::all(client.clone());
    Ok(builds.list(&ListParams::default()).await?.items.len())
}

/// The object's API, by its kind (`None` for an object without one).
async fn api_of(
    client: &Client,
    object: &DynamicObject,
) -> anyhow::Result<Option<Api<DynamicObject>>> {
    if object.types.is_none() {
        return Ok(None);
    }
    let (resource, namespace) = resource_of(client, object).await?;
    Ok(Some(match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), &namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }))
}

/// Whether the object is still there (its kind's API gone counts as gone).
async fn exists(client: &Client, object: &DynamicObject) -> anyhow::Result<bool> {
    match api_of(client, object).await {
        Ok(Some(api)) => Ok(api.get_opt(&object.name_any()).await?.is_some()),
        Ok(None) | Err(_) => Ok(false),
    }
}

/// Deletes the object (background propagation, as kubectl does); gone already is fine.
async fn delete(client: &Client, object: &DynamicObject) -> anyhow::Result<()> {
    let Some(api) = api_of(client, object).await? else {
        return Ok(());
    };
    match api
        .delete(&object.name_any(), &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

//! An upgrade under load: with 50 Builds in flight, the release's Deployment is rolled to
//! another controller image (the same code under another tag, as a patch release would be).
//! Every Build ends as its kind expects with one pod, and the replicas' logs show no two
//! leaders at once.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::load;
use super::verdict::Checked;
use super::world::World;
use crate::e2e::install::{RELEASE_NAME, RELEASE_NS, lease_holder, wait_replicas_ready};
use throwaway_cluster::{Cluster, ctr, run_quiet};

/// The tag the controller image is rolled to.
const UPGRADE_TAG: &str = "v0.1.0-e2e-upgrade";

/// The verdict's name.
pub(super) const TITLE: &str = "upgrade: the Deployment rolled to another image under 50 Builds";

/// Runs the scenario.
pub(super) async fn run(world: &World, cluster: &Cluster) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let client = world.client.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NS);
    let (before, _) = wait_replicas_ready(&client, 2).await?;
    let image = current_image(&deployments.get(RELEASE_NAME).await?)?;
    let (repository, _) = image
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("the release's image {image} has no tag"))?;
    let next = format!("{repository}:{UPGRADE_TAG}");
    run_quiet(ctr(&cluster.socket).args([
        "-n",
        "k8s.io",
        "images",
        "tag",
        "--force",
        &normalized(&image),
        &normalized(&next),
    ]))?;
    let holder = lease_holder(&client).await?.unwrap_or_default();
    let logs = load::follow_replicas(client.clone());
    let load = load::start(world, "upgrade", 50).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = Instant::now();
    deployments
        .patch(
            RELEASE_NAME,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {
                "containers": [{"name": "controller", "image": next}],
            }}}})),
        )
        .await?;
    let (after, _) = wait_replicas_ready(&client, 2).await?;
    let rolled = t.elapsed().as_secs_f64();
    let now = current_image(&deployments.get(RELEASE_NAME).await?)?;
    checked.note(format!(
        "rolled {image} -> {now} with 50 Builds in flight: pods {} -> {} in {rolled:.1}s; the Lease was held by {holder}, now by {}",
        before.join(", "),
        after.join(", "),
        lease_holder(&client).await?.unwrap_or_default()
    ));
    checked.check(
        now == next,
        format!("the Deployment runs {now}, wanted {next}"),
    );
    checked.check(
        after.iter().all(|p| !before.contains(p)),
        "the rollout kept an old pod",
    );
    load.finish(world, &mut checked).await?;
    // the new leader's log line may lag its Lease by a moment
    tokio::time::sleep(Duration::from_secs(2)).await;
    let times = logs.stop();
    checked.note(format!(
        "times as leader, from the replicas' logs:\n{}",
        load::describe(&times)
    ));
    let overlapping = load::overlaps(&times);
    checked.check(
        overlapping.is_empty(),
        format!("two leaders at once: {}", overlapping.join("; ")),
    );
    checked.check(
        times.iter().any(|l| after.contains(&l.pod)),
        "no new replica became leader",
    );
    Ok(checked)
}

/// An image reference as containerd stores it for the kubelet: a name without a registry is
/// on Docker Hub (`docker.io/`, `docker.io/library/` for a single path segment).
fn normalized(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or_default();
    if reference.contains('/') && (first.contains(['.', ':']) || first == "localhost") {
        reference.to_owned()
    } else if reference.contains('/') {
        format!("docker.io/{reference}")
    } else {
        format!("docker.io/library/{reference}")
    }
}

/// The image of the Deployment's controller container.
fn current_image(deployment: &Deployment) -> anyhow::Result<String> {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.iter().find(|c| c.name == "controller"))
        .and_then(|c| c.image.clone())
        .ok_or_else(|| anyhow::anyhow!("the Deployment has no controller container image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalized_as_containerd_stores_them() {
        assert_eq!(
            normalized("knative-build-rs/controller:v0.1.0"),
            "docker.io/knative-build-rs/controller:v0.1.0"
        );
        assert_eq!(normalized("busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(normalized("e2e.local/tools:e2e"), "e2e.local/tools:e2e");
        assert_eq!(normalized("localhost/x:1"), "localhost/x:1");
        assert_eq!(normalized("registry:5000/x:1"), "registry:5000/x:1");
    }
}

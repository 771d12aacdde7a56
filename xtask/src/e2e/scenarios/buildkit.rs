//! The seed's first example for real: the catalog's `buildkit` template
//! (`examples/templates/buildkit.yaml`: the seed's `DOCKER_BUILDKIT=1` build against the node's
//! `/var/run/docker.sock`, then a push) with a Docker daemon running on the node. Applied as the
//! catalog has it but for the step image: a Docker CLI built here stands in for
//! `docker:27-cli`, which cannot be pulled. The daemon pushes to the registry with the
//! credentials creds-init wrote for the Build's ServiceAccount; the catalog's checks
//! ([`super::catalog::check_pushed`]) prove the push and attest it.

use super::builds::{expect_status, finished_evidence};
use super::catalog;
use super::verdict::Checked;
use super::world::World;
use crate::e2e::dockerd::Dockerd;
use throwaway_cluster::Cluster;

/// The verdict's name.
pub(super) const TITLE: &str = "buildkit: the seed's template (catalog buildkit) against a Docker daemon on the node's socket, pushed with basic auth, attested";

/// Runs the scenario.
pub(super) async fn run(world: &World, cluster: &Cluster) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let registry = format!("{}:5000", world.registry_ip);
    let dockerd = Dockerd::start(
        &cluster.dir.join("dockerd"),
        cluster.log("dockerd")?,
        &[&registry],
    )?;
    checked.note(format!(
        "dockerd (Debian's docker.io) listening on {}, its state under the run's directory, {registry} over plain HTTP",
        crate::e2e::dockerd::SOCKET
    ));
    catalog::apply_template(world, "buildkit.yaml").await?;
    let image = format!("{registry}/e2e/app:buildkit");
    let build =
        catalog::run_build(world, "kubeval-buildkit", "buildkit", &[("IMAGE", &image)]).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    let step = logs.get("build-step-build").cloned().unwrap_or_default();
    checked.check(
        step.contains("load build definition"),
        "kubectl logs -c build-step-build shows no BuildKit output",
    );
    let listed = dockerd.images()?;
    checked.note(format!(
        "docker image ls on the node's daemon:\n{}",
        listed.trim()
    ));
    catalog::check_pushed(world, cluster, &build, &image, &mut checked).await?;
    Ok(checked)
}

//! `img`: the seed's img shape from the catalog (`examples/templates/buildah-privileged.yaml`:
//! a daemon-less builder in two privileged steps, build then push), building the repository's
//! `Dockerfile.run` (a RUN instruction, which privilege allows) and pushing it to the registry
//! with the build-bot ServiceAccount's basic-auth credentials; the catalog's checks
//! ([`super::catalog::check_pushed`]) prove the push and attest it.

use throwaway_cluster::Cluster;

use super::builds::{expect_status, finished_evidence};
use super::catalog;
use super::verdict::Checked;
use super::world::{DOCKERFILE_RUN, World};

/// The verdict's name.
pub(super) const TITLE: &str = "img: the seed's img shape (catalog buildah-privileged), a RUN built, pushed with basic auth, attested";

/// Runs the scenario: the template, the Build, and the pushed image's checks.
pub(super) async fn run(world: &World, cluster: &Cluster) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    catalog::apply_template(world, "buildah-privileged.yaml").await?;
    let image = format!("{}:5000/e2e/app:img", world.registry_ip);
    let build = catalog::run_build(
        world,
        "img",
        "buildah-privileged",
        &[
            ("IMAGE", &image),
            ("DOCKERFILE", DOCKERFILE_RUN),
            ("TLS_VERIFY", "false"),
        ],
    )
    .await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    let build_log = logs.get("build-step-build").cloned().unwrap_or_default();
    checked.check(
        build_log.contains("RUN echo built by RUN"),
        "build-step-build does not show buildah running the RUN instruction",
    );
    catalog::check_pushed(world, cluster, &build, &image, &mut checked).await?;
    Ok(checked)
}

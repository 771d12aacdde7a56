//! The seed's first example for real: its `buildkit` template (`examples/seed/buildkit.yaml`,
//! `DOCKER_BUILDKIT=1` against the node's `/var/run/docker.sock`) with a Docker daemon running
//! on the node. Applied as the seed wrote it but for the step's image: a Docker CLI built here
//! stands in for `docker:18.06`, which cannot be pulled. The Build's source is the in-cluster
//! git server's repository (a `FROM scratch` Dockerfile: nothing to pull).

use std::time::Duration;

use build_types::BuildTemplate;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::builds::{create_build, expect_status, finished_evidence, wait_done};
use super::verdict::Checked;
use super::world::{NS, World};
use crate::e2e::dockerd::Dockerd;
use crate::e2e::images;
use throwaway_cluster::Cluster;

/// The tag the Build asks for.
const TAG: &str = "e2e.local/kubeval:buildkit";

/// The verdict's name.
pub(super) const TITLE: &str =
    "buildkit: the seed's template against a Docker daemon on the node's socket";

/// Runs the scenario.
pub(super) async fn run(world: &World, cluster: &Cluster) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let seed = std::fs::read_to_string(
        crate::harness::workspace_root().join("examples/seed/buildkit.yaml"),
    )?;
    let template = seed_template(&seed)?;
    let dockerd = Dockerd::start(&cluster.dir.join("dockerd"), cluster.log("dockerd")?)?;
    checked.note(format!(
        "dockerd (Debian's docker.io) listening on {}, its state under the run's directory",
        crate::e2e::dockerd::SOCKET
    ));
    Api::<BuildTemplate>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &template)
        .await?;
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "kubeval-buildkit", "namespace": NS},
            "spec": {
                "source": {"git": {"url": world.git_url(), "revision": "main"}},
                "template": {"name": "buildkit", "arguments": [{"name": "IMAGE", "value": TAG}]},
            },
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(180)).await?;
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
    checked.check(
        listed.lines().any(|l| l.starts_with(&format!("{TAG} "))),
        format!("the daemon does not list {TAG}"),
    );
    Ok(checked)
}

/// The seed's template with its step image replaced by the stand-in Docker CLI, and nothing
/// else changed.
fn seed_template(seed: &str) -> anyhow::Result<BuildTemplate> {
    let mut value: serde_json::Value = serde_yaml_ng::from_str(seed)?;
    let image = value
        .pointer_mut("/spec/steps/0/image")
        .ok_or_else(|| anyhow::anyhow!("examples/seed/buildkit.yaml has no spec.steps[0].image"))?;
    anyhow::ensure!(
        image == "docker:18.06",
        "examples/seed/buildkit.yaml's step image is {image}, not docker:18.06"
    );
    *image = json!(images::DOCKER_CLI);
    Ok(serde_json::from_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_seeds_step_image_is_replaced() {
        let seed = include_str!("../../../../examples/seed/buildkit.yaml");
        let template = serde_json::to_value(seed_template(seed).unwrap()).unwrap();
        let original: serde_json::Value = serde_yaml_ng::from_str(seed).unwrap();
        assert_eq!(template["spec"]["steps"][0]["image"], images::DOCKER_CLI);
        assert_eq!(
            template["spec"]["steps"][0]["env"],
            original["spec"]["steps"][0]["env"]
        );
        assert_eq!(
            template["spec"]["steps"][0]["args"],
            original["spec"]["steps"][0]["args"]
        );
        assert_eq!(template["spec"]["volumes"], original["spec"]["volumes"]);
    }
}

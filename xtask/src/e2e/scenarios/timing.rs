//! `timing`: how long a Build takes from creation to `Succeeded`, against the same pod
//! created directly: the controller's overhead.

use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use serde_json::json;

use super::builds::{create_build, expect_status, pod_name, tools_step, wait_done, wait_pod_done};
use super::verdict::Checked;
use super::world::{NS, World};

/// The verdict's name.
pub(super) const TITLE: &str =
    "timing: Build created to Succeeded, against the same pod created directly";

pub(super) async fn run(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let t = Instant::now();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "timing", "namespace": NS},
            "spec": {"steps": [tools_step("hello", "echo hello")]},
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let via_build = t.elapsed().as_secs_f64();
    expect_status(&mut checked, &build, "True", None);
    let pod = world
        .pods()
        .get(&pod_name(&build).context("the Build names its pod")?)
        .await?;
    let mut spec = pod.spec.context("the pod has a spec")?;
    spec.node_name = None;
    let direct = Pod {
        metadata: kube::api::ObjectMeta {
            name: Some("timing-direct".into()),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    };
    let t = Instant::now();
    world.pods().create(&PostParams::default(), &direct).await?;
    let phase = wait_pod_done(world, "timing-direct").await?;
    let direct_seconds = t.elapsed().as_secs_f64();
    checked.check(
        phase == "Succeeded",
        format!("the direct pod ended {phase}"),
    );
    checked.note(format!(
        "Build created -> Succeeded=True: {via_build:.1}s; the same pod created directly -> Succeeded: {direct_seconds:.1}s (overhead {:.1}s; both polled every 250 ms)",
        via_build - direct_seconds
    ));
    Ok(checked)
}

//! Evictions: a running Build's pod evicted through the eviction API, and the node drained
//! (`kubectl drain --pod-selector` semantics: cordon, then evict the Build pods on it — on a
//! one-node cluster a whole drain would also evict the controller and the fixtures). Builds
//! end with `PodEvicted` naming the eviction; a Build created while the node is cordoned
//! waits `Pending` with the scheduler's reason, which `kubectl build logs -f` shows, and runs
//! once the node is uncordoned.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, EvictParams, Patch, PatchParams};
use serde_json::json;

use super::builds::{
    condition_line, create_build, expect_status, follow_logs, followed, succeeded, tools_step,
    wait_done, wait_message, wait_step_running,
};
use super::verdict::Checked;
use super::world::{NS, World};
use throwaway_cluster::NODE;

/// A Build with one step that runs for two minutes.
async fn long_build(world: &World, name: &str) -> anyhow::Result<String> {
    create_build(
        world,
        json!({
            "metadata": {"name": name, "namespace": NS},
            "spec": {"steps": [tools_step("long", "echo started; sleep 120; echo never")]},
        }),
    )
    .await
}

/// Checks the Build ended `PodEvicted` naming the eviction API, within 15 s of `since`.
fn judge(checked: &mut Checked, build: &build_types::Build, since: Instant) {
    let took = since.elapsed().as_secs_f64();
    checked.note(format!(
        "{} finished {took:.1}s after the eviction: {}",
        kube::ResourceExt::name_any(build),
        condition_line(succeeded(build).as_ref())
    ));
    expect_status(checked, build, "False", Some("EvictionByEvictionAPI"));
    let reason = succeeded(build).map(|c| c["reason"].clone());
    checked.check(
        reason == Some(json!("PodEvicted")),
        format!("reason {reason:?}, wanted PodEvicted"),
    );
    checked.check(took < 15.0, format!("the verdict took {took:.1}s"));
}

/// The name of [`evict`]'s verdict.
pub(super) const EVICT_TITLE: &str = "node: a running Build's pod evicted through the eviction API";
/// The name of [`drain`]'s verdict.
pub(super) const DRAIN_TITLE: &str = "node: drained of Build pods (cordon, evict) and uncordoned";

/// A running Build's pod evicted through the eviction API.
pub(super) async fn evict(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = long_build(world, "evicted").await?;
    let pod = wait_step_running(world, &name, "long").await?;
    let t = Instant::now();
    world.pods().evict(&pod, &EvictParams::default()).await?;
    checked.note(format!("evicted pod {pod} through the eviction API"));
    let build = wait_done(world, &name, Duration::from_secs(60)).await?;
    judge(&mut checked, &build, t);
    Ok(checked)
}

/// Cordons or uncordons the node.
async fn cordon(world: &World, unschedulable: bool) -> anyhow::Result<()> {
    Api::<Node>::all(world.client.clone())
        .patch(
            NODE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": unschedulable}})),
        )
        .await?;
    Ok(())
}

/// The node drained of Build pods while they run, and a Build created before it is
/// uncordoned. The node is uncordoned whatever happens.
pub(super) async fn drain(world: &World, kubeconfig: &std::path::Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let result = drain_and_wait(world, kubeconfig, &mut checked).await;
    cordon(world, false).await?;
    result?;
    Ok(checked)
}

async fn drain_and_wait(
    world: &World,
    kubeconfig: &std::path::Path,
    checked: &mut Checked,
) -> anyhow::Result<()> {
    let names = ["drained-0", "drained-1", "drained-2"];
    let mut pods = Vec::new();
    for name in names {
        long_build(world, name).await?;
    }
    for name in names {
        pods.push(wait_step_running(world, name, "long").await?);
    }
    cordon(world, true).await?;
    let t = Instant::now();
    for pod in &pods {
        world.pods().evict(pod, &EvictParams::default()).await?;
    }
    checked.note(format!(
        "cordoned node {NODE} and evicted the Build pods on it: {}",
        pods.join(", ")
    ));
    for name in names {
        let build = wait_done(world, name, Duration::from_secs(60)).await?;
        judge(checked, &build, t);
    }
    let waiting = create_build(
        world,
        json!({
            "metadata": {"name": "after-drain", "namespace": NS},
            "spec": {"steps": [tools_step("say", "echo ran after the uncordon")]},
        }),
    )
    .await?;
    let follower = follow_logs(kubeconfig, &waiting);
    let pending = wait_message(world, &waiting, "Unschedulable", Duration::from_secs(30)).await?;
    checked.note(format!("after-drain while the node is cordoned: {pending}"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    cordon(world, false).await?;
    let t = Instant::now();
    let build = wait_done(world, &waiting, Duration::from_secs(90)).await?;
    checked.note(format!(
        "uncordoned; after-drain finished {:.1}s later: {}",
        t.elapsed().as_secs_f64(),
        condition_line(succeeded(&build).as_ref())
    ));
    expect_status(checked, &build, "True", None);
    let (code, out, err) = followed(checked, &waiting, follower).await?;
    checked.check(
        err.contains("Unschedulable") || out.contains("Unschedulable"),
        "kubectl build logs -f did not say why it waited",
    );
    checked.check(code == 0, format!("logs -f exited {code}"));
    Ok(())
}

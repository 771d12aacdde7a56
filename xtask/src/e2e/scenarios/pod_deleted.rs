//! A running Build's pod deleted by a user (`kubectl delete pod`): the Build fails at once
//! with `PodDeleted` and a message that says so, not with the killed step's exit code nor a
//! timeout ten minutes later. `kubectl build logs -f`, following it, says the pod is gone.

use std::time::{Duration, Instant};

use kube::api::DeleteParams;
use serde_json::json;

use super::builds::{
    condition_line, create_build, expect_status, follow_logs, followed, succeeded, tools_step,
    wait_done, wait_step_running,
};
use super::verdict::Checked;
use super::world::{NS, World};

/// The verdict's name.
pub(super) const TITLE: &str = "node: a running Build's pod deleted by a user";

/// Runs the scenario.
pub(super) async fn run(world: &World, kubeconfig: &std::path::Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "pod-deleted", "namespace": NS},
            "spec": {"steps": [tools_step("long", "echo started; sleep 120; echo never")]},
        }),
    )
    .await?;
    let pod = wait_step_running(world, &name, "long").await?;
    let follower = follow_logs(kubeconfig, &name);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    world.pods().delete(&pod, &DeleteParams::default()).await?;
    let build = wait_done(world, &name, Duration::from_secs(60)).await?;
    let took = t.elapsed().as_secs_f64();
    checked.note(format!(
        "kubectl delete pod {pod}: the Build finished {took:.1}s later: {}",
        condition_line(succeeded(&build).as_ref())
    ));
    expect_status(&mut checked, &build, "False", Some("was deleted"));
    let reason = succeeded(&build).and_then(|c| c["reason"].as_str().map(str::to_owned));
    checked.check(
        reason.as_deref() == Some("PodDeleted"),
        format!("reason {reason:?}, wanted PodDeleted"),
    );
    checked.check(took < 15.0, format!("the verdict took {took:.1}s"));
    let (code, _, _) = followed(&mut checked, &name, follower).await?;
    checked.check(code == 1, format!("logs -f exited {code}, wanted 1"));
    Ok(checked)
}

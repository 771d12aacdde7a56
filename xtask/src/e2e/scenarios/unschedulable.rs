//! A pod no node can ever take (a `nodeSelector` that matches nothing): while it waits the
//! Build says why (the scheduler's reason), `kubectl build logs -f` says it too, and the
//! timeout's message names it.

use std::time::{Duration, Instant};

use serde_json::json;

use super::builds::{
    condition_line, create_build, expect_status, follow_logs, followed, succeeded, tools_step,
    wait_done, wait_message,
};
use super::verdict::Checked;
use super::world::{NS, World};

/// The verdict's name.
pub(super) const TITLE: &str = "node: a pod no node takes, with a 20s timeout";

/// Runs the scenario.
pub(super) async fn run(world: &World, kubeconfig: &std::path::Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let t = Instant::now();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "unschedulable", "namespace": NS},
            "spec": {
                "timeout": "20s",
                "nodeSelector": {"e2e.local/disk": "none-such"},
                "steps": [tools_step("say", "echo never")],
            },
        }),
    )
    .await?;
    let follower = follow_logs(kubeconfig, &name);
    let waiting = wait_message(world, &name, "Unschedulable", Duration::from_secs(15)).await?;
    checked.note(format!(
        "while it waits ({:.1}s after creation): {waiting}",
        t.elapsed().as_secs_f64()
    ));
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    checked.note(format!(
        "finished {:.1}s after creation (timeout 20s): {}",
        t.elapsed().as_secs_f64(),
        condition_line(succeeded(&build).as_ref())
    ));
    expect_status(&mut checked, &build, "False", Some("it waited for"));
    expect_status(&mut checked, &build, "False", Some("Unschedulable"));
    let reason = succeeded(&build).map(|c| c["reason"].clone());
    checked.check(
        reason == Some(json!("BuildTimeout")),
        format!("reason {reason:?}, wanted BuildTimeout"),
    );
    let (code, out, err) = followed(&mut checked, &name, follower).await?;
    checked.check(code == 1, format!("logs -f exited {code}, wanted 1"));
    checked.check(
        err.contains("Unschedulable") || out.contains("Unschedulable"),
        "kubectl build logs -f did not say why it waited",
    );
    Ok(checked)
}

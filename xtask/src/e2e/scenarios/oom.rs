//! Out of memory: a step that allocates past its memory limit, and an init helper (the git
//! fetcher, fetching a repository with a 48 MiB file) under a namespace's LimitRange too small
//! for it. Each Build fails promptly with
//! `StepOOMKilled`, and the message names OOM and the container.

use crate::harness::wait_until;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{LimitRange, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;

use super::builds::{
    condition_line, create_build, expect_status, succeeded, tools_step, wait_done,
};
use super::verdict::Checked;
use super::world::{NS, World};

/// The namespace whose LimitRange is too small for the git fetcher.
const SMALL_NS: &str = "e2e-small";

/// The verdict's name.
pub(super) const TITLE: &str = "node: a step and an init helper OOM-killed";

/// Runs the scenario.
pub(super) async fn run(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let mut step = tools_step(
        "hog",
        "echo allocating 256 MiB under a 32 MiB limit; dd if=/dev/zero of=/dev/null bs=256M count=1; echo survived",
    );
    step["resources"] = json!({"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}});
    let t = Instant::now();
    let name = create_build(
        world,
        json!({"metadata": {"name": "oom-step", "namespace": NS}, "spec": {"steps": [step]}}),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    judge(&mut checked, &build, "build-step-hog", t.elapsed());

    small_namespace(world).await?;
    let t = Instant::now();
    let builds: Api<build_types::Build> = Api::namespaced(world.client.clone(), SMALL_NS);
    let build: build_types::Build = serde_json::from_value(json!({
        "metadata": {"name": "oom-helper", "namespace": SMALL_NS},
        "spec": {
            "source": {"git": {"url": world.git_url().replace("app.git", "big.git"), "revision": "main"}},
            "steps": [tools_step("after", "echo never")],
        },
    }))?;
    builds.create(&PostParams::default(), &build).await?;
    let name = "oom-helper";
    let build = wait_until(
        "Build oom-helper to finish",
        Duration::from_secs(90),
        || async {
            let build = builds.get(name).await.ok()?;
            let done = succeeded(&build)
                .and_then(|c| c["status"].as_str().map(|s| s != "Unknown"))
                .unwrap_or(false);
            done.then_some(build)
        },
    )
    .await?;
    judge(&mut checked, &build, "build-step-git-source-0", t.elapsed());
    Ok(checked)
}

/// Notes the verdict; checks it is `StepOOMKilled` naming `container`, within 60 s.
fn judge(checked: &mut Checked, build: &build_types::Build, container: &str, took: Duration) {
    checked.note(format!(
        "{} finished {:.1}s after creation: {}",
        kube::ResourceExt::name_any(build),
        took.as_secs_f64(),
        condition_line(succeeded(build).as_ref())
    ));
    expect_status(checked, build, "False", Some("OOMKilled"));
    let condition = succeeded(build).unwrap_or_default();
    checked.check(
        condition["reason"] == "StepOOMKilled",
        format!("reason {}, wanted StepOOMKilled", condition["reason"]),
    );
    checked.check(
        condition["message"]
            .as_str()
            .is_some_and(|m| m.contains(container)),
        format!("the message does not name {container}"),
    );
    checked.check(took < Duration::from_secs(60), "the verdict took over 60s");
}

/// A namespace whose containers get 24 MiB at most unless they say otherwise: enough for the
/// credential initializer, not for git fetching a 48 MiB file (the git server's `big.git`).
async fn small_namespace(world: &World) -> anyhow::Result<()> {
    throwaway_cluster::create_namespace(&world.client, SMALL_NS).await?;
    Api::<LimitRange>::namespaced(world.client.clone(), SMALL_NS)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "small"},
                "spec": {"limits": [{"type": "Container",
                    "default": {"memory": "24Mi"}, "defaultRequest": {"memory": "24Mi"}}]},
            }))?,
        )
        .await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(world.client.clone(), SMALL_NS);
    wait_until(
        "ServiceAccount e2e-small/default",
        Duration::from_secs(30),
        || async { accounts.get_opt("default").await.ok().flatten() },
    )
    .await?;
    Ok(())
}

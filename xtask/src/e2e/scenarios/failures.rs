//! `failures`: Builds that must fail, each with the reason a user would read and the pod
//! stopped: a failing step, a git revision that does not exist, a timeout, a cancel, an image
//! that does not exist (after the image pull grace); a template created after its Build (which
//! must then succeed); and the controller killed and restarted mid-build (one pod, the Build
//! finishes).

use std::time::{Duration, Instant};

use build_types::BuildTemplate;
use futures::future::join_all;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use throwaway_cluster::Cluster;

use super::builds::{
    condition_line, create_build, expect_pod_stopped, expect_status, finished_evidence, succeeded,
    tools_step, wait_done, wait_step_running,
};
use super::verdict::{Checked, Verdict, boxed, timed};
use super::world::{NS, World};
use crate::e2e::install::Controller;

/// The verdicts, one a case; the cases run at once, the controller's restart after them.
pub(super) async fn verdicts(
    world: &World,
    cluster: &mut Cluster,
    controller: &Controller,
) -> Vec<Verdict> {
    let mut verdicts = join_all([
        boxed(timed("failure: a failing step", failing_step(world))),
        boxed(timed(
            "failure: a git revision that does not exist",
            bad_revision(world),
        )),
        boxed(timed(
            "failure: a 10s timeout on a long step",
            timeout(world),
        )),
        boxed(timed("failure: cancel while running", cancel(world))),
        boxed(timed(
            "failure: an image that does not exist (--image-pull-grace)",
            missing_image(world, controller.image_pull_grace()),
        )),
        boxed(timed(
            "template created after its Build",
            late_template(world),
        )),
    ])
    .await;
    verdicts.push(
        timed(
            "controller killed and restarted mid-build",
            restart(world, cluster, controller),
        )
        .await,
    );
    verdicts
}

async fn failing_step(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "failing-step", "namespace": NS},
            "spec": {"steps": [
                tools_step("first", "echo the first step ran"),
                tools_step("fail", "echo about to fail >&2; exit 3"),
                tools_step("never", "echo this must not run"),
            ]},
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", Some("fail"));
    checked.check(
        logs.get("build-step-first")
            .is_some_and(|l| l.contains("the first step ran")),
        "the first step's log is missing",
    );
    checked.check(
        logs.get("build-step-fail")
            .is_some_and(|l| l.contains("about to fail")),
        "the failing step's log is missing",
    );
    checked.check(
        !logs
            .get("build-step-never")
            .is_some_and(|l| l.contains("must not run")),
        "a step after the failure ran",
    );
    Ok(checked)
}

async fn bad_revision(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "bad-revision", "namespace": NS},
            "spec": {
                "source": {"git": {"url": world.git_url(), "revision": "no-such-branch"}},
                "steps": [tools_step("list", "ls /workspace")],
            },
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", None);
    let git_log = logs
        .get("build-step-git-source-0")
        .cloned()
        .unwrap_or_default();
    checked.check(
        git_log.contains("no-such-branch"),
        "git-init's log does not name the revision",
    );
    checked.check(
        !git_log.contains("unable to connect"),
        "the git server was unreachable, so the revision was never looked up",
    );
    Ok(checked)
}

async fn timeout(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let t = Instant::now();
    let name = create_build(world, json!({
        "metadata": {"name": "timeout", "namespace": NS},
        "spec": {"timeout": "10s", "steps": [tools_step("long", "echo sleeping 300s; sleep 300")]},
    }))
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let took = t.elapsed().as_secs_f64();
    finished_evidence(world, &build, &mut checked).await;
    checked.note(format!("finished {took:.1}s after creation"));
    expect_status(&mut checked, &build, "False", Some("Timeout"));
    checked.check(took < 45.0, format!("took {took:.0}s for a 10s timeout"));
    expect_pod_stopped(world, &build, &mut checked).await;
    Ok(checked)
}

async fn cancel(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "cancel", "namespace": NS},
            "spec": {"steps": [tools_step("long", "echo started, sleeping 300s; sleep 300")]},
        }),
    )
    .await?;
    wait_step_running(world, &name, "long").await?;
    let t = Instant::now();
    world
        .builds()
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"status": "BuildCancelled"}})),
        )
        .await?;
    let build = wait_done(world, &name, Duration::from_secs(60)).await?;
    checked.note(format!(
        "cancelled {:.1}s after spec.status=BuildCancelled",
        t.elapsed().as_secs_f64()
    ));
    finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", Some("Cancel"));
    expect_pod_stopped(world, &build, &mut checked).await;
    Ok(checked)
}

async fn missing_image(world: &World, grace: Duration) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let t = Instant::now();
    let name = create_build(world, json!({
        "metadata": {"name": "missing-image", "namespace": NS},
        "spec": {"steps": [{"name": "ghost", "image": "e2e.local/no-such-image:e2e", "command": ["true"]}]},
    }))
    .await?;
    let build = wait_done(world, &name, grace + Duration::from_secs(120)).await?;
    checked.note(format!(
        "finished {:.1}s after creation (the controller's image pull grace: {}s)",
        t.elapsed().as_secs_f64(),
        grace.as_secs()
    ));
    checked.check(
        t.elapsed() >= grace,
        "the Build failed before the image pull grace ran out",
    );
    finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", Some("no-such-image"));
    expect_pod_stopped(world, &build, &mut checked).await;
    Ok(checked)
}

async fn late_template(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(world, json!({
        "metadata": {"name": "late-template", "namespace": NS},
        "spec": {"template": {"name": "late", "arguments": [{"name": "WORD", "value": "late"}]}},
    }))
    .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = world.builds().get(&name).await?;
    checked.note(format!(
        "4s later, without the template: {}",
        condition_line(succeeded(&before).as_ref())
    ));
    let template: BuildTemplate = serde_json::from_value(json!({
        "metadata": {"name": "late", "namespace": NS},
        "spec": {
            "parameters": [{"name": "WORD"}],
            "steps": [tools_step("say", "echo the template came ${WORD}")],
        },
    }))?;
    Api::<BuildTemplate>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &template)
        .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    checked.check(
        logs.get("build-step-say")
            .is_some_and(|l| l.contains("the template came late")),
        "the template's step did not run",
    );
    Ok(checked)
}

async fn restart(
    world: &World,
    cluster: &mut Cluster,
    controller: &Controller,
) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "restart", "namespace": NS},
            "spec": {"steps": [tools_step("slow", "echo before; sleep 15; echo after")]},
        }),
    )
    .await?;
    wait_step_running(world, &name, "slow").await?;
    checked.note(controller.crash(cluster).await?);
    tokio::time::sleep(Duration::from_secs(3)).await;
    checked.note(controller.recover(cluster)?);
    let build = wait_done(world, &name, Duration::from_secs(120)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    checked.check(
        logs.get("build-step-slow")
            .is_some_and(|l| l.contains("after")),
        "the step did not finish",
    );
    let pods = world
        .pods()
        .list(&ListParams::default().labels(&format!("build.knative.dev/buildName={name}")))
        .await?;
    checked.note(format!(
        "pods of the Build: {}",
        pods.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    checked.check(
        pods.items.len() == 1,
        format!("{} pods for one Build", pods.items.len()),
    );
    Ok(checked)
}

//! `ssh`: a git source over ssh, with the server's key in the Secret's `known_hosts`, and
//! without it (`accept-new`); the checkout proves it.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use super::builds::{create_build, expect_status, finished_evidence, tools_step, wait_done};
use super::verdict::{Checked, Verdict, boxed, timed};
use super::world::{NS, World};

/// The verdicts: with `known_hosts`, and without.
pub(super) async fn verdicts(world: &World) -> Vec<Verdict> {
    join_all([
        boxed(timed(
            "ssh: git source over ssh with known_hosts",
            ssh(world, true),
        )),
        boxed(timed(
            "ssh: git source over ssh without known_hosts (accept-new)",
            ssh(world, false),
        )),
    ])
    .await
}

async fn ssh(world: &World, known_hosts: bool) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let (name, account) = if known_hosts {
        ("ssh-known", "ssh-known")
    } else {
        ("ssh-accept-new", "ssh-new")
    };
    let name = create_build(world, json!({
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "serviceAccountName": account,
            "source": {"git": {"url": format!("ssh://root@{}/srv/git/app.git", world.git_ip), "revision": "main"}},
            "steps": [tools_step("show", "cat /workspace/hello.txt; echo ~/.ssh/known_hosts:; cut -c1-60 /builder/home/.ssh/known_hosts")],
        },
    }))
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    checked.check(
        logs.get("build-step-show")
            .is_some_and(|l| l.contains("hello from the e2e repository")),
        "the repository was not checked out",
    );
    Ok(checked)
}

//! The leader lost: with 50 Builds in flight, the pod holding the Lease is deleted with
//! `--grace-period=0 --force`, as a node failure or an impatient operator would. The standby
//! must take the Lease within the documented bound (README, "Leader election": 19 s), and
//! every Build must end as its kind expects with one pod.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};

use super::load;
use super::verdict::Checked;
use super::world::World;
use crate::e2e::install::{RELEASE_NS, lease_holder, wait_replicas_ready};

/// How soon a standby must hold the Lease after the leader is gone (README, "Leader
/// election": lease duration 15 s, plus a 2 s retry period, plus one renewal's latency).
const TAKEOVER_BOUND: Duration = Duration::from_secs(19);

/// The verdict's name.
pub(super) const TITLE: &str = "leader lost: the leading pod force-deleted under 50 Builds";

/// Runs the scenario.
pub(super) async fn run(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let client = world.client.clone();
    let (before, _) = wait_replicas_ready(&client, 2).await?;
    let leader = lease_holder(&client)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no replica holds the Lease"))?;
    let load = load::start(world, "leader-lost", 50).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let t = Instant::now();
    pods.delete(
        &leader,
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await?;
    let next = loop {
        if let Some(holder) = lease_holder(&client).await?
            && holder != leader
        {
            break holder;
        }
        if t.elapsed() > TAKEOVER_BOUND + Duration::from_secs(30) {
            anyhow::bail!("no other replica took the Lease within {:?}", t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = t.elapsed();
    checked.note(format!(
        "force-deleted the leader {leader} (of {}); {next} holds the Lease {:.1}s later (bound {}s)",
        before.join(", "),
        took.as_secs_f64(),
        TAKEOVER_BOUND.as_secs()
    ));
    checked.check(
        took <= TAKEOVER_BOUND,
        format!("the standby took {:.1}s", took.as_secs_f64()),
    );
    let (after, waited) = wait_replicas_ready(&client, 2).await?;
    checked.note(format!(
        "the Deployment is back to 2 Ready replicas {:.1}s after the delete: {}",
        (took + waited).as_secs_f64(),
        after.join(", ")
    ));
    load.finish(world, &mut checked).await?;
    Ok(checked)
}

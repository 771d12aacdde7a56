//! A node component restarted while steps run: the kubelet or containerd SIGKILLed and
//! started again with the same state, as a crash and its supervisor would. Builds in flight
//! (two steps with sleeps; one in five fails its second step) must all end as their kind
//! expects, none left `Unknown`, each with exactly one pod.

use std::time::{Duration, Instant};

use super::load;
use super::verdict::{Checked, Verdict, timed};
use super::world::World;
use throwaway_cluster::{Cluster, NodePart};

/// The verdict of the scenario for `part`.
pub(super) async fn verdict(world: &World, cluster: &mut Cluster, part: NodePart) -> Verdict {
    let what = match part {
        NodePart::Kubelet => "the kubelet",
        NodePart::Containerd => "containerd",
    };
    let title = format!("node: {what} SIGKILLed and restarted under 10 Builds");
    timed(&title, run(world, cluster, part)).await
}

/// Runs the scenario for `part`.
async fn run(world: &World, cluster: &mut Cluster, part: NodePart) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let prefix = format!("{}-restart", part.process());
    let load = load::start(world, &prefix, 10).await?;
    // let the steps get going first
    tokio::time::sleep(Duration::from_secs(6)).await;
    let t = Instant::now();
    let pid = cluster.restart(part, Duration::from_secs(3)).await?;
    checked.note(format!(
        "killed {} (SIGKILL, pid {pid}) with 10 Builds in flight; down 3s, serving again {:.1}s after the kill",
        part.process(),
        t.elapsed().as_secs_f64()
    ));
    load.finish(world, &mut checked).await?;
    Ok(checked)
}

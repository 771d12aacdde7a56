//! The scenarios: Builds on the real node, each judged by what a person would look at (the
//! Succeeded condition, the step logs, the object that proves the side effect) and timed.
//!
//! One scenario a file under `scenarios/`, each with its verdict's name and its evidence; the
//! fixtures they share ([`world`]), what they do with Builds ([`builds`]) and what they end
//! with ([`verdict`]) are modules of their own. This file only runs the chosen ones in order.

use std::time::Instant;

use anyhow::Context;
use throwaway_cluster::{Cluster, NodePart, interrupted};

use super::ControllerPlace;
use super::install::Controller;
use verdict::{Checked, not_run, timed};

mod buildah;
mod buildkit;
mod builds;
mod catalog;
mod cli;
mod eviction;
mod failures;
mod img;
mod leader_lost;
mod load;
mod metrics;
mod node_restart;
mod oom;
mod plugin;
mod pod_deleted;
mod soak;
mod ssh;
mod timing;
mod uninstall;
mod unschedulable;
mod upgrade;
mod verdict;
mod world;

pub(crate) use soak::Soak;
pub(crate) use verdict::{Verdict, summary};

/// Runs the chosen scenarios after the install's verdict; a scenario's own failure is a
/// verdict, not an error.
pub(crate) async fn run_all(
    cluster: &mut Cluster,
    controller: &Controller,
    installed: Verdict,
    chosen: &[&str],
    soak: &Soak,
) -> anyhow::Result<Vec<Verdict>> {
    let t = Instant::now();
    let client = cluster.admin_client().await?;
    let world = world::fixtures(cluster, client)
        .await
        .context("setting up the fixtures")?;
    eprintln!(
        "[fixtures] {:.1}s git server {}, registry {}:5000",
        t.elapsed().as_secs_f64(),
        world.git_ip,
        world.registry_ip
    );
    let mut verdicts = vec![installed];
    for name in chosen {
        if interrupted() {
            break;
        }
        eprintln!("[scenario] {name}");
        verdicts.extend(run_one(name, &world, cluster, controller, soak).await);
    }
    Ok(verdicts)
}

/// One `--scenario` name's verdicts: a table from the name to its file's verdict.
async fn run_one(
    name: &str,
    world: &world::World,
    cluster: &mut Cluster,
    controller: &Controller,
    soak: &Soak,
) -> Vec<Verdict> {
    let needs_release = matches!(name, "metrics" | "upgrade" | "leader-lost" | "uninstall");
    if needs_release && matches!(controller, Controller::Host(_)) {
        let why = "it needs the release's Deployment: run without --controller host";
        return vec![not_run(name, why)];
    }
    let kubeconfig = cluster.kubeconfig.clone();
    let verdict = match name {
        "img" => timed(img::TITLE, img::run(world, cluster)).await,
        "buildkit" => timed(buildkit::TITLE, buildkit::run(world, cluster)).await,
        "buildah" => timed(buildah::TITLE, buildah::run(world, cluster)).await,
        "ssh" => return ssh::verdicts(world).await,
        "timing" => timed(timing::TITLE, timing::run(world)).await,
        "plugin" => timed(plugin::TITLE, plugin::run(&kubeconfig)).await,
        "cli" => timed(cli::TITLE, cli::run(world, &kubeconfig)).await,
        "metrics" => timed(metrics::TITLE, metrics::run(world)).await,
        "failures" => return failures::verdicts(world, cluster, controller).await,
        "pod-deleted" => timed(pod_deleted::TITLE, pod_deleted::run(world, &kubeconfig)).await,
        "oom" => timed(oom::TITLE, oom::run(world)).await,
        "eviction" => timed(eviction::EVICT_TITLE, eviction::evict(world)).await,
        "drain" => timed(eviction::DRAIN_TITLE, eviction::drain(world, &kubeconfig)).await,
        "unschedulable" => {
            timed(unschedulable::TITLE, unschedulable::run(world, &kubeconfig)).await
        }
        "kubelet-restart" => node_restart::verdict(world, cluster, NodePart::Kubelet).await,
        "containerd-restart" => node_restart::verdict(world, cluster, NodePart::Containerd).await,
        "upgrade" => timed(upgrade::TITLE, upgrade::run(world, cluster)).await,
        "leader-lost" => timed(leader_lost::TITLE, leader_lost::run(world)).await,
        "uninstall" => timed(uninstall::TITLE, uninstall::run(world, cluster)).await,
        "soak" => timed(&soak::title(soak), soak::run(world, cluster, soak)).await,
        _ => return vec![],
    };
    vec![verdict]
}

/// The install's verdict: how long it took and what proves it.
pub(crate) fn install_verdict(
    result: anyhow::Result<Vec<String>>,
    place: ControllerPlace,
    seconds: f64,
) -> Verdict {
    let name = match place {
        ControllerPlace::InCluster => {
            "install: config/release.yaml as shipped, the controller in the cluster"
        }
        ControllerPlace::Host => {
            "install: config/release.yaml without its Deployment, the controller on the host (--controller host)"
        }
    };
    Verdict::of(name, result.map(Checked::with_evidence), seconds)
}

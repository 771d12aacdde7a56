//! The release's metrics, scraped the way a user's Prometheus or `kubectl get --raw` would:
//! through the release's Service, here through the API server's service proxy. The leading
//! replica's `build_controller_builds_started_total` must equal the Build pods that exist,
//! since each Build has one pod and, while the Lease never changed hands, one process
//! created them all.

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::json;

use super::builds::{create_build, expect_status, tools_step, wait_done};
use super::verdict::Checked;
use super::world::{NS, World};
use crate::e2e::install::{RELEASE_NAME, RELEASE_NS};

/// The service proxy path of the release's metrics port.
const PROXY: &str =
    "/api/v1/namespaces/knative-build/services/build-controller:http-metrics/proxy/metrics";

/// One scrape: the replica's `build_controller_leader` and `builds_started_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scrape {
    leader: bool,
    started: u64,
}

/// Reads the two samples from Prometheus text.
pub(super) fn parse(text: &str) -> Option<Scrape> {
    let sample = |name: &str| {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    Some(Scrape {
        leader: sample("build_controller_leader")? == 1.0,
        started: sample("build_controller_builds_started_total")? as u64,
    })
}

/// The verdict's name.
pub(super) const TITLE: &str = "metrics: scraped through the release's Service";

/// Runs the scenario.
pub(super) async fn run(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let names: Vec<String> = (0..3).map(|i| format!("metrics-{i}")).collect();
    for name in &names {
        create_build(
            world,
            json!({
                "metadata": {"name": name, "namespace": NS},
                "spec": {"steps": [tools_step("say", "echo counted")]},
            }),
        )
        .await?;
    }
    for build in join_all(
        names
            .iter()
            .map(|n| wait_done(world, n, Duration::from_secs(120))),
    )
    .await
    {
        expect_status(&mut checked, &build?, "True", None);
    }
    let client = world.client.clone();
    let (leader, standby, tries) = scrape_both(&client).await?;
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().labels("build.knative.dev/buildName"))
        .await?
        .items
        .len() as u64;
    let transitions = Api::<Lease>::namespaced(client, RELEASE_NS)
        .get(RELEASE_NAME)
        .await?
        .spec
        .and_then(|s| s.lease_transitions)
        .unwrap_or_default();
    checked.note(format!(
        "GET {PROXY}: {tries} scrapes reached both replicas; the leader reports build_controller_builds_started_total {}, the standby {}",
        leader.started,
        standby.map_or("(not reached)".to_owned(), |s| s.started.to_string()),
    ));
    checked.note(format!(
        "Build pods in the cluster: {pods} (one per Build the run created); Lease transitions since the install: {transitions}"
    ));
    checked.check(
        transitions != 0 || leader.started == pods,
        format!(
            "the leader counted {} Build pods started, the cluster holds {pods}",
            leader.started
        ),
    );
    checked.check(
        standby.is_some_and(|s| s.started == 0),
        "the standby replica was not reached through the Service, or counted Builds",
    );
    Ok(checked)
}

/// Scrapes through the Service until the leader answered (and the standby, within 40 tries:
/// the service proxy picks an endpoint per request); returns both and the number of tries.
async fn scrape_both(client: &Client) -> anyhow::Result<(Scrape, Option<Scrape>, usize)> {
    let mut leader = None;
    let mut standby = None;
    let mut tries = 0;
    while tries < 40 && (leader.is_none() || standby.is_none()) {
        tries += 1;
        let request = http::Request::get(PROXY).body(Vec::new())?;
        let text = client.request_text(request).await?;
        let scrape = parse(&text)
            .ok_or_else(|| anyhow::anyhow!("the metrics lack the leader gauge or the counter"))?;
        if scrape.leader {
            leader = Some(scrape);
        } else {
            standby = Some(scrape);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leader = leader.ok_or_else(|| anyhow::anyhow!("no scrape reached the leader"))?;
    Ok((leader, standby, tries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_samples_are_read_from_prometheus_text() {
        let text = "# HELP build_controller_leader 1 while leading\n# TYPE build_controller_leader gauge\nbuild_controller_leader 1\n# TYPE build_controller_builds_started counter\nbuild_controller_builds_started_total 42\n# EOF\n";
        assert_eq!(
            parse(text),
            Some(Scrape {
                leader: true,
                started: 42
            })
        );
        assert_eq!(parse("build_controller_leader 0\n"), None);
    }
}

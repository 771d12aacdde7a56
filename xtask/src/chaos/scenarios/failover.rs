//! `failover`: the Build mix with two replicas, `a` and `b`, under `--leader-election`; 10 s
//! after a replica first holds the Lease, the leader is killed (SIGKILL) and the standby
//! must take over.
//!
//! Verdict: every Build ends as its kind asks, with one pod, and no final verdict ever
//! changes ([`crate::chaos::shared::under_fault`]); the standby takes the Lease within the
//! documented bound ([`FAILOVER_BOUND`]); never two leading at once, from the Lease as the
//! harness saw it and from the replicas' own logs ([`crate::chaos::shared::leader`]).
//! Evidence: who was killed and when, how long the takeover took, the Lease states and
//! handovers seen, and each replica's pod creates and stops from its logs.

use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::jiff::Timestamp;

use crate::chaos::shared::leader::{LeaseSeen, check_handovers, check_logs, leader_log};
use crate::chaos::shared::under_fault::{Injected, Injecting, Replicas, UnderFault};
use crate::chaos::{Env, Outcome, say};

/// The scenario's name.
const NAME: &str = "failover";
/// One Build created per this interval.
const INTERVAL: Duration = Duration::from_millis(100);

/// The documented bound on a failover (README, "Leader election"): the Lease's 15 s plus up to
/// two 2 s renew periods.
pub(crate) const FAILOVER_BOUND: Duration = Duration::from_secs(19);

/// Runs the mix of `builds` Builds while the leader is killed.
pub(crate) async fn run(env: &Env, builds: usize) -> anyhow::Result<Outcome> {
    let mut mix = UnderFault::start(env, NAME, builds, Replicas::Elected).await?;
    mix.create_while(INTERVAL, inject).await?;
    mix.wait_for_the_end().await;
    let end = mix.check_the_end().await?;
    never_two_leaders(&mut mix);
    Ok(mix.outcome(end))
}

/// Waits for a leader, lets it lead for 10 s, kills it, and waits (up to 60 s) for the other
/// replica to take the Lease over; a takeover over [`FAILOVER_BOUND`] is a problem.
async fn inject(cx: Injecting<'_>) -> anyhow::Result<Injected> {
    let (scenario, leases, lease_name) = (cx.scenario, cx.leases, cx.lease);
    let holder = loop {
        if let Some(holder) = leases
            .get_opt(lease_name)
            .await?
            .and_then(|l| l.spec?.holder_identity)
        {
            break holder;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    let holder = leases
        .get(lease_name)
        .await?
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or(holder);
    let index = cx
        .replicas
        .iter()
        .position(|r| r.name == holder)
        .with_context(|| format!("the Lease holder {holder} is none of ours"))?;
    let killed_at = Timestamp::now();
    let t0 = Instant::now();
    cx.replicas[index].kill();
    say(format!(
        "[{scenario}] killed the leader {holder} (SIGKILL) at {killed_at}; {} Builds finished",
        cx.finished()
    ));
    let other = cx.replicas[1 - index].name.clone();
    let taken = loop {
        let lease = leases.get(lease_name).await?;
        let seen = LeaseSeen::of(&lease);
        if seen.holder.as_deref() == Some(other.as_str())
            && seen.acquired.is_some_and(|a| a >= killed_at)
        {
            break seen.acquired;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("{other} did not take the Lease over within 60s of the kill");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failover = taken
        .map(|t| t.duration_since(killed_at).as_secs_f64())
        .unwrap_or(f64::NAN);
    say(format!(
        "[{scenario}] {other} took the Lease over {failover:.1}s after the kill (bound {}s); {} Builds finished",
        FAILOVER_BOUND.as_secs(),
        cx.finished()
    ));
    let mut problems = Vec::new();
    // NaN (no acquire time) fails too
    if failover.is_nan() || failover > FAILOVER_BOUND.as_secs_f64() {
        problems.push(format!(
            "failover took {failover:.1}s, over the documented {}s",
            FAILOVER_BOUND.as_secs()
        ));
    }
    Ok(Injected {
        fact: format!(
            "leader {holder} killed, {other} took over after {failover:.1}s (bound {}s)",
            FAILOVER_BOUND.as_secs()
        ),
        killed: Some((holder, killed_at)),
        problems,
    })
}

/// Checks the handovers in the Lease states seen and the leading intervals in the replicas'
/// logs; adds the problems and what was seen.
fn never_two_leaders(mix: &mut UnderFault<'_>) {
    let seen = mix.lease_seen();
    let (handovers, lease_problems) = check_handovers(&seen);
    mix.problems(lease_problems);
    let mut logs = Vec::new();
    for replica in mix.replicas() {
        let mut text = String::new();
        for path in &replica.logs {
            text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        let ended = mix
            .killed()
            .filter(|(name, _)| *name == replica.name)
            .map(|(_, at)| *at);
        logs.push((replica.name.clone(), leader_log(&text), ended));
    }
    mix.problems(check_logs(&logs));
    let actions: Vec<String> = logs
        .iter()
        .map(|(name, log, _)| format!("{name}: {} pod creates/stops", log.actions))
        .collect();
    mix.fact(format!(
        "Lease states seen {}, handovers: {}; from the logs: {}",
        seen.len(),
        if handovers.is_empty() {
            "none".to_owned()
        } else {
            handovers.join("; ")
        },
        actions.join(", ")
    ));
}

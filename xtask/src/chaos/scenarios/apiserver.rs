//! `apiserver`: the Build mix with kube-apiserver stopped and started again twice (SIGKILL,
//! then SIGTERM; etcd keeps running), the controller left alone.
//!
//! Verdict: every Build ends as its kind asks, with one pod, and no final verdict ever
//! changes ([`crate::chaos::shared::under_fault`]); the controller rides the outages out
//! without a restart (the same pid throughout). Evidence: how long the server was down each
//! time and how long it took to start; the controller's pid. Each window from a stop to
//! `/readyz` is kept for the privilege check ([`crate::chaos::checks::privilege`]).

use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use crate::chaos::shared::under_fault::{Injected, Injecting, Replicas, UnderFault};
use crate::chaos::{Env, Outcome, say};

/// The scenario's name.
const NAME: &str = "apiserver";
/// One Build created per this interval.
const INTERVAL: Duration = Duration::from_millis(100);
/// How many times kube-apiserver is stopped and started again.
const RESTARTS: usize = 2;

/// Runs the mix of `builds` Builds while kube-apiserver restarts.
pub(crate) async fn run(env: &Env, builds: usize) -> anyhow::Result<Outcome> {
    let mut mix = UnderFault::start(env, NAME, builds, Replicas::One).await?;
    mix.create_while(INTERVAL, async |cx| inject(cx, RESTARTS).await)
        .await?;
    mix.wait_for_the_end().await;
    let first_pid = mix.first_pid();
    let pid = mix.replicas()[0].target.pid();
    if pid != first_pid || pid.is_none() {
        mix.problems([format!(
            "the controller did not survive the API server restarts (pid {first_pid:?} → {pid:?})"
        )]);
    } else {
        mix.fact(format!(
            "the controller (pid {}) ran throughout, never restarted",
            first_pid.unwrap_or_default()
        ));
    }
    let end = mix.check_the_end().await?;
    Ok(mix.outcome(end))
}

/// Stops kube-apiserver `restarts` times (6 s in, then 10 s after each start), each time for
/// 5 s, alternating SIGKILL and SIGTERM, and starts it again with its own command line.
async fn inject(cx: Injecting<'_>, restarts: usize) -> anyhow::Result<Injected> {
    let scenario = cx.scenario;
    let env = cx.env;
    let mut facts = Vec::new();
    for r in 1..=restarts {
        tokio::time::sleep(Duration::from_secs(if r == 1 { 6 } else { 10 })).await;
        let signal = if r % 2 == 1 { "KILL" } else { "TERM" };
        let t0 = Instant::now();
        let stopped_at = Timestamp::now();
        let argv = tokio::task::block_in_place(|| env.control_plane.stop_apiserver(signal))?;
        say(format!(
            "[{scenario}] kube-apiserver stopped (SIG{signal}), {} Builds finished; down for 5s",
            cx.finished()
        ));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let ready = env.control_plane.start_apiserver(&argv).await?;
        env.starting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((stopped_at, Timestamp::now()));
        let down = t0.elapsed();
        say(format!(
            "[{scenario}] kube-apiserver restart {r}/{restarts}: ready again after {:.1}s down ({:.1}s to start)",
            down.as_secs_f64(),
            ready.as_secs_f64()
        ));
        facts.push(format!("{:.1}s (SIG{signal})", down.as_secs_f64()));
    }
    Ok(Injected {
        fact: format!(
            "kube-apiserver restarted {restarts} times, down {}",
            facts.join(" and ")
        ),
        killed: None,
        problems: Vec::new(),
    })
}

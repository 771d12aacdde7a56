//! `kill`: the Build mix with the controller killed (SIGKILL) at random moments, `--kills`
//! times, and restarted each time; the Builds come one every 300 ms, over about as long as
//! the kills, so that kills land on every stage of a Build's life.
//!
//! Verdict: every Build ends as its kind asks, with one pod, and no final verdict ever
//! changes ([`crate::chaos::shared::under_fault`]); the controller never dies on its own
//! between kills. Evidence: the kills with how many came before the controller was ready,
//! and the number of processes.

use std::time::{Duration, Instant};

use crate::chaos::shared::under_fault::{Injected, Injecting, Replicas, UnderFault};
use crate::chaos::{Env, Outcome, say};

/// The scenario's name.
const NAME: &str = "kill";
/// One Build created per this interval: the kills come over about a minute, the Builds over
/// about as long.
const INTERVAL: Duration = Duration::from_millis(300);

/// Runs the mix of `builds` Builds while the controller is killed `kills` times.
pub(crate) async fn run(env: &Env, builds: usize, kills: usize) -> anyhow::Result<Outcome> {
    let mut mix = UnderFault::start(env, NAME, builds, Replicas::One).await?;
    mix.create_while(INTERVAL, async |cx| inject(cx, kills).await)
        .await?;
    mix.wait_for_the_end().await;
    let end = mix.check_the_end().await?;
    Ok(mix.outcome(end))
}

/// Kills the controller `kills` times, each after a random wait of up to 2.5 s, and starts
/// its next incarnation at once.
async fn inject(cx: Injecting<'_>, kills: usize) -> anyhow::Result<Injected> {
    let scenario = cx.scenario;
    let started = Instant::now();
    let mut before_ready = 0;
    let mut problems = Vec::new();
    for k in 1..=kills {
        let wait = Duration::from_millis(cx.rng.below(2500) as u64);
        tokio::time::sleep(wait).await;
        let replica = &mut cx.replicas[0];
        if let Err(error) = replica.target.check_alive() {
            problems.push(format!("the controller died on its own: {error:#}"));
        }
        let ready = replica.target.wait_ready(Duration::ZERO).await.is_ok();
        if !ready {
            before_ready += 1;
        }
        replica.kill();
        replica.spawn(cx.env, cx.settings)?;
        if k % 10 == 0 || k == kills {
            say(format!(
                "[{scenario}] {:.0}s: kill -9 {k}/{kills} ({before_ready} before the controller was ready); {} Builds finished",
                started.elapsed().as_secs_f64(),
                cx.finished()
            ));
        }
    }
    cx.replicas[0]
        .target
        .wait_ready(Duration::from_secs(60))
        .await?;
    Ok(Injected {
        fact: format!(
            "{kills} SIGKILLs over {:.0}s ({before_ready} of them before the controller was ready), {} processes",
            started.elapsed().as_secs_f64(),
            cx.replicas[0].incarnation
        ),
        killed: None,
        problems,
    })
}
